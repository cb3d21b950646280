import CNetlink
import Glibc
import IPAddresses

/// A destination prefix such as `192.0.2.0/24`, `2001:db8::10/128` or `0.0.0.0/0`.
/// Host bits must be zero (the kernel rejects them too); the address is kept canonical.
public struct RoutePrefix: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The prefix (host bits zero).
    public let prefix: IPPrefix

    /// The route destination `prefix`.
    public init(_ prefix: IPPrefix) { self.prefix = prefix }

    /// Parses `"address/length"` (a bare address means /32 or /128); nil if invalid or if
    /// bits beyond the length are set.
    public init?(_ text: String) {
        guard let prefix = IPPrefix(text) else { return nil }
        self.prefix = prefix
    }

    /// A prefix from address text and length; nil if invalid or host bits are set.
    public init?(address: String, length: UInt8) {
        guard let parsed = IPAddress(address), let prefix = IPPrefix(exactly: parsed, length: length) else {
            return nil
        }
        self.prefix = prefix
    }

    init?(family: IPFamily, bytes: [UInt8], length: UInt8) {
        guard let address = IPAddress(family: family, bytes: bytes),
            let prefix = IPPrefix(exactly: address, length: length)
        else { return nil }
        self.prefix = prefix
    }

    /// `.ipv4` or `.ipv6`.
    public var family: IPFamily { IPFamily(of: prefix.address) }
    /// Network-order address bytes (4 or 16).
    public var bytes: [UInt8] { prefix.address.bytes }
    /// The prefix length.
    public var length: UInt8 { prefix.length }
    /// The network address in canonical text.
    public var address: String { prefix.address.description }

    public var description: String { prefix.description }

    /// IPv4 before IPv6, then by address, then by length.
    public static func < (l: Self, r: Self) -> Bool { l.prefix < r.prefix }
}

/// One path of a route: a gateway, an outgoing interface, or both, and its ECMP weight.
public struct NextHop: Hashable, Sendable, CustomStringConvertible {
    /// The gateway address in canonical text (`IPAddress`'s), nil for a directly attached route. It may be
    /// of the other family than the route (an IPv4 route via an IPv6 gateway, RFC 5549),
    /// which is sent as `RTA_VIA`.
    public var gateway: IPAddress?
    /// The outgoing interface index, nil to let the kernel find it from the gateway.
    public var interfaceIndex: Int32?
    /// The ECMP weight, 1...256 (`ip route ... weight N`); ignored for single-path routes.
    public var weight: UInt16

    public init(gateway: IPAddress? = nil, interfaceIndex: Int32? = nil, weight: UInt16 = 1) {
        self.gateway = gateway
        self.interfaceIndex = interfaceIndex
        self.weight = weight
    }

    public var description: String {
        var parts: [String] = []
        if let gateway { parts.append("via \(gateway)") }
        if let interfaceIndex { parts.append("dev \(interfaceIndex)") }
        parts.append("weight \(weight)")
        return parts.joined(separator: " ")
    }
}

/// A route in a kernel routing table.
public struct Route: Hashable, Sendable, CustomStringConvertible {
    /// Where the route leads.
    public var destination: RoutePrefix
    /// Which routing table holds it.
    public var table: RouteTable
    /// Who installed it; Starling's routes use ``RouteProtocol/starling``.
    public var `protocol`: RouteProtocol
    /// The route's metric (`RTA_PRIORITY`); lower wins. The kernel stores IPv6 routes added
    /// with metric 0 as 1024.
    public var metric: UInt32
    /// Unicast, blackhole, local ...
    public var type: RouteType
    /// The scope; nil when adding means: `link` for a unicast route without gateways,
    /// `host` for local routes, else `universe`.
    public var scope: RouteScope?
    /// The paths. One element: a plain route; several: an ECMP (multipath) route.
    public var nextHops: [NextHop]

    public init(
        destination: RoutePrefix, nextHops: [NextHop] = [], table: RouteTable = .main,
        protocol: RouteProtocol = .starling, metric: UInt32 = 0, type: RouteType = .unicast,
        scope: RouteScope? = nil
    ) {
        self.destination = destination
        self.nextHops = nextHops
        self.table = table
        self.protocol = `protocol`
        self.metric = metric
        self.type = type
        self.scope = scope
    }

    /// The family of the destination.
    public var family: IPFamily { destination.family }

    public var description: String {
        "\(destination) table \(table) proto \(self.protocol) metric \(metric) "
            + nextHops.map(\.description).joined(separator: " | ")
    }
}

// MARK: - Decoding

extension Route {
    /// Converts a libnl-route `rtnl_route` object (libnl decodes `RTA_MULTIPATH` for us).
    init?(routeObject object: OpaquePointer) {
        guard String(cString: nl_object_get_type(object)) == "route/route" else { return nil }
        let family = IPFamily(rawValue: rtnl_route_get_family(object))
        guard let length = family.addressLength, let dst = rtnl_route_get_dst(object) else { return nil }
        var bytes = [UInt8](repeating: 0, count: length)
        if let data = nl_addr_get_binary_addr(dst), Int(nl_addr_get_len(dst)) == length {
            bytes = Array(UnsafeRawBufferPointer(start: data, count: length))
        }
        let prefixLength = UInt8(truncatingIfNeeded: nl_addr_get_prefixlen(dst))
        guard let destination = RoutePrefix(family: family, bytes: bytes, length: prefixLength) else { return nil }
        var hops: [NextHop] = []
        for position in 0..<max(0, rtnl_route_get_nnexthops(object)) {
            guard let hop = rtnl_route_nexthop_n(object, position) else { continue }
            let gateway = (rtnl_route_nh_get_gateway(hop) ?? rtnl_route_nh_get_via(hop)).flatMap(ipAddress(of:))
            let index = rtnl_route_nh_get_ifindex(hop)
            hops.append(
                NextHop(
                    gateway: gateway, interfaceIndex: index > 0 ? index : nil,
                    weight: UInt16(rtnl_route_nh_get_weight(hop)) + 1))
        }
        self.init(
            destination: destination,
            nextHops: hops,
            table: RouteTable(rawValue: rtnl_route_get_table(object)),
            protocol: RouteProtocol(rawValue: rtnl_route_get_protocol(object)),
            metric: rtnl_route_get_priority(object),
            type: RouteType(rawValue: rtnl_route_get_type(object)),
            scope: RouteScope(rawValue: rtnl_route_get_scope(object))
        )
    }

    /// Decodes an `RTM_NEWROUTE` / `RTM_DELROUTE` message; nil for other families (MPLS,
    /// multicast routing) and for cloned cache entries.
    init?(message: OpaquePointer) {
        guard let header = nlmsg_hdr(message), let data = nlmsg_data(header),
            Int(nlmsg_datalen(header)) >= MemoryLayout<rtmsg>.size
        else { return nil }
        let fixed = data.loadUnaligned(as: rtmsg.self)
        let family = IPFamily(rawValue: fixed.rtm_family)
        guard family == .ipv4 || family == .ipv6, fixed.rtm_flags & UInt32(RTM_F_CLONED) == 0 else { return nil }
        guard let route = withParsedObject(of: message, { Route(routeObject: $0) }) else { return nil }
        self = route
    }
}

/// The address a libnl `nl_addr` holds, nil when it is not IPv4 or IPv6.
func ipAddress(of address: OpaquePointer) -> IPAddress? {
    let family = IPFamily(rawValue: UInt8(truncatingIfNeeded: nl_addr_get_family(address)))
    guard let data = nl_addr_get_binary_addr(address) else { return nil }
    let bytes = UnsafeRawBufferPointer(start: data, count: Int(nl_addr_get_len(address)))
    return IPAddress(family: family, bytes: bytes)
}
