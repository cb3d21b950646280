/// Who installed a route (`rtm_protocol`, `RTPROT_*`). Values above `static` are not
/// interpreted by the kernel; routing daemons use them to recognise their own routes.
/// Open struct: any `UInt8` round-trips.
public struct RouteProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `RTPROT_UNSPEC`; in a delete request: "any protocol".
    public static let unspecified = RouteProtocol(rawValue: 0)
    /// `RTPROT_REDIRECT`: installed by an ICMP redirect.
    public static let redirect = RouteProtocol(rawValue: 1)
    /// `RTPROT_KERNEL`: installed by the kernel (connected subnets, local addresses).
    public static let kernel = RouteProtocol(rawValue: 2)
    /// `RTPROT_BOOT`: `ip route add` without `proto`.
    public static let boot = RouteProtocol(rawValue: 3)
    /// `RTPROT_STATIC`: installed by the administrator.
    public static let `static` = RouteProtocol(rawValue: 4)
    /// `RTPROT_BIRD`.
    public static let bird = RouteProtocol(rawValue: 12)
    /// `RTPROT_BGP`: BGP routes (FRR, and Starling's speaker when it installs learned routes).
    public static let bgp = RouteProtocol(rawValue: 186)
    /// Routes (and, with `IFA_PROTO`, addresses) that Starling owns. 245 is unassigned in
    /// iproute2's `rt_protos`, in `<linux/rtnetlink.h>` and in FRR's 186–199 block.
    public static let starling = RouteProtocol(rawValue: 245)

    public var description: String {
        switch self {
        case .unspecified: return "unspec"
        case .redirect: return "redirect"
        case .kernel: return "kernel"
        case .boot: return "boot"
        case .static: return "static"
        case .bird: return "bird"
        case .bgp: return "bgp"
        case .starling: return "starling"
        default: return String(rawValue)
        }
    }
}

/// A routing table id (`RTA_TABLE`). Open struct: any `UInt32` table works.
public struct RouteTable: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// `RT_TABLE_UNSPEC`.
    public static let unspecified = RouteTable(rawValue: 0)
    /// `RT_TABLE_DEFAULT` (253).
    public static let `default` = RouteTable(rawValue: 253)
    /// `RT_TABLE_MAIN` (254): what `ip route` shows.
    public static let main = RouteTable(rawValue: 254)
    /// `RT_TABLE_LOCAL` (255): local and broadcast routes the kernel maintains.
    public static let local = RouteTable(rawValue: 255)

    public var description: String { String(rawValue) }
}

/// The route type (`rtm_type`, `RTN_*`). Open struct.
public struct RouteType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let unspecified = RouteType(rawValue: 0)
    /// A gateway or direct route.
    public static let unicast = RouteType(rawValue: 1)
    /// Accept locally.
    public static let local = RouteType(rawValue: 2)
    public static let broadcast = RouteType(rawValue: 3)
    public static let anycast = RouteType(rawValue: 4)
    public static let multicast = RouteType(rawValue: 5)
    /// Drop silently.
    public static let blackhole = RouteType(rawValue: 6)
    /// Drop with "destination unreachable".
    public static let unreachable = RouteType(rawValue: 7)
    /// Drop with "administratively prohibited".
    public static let prohibit = RouteType(rawValue: 8)
}

/// The route scope (`rtm_scope`, `RT_SCOPE_*`). Open struct.
public struct RouteScope: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Via a gateway.
    public static let universe = RouteScope(rawValue: 0)
    public static let site = RouteScope(rawValue: 200)
    /// Directly attached.
    public static let link = RouteScope(rawValue: 253)
    /// On this host.
    public static let host = RouteScope(rawValue: 254)
    /// `RT_SCOPE_NOWHERE`; in a delete request: "any scope".
    public static let nowhere = RouteScope(rawValue: 255)
}
