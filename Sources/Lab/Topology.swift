import Foundation

/// One interface of a lab node and its addresses (without prefix length).
public struct LinkEnd: Sendable, Hashable {
    /// The interface name inside its namespace.
    public var device: String
    /// Its IPv4 address (198.18.0.0/15).
    public var ipv4: String
    /// Its IPv6 address (2001:db8:ffff::/48, link subnets only).
    public var ipv6: String

    /// The address of `family`.
    public func address(_ family: IPFamily) -> String { family == .ipv4 ? ipv4 : ipv6 }
}

/// Two namespaces joined by one veth: typically Starling on the left, a peer daemon on the right.
public struct PairTopology {
    /// The left namespace (Starling).
    public let left: Namespace
    /// The right namespace (the peer daemon).
    public let right: Namespace
    /// The left end: `eth0`, 198.18.N.2/24, 2001:db8:ffff:N::2/64.
    public let leftEnd: LinkEnd
    /// The right end: `eth0`, 198.18.N.1/24, 2001:db8:ffff:N::1/64.
    public let rightEnd: LinkEnd
}

/// A router namespace with a bridge and N speaker namespaces attached to it: one shared segment.
public struct SegmentTopology {
    /// The router namespace (holds the bridge `br0`).
    public let router: Namespace
    /// The router's addresses on `br0`: 198.18.N.1/24, 2001:db8:ffff:N::1/64.
    public let routerEnd: LinkEnd
    /// The speaker namespaces, in order.
    public let speakers: [Namespace]
    /// Speaker i (0-based) has `eth0` with 198.18.N.(11+i)/24 and 2001:db8:ffff:N::(11+i)/64.
    public let speakerEnds: [LinkEnd]
}

/// Builders for the lab topologies of DESIGN §5. Link addresses come from 198.18.0.0/15 and the
/// 2001:db8:ffff::/48 part of the documentation prefix (announced prefixes use 192.0.2.0/24 and other parts
/// of 2001:db8::/32). No namespace gets a default route or a link to the host.
public enum Topology {
    /// Builds (a): namespaces `left` and `right` joined by a veth on link subnet `subnet` (1...255; subnet
    /// N gives 2001:db8:ffff:N::/64, whose addresses print canonically, unlike N = 0).
    public static func pair(lab: Lab, left: String = "starling", right: String = "peer", subnet: Int = 1) throws
        -> PairTopology
    {
        precondition((1...255).contains(subnet), "subnet out of 198.18.1.0-198.18.255.0")
        let l = try lab.namespace(left)
        let r = try lab.namespace(right)
        try l.connect("eth0", to: r, as: "eth0")
        let leftEnd = LinkEnd(device: "eth0", ipv4: "198.18.\(subnet).2", ipv6: "2001:db8:ffff:\(hex(subnet))::2")
        let rightEnd = LinkEnd(device: "eth0", ipv4: "198.18.\(subnet).1", ipv6: "2001:db8:ffff:\(hex(subnet))::1")
        for (ns, end) in [(l, leftEnd), (r, rightEnd)] {
            try ns.addAddress("\(end.ipv4)/24", device: end.device)
            try ns.addAddress("\(end.ipv6)/64", device: end.device)
        }
        return PairTopology(left: l, right: r, leftEnd: leftEnd, rightEnd: rightEnd)
    }

    /// Builds (b): a `router` namespace with bridge `br0` and `speakers` namespaces (`speaker1`...), each
    /// joined to the bridge by a veth, all on link subnet `subnet`.
    public static func segment(lab: Lab, speakers count: Int, subnet: Int = 1, router: String = "router") throws
        -> SegmentTopology
    {
        precondition((1...200).contains(count), "1...200 speakers")
        precondition((1...255).contains(subnet), "subnet out of 198.18.1.0-198.18.255.0")
        let routerNS = try lab.namespace(router)
        try routerNS.addBridge("br0")
        let routerEnd = LinkEnd(device: "br0", ipv4: "198.18.\(subnet).1", ipv6: "2001:db8:ffff:\(hex(subnet))::1")
        try routerNS.addAddress("\(routerEnd.ipv4)/24", device: "br0")
        try routerNS.addAddress("\(routerEnd.ipv6)/64", device: "br0")
        var speakers: [Namespace] = []
        var ends: [LinkEnd] = []
        for index in 0..<count {
            let ns = try lab.namespace("speaker\(index + 1)")
            let port = "sp\(index + 1)"
            try ns.connect("eth0", to: routerNS, as: port)
            try routerNS.attach(port, toBridge: "br0")
            let host = 11 + index
            let end = LinkEnd(
                device: "eth0", ipv4: "198.18.\(subnet).\(host)", ipv6: "2001:db8:ffff:\(hex(subnet))::\(host)")
            try ns.addAddress("\(end.ipv4)/24", device: "eth0")
            try ns.addAddress("\(end.ipv6)/64", device: "eth0")
            speakers.append(ns)
            ends.append(end)
        }
        return SegmentTopology(router: routerNS, routerEnd: routerEnd, speakers: speakers, speakerEnds: ends)
    }

    private static func hex(_ value: Int) -> String { String(value, radix: 16) }
}

/// The next hops of a route in a namespace's kernel table, parsed from `ip route show PREFIX`.
public enum KernelRoute {
    /// The gateway addresses of `prefix` in `namespace`'s main table (several for a multipath route).
    public static func nextHops(of prefix: String, in namespace: Namespace) throws -> [String] {
        parseNextHops(try namespace.routes(prefix))
    }

    /// Extracts every `via ADDR` from `ip route` output (single-path and `nexthop via` lines).
    public static func parseNextHops(_ text: String) -> [String] {
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        var hops: [String] = []
        for (index, word) in words.enumerated() where word == "via" && index + 1 < words.count {
            var hop = words[index + 1]
            if hop == "inet6" || hop == "inet", index + 2 < words.count { hop = words[index + 2] }
            hops.append(hop)
        }
        return hops
    }
}
