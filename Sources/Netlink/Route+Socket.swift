import CNetlink
import Glibc
import IPAddresses

/// Attribute numbers of `rtmsg` messages (`RTA_*`), as Int32 for libnl calls.
enum RouteAttribute {
    static let destination = Int32(RTA_DST.rawValue)
    static let outputInterface = Int32(RTA_OIF.rawValue)
    static let gateway = Int32(RTA_GATEWAY.rawValue)
    static let priority = Int32(RTA_PRIORITY.rawValue)
    static let multipath = Int32(RTA_MULTIPATH.rawValue)
    static let table = Int32(RTA_TABLE.rawValue)
    static let via = Int32(RTA_VIA.rawValue)
}

extension NetlinkSocket {
    /// The routes of `table` (nil: every table) and `family` (`.unspecified`: IPv4 and IPv6).
    /// Cloned cache entries and non-IP families are left out.
    public func routes(table: RouteTable? = .main, family: IPFamily = .unspecified) throws -> [Route] {
        var header = rtmsg()
        header.rtm_family = family.rawValue
        let scope = table.map { "table \($0)" } ?? "all tables"
        return try dump("list \(family) routes \(scope)", type: Int32(RTM_GETROUTE), header: header) {
            Route(message: $0)
        }.filter { route in
            (family == .unspecified || route.family == family) && (table == nil || route.table == table)
        }
    }

    /// Adds `route`; fails with `EEXIST` if a route to the same destination with the same
    /// table, metric (and, for IPv4, type) exists. Use ``replaceRoute(_:)`` for desired state.
    public func addRoute(_ route: Route) throws {
        try perform(Self.routeRequest(route, verb: "add", type: Int32(RTM_NEWROUTE), flags: NLM_F_CREATE | NLM_F_EXCL))
    }

    /// Adds `route`, or replaces the route with the same destination, table and metric:
    /// its next hops, protocol and type become `route`'s (`ip route replace`). Idempotent.
    public func replaceRoute(_ route: Route) throws {
        try perform(
            Self.routeRequest(route, verb: "replace", type: Int32(RTM_NEWROUTE), flags: NLM_F_CREATE | NLM_F_REPLACE))
    }

    /// Deletes the route to `route.destination` in `route.table` with `route.protocol` and,
    /// if not 0, `route.metric`, whatever its next hops (an ECMP route goes entirely).
    /// Idempotent: returns false if there was no such route (`ESRCH`).
    @discardableResult
    public func deleteRoute(_ route: Route) throws -> Bool {
        try deleteRoute(route.destination, table: route.table, protocol: route.protocol, metric: route.metric)
    }

    /// Deletes the route to `destination` in `table`. `protocol` `.unspecified` and metric 0
    /// match any. Idempotent: returns false if there was no such route (`ESRCH`).
    @discardableResult
    public func deleteRoute(
        _ destination: RoutePrefix, table: RouteTable = .main, protocol: RouteProtocol = .unspecified,
        metric: UInt32 = 0
    ) throws -> Bool {
        let template = Route(
            destination: destination, table: table, protocol: `protocol`, metric: metric, type: .unspecified,
            scope: .nowhere)
        let request = try Self.routeRequest(template, verb: "delete", type: Int32(RTM_DELROUTE), flags: 0)
        do {
            try perform(request)
            return true
        } catch let error as NetlinkError where error.errno == ESRCH {
            return false
        }
    }

    /// Builds an `RTM_NEWROUTE` / `RTM_DELROUTE` request for `route` (no socket needed: tests compare its
    /// bytes with golden vectors).
    static func routeRequest(_ route: Route, verb: String, type: Int32, flags: Int32) throws -> NetlinkRequest {
        let operation = "\(verb) route \(route.destination) table \(route.table)"
        let request = try NetlinkRequest(operation: operation, type: type, flags: flags)
        var header = rtmsg()
        header.rtm_family = route.family.rawValue
        header.rtm_dst_len = route.destination.length
        header.rtm_table = route.table.rawValue < 256 ? UInt8(route.table.rawValue) : 0
        header.rtm_protocol = route.protocol.rawValue
        header.rtm_scope = (route.scope ?? Self.defaultScope(for: route)).rawValue
        header.rtm_type = route.type.rawValue
        try request.append(header: header)
        try request.put(RouteAttribute.table, u32: route.table.rawValue)
        if route.destination.length > 0 {
            try request.put(RouteAttribute.destination, bytes: route.destination.bytes)
        }
        if route.metric != 0 { try request.put(RouteAttribute.priority, u32: route.metric) }

        for hop in route.nextHops where !(1...256).contains(hop.weight) {
            throw NetlinkError.invalid(operation: operation, "next hop weight \(hop.weight) is not in 1...256")
        }
        if route.nextHops.count == 1 {
            let hop = route.nextHops[0]
            try putGateway(of: hop, routeFamily: route.family, into: request)
            if let index = hop.interfaceIndex {
                try request.put(RouteAttribute.outputInterface, u32: UInt32(bitPattern: index))
            }
        } else if route.nextHops.count > 1 {
            // RTA_MULTIPATH: a sequence of struct rtnexthop, each followed by its own
            // attributes (RTA_GATEWAY / RTA_VIA); rtnh_len covers both, rtnh_hops is weight - 1.
            let nest = try request.beginNest(RouteAttribute.multipath)
            for hop in route.nextHops {
                let start = try request.reserve(MemoryLayout<rtnexthop>.size)
                try putGateway(of: hop, routeFamily: route.family, into: request)
                var entry = rtnexthop()
                entry.rtnh_len = UInt16(request.tail - start)
                entry.rtnh_flags = 0
                entry.rtnh_hops = UInt8(hop.weight - 1)
                entry.rtnh_ifindex = hop.interfaceIndex ?? 0
                withUnsafeBytes(of: &entry) { start.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            try request.endNest(nest)
        }
        return request
    }

    /// Puts `RTA_GATEWAY` (same family as the route) or `RTA_VIA` (the other family).
    private static func putGateway(of hop: NextHop, routeFamily: IPFamily, into request: NetlinkRequest) throws {
        guard let gateway = hop.gateway else { return }
        let family = IPFamily(of: gateway)
        let bytes = gateway.bytes
        if family == routeFamily {
            try request.put(RouteAttribute.gateway, bytes: bytes)
        } else {
            // struct rtvia { __kernel_sa_family_t rtvia_family; __u8 rtvia_addr[]; }
            let familyBytes = withUnsafeBytes(of: UInt16(family.rawValue)) { Array($0) }
            try request.put(RouteAttribute.via, bytes: familyBytes + bytes)
        }
    }

    /// `link` for a unicast route without any gateway, `host` for local routes, else `universe`.
    static func defaultScope(for route: Route) -> RouteScope {
        switch route.type {
        case .unicast:
            return route.nextHops.contains { $0.gateway != nil } ? .universe : .link
        case .local:
            return .host
        default:
            return .universe
        }
    }
}
