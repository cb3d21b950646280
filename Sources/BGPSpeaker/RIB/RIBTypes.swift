/// The RIB's public vocabulary: peer identity and session facts, routes as the status API shows
/// them, and the summary of what one change did to the Loc-RIB.

/// Identifies a peer (session) to the RIB; the speaker picks the numbers.
public struct PeerID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
    public var description: String { "peer-\(rawValue)" }
}

/// What the decision process needs to know about a peer's session (RFC 4271 §9.1.2.2 tie-breaks
/// and §9.1.2 loop detection).
public struct RIBPeerInfo: Sendable, Hashable {
    /// The peer's AS (from its OPEN).
    public var peerAS: UInt32
    /// The peer's BGP Identifier (from its OPEN).
    public var routerID: IPv4Address
    /// The peer's transport address.
    public var address: IPAddress
    /// iBGP session (peer AS == local AS).
    public var internalPeer: Bool
    /// Our AS on this session; routes whose AS_PATH contains it are not eligible.
    public var localAS: UInt32

    /// `internalPeer` defaults to `peerAS == localAS`.
    public init(peerAS: UInt32, routerID: IPv4Address, address: IPAddress, internalPeer: Bool? = nil, localAS: UInt32) {
        self.peerAS = peerAS
        self.routerID = routerID
        self.address = address
        self.internalPeer = internalPeer ?? (peerAS == localAS)
        self.localAS = localAS
    }

    /// Used for a peer whose info was never set: eBGP, AS 0, router ID and address 0.0.0.0, and no
    /// loop detection (AS 0 never appears in an AS_PATH, RFC 7607).
    public static let unknown = RIBPeerInfo(
        peerAS: 0, routerID: IPv4Address(rawValue: 0), address: .v4(IPv4Address(rawValue: 0)), internalPeer: false,
        localAS: 0)
}

/// One route as the status API shows it.
public struct RIBRoute: Sendable, Hashable {
    public var prefix: IPPrefix
    public var peer: PeerID
    /// The route's attributes as stored: IPv4 routes without MP_REACH/MP_UNREACH, MP routes with an
    /// MP_REACH that keeps the next hop and has empty NLRI.
    public var attributes: PathAttributes
    /// This route is the Loc-RIB's best path for `prefix`.
    public var best: Bool
    /// False when the route is excluded from the decision (RFC 4271 §9.1.2: AS_PATH loop).
    public var eligible: Bool
    public init(prefix: IPPrefix, peer: PeerID, attributes: PathAttributes, best: Bool, eligible: Bool = true) {
        self.prefix = prefix
        self.peer = peer
        self.attributes = attributes
        self.best = best
        self.eligible = eligible
    }
}

/// What one RIB operation did to the Loc-RIB.
public struct RIBChanges: Sendable, Hashable {
    /// Best-path changes: a prefix gained one, lost it, or it moved to another route. Counted as
    /// they happen, so a prefix that changes twice in one call (withdrawn and re-announced in one
    /// UPDATE, or listed twice) counts twice.
    public var bestPathsChanged: Int
    /// Those prefixes, in the order of the changes (so possibly repeated), only when
    /// `RIB.recordsChangedPrefixes` is set (kept off for bulk ingest).
    public var changedPrefixes: [IPPrefix]
    public init(bestPathsChanged: Int = 0, changedPrefixes: [IPPrefix] = []) {
        self.bestPathsChanged = bestPathsChanged
        self.changedPrefixes = changedPrefixes
    }
    public var isEmpty: Bool { bestPathsChanged == 0 }
}

/// Counts best-path changes (and records the prefixes when asked).
struct ChangeLog {
    var count = 0
    let record: Bool
    var prefixes: [IPPrefix] = []
    init(record: Bool) { self.record = record }
    @inline(__always) mutating func note<K: PrefixTableKey>(_ key: K) {
        count &+= 1
        if record { prefixes.append(key.prefix) }
    }
    var changes: RIBChanges { RIBChanges(bestPathsChanged: count, changedPrefixes: prefixes) }
}
