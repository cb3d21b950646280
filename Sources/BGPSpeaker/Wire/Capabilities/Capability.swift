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
