import BGPSpeaker
import Foundation

/// Who is in the scale-out group right now, and who owns each native VIP: pure logic over heartbeats
/// (time is passed in), so every rule here is unit tested without sockets.
///
/// - A member is live while its heartbeats arrive: heard within `deadAfter` intervals. This SE is always
///   live.
/// - A native VIP's primary, among the live members that serve it and are not leaving: the controller's
///   pick while it is one of them; else the lowest position among those that claim it in their heartbeats;
///   when none claims it, the lowest position takes it. A member that comes back therefore does not take a
///   VIP back from the one that holds it (no flap on restart; the controller keeps the holder too), and
///   two claimants settle on one within a heartbeat.
/// - The epoch counts changes of the live set: every SE shows it, with the members, in its status.
public struct Membership: Sendable {
    /// What one heartbeat says.
    public struct Heartbeat: Sendable, Hashable {
        /// Free capacity the sender reports (connections it can still take); weights its share of new flows.
        public var free: Int
        /// The native VIPs the sender holds as primary.
        public var primaryOf: Set<String>
        /// The VIPs the sender serves (its virtual services placed and running there): the members a VIP's
        /// packets may be forwarded to, and among which its primary and its new flows are chosen.
        public var serves: Set<String>
        /// The sender is shutting down: it takes no new flows and gives up its native VIPs, but still serves
        /// (and is forwarded) the connections it holds until it stops heart-beating.
        public var leaving: Bool

        public init(free: Int, primaryOf: Set<String>, serves: Set<String> = [], leaving: Bool = false) {
            self.free = free
            self.primaryOf = primaryOf
            self.serves = serves
            self.leaving = leaving
        }

        /// The wire form: `STARLING-HB 1 free=N primary=VIP,VIP serves=VIP,VIP` and ` leaving` when it leaves.
        public var encoded: String {
            "STARLING-HB 1 free=\(free) primary=\(primaryOf.sorted().joined(separator: ","))"
                + " serves=\(serves.sorted().joined(separator: ","))\(leaving ? " leaving" : "")\n"
        }

        /// Parses the wire form; nil for anything else (a stray datagram is ignored, never trusted).
        public init?(decoding text: String) {
            let words = text.split(whereSeparator: \.isWhitespace)
            guard words.count == 5 || (words.count == 6 && words[5] == "leaving"),
                words[0] == "STARLING-HB", words[1] == "1",
                words[2].hasPrefix("free="), let free = Int(words[2].dropFirst(5)), free >= 0,
                let primaryOf = Self.list(words[3], "primary="), let serves = Self.list(words[4], "serves=")
            else { return nil }
            self.free = free
            self.primaryOf = primaryOf
            self.serves = serves
            self.leaving = words.count == 6
        }

        /// `NAME=A,B,C` with at most 256 entries of at most 64 characters.
        private static func list(_ word: Substring, _ name: String) -> Set<String>? {
            guard word.hasPrefix(name) else { return nil }
            let items = word.dropFirst(name.count).split(separator: ",").map(String.init)
            guard items.count <= 256, items.allSatisfy({ $0.count <= 64 }) else { return nil }
            return Set(items)
        }
    }

    /// The members by position (0 to ``SteeringProgram/maxMembers`` - 1; positions may have gaps, and stay
    /// with an SE while it is a member); `selfPosition` is this SE.
    public private(set) var members: [Int: IPAddress]
    public let selfPosition: Int
    /// Heartbeats missed before a member counts as gone.
    public let deadAfter: Duration

    private(set) var lastHeard: [Int: ContinuousClock.Instant] = [:]
    private(set) var lastHeartbeat: [Int: Heartbeat] = [:]
    /// The live set at the last `evaluate`, and how often it changed.
    public private(set) var live: Set<Int>
    public private(set) var epoch = 1
    /// This SE is leaving (SIGTERM): see ``Heartbeat/leaving``.
    public var selfLeaving = false
    /// The VIPs this SE serves: see ``Heartbeat/serves``.
    public var selfServes: Set<String> = []

    public init(members: [Int: IPAddress], selfPosition: Int, deadAfter: Duration) {
        self.members = members
        self.selfPosition = selfPosition
        self.deadAfter = deadAfter
        self.live = [selfPosition]
    }

    /// A new member list (the controller added or removed SEs). What was heard from a position keeps
    /// counting only while the same address holds it; the live set follows at the next ``evaluate(at:)``.
    public mutating func setMembers(_ next: [Int: IPAddress]) {
        for position in Set(lastHeard.keys).union(lastHeartbeat.keys) where next[position] != members[position] {
            lastHeard[position] = nil
            lastHeartbeat[position] = nil
        }
        members = next
    }

    /// The position of `address`, if it is a member.
    public func position(of address: IPAddress) -> Int? { members.first { $0.value == address }?.key }

    /// Records a heartbeat from `address` at `now`; false when it is not a member (ignored).
    public mutating func heard(from address: IPAddress, _ heartbeat: Heartbeat, at now: ContinuousClock.Instant)
        -> Bool
    {
        guard let position = position(of: address), position != selfPosition else { return false }
        lastHeard[position] = now
        lastHeartbeat[position] = heartbeat
        return true
    }

    /// Recomputes the live set at `now`; true when it changed (the epoch moved on).
    public mutating func evaluate(at now: ContinuousClock.Instant) -> Bool {
        var next: Set<Int> = [selfPosition]
        for (position, at) in lastHeard where now - at <= deadAfter && members[position] != nil {
            next.insert(position)
        }
        guard next != live else { return false }
        live = next
        epoch += 1
        return true
    }

    /// The heartbeat last heard from `position` (nil for this SE and for members never heard).
    public func heartbeat(of position: Int) -> Heartbeat? { lastHeartbeat[position] }

    /// When `position` was last heard.
    public func lastHeard(_ position: Int) -> ContinuousClock.Instant? { lastHeard[position] }

    /// Whether `position` is leaving (its last heartbeat said so, or this SE is).
    public func isLeaving(_ position: Int) -> Bool {
        position == selfPosition ? selfLeaving : (lastHeartbeat[position]?.leaving ?? false)
    }

    /// The live members that serve VIP `key` (leaving ones included: they still hold connections).
    public func serving(_ key: String) -> Set<Int> {
        live.filter { position in
            position == selfPosition
                ? selfServes.contains(key) : (lastHeartbeat[position]?.serves.contains(key) ?? false)
        }
    }

    /// The members that take VIP `key`'s new flows and may be its primary: the staying members that serve
    /// it (the serving ones when all of them are leaving).
    public func staying(for key: String) -> Set<Int> {
        let serving = serving(key)
        let staying = serving.filter { !isLeaving($0) }
        return staying.isEmpty ? serving : staying
    }

    /// The primary of native VIP `key` given what this SE claims itself (`selfClaims`), among the staying
    /// members that serve it: the controller's pick (`preferred`) while it is one of them, else by the
    /// claims in the heartbeats.
    public func primary(of key: String, selfClaims: Bool, preferred: Int? = nil) -> Int {
        let candidates = staying(for: key)
        if let preferred, candidates.contains(preferred) { return preferred }
        var claimants: [Int] = []
        for position in candidates.sorted() {
            let claims =
                position == selfPosition ? selfClaims : (lastHeartbeat[position]?.primaryOf.contains(key) ?? false)
            if claims { claimants.append(position) }
        }
        return claimants.first ?? candidates.min() ?? selfPosition
    }

    /// The bucket table of a native VIP: `buckets` entries, each the position of a live member, by weighted
    /// rendezvous hashing (each bucket goes to the member with the highest `weight / -ln(hash)`), so a
    /// member joining or leaving moves only its own share of buckets. `weights` by position; missing or
    /// non-positive weights count as 1.
    public static func buckets(count: Int, live: Set<Int>, members: [Int: IPAddress], weights: [Int: Int]) -> [Int] {
        let order = live.filter { members[$0] != nil }.sorted()
        return (0..<count).map { bucket in
            var best = order.first ?? 0
            var bestScore = -Double.infinity
            for position in order {
                let w = Double(max(1, weights[position] ?? 1))
                let h = Self.hash(bucket: bucket, member: members[position]!)
                // h in (0, 1): -ln(h) > 0; a larger weight gives a larger score.
                let u = (Double(h >> 11) + 0.5) / Double(1 << 53)
                let score = w / -log(u)
                if score > bestScore {
                    bestScore = score
                    best = position
                }
            }
            return best
        }
    }

    /// FNV-1a over the member's address and the bucket number: the same on every SE and every run.
    static func hash(bucket: Int, member: IPAddress) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array(member.description.utf8) + withUnsafeBytes(of: UInt32(bucket).littleEndian, Array.init) {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        // Finalise (splitmix64) so neighbouring buckets spread.
        h ^= h >> 30
        h = h &* 0xbf58_476d_1ce4_e5b9
        h ^= h >> 27
        h = h &* 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return h
    }
}
