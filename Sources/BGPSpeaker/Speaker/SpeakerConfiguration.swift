import BGPPeerRules
import NIOCore

/// Everything a `Speaker` needs to run: who we are, where we listen, and whom we peer with.
///
/// This is the validated, typed form; `starling bgp` builds it from a YAML/JSON file and the SE builds
/// it from the controller's `vrfcontext` `bgp_profile`.
public struct SpeakerConfiguration: Sendable, Hashable {
    public var localAS: UInt32
    public var routerID: IPv4Address
    /// Addresses to accept BGP connections on. Empty means: every distinct peer `localAddress`, or the
    /// wildcard addresses when a peer has none.
    public var listenAddresses: [IPAddress]
    /// TCP port to listen on (179; tests may use another). 0 disables listening.
    public var listenPort: Int
    public var peers: [PeerSettings]
    /// UDP port the BFD listener binds when a peer has `bfd` (3784, RFC 5881 §4; tests running two
    /// speakers in one namespace use others).
    public var bfdListenPort: Int
    /// Graceful Restart (RFC 4724) as a restarting speaker: advertise the capability so that peers keep
    /// our routes while a successor process takes over (`Speaker.handOff()`); nil for none.
    public var gracefulRestart: GracefulRestartSettings?
    /// Where the RIB counts as full: the peer whose UPDATE brings it there is reset with Cease / Out of
    /// Resources (RFC 4486). The standard value is half of the RIB's index bounds; a speaker on a small
    /// machine may set it lower.
    public var ribCapacity = RIB.Capacity.standard

    public init(
        localAS: UInt32, routerID: IPv4Address, listenAddresses: [IPAddress] = [], listenPort: Int = 179,
        peers: [PeerSettings] = [], bfdListenPort: Int = BFDService.controlPort,
        gracefulRestart: GracefulRestartSettings? = nil
    ) {
        self.localAS = localAS
        self.routerID = routerID
        self.listenAddresses = listenAddresses
        self.listenPort = listenPort
        self.peers = peers
        self.bfdListenPort = bfdListenPort
        self.gracefulRestart = gracefulRestart
    }

    /// The BFD sessions the configuration asks for.
    public var bfdPeers: [BFDPeer] {
        peers.compactMap { p in
            p.bfd.map { BFDPeer(address: p.address, localAddress: p.localAddress, port: p.bfdPort, timers: $0) }
        }
    }
}

/// What a speaker that restarts gracefully (RFC 4724 §4.1) advertises.
public struct GracefulRestartSettings: Sendable, Hashable {
    /// The longest RFC 4724 allows (12 bits).
    public static let maximumRestartTime: UInt16 = 4095
    /// Seconds a peer keeps our routes after the session drops, waiting for us to come back.
    public var restartTime: UInt16
    public init(restartTime: UInt16 = 120) {
        self.restartTime = restartTime
    }

    /// The capability for the OPEN: after a restart (`restarted`) the Restart State bit and, for every
    /// family, the Forwarding State bit (the data plane went on serving while the speaker restarted);
    /// otherwise neither.
    public func capability(families: Set<AddressFamily>, restarted: Bool) -> GracefulRestartCapability {
        GracefulRestartCapability(
            flags: restarted ? GracefulRestartCapability.restartState : 0, restartTime: restartTime,
            families: families.sorted { ($0.afi.rawValue, $0.safi.rawValue) < ($1.afi.rawValue, $1.safi.rawValue) }
                .map { .init(family: $0, forwardingPreserved: restarted) })
    }
}

/// One configured neighbour.
public struct PeerSettings: Sendable, Hashable {
    public var address: IPAddress
    /// Remote TCP port for outbound connections (179).
    public var port: Int
    public var peerAS: UInt32
    /// Source address for outbound connections and, by default, the next hop we advertise (next-hop-self).
    public var localAddress: IPAddress?
    /// Proposed hold time: 0 (no keepalives) or at least 3 seconds (RFC 4271 §4.2).
    public var holdTime: UInt16
    /// Only accept connections; never initiate.
    public var passive: Bool
    public var connectRetryTime: TimeAmount
    public var idleHoldTime: TimeAmount
    /// Next hop for IPv4 prefixes when the session's own address is not IPv4 (or to override it).
    public var nextHopV4: IPv4Address?
    /// Next hop for IPv6 prefixes when the session's own address is not IPv6 (or to override it).
    public var nextHopV6: IPv6Address?
    /// Address families to negotiate.
    public var families: Set<AddressFamily>
    /// Run BFD with the peer (RFC 5880/5881) and tear the session down when it fails; nil for none.
    public var bfd: BFDTimers?
    /// The peer's BFD port (3784).
    public var bfdPort: Int = BFDService.controlPort
    /// TCP-MD5 key (RFC 2385), 1–80 octets; every segment of the session is signed and checked.
    public var password: String?
    /// GTSM (RFC 5082) for a directly connected peer: send with TTL 255, accept only TTL 255.
    public var ttlSecurity: Bool = false
    /// At most this many prefixes from the peer, and what to do beyond (RFC 4486 §4); nil for no limit.
    public var maxPrefixes: PrefixLimit?
    /// SendHoldTime (RFC 9687): how long our data may wait to reach the socket; nil for the RFC's
    /// suggestion, the larger of 8 minutes and twice the hold time.
    public var sendHoldTime: TimeAmount?

    public init(
        address: IPAddress, port: Int = 179, peerAS: UInt32, localAddress: IPAddress? = nil, holdTime: UInt16 = 90,
        passive: Bool = false, connectRetryTime: TimeAmount = .seconds(5), idleHoldTime: TimeAmount = .seconds(1),
        nextHopV4: IPv4Address? = nil, nextHopV6: IPv6Address? = nil,
        families: Set<AddressFamily> = [.ipv4Unicast, .ipv6Unicast], bfd: BFDTimers? = nil
    ) {
        self.address = address
        self.port = port
        self.peerAS = peerAS
        self.localAddress = localAddress
        self.holdTime = holdTime
        self.passive = passive
        self.connectRetryTime = connectRetryTime
        self.idleHoldTime = idleHoldTime
        self.nextHopV4 = nextHopV4
        self.nextHopV6 = nextHopV6
        self.families = families
        self.bfd = bfd
    }

    /// Checks the peer against the shared rules (`PeerRules`): usable addresses of one family (`address`,
    /// `localAddress`), then everything `PeerConfiguration.validate` checks (`localAS`, `peerAS`,
    /// `routerID`, `holdTime`, `connectRetryTime`, `idleHoldTime`, `families`). Throws naming the field.
    public func validate(localAS: UInt32, routerID: IPv4Address) throws(PeerConfigurationError) {
        try PeerConfigurationError.map { () throws(PeerRules.Violation) in
            try PeerRules.checkSessionAddress(address, field: .peerAddress)
            if let localAddress { try PeerRules.checkLocalAddress(localAddress, peer: address) }
        }
        _ = try fsmConfiguration(localAS: localAS, routerID: routerID)
    }

    /// The FSM configuration for this peer; throws naming the field when a value is out of range.
    public func fsmConfiguration(localAS: UInt32, routerID: IPv4Address) throws(PeerConfigurationError)
        -> PeerConfiguration
    {
        try PeerConfiguration(
            localAS: localAS, routerID: routerID, peerAS: peerAS, holdTime: holdTime,
            connectRetryTime: connectRetryTime, passive: passive, idleHoldTime: idleHoldTime, families: families)
    }
}

/// A per-peer prefix limit.
public struct PrefixLimit: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable {
        /// Log a warning (once per crossing) and keep the routes.
        case warn
        /// Cease / Maximum Number of Prefixes Reached, drop the peer's routes, reconnect after the
        /// IdleHoldTimer.
        case restart
    }
    public var limit: Int
    public var action: Action
    public init(limit: Int, action: Action = .restart) {
        self.limit = limit
        self.action = action
    }
}

/// A peer's state for the status API (`GET /peers`).
public struct PeerStatus: Sendable, Hashable {
    public var address: IPAddress
    public var asn: UInt32
    public var localAddress: String?
    public var state: SessionState
    /// Seconds since the session became Established (nil when not Established).
    public var uptimeSeconds: Double?
    public var holdTime: UInt16?
    public var keepaliveTime: UInt16?
    public var peerRouterID: IPv4Address?
    public var capabilities: [String]
    public var families: [String]
    public var prefixesReceived: Int
    public var prefixesAdvertised: Int
    public var messagesReceived: Int
    public var messagesSent: Int
    public var updatesReceived: Int
    public var updatesSent: Int
    public var stateChanges: Int
    public var establishedTransitions: Int
    public var lastError: String?
    /// The BFD session's state, nil when the peer has no `bfd`.
    public var bfd: BFDState? = nil
}

/// The routes one peer sent us, for the status API (`GET /rib`).
public struct PeerRoutes: Sendable {
    public var address: IPAddress
    public var routes: [RIBRoute]
}
