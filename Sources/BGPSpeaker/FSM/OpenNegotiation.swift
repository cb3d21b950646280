/// The OPEN exchange: the OPEN we send (RFC 4271 §4.2, RFC 5492) and the semantic checks and
/// negotiation applied to the peer's OPEN (RFC 4271 §6.2, RFC 6286, RFC 6793, RFC 4760, RFC 8654).
/// The codec has already checked the syntax; this file decides whether the OPEN is acceptable and what
/// the two OPENs together mean.

/// What the two OPENs negotiated; fixed for the life of an Established session.
public struct NegotiatedSession: Sendable, Hashable {
    /// The peer's AS: the 4-octet AS capability's value when present, else My Autonomous System.
    public var peerAS: UInt32
    public var peerRouterID: IPv4Address
    /// min(our Hold Time, the peer's) in seconds; 0 means neither hold timer nor keepalives.
    public var holdTime: UInt16
    /// holdTime / 3 in seconds; 0 means no keepalives.
    public var keepaliveInterval: UInt16
    /// The capabilities we sent.
    public var localCapabilities: [Capability]
    /// The capabilities the peer sent.
    public var peerCapabilities: [Capability]
    /// The codec context: 4-octet AS and extended messages when both sides advertised them, iBGP when
    /// the ASes match, and the intersection of both sides' address families.
    public var context: WireContext
    /// The peer advertised Route Refresh (RFC 2918), so we may send it ROUTE-REFRESH.
    public var routeRefresh: Bool
    /// The peer's Graceful Restart capability (RFC 4724), if it sent one.
    public var peerGracefulRestart: GracefulRestartCapability?

    public init(
        peerAS: UInt32, peerRouterID: IPv4Address, holdTime: UInt16, keepaliveInterval: UInt16,
        localCapabilities: [Capability], peerCapabilities: [Capability], context: WireContext,
        routeRefresh: Bool, peerGracefulRestart: GracefulRestartCapability?
    ) {
        self.peerAS = peerAS
        self.peerRouterID = peerRouterID
        self.holdTime = holdTime
        self.keepaliveInterval = keepaliveInterval
        self.localCapabilities = localCapabilities
        self.peerCapabilities = peerCapabilities
        self.context = context
        self.routeRefresh = routeRefresh
        self.peerGracefulRestart = peerGracefulRestart
    }

    /// Both sides advertised Enhanced Route Refresh (RFC 7313 §3.1).
    public var enhancedRouteRefresh: Bool {
        localCapabilities.contains(.enhancedRouteRefresh) && peerCapabilities.contains(.enhancedRouteRefresh)
    }
}

extension OpenMessage {
    /// The OPEN we send for a configuration: version 4, My AS (AS_TRANS when the AS needs 4 octets),
    /// Hold Time, BGP Identifier, and the capabilities: Multiprotocol per family, Route Refresh,
    /// Enhanced Route Refresh (if configured), 4-octet AS, Extended Message (if configured), Graceful
    /// Restart (if configured).
    public init(configuration c: PeerConfiguration) {
        var caps: [Capability] = []
        // RFC 4760 §8: one Multiprotocol capability per <AFI, SAFI>. Sorted so the OPEN is deterministic.
        let families = c.families.sorted { ($0.afi.rawValue, $0.safi.rawValue) < ($1.afi.rawValue, $1.safi.rawValue) }
        caps += families.map { .multiprotocol($0) }
        caps.append(.routeRefresh)
        if c.enhancedRouteRefresh { caps.append(.enhancedRouteRefresh) }
        // RFC 6793 §3: a 4-octet-AS speaker SHOULD advertise the capability, carrying its 4-octet AS.
        caps.append(.fourOctetAS(c.localAS))
        if c.extendedMessages { caps.append(.extendedMessage) }
        if let gr = c.gracefulRestart { caps.append(.gracefulRestart(gr)) }
        // RFC 6793 §4.2.1: when the AS does not fit in 2 octets, My Autonomous System carries AS_TRANS.
        let myAS = c.localAS <= UInt32(UInt16.max) ? UInt16(c.localAS) : asTrans
        // RFC 4271 §4.2: the Hold Time MUST be either zero or at least three seconds.
        let hold = c.holdTime == 1 || c.holdTime == 2 ? 3 : c.holdTime
        self.init(version: 4, myAutonomousSystem: myAS, holdTime: hold, bgpIdentifier: c.routerID, capabilities: caps)
    }
}

extension NegotiatedSession {
    /// Checks the peer's OPEN against our configuration and negotiates the session; throws the
    /// OPEN Message Error to send when the OPEN is unacceptable.
    public static func negotiate(
        local: OpenMessage, peer: OpenMessage, configuration c: PeerConfiguration
    ) throws(BGPError) -> NegotiatedSession {
        // RFC 4271 §6.2: an unsupported version gets Unsupported Version Number, with Data the largest
        // locally supported version (a 2-octet unsigned integer).
        guard peer.version == 4 else {
            throw BGPError(
                code: .openMessageError, subcode: NotificationSubcode.Open.unsupportedVersionNumber, data: [0, 4],
                reason: "peer offered BGP version \(peer.version), only 4 is supported")
        }
        // RFC 4271 §6.2: "If the Autonomous System field of the OPEN message is unacceptable, then the
        // Error Subcode MUST be set to Bad Peer AS." RFC 6793 §4.2.3: a 4-octet-AS speaker's AS is the
        // one in its capability. RFC 7607: AS 0 is never acceptable (it never matches a valid config).
        // Data: the peer's 2-octet My Autonomous System field.
        let peerAS = peer.asn
        guard peerAS == c.peerAS else {
            throw BGPError(
                code: .openMessageError, subcode: NotificationSubcode.Open.badPeerAS,
                data: [UInt8(peer.myAutonomousSystem >> 8), UInt8(peer.myAutonomousSystem & 0xFF)],
                reason: "peer announced AS \(peerAS), expected AS \(c.peerAS)")
        }
        // RFC 4271 §6.2: "An implementation MUST reject Hold Time values of one or two seconds."
        guard peer.holdTime != 1 && peer.holdTime != 2 else {
            throw BGPError(
                code: .openMessageError, subcode: NotificationSubcode.Open.unacceptableHoldTime,
                reason: "peer proposed hold time \(peer.holdTime) s")
        }
        // RFC 6286 §2.2: "If the BGP Identifier field of the OPEN message is zero, or if it is the same as
        // the BGP Identifier of the local BGP speaker and the message is from an internal peer, then the
        // Error Subcode is set to 'Bad BGP Identifier'."
        let internalPeer = c.localAS == c.peerAS
        guard peer.bgpIdentifier.rawValue != 0, !(internalPeer && peer.bgpIdentifier == local.bgpIdentifier) else {
            throw BGPError(
                code: .openMessageError, subcode: NotificationSubcode.Open.badBGPIdentifier,
                reason: "peer BGP identifier \(peer.bgpIdentifier) is zero or equal to ours on an iBGP session")
        }
        // RFC 4271 §4.2: the Hold Timer is the smaller of our Hold Time and the peer's; RFC 4271 §10
        // suggests a KeepaliveTime of one third of it; 0 means neither.
        let hold = min(local.holdTime, peer.holdTime)
        let keepalive = hold / 3
        // RFC 6793 §3 and RFC 8654 §3: these hold only when both sides advertised the capability.
        let fourOctet =
            local.capabilities.contains { $0.code == .fourOctetAS }
            && peer.capabilities.contains { $0.code == .fourOctetAS }
        let extended = local.capabilities.contains(.extendedMessage) && peer.capabilities.contains(.extendedMessage)
        // RFC 4760 §8: a family is usable when both sides advertised it.
        let families = local.advertisedFamilies.intersection(peer.advertisedFamilies)
        var gr: GracefulRestartCapability? = nil
        for case .gracefulRestart(let g) in peer.capabilities { gr = g }
        return NegotiatedSession(
            peerAS: peerAS, peerRouterID: peer.bgpIdentifier, holdTime: hold, keepaliveInterval: keepalive,
            localCapabilities: local.capabilities, peerCapabilities: peer.capabilities,
            context: WireContext(
                fourOctetAS: fourOctet, extendedMessages: extended, internalPeer: internalPeer, families: families),
            routeRefresh: peer.capabilities.contains(.routeRefresh), peerGracefulRestart: gr)
    }
}
