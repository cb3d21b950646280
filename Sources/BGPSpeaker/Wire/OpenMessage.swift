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
