import Glibc
import IPAddresses

/// An address family as rtnetlink spells it (`AF_INET`, `AF_INET6`). Open struct: other
/// families the kernel reports (MPLS, multicast routing tables) keep their number.
public struct IPFamily: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `AF_UNSPEC`: in a query, "every family".
    public static let unspecified = IPFamily(rawValue: UInt8(AF_UNSPEC))
    /// `AF_INET`.
    public static let ipv4 = IPFamily(rawValue: UInt8(AF_INET))
    /// `AF_INET6`.
    public static let ipv6 = IPFamily(rawValue: UInt8(AF_INET6))

    /// The length of an address of this family in bytes (4 or 16), nil for other families.
    public var addressLength: Int? {
        switch self {
        case .ipv4: return 4
        case .ipv6: return 16
        default: return nil
        }
    }

    /// The longest prefix length of this family (32 or 128), nil for other families.
    public var maximumPrefixLength: UInt8? { addressLength.map { UInt8($0 * 8) } }

    public var description: String {
        switch self {
        case .unspecified: return "unspec"
        case .ipv4: return "inet"
        case .ipv6: return "inet6"
        default: return "family(\(rawValue))"
        }
    }
}

extension IPFamily {
    /// The family of `address`: `.ipv4` or `.ipv6`.
    public init(of address: IPAddress) {
        self = address.isIPv6 ? .ipv6 : .ipv4
    }
}

extension IPAddress {
    /// The address from the network-order bytes netlink carries; nil when `bytes` does not have the
    /// length of `family` (4 for `.ipv4`, 16 for `.ipv6`) or the family is another.
    init?(family: IPFamily, bytes: some Collection<UInt8>) {
        guard let length = family.addressLength, bytes.count == length else { return nil }
        self.init(bytes: bytes)
    }
}
