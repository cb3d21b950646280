/// BGP code points as open structs (STYLE "Code points are open structs"): unknown values decode, carry and re-encode unchanged.

/// BGP message type (RFC 4271 §4.1, RFC 2918).
public struct MessageType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let open = Self(rawValue: 1)
    public static let update = Self(rawValue: 2)
    public static let notification = Self(rawValue: 3)
    public static let keepalive = Self(rawValue: 4)
    public static let routeRefresh = Self(rawValue: 5)
    public var description: String {
        switch self {
        case .open: "OPEN"
        case .update: "UPDATE"
        case .notification: "NOTIFICATION"
        case .keepalive: "KEEPALIVE"
        case .routeRefresh: "ROUTE-REFRESH"
        default: "type-\(rawValue)"
        }
    }
}

/// Address Family Identifier (IANA).
public struct AFI: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let ipv4 = Self(rawValue: 1)
    public static let ipv6 = Self(rawValue: 2)
    public var description: String {
        switch self {
        case .ipv4: "ipv4"
        case .ipv6: "ipv6"
        default: "afi-\(rawValue)"
        }
    }
}

/// Subsequent Address Family Identifier (IANA).
public struct SAFI: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unicast = Self(rawValue: 1)
    public static let multicast = Self(rawValue: 2)
    public var description: String {
        switch self {
        case .unicast: "unicast"
        case .multicast: "multicast"
        default: "safi-\(rawValue)"
        }
    }
}

/// An AFI/SAFI pair.
public struct AddressFamily: Sendable, Hashable, CustomStringConvertible {
    public var afi: AFI
    public var safi: SAFI
    public init(afi: AFI, safi: SAFI) {
        self.afi = afi
        self.safi = safi
    }
    public static let ipv4Unicast = Self(afi: .ipv4, safi: .unicast)
    public static let ipv6Unicast = Self(afi: .ipv6, safi: .unicast)
    public var description: String { "\(afi)-\(safi)" }
}
