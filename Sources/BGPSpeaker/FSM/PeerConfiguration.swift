import BGPPeerRules
import NIOCore

/// Everything the FSM needs to know about one peer: identities, timers and what to advertise in OPEN.
///
/// Validation: the initialiser throws a `PeerConfigurationError` naming the field at fault, so a config
/// file loader can print a one-line reason. The properties stay settable; `validate()` re-checks a value
/// built or edited by hand. The FSM never traps on a bad value: it sends a hold time of 1 or 2 as 3 and
/// treats a non-positive ConnectRetryTime as 1 s.
public struct PeerConfiguration: Sendable, Hashable {
    /// Our AS number (4 octets; AS_TRANS goes into OPEN when it does not fit 2 octets, RFC 6793 §4.2.1).
    public var localAS: UInt32
    /// Our BGP Identifier (RFC 6286: a non-zero 4-octet value).
    public var routerID: IPv4Address
    /// The AS number the peer must announce.
    public var peerAS: UInt32
    /// The Hold Time we propose in OPEN, in seconds: 0 (no keepalives) or at least 3 (RFC 4271 §4.2).
    public var holdTime: UInt16 = 90
    /// ConnectRetryTime (RFC 4271 §8.1.1). The RFC suggests 120 s; a short default suits an SE that
    /// wants its routes back quickly.
    public var connectRetryTime: TimeAmount = .seconds(5)
    /// PassiveTcpEstablishment: never initiate a connection, only accept one (RFC 4271 §8.1.1).
    public var passive: Bool = false
    /// DelayOpen: after the TCP connection comes up, wait `delayOpenTime` for the peer's OPEN before
    /// sending ours (RFC 4271 §8.1.1).
    public var delayOpen: Bool = false
    public var delayOpenTime: TimeAmount = .seconds(0)
    /// Initial IdleHoldTime (RFC 4271 §8.1.1 DampPeerOscillations): the wait in Idle before the automatic
    /// restart after the session went down on an error. It doubles after each such error up to
    /// `BGPSessionFSM.maximumIdleHoldTime` and falls back to this value once a session has stayed
    /// Established for `BGPSessionFSM.stableEstablishedTime`.
    public var idleHoldTime: TimeAmount = .seconds(1)
    /// Address families advertised with the Multiprotocol capability (RFC 4760 §8).
    public var families: Set<AddressFamily> = [.ipv4Unicast, .ipv6Unicast]
    /// Graceful Restart capability to advertise (RFC 4724), or nil for none.
    public var gracefulRestart: GracefulRestartCapability? = nil
    /// Advertise the Extended Message capability (RFC 8654).
    public var extendedMessages: Bool = true
    /// Advertise the Enhanced Route Refresh capability (RFC 7313). Only set it when the speaker brackets
    /// its re-advertisements with BoRR/EoRR.
    public var enhancedRouteRefresh: Bool = false

    /// Builds and validates a configuration.
    public init(
        localAS: UInt32, routerID: IPv4Address, peerAS: UInt32, holdTime: UInt16 = 90,
        connectRetryTime: TimeAmount = .seconds(5), passive: Bool = false, delayOpen: Bool = false,
        delayOpenTime: TimeAmount = .seconds(0), idleHoldTime: TimeAmount = .seconds(1),
        families: Set<AddressFamily> = [.ipv4Unicast, .ipv6Unicast],
        gracefulRestart: GracefulRestartCapability? = nil, extendedMessages: Bool = true,
        enhancedRouteRefresh: Bool = false
    ) throws(PeerConfigurationError) {
        self.localAS = localAS
        self.routerID = routerID
        self.peerAS = peerAS
        self.holdTime = holdTime
        self.connectRetryTime = connectRetryTime
        self.passive = passive
        self.delayOpen = delayOpen
        self.delayOpenTime = delayOpenTime
        self.idleHoldTime = idleHoldTime
        self.families = families
        self.gracefulRestart = gracefulRestart
        self.extendedMessages = extendedMessages
        self.enhancedRouteRefresh = enhancedRouteRefresh
        try validate()
    }

    /// Checks every field; throws naming the first one at fault.
    public func validate() throws(PeerConfigurationError) {
        // The rules shared with the API's `bgp_profile` and `starling bgp`'s loader: AS 0 and AS_TRANS,
        // a non-zero BGP Identifier, a hold time of 0 or 3...65535 (RFC 7607, RFC 6793, RFC 6286, RFC 4271).
        try Self.validate(localAS: localAS, routerID: routerID)
        try PeerConfigurationError.map { () throws(PeerRules.Violation) in
            try PeerRules.checkAS(peerAS, field: .peerAS)
            try PeerRules.checkHoldTime(Int(holdTime))
        }
        if connectRetryTime <= .zero {
            throw PeerConfigurationError(field: "connectRetryTime", reason: "must be positive")
        }
        if delayOpenTime < .zero {
            throw PeerConfigurationError(field: "delayOpenTime", reason: "must not be negative")
        }
        if idleHoldTime < .zero {
            throw PeerConfigurationError(field: "idleHoldTime", reason: "must not be negative")
        }
        if families.isEmpty {
            throw PeerConfigurationError(field: "families", reason: "at least one address family is needed")
        }
        // RFC 4724 §3: Restart Time is a 12-bit field.
        if let gr = gracefulRestart, gr.restartTime > 4095 {
            throw PeerConfigurationError(field: "gracefulRestart.restartTime", reason: "must be at most 4095 seconds")
        }
    }

    /// Checks what is ours rather than the peer's (the local AS and the BGP Identifier), for a
    /// configuration that has no peers yet.
    public static func validate(localAS: UInt32, routerID: IPv4Address) throws(PeerConfigurationError) {
        try PeerConfigurationError.map { () throws(PeerRules.Violation) in
            try PeerRules.checkAS(localAS, field: .localAS)
            try PeerRules.checkRouterID(routerID)
        }
    }

    /// The session is internal (iBGP) when both sides are in the same AS.
    public var isInternal: Bool { localAS == peerAS }
}

/// A rejected `PeerConfiguration`: the field at fault and why.
public struct PeerConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }
    public var description: String { "\(field): \(reason)" }

    /// Runs `body`, turning a `PeerRules.Violation` into the error naming this type's field
    /// (`localAS`, `peerAS`, `routerID`, `holdTime`, `address`, `localAddress`).
    static func map(_ body: () throws(PeerRules.Violation) -> Void) throws(PeerConfigurationError) {
        do {
            try body()
        } catch {
            let field =
                switch error.field {
                case .peerAddress: "address"
                case .keepaliveInterval: "keepaliveTime"
                default: error.field.rawValue
                }
            throw PeerConfigurationError(field: field, reason: error.reason)
        }
    }
}
