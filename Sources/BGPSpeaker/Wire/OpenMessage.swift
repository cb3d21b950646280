/// OPEN message (RFC 4271 §4.2) with capabilities (RFC 5492) and extended optional parameters (RFC 9072).
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+
/// |    Version    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     My Autonomous System      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Hold Time           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         BGP Identifier                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Opt Parm Len  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |             Optional Parameters (variable)                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
public struct OpenMessage: Sendable, Hashable {
    public var version: UInt8
    /// The 2-octet "My Autonomous System" field: the real ASN, or AS_TRANS (23456) when it does not fit.
    public var myAutonomousSystem: UInt16
    public var holdTime: UInt16
    public var bgpIdentifier: IPv4Address
    /// Capabilities from every Capabilities optional parameter, in order.
    public var capabilities: [Capability]
    /// Optional parameters other than Capabilities (type, value), kept for round trips.
    public var otherParameters: [OptionalParameter]

    public init(
        version: UInt8 = 4, myAutonomousSystem: UInt16, holdTime: UInt16, bgpIdentifier: IPv4Address,
        capabilities: [Capability] = [], otherParameters: [OptionalParameter] = []
    ) {
        self.version = version
        self.myAutonomousSystem = myAutonomousSystem
        self.holdTime = holdTime
        self.bgpIdentifier = bgpIdentifier
        self.capabilities = capabilities
        self.otherParameters = otherParameters
    }

    /// RFC 6793 §4.2.3: the 4-octet capability's ASN when present, else My Autonomous System.
    public var asn: UInt32 {
        for case .fourOctetAS(let asn) in capabilities { return asn }
        return UInt32(myAutonomousSystem)
    }
}

/// AS_TRANS (RFC 6793 §9).
public let asTrans: UInt16 = 23456

/// An optional parameter that is not Capabilities (RFC 4271 §4.2).
public struct OptionalParameter: Sendable, Hashable {
    public var type: UInt8
    public var value: [UInt8]
    public init(type: UInt8, value: [UInt8]) {
        self.type = type
        self.value = value
    }
}

/// Capability code (IANA "Capability Codes").
public struct CapabilityCode: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let multiprotocol = Self(rawValue: 1)
    public static let routeRefresh = Self(rawValue: 2)
    public static let extendedMessage = Self(rawValue: 6)
    public static let gracefulRestart = Self(rawValue: 64)
    public static let fourOctetAS = Self(rawValue: 65)
    public static let addPath = Self(rawValue: 69)
    public static let enhancedRouteRefresh = Self(rawValue: 70)
}

/// One capability advertised in OPEN (RFC 5492).
public enum Capability: Sendable, Hashable {
    /// RFC 4760 §8.
    case multiprotocol(AddressFamily)
    /// RFC 2918.
    case routeRefresh
    /// RFC 7313.
    case enhancedRouteRefresh
    /// RFC 8654.
    case extendedMessage
    /// RFC 6793.
    case fourOctetAS(UInt32)
    /// RFC 4724.
    case gracefulRestart(GracefulRestartCapability)
    /// Anything else, kept verbatim.
    case unknown(code: CapabilityCode, value: [UInt8])

    public var code: CapabilityCode {
        switch self {
        case .multiprotocol: .multiprotocol
        case .routeRefresh: .routeRefresh
        case .enhancedRouteRefresh: .enhancedRouteRefresh
        case .extendedMessage: .extendedMessage
        case .fourOctetAS: .fourOctetAS
        case .gracefulRestart: .gracefulRestart
        case .unknown(let code, _): code
        }
    }
}

/// Graceful Restart capability value (RFC 4724 §3).
public struct GracefulRestartCapability: Sendable, Hashable {
    public struct Family: Sendable, Hashable {
        public var family: AddressFamily
        /// "Forwarding State" bit: forwarding state was preserved for this family.
        public var forwardingPreserved: Bool
        public init(family: AddressFamily, forwardingPreserved: Bool) {
            self.family = family
            self.forwardingPreserved = forwardingPreserved
        }
    }
    /// The Restart State flag (R): the sender has restarted.
    public static let restartState: UInt8 = 0x8
    /// The 4 flag bits (R = 0x8, N = 0x4 per RFC 8538).
    public var flags: UInt8
    /// Restart time in seconds (12 bits).
    public var restartTime: UInt16
    public var families: [Family]
    public init(flags: UInt8, restartTime: UInt16, families: [Family]) {
        self.flags = flags
        self.restartTime = restartTime
        self.families = families
    }
}
