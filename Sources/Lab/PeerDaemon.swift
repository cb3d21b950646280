import Foundation

/// IPv4 or IPv6.
public enum IPFamily: String, Sendable, Hashable, CaseIterable {
    case ipv4
    case ipv6

    /// The family of a textual address or prefix (`:` means IPv6).
    public init(of address: String) {
        self = address.contains(":") ? .ipv6 : .ipv4
    }
}

/// One BGP neighbor of a lab speaker, seen from that speaker.
public struct NeighborSpec: Sendable, Hashable {
    /// The neighbor's address (IPv4 or IPv6; the session's address family follows it).
    public var address: String
    /// The neighbor's AS number.
    public var asn: UInt32
    /// This speaker's own address on the link toward the neighbor.
    public var localAddress: String
    /// When true this speaker only waits for the neighbor to connect.
    public var passive: Bool
    /// Hold time to propose (seconds); nil keeps the daemon's default.
    public var holdTime: Int?
    /// Run BFD with the neighbor at ``NeighborSpec/bfdIntervalMilliseconds`` × ``NeighborSpec/bfdMultiplier``
    /// and drop the session when it fails (BIRD `bfd on`, FRR `neighbor … bfd` with bfdd).
    public var bfd: Bool
    /// TCP-MD5 password (RFC 2385) of the session; nil for none (BIRD `password`).
    public var password: String?
    /// GTSM (RFC 5082): send with TTL 255 and accept only TTL 255 (BIRD `ttl security on`).
    public var ttlSecurity: Bool

    /// The BFD timers lab daemons use: 100 ms × 3, a failure seen in 300 ms.
    public static let bfdIntervalMilliseconds = 100
    public static let bfdMultiplier = 3

    /// The session's (and its routes') address family.
    public var family: IPFamily { IPFamily(of: address) }

    /// Creates a neighbor description.
    public init(
        address: String, asn: UInt32, localAddress: String, passive: Bool = true, holdTime: Int? = nil,
        bfd: Bool = false, password: String? = nil, ttlSecurity: Bool = false
    ) {
        self.address = address
        self.asn = asn
        self.localAddress = localAddress
        self.passive = passive
        self.holdTime = holdTime
        self.bfd = bfd
        self.password = password
        self.ttlSecurity = ttlSecurity
    }
}

/// Which routes a lab daemon sends to its neighbors.
public enum ExportPolicy: Sendable, Hashable {
    /// Everything in its table (its own and what it learned).
    case all
    /// Nothing.
    case none
    /// Only the prefixes it originates itself.
    case originated
}

/// What a lab BGP daemon (BIRD, FRR, GoBGP) is configured with.
public struct SpeakerSpec: Sendable, Hashable {
    /// Its AS number.
    public var asn: UInt32
    /// Its router id (an IPv4 address).
    public var routerID: String
    /// Its neighbors.
    public var neighbors: [NeighborSpec]
    /// Prefixes it originates (from 192.0.2.0/24 or 2001:db8::/32).
    public var originate: [String]
    /// What it sends to neighbors.
    public var export: ExportPolicy
    /// BIRD only: install BGP routes into the namespace's kernel table with `merge paths on` (ECMP).
    public var kernelECMP: Bool
    /// Whether it takes part in graceful restart (RFC 4724) as a helper. Off by default, so that a closed
    /// session removes the neighbor's routes at once (BIRD and FRR otherwise keep them as stale for the
    /// peer's restart time when the peer advertised the capability).
    public var gracefulRestart: Bool

    /// Creates a daemon configuration.
    public init(
        asn: UInt32, routerID: String, neighbors: [NeighborSpec], originate: [String] = [],
        export: ExportPolicy = .originated, kernelECMP: Bool = false, gracefulRestart: Bool = false
    ) {
        self.asn = asn
        self.routerID = routerID
        self.neighbors = neighbors
        self.originate = originate
        self.export = export
        self.kernelECMP = kernelECMP
        self.gracefulRestart = gracefulRestart
    }
}

/// A BGP session as a lab daemon reports it.
public struct SessionStatus: Sendable, Hashable, CustomStringConvertible {
    /// The neighbor's address.
    public var neighbor: String
    /// RFC 4271 state name: Idle, Connect, Active, OpenSent, OpenConfirm or Established.
    public var state: String
    /// A value that changes whenever the session is (re-)established: BIRD's state-change time, FRR's
    /// count of established connections, GoBGP's count of OPENs received and uptime start. Compare two
    /// reads with `isSameSession(as:)`, not `==`.
    public var establishedMarker: String
    /// The state-change time as a date, for daemons whose marker is a time (BIRD).
    public var establishedTime: Date?

    /// True when the state is Established.
    public var isEstablished: Bool { state == "Established" }

    /// Creates a session status.
    public init(neighbor: String, state: String, establishedMarker: String, establishedTime: Date? = nil) {
        self.neighbor = neighbor
        self.state = state
        self.establishedMarker = establishedMarker
        self.establishedTime = establishedTime
    }

    /// True when `other` is a read of the same established session (no reset in between). BIRD prints its
    /// state-change time by converting its monotonic clock to wall-clock time at each display, so two reads
    /// of one session can differ by a millisecond; times within 5 ms count as the same session (a reset
    /// takes a TCP connection and an OPEN exchange, and the Starling side counts its state changes too).
    public func isSameSession(as other: SessionStatus) -> Bool {
        if let time = establishedTime, let otherTime = other.establishedTime {
            return abs(time.timeIntervalSince(otherTime)) <= 0.005
        }
        return establishedMarker == other.establishedMarker
    }

    public var description: String { "\(neighbor) \(state) [\(establishedMarker)]" }

    /// Maps a daemon's spelling of a state (any case, `Establ`, `BGP_FSM_...`) to the RFC 4271 name.
    public static func rfcName(_ raw: String) -> String {
        let key = raw.lowercased().replacingOccurrences(of: "bgp_fsm_", with: "")
        if key.hasPrefix("establ") { return "Established" }
        switch key {
        case "idle": return "Idle"
        case "connect": return "Connect"
        case "active": return "Active"
        case "opensent": return "OpenSent"
        case "openconfirm": return "OpenConfirm"
        default: return raw
        }
    }
}

/// A route in a lab daemon's BGP table.
public struct LearnedRoute: Sendable, Hashable, CustomStringConvertible {
    /// The prefix in canonical text form (`192.0.2.10/32`, `2001:db8::10/128`).
    public var prefix: String
    /// The BGP next hop (the global one for IPv6).
    public var nextHop: String
    /// The AS path, flattened.
    public var asPath: [UInt32]
    /// The neighbor it came from; nil for locally originated routes.
    public var neighbor: String?

    /// Creates a route.
    public init(prefix: String, nextHop: String, asPath: [UInt32], neighbor: String?) {
        self.prefix = prefix
        self.nextHop = nextHop
        self.asPath = asPath
        self.neighbor = neighbor
    }

    public var description: String {
        "\(prefix) via \(nextHop) path \(asPath) from \(neighbor ?? "local")"
    }
}

/// A third-party BGP daemon running in a lab namespace, queried through its own CLI.
public protocol PeerDaemon: AnyObject {
    /// `BIRD`, `FRR` or `GoBGP`.
    var kind: String { get }
    /// The namespace it runs in.
    var namespace: Namespace { get }
    /// Its configuration.
    var spec: SpeakerSpec { get }
    /// Starts it and waits until it listens on port 179 and answers its CLI.
    func start() throws
    /// Stops it (SIGTERM, then SIGKILL).
    func stop()
    /// The session toward `neighbor`.
    func session(_ neighbor: String) throws -> SessionStatus
    /// Every route of `family` in its BGP table (all paths, not only the best).
    func routes(_ family: IPFamily) throws -> [LearnedRoute]
    /// Resets the session toward `neighbor` (it closes and comes back up by itself).
    func resetSession(_ neighbor: String) throws
}

extension PeerDaemon {
    /// Waits until the session toward `neighbor` is Established and returns it.
    @discardableResult
    public func waitEstablished(_ neighbor: String, timeout: Double = 30) throws -> SessionStatus {
        try Wait.value("\(kind) session with \(neighbor) Established", timeout: timeout) {
            let status = try session(neighbor)
            return status.isEstablished ? status : nil
        }
    }

    /// The routes for `prefix` (one per path).
    public func routes(for prefix: String) throws -> [LearnedRoute] {
        try routes(IPFamily(of: prefix)).filter { $0.prefix == prefix }
    }

    /// Waits until `prefix` is in the table (from `neighbor` when given) and returns that route.
    @discardableResult
    public func waitForRoute(_ prefix: String, from neighbor: String? = nil, timeout: Double = 15) throws
        -> LearnedRoute
    {
        try Wait.value("\(kind) has \(prefix)\(neighbor.map { " from \($0)" } ?? "")", timeout: timeout) {
            try routes(for: prefix).first { neighbor == nil || $0.neighbor == neighbor }
        }
    }

    /// Waits until `prefix` is no longer in the table (from `neighbor` when given).
    public func waitForNoRoute(_ prefix: String, from neighbor: String? = nil, timeout: Double = 15) throws {
        try Wait.until("\(kind) no longer has \(prefix)", timeout: timeout) {
            try !routes(for: prefix).contains { neighbor == nil || $0.neighbor == neighbor }
        }
    }
}

/// Small text helpers shared by the daemon adapters.
enum Text {
    /// Parses a JSON document into Foundation containers.
    static func json(_ text: String, from what: String) throws -> Any {
        guard let data = text.data(using: .utf8),
            let value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        else {
            throw LabError(.parse, "\(what): not JSON: \(text.prefix(300))")
        }
        return value
    }

    /// An integer from a JSON number or numeric string.
    static func int(_ value: Any?) -> Int? {
        if let number = value as? NSNumber { return number.intValue }
        if let string = value as? String { return Int(string) }
        return nil
    }
}

/// The third-party daemons the lab can run, for building one by name.
public enum PeerDaemonKind: String, Sendable, CaseIterable {
    case bird
    case frr
    case gobgp

    /// Programs that must be installed to run it.
    public var requiredPrograms: [String] {
        switch self {
        case .bird: return BIRD.requiredPrograms
        case .frr: return FRR.requiredPrograms
        case .gobgp: return GoBGP.requiredPrograms
        }
    }

    /// Prepares an instance (not started). `apiPort` is used by GoBGP only.
    public func make(lab: Lab, name: String, namespace: Namespace, spec: SpeakerSpec, apiPort: Int = 50051)
        -> any PeerDaemon
    {
        switch self {
        case .bird: return BIRD(lab: lab, name: name, namespace: namespace, spec: spec)
        case .frr: return FRR(lab: lab, name: name, namespace: namespace, spec: spec)
        case .gobgp: return GoBGP(lab: lab, name: name, namespace: namespace, spec: spec, apiPort: apiPort)
        }
    }
}
