import StarlingModel

/// What one virtual service (or one SE) did during an interval: sums of the SEs' counter differences.
struct MetricSample: Codable, Sendable, Hashable {
    var connections = 0
    var requests = 0
    var bytesIn = 0
    var bytesOut = 0
    /// Responses by class: 1xx ... 5xx.
    var responses = [0, 0, 0, 0, 0]
    var timedResponses = 0
    var latencyMicros = 0
    /// Timed responses per latency bucket (`VSCounters.latencyBoundsMs`, then the slower ones); nil from
    /// SEs that do not count them.
    var latencyBuckets: [Int]?
    /// Pool servers: attempts that failed (no connection or no valid response); nil for services and SEs.
    var failures: Int?

    /// Mean time from a request's start to the end of its response, in milliseconds (0 without any).
    var meanLatencyMs: Double { timedResponses == 0 ? 0 : Double(latencyMicros) / Double(timedResponses) / 1000 }

    mutating func add(_ other: MetricSample) {
        connections += other.connections
        requests += other.requests
        bytesIn += other.bytesIn
        bytesOut += other.bytesOut
        for i in 0..<5 { responses[i] += other.responses[i] }
        timedResponses += other.timedResponses
        latencyMicros += other.latencyMicros
        if let f = other.failures { failures = (failures ?? 0) + f }
        if let theirs = other.latencyBuckets {
            var mine = latencyBuckets ?? [Int](repeating: 0, count: VSCounters.latencyBucketCount)
            for i in 0..<min(mine.count, theirs.count) { mine[i] += theirs[i] }
            latencyBuckets = mine
        }
    }

    /// The latency under which a share `p` (0-1) of the timed responses fell, in milliseconds, linear
    /// within its bucket (the slowest bucket is taken as twice its lower bound); 0 without buckets.
    func latencyPercentile(_ p: Double) -> Double {
        guard let buckets = latencyBuckets else { return 0 }
        let total = buckets.reduce(0, +)
        guard total > 0 else { return 0 }
        let bounds = VSCounters.latencyBoundsMs.map(Double.init)
        let target = p * Double(total)
        var below = 0.0
        for (i, n) in buckets.enumerated() where n > 0 {
            let lower = i == 0 ? 0 : bounds[i - 1]
            let upper = i < bounds.count ? bounds[i] : 2 * bounds[bounds.count - 1]
            if below + Double(n) >= target {
                return lower + (upper - lower) * max(0, target - below) / Double(n)
            }
            below += Double(n)
        }
        return 2 * bounds[bounds.count - 1]
    }

    /// `now - before` of an SE's cumulative counters; when any counter went down the SE started counting
    /// again (a restart, or the service was applied anew): everything it counted since then is new.
    static func difference(_ now: VSCounters, _ before: VSCounters?) -> MetricSample {
        func sample(_ c: VSCounters) -> MetricSample {
            MetricSample(
                connections: c.connections, requests: c.requests, bytesIn: c.bytes_in, bytesOut: c.bytes_out,
                responses: (0..<5).map { $0 < c.responses.count ? c.responses[$0] : 0 },
                timedResponses: c.timed_responses, latencyMicros: c.latency_us, latencyBuckets: c.latency_buckets)
        }
        let current = sample(now)
        guard let before else { return current }
        let old = sample(before)
        var d = MetricSample(
            connections: current.connections - old.connections, requests: current.requests - old.requests,
            bytesIn: current.bytesIn - old.bytesIn, bytesOut: current.bytesOut - old.bytesOut,
            responses: (0..<5).map { current.responses[$0] - old.responses[$0] },
            timedResponses: current.timedResponses - old.timedResponses,
            latencyMicros: current.latencyMicros - old.latencyMicros)
        if let now = current.latencyBuckets {
            let was = old.latencyBuckets ?? [Int](repeating: 0, count: now.count)
            d.latencyBuckets = (0..<now.count).map { now[$0] - ($0 < was.count ? was[$0] : 0) }
        }
        let values =
            [d.connections, d.requests, d.bytesIn, d.bytesOut, d.timedResponses, d.latencyMicros] + d.responses
            + (d.latencyBuckets ?? [])
        if values.contains(where: { $0 < 0 }) { d = current }
        return d
    }
}

/// Turns the SEs' heartbeats (cumulative counters per virtual service) into 5-second samples per virtual
/// service and per SE. Pure: the caller passes the wall-clock time and stores the closed buckets.
///
/// The first heartbeat of an SE only sets the baseline (what it counted before is not attributed to this
/// interval: the controller may just have started); a service that appears in the heartbeats of an SE
/// already heard counts from zero, and so does a service whose counters went down (the SE restarted). A
/// difference goes to the 5-second bucket the heartbeat arrives in.
struct MetricsIngest {
    static let step = 5

    struct Key: Hashable, Sendable {
        /// A virtual service's or an SE's uuid.
        var entity: String
        /// Bucket start, seconds since the epoch (a multiple of `step`).
        var start: Int
    }

    private var last: [String: [String: VSCounters]] = [:]
    /// Per SE: each pool server's counters by `<vs>|<ip>:<port>` (a server of a pool two services share is
    /// counted by each).
    private var lastServers: [String: [String: ServerCounters]] = [:]
    private(set) var open: [Key: MetricSample] = [:]

    /// The entity of pool server `server` (`ip:port`) of pool `pool`.
    static func serverEntity(pool: String, server: String) -> String { "\(pool)|\(server)" }

    /// Takes one heartbeat of SE `se` at `now` (seconds since the epoch); `pools`: the pool of each
    /// service (its servers' counters go to the pool and to each server).
    mutating func ingest(se: String, services: [VSStatus], pools: [String: String] = [:], now: Double) {
        let start = Int((now / Double(Self.step)).rounded(.down)) * Self.step
        ingestServers(se: se, services: services, pools: pools, start: start)
        var seen: [String: VSCounters] = [:]
        var seTotal: MetricSample?
        for vs in services {
            guard let counters = vs.counters else { continue }
            seen[vs.uuid] = counters
            // A service new on an SE already heard started counting from zero: all of it is new. An SE not
            // heard before (this controller just started) only gives the baseline.
            guard let known = last[se] else { continue }
            let d = MetricSample.difference(counters, known[vs.uuid])
            open[Key(entity: vs.uuid, start: start), default: MetricSample()].add(d)
            seTotal = seTotal ?? MetricSample()
            seTotal?.add(d)
        }
        if let seTotal { open[Key(entity: se, start: start), default: MetricSample()].add(seTotal) }
        last[se] = seen
    }

    private mutating func ingestServers(se: String, services: [VSStatus], pools: [String: String], start: Int) {
        var seen: [String: ServerCounters] = [:]
        for vs in services {
            guard let pool = pools[vs.uuid] else { continue }
            for server in vs.servers {
                guard let c = server.counters else { continue }
                let address = server.ip.addr.contains(":") ? "[\(server.ip.addr)]" : server.ip.addr
                let name = "\(address):\(server.port)"
                let key = "\(vs.uuid)|\(name)"
                seen[key] = c
                guard let known = lastServers[se] else { continue }
                var before = known[key] ?? ServerCounters()
                let values = [
                    c.connections - before.connections, c.failures - before.failures, c.responses - before.responses,
                    c.responses_5xx - before.responses_5xx, c.latency_us - before.latency_us,
                ]
                // Counters that went down: the SE counts this server from zero again.
                if values.contains(where: { $0 < 0 }) { before = ServerCounters() }
                let ok = c.responses - before.responses - (c.responses_5xx - before.responses_5xx)
                let d = MetricSample(
                    connections: c.connections - before.connections, requests: c.responses - before.responses,
                    responses: [0, ok, 0, 0, c.responses_5xx - before.responses_5xx],
                    timedResponses: c.responses - before.responses, latencyMicros: c.latency_us - before.latency_us,
                    failures: c.failures - before.failures)
                open[Key(entity: Self.serverEntity(pool: pool, server: name), start: start), default: MetricSample()]
                    .add(d)
                open[Key(entity: pool, start: start), default: MetricSample()].add(d)
            }
        }
        lastServers[se] = seen
    }

    /// An SE was deleted: its baseline goes.
    mutating func forget(se: String) {
        last[se] = nil
        lastServers[se] = nil
    }

    /// Removes and returns the buckets that ended at or before `now`.
    mutating func closed(at now: Double) -> [(key: Key, sample: MetricSample)] {
        let done = open.filter { Double($0.key.start + Self.step) <= now }
        for key in done.keys { open[key] = nil }
        return done.map { (key: $0.key, sample: $0.value) }.sorted {
            ($0.key.start, $0.key.entity) < ($1.key.start, $1.key.entity)
        }
    }
}
