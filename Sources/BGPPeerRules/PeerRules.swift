import IPAddresses

// Why a module of its own: the rules must be shared by BGPSpeaker (`PeerConfiguration.validate`,
// `PeerSettings.validate`) and StarlingModel (`BgpProfile.validate`, the API's `bgp_profile`), and
// StarlingModel must not depend on BGPSpeaker (NIO, the whole speaker). They are about BGP sessions,
// not addresses, so they do not belong in IPAddresses either; this tiny module depends on IPAddresses
// only, and `starling bgp`'s file loader reaches the rules through `PeerSettings.validate`.

/// The rules a BGP peering must satisfy, in one place: the speaker, the API's `bgp_profile` and the
/// `starling bgp` file loader all call these, so they accept and refuse the same values with the same
/// reasons. Each check throws a `PeerRules.Violation` naming the rule's field; callers map the field to
/// their own spelling (`peerAS`, `remote_as`, `peers[0].asn`).
public enum PeerRules {
    /// The field a rule is about.
    public enum Field: String, Sendable, Hashable, CaseIterable {
        /// Our AS number.
        case localAS
        /// The AS number the peer must announce.
        case peerAS
        /// Our BGP Identifier.
        case routerID
        /// The Hold Time we propose.
        case holdTime
        /// Seconds between our KEEPALIVEs.
        case keepaliveInterval
        /// The peer's address.
        case peerAddress
        /// Our address for the session.
        case localAddress
    }

    /// A value the rules refuse: the field and why.
    public struct Violation: Error, Sendable, Hashable, CustomStringConvertible {
        /// The field at fault.
        public var field: Field
        /// Why, in words a user can act on.
        public var reason: String
        /// A violation of the rule for `field`.
        public init(field: Field, reason: String) {
            self.field = field
            self.reason = reason
        }
        /// `field: reason`.
        public var description: String { "\(field.rawValue): \(reason)" }
    }

    /// AS_TRANS (RFC 6793 §9).
    public static let asTrans: UInt32 = 23456
    /// The longest keepalive interval: a third of the longest hold time (RFC 4271 §10 suggests a third).
    public static let maximumKeepaliveInterval = 21845

    /// Checks an AS number used as `field` (`.localAS` or `.peerAS`).
    public static func checkAS(_ asn: UInt32, field: Field) throws(Violation) {
        // RFC 7607 §2: AS 0 must not be used; a peer announcing it gets Bad Peer AS.
        if asn == 0 {
            throw Violation(field: field, reason: "must be between 1 and 4294967295 (AS 0 is reserved, RFC 7607)")
        }
        // RFC 6793 §9: AS_TRANS is reserved; it stands in for a 4-octet AS and is nobody's own AS.
        if asn == asTrans { throw Violation(field: field, reason: "23456 is AS_TRANS (RFC 6793), not a usable AS") }
    }

    /// Checks our BGP Identifier.
    public static func checkRouterID(_ routerID: IPv4Address) throws(Violation) {
        // RFC 6286 §2.1: the BGP Identifier is a non-zero 4-octet value.
        if routerID.rawValue == 0 {
            throw Violation(field: .routerID, reason: "the BGP Identifier must not be 0.0.0.0")
        }
    }

    /// Checks a proposed Hold Time in seconds (an `Int`, so that out-of-range API input is refused
    /// rather than truncated).
    public static func checkHoldTime(_ seconds: Int) throws(Violation) {
        // RFC 4271 §4.2: "The Hold Time MUST be either zero or at least three seconds"; a 2-octet field.
        guard seconds == 0 || (3...65535).contains(seconds) else {
            throw Violation(field: .holdTime, reason: "must be 0 or between 3 and 65535 seconds, not \(seconds)")
        }
    }

    /// Checks a keepalive interval, and against the hold time it goes with when one is given.
    public static func checkKeepaliveInterval(_ seconds: Int, holdTime: Int?) throws(Violation) {
        guard (0...maximumKeepaliveInterval).contains(seconds) else {
            throw Violation(
                field: .keepaliveInterval, reason: "must be between 0 and \(maximumKeepaliveInterval) seconds")
        }
        // RFC 4271 §4.4: keepalives keep the peer's hold timer from expiring, so they must come sooner.
        if let hold = holdTime, hold > 0, seconds >= hold {
            throw Violation(
                field: .keepaliveInterval, reason: "must be less than the hold time (\(hold) seconds), not \(seconds)")
        }
    }

    /// Checks an address used for a session (`.peerAddress` or `.localAddress`).
    public static func checkSessionAddress(_ address: IPAddress, field: Field) throws(Violation) {
        // An IPv6 link-local address means nothing without an interface, which peers do not carry.
        if case .v6(let a) = address, a.isLinkLocal {
            throw Violation(
                field: field,
                reason: "link-local addresses need an interface and are not supported; use a global address")
        }
        if address.isUnspecified {
            throw Violation(field: field, reason: "\(address) is not a usable address")
        }
    }

    /// Checks an address to listen on for sessions: the wildcard addresses are fine, link-local ones
    /// are not.
    public static func checkListenAddress(_ address: IPAddress) throws(Violation) {
        guard !address.isUnspecified else { return }
        try checkSessionAddress(address, field: .localAddress)
    }

    /// Checks our address for a session with `peer`: usable, and of the peer's family.
    public static func checkLocalAddress(_ local: IPAddress, peer: IPAddress) throws(Violation) {
        guard local.isIPv6 == peer.isIPv6 else {
            throw Violation(field: .localAddress, reason: "address family differs from the peer address")
        }
        try checkSessionAddress(local, field: .localAddress)
    }
}
