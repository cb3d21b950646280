/// Picks a pool server for a new connection or request: pure value code, one instance per event loop
/// (DESIGN §6: each loop balances its own traffic, so no state is shared between threads).
///
/// - Round robin is nginx's smooth weighted round robin: each pick adds every eligible server's weight
///   to its running score, takes the highest score and subtracts the total weight from it. With ratios
///   5:1:1 the order is a a b a c a a, never a burst of the heavy server.
/// - Least connections takes the eligible server with the fewest active connections relative to its
///   ratio (`active / ratio`, compared by cross-multiplication); ties go to the first one after the
///   previous pick, so equal servers are used in turn.
///
/// A server is eligible when it is enabled, up and not in the caller's `excluding` set (servers
/// already tried for this connection).
public struct Balancer: Sendable, Hashable {
    /// One server as the balancer sees it.
    public struct Entry: Sendable, Hashable {
        /// Weight (pool server `ratio`), at least 1.
        public var weight: Int
        /// Enabled and up: may be picked.
        public var eligible: Bool
        /// Connections (L4) or requests (HTTP) in flight to this server from this loop.
        public var active: Int
        /// Smooth round-robin score.
        public var current: Int

        /// An entry with no traffic yet.
        public init(weight: Int, eligible: Bool) {
            self.weight = max(1, weight)
            self.eligible = eligible
            self.active = 0
            self.current = 0
        }
    }

    /// The algorithm.
    public var algorithm: LBAlgorithm
    /// The servers, in pool order.
    public var entries: [Entry]
    private var lastPick: Int = -1

    /// A balancer over `entries`.
    public init(algorithm: LBAlgorithm, entries: [Entry]) {
        self.algorithm = algorithm
        self.entries = entries
    }

    /// Number of eligible servers.
    public var eligibleCount: Int {
        var n = 0
        for e in entries where e.eligible { n += 1 }
        return n
    }

    /// Picks a server and counts one more active connection on it; nil when none is eligible.
    /// Call `release(_:)` with the result when the connection (or request) ends.
    public mutating func pick(excluding: ExcludedServers = ExcludedServers()) -> Int? {
        let chosen: Int?
        switch algorithm {
        case .roundRobin: chosen = pickRoundRobin(excluding)
        case .leastConnections: chosen = pickLeastConnections(excluding)
        }
        if let chosen {
            entries[chosen].active += 1
            lastPick = chosen
        }
        return chosen
    }

    /// Counts one connection (or request) fewer on `index`.
    public mutating func release(_ index: Int) {
        guard entries.indices.contains(index) else { return }
        entries[index].active = max(0, entries[index].active - 1)
    }

    private mutating func pickRoundRobin(_ excluding: ExcludedServers) -> Int? {
        var total = 0
        var best = -1
        var bestScore = Int.min
        for i in entries.indices where entries[i].eligible && !excluding.contains(i) {
            entries[i].current += entries[i].weight
            total += entries[i].weight
            if entries[i].current > bestScore {
                bestScore = entries[i].current
                best = i
            }
        }
        guard best >= 0 else { return nil }
        entries[best].current -= total
        return best
    }

    private func pickLeastConnections(_ excluding: ExcludedServers) -> Int? {
        let n = entries.count
        guard n > 0 else { return nil }
        var best = -1
        // Start after the previous pick so that ties rotate.
        let start = (lastPick + 1) % n
        for step in 0..<n {
            let i = (start + step) % n
            let e = entries[i]
            guard e.eligible, !excluding.contains(i) else { continue }
            if best < 0 {
                best = i
                continue
            }
            let b = entries[best]
            // e.active / e.weight < b.active / b.weight
            if e.active * b.weight < b.active * e.weight { best = i }
        }
        return best >= 0 ? best : nil
    }
}

/// Servers already tried for one connection (indices into the balancer's entries). Allocation-free
/// for pools of up to 64 servers.
public struct ExcludedServers: Sendable, Hashable {
    private var low: UInt64 = 0
    private var high: Set<Int> = []

    /// Nothing excluded.
    public init() {}

    /// Excludes `index`.
    public mutating func insert(_ index: Int) {
        if index >= 0 && index < 64 { low |= 1 << UInt64(index) } else { high.insert(index) }
    }

    /// Whether `index` is excluded.
    public func contains(_ index: Int) -> Bool {
        if index >= 0 && index < 64 { return low & (1 << UInt64(index)) != 0 }
        return high.contains(index)
    }
}
