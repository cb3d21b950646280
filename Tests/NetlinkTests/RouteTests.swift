import Glibc
import IPAddresses
import Netlink
import XCTest

final class RouteTests: NamespaceTestCase {
    private var vethA: Int32 = 0
    private var vethB: Int32 = 0

    /// Two up veth pairs' first ends with on-link subnets, so gateways there are reachable.
    private func makeLinks() throws {
        (vethA, _) = try ns.addVethPair("va", "vb")
        (vethB, _) = try ns.addVethPair("wa", "wb")
        try netlink.addAddress("198.18.0.1", prefixLength: 24, interface: vethA)
        try netlink.addAddress("198.18.1.1", prefixLength: 24, interface: vethB)
        try netlink.addAddress("2001:db8:1::1", prefixLength: 64, interface: vethA, flags: .noDAD)
        try netlink.addAddress("2001:db8:2::1", prefixLength: 64, interface: vethB, flags: .noDAD)
    }

    /// The `ip -j route show` entry for `destination`.
    private func ipRoute(_ destination: String, table: String = "main", v6: Bool = false) throws -> [String: Any]? {
        let entries =
            try v6
            ? ns.ipJSON("-6", "route", "show", "table", table, destination)
            : ns.ipJSON("route", "show", "table", table, destination)
        return entries.first
    }

    private func hops(_ entry: [String: Any]) -> [(gateway: String?, dev: String?, weight: Int)] {
        if let nexthops = entry["nexthops"] as? [[String: Any]] {
            return nexthops.map { ($0["gateway"] as? String, $0["dev"] as? String, $0["weight"] as? Int ?? 1) }
        }
        return [(entry["gateway"] as? String, entry["dev"] as? String, 1)]
    }

    func testIPv4MultipathRouteAddReplaceDelete() throws {
        try makeLinks()
        let destination = RoutePrefix("192.0.2.0/24")!
        let route = Route(
            destination: destination,
            nextHops: [
                NextHop(gateway: IPAddress("198.18.0.2"), interfaceIndex: vethA, weight: 1),
                NextHop(gateway: IPAddress("198.18.1.2"), interfaceIndex: vethB, weight: 3),
            ],
            table: .main, protocol: .starling, metric: 100)
        try netlink.addRoute(route)

        let entry = try XCTUnwrap(try ipRoute("192.0.2.0/24"))
        XCTAssertEqual(entry["metric"] as? Int, 100)
        XCTAssertEqual("\(entry["protocol"] ?? "")", "245")
        let shown = hops(entry)
        XCTAssertEqual(shown.map(\.gateway), ["198.18.0.2", "198.18.1.2"])
        XCTAssertEqual(shown.map(\.dev), ["va", "wa"])
        XCTAssertEqual(shown.map(\.weight), [1, 3])

        let listed = try XCTUnwrap(
            try netlink.routes(table: .main, family: .ipv4).first { $0.destination == destination })
        XCTAssertEqual(listed.protocol, .starling)
        XCTAssertEqual(listed.metric, 100)
        XCTAssertEqual(listed.table, .main)
        XCTAssertEqual(listed.type, .unicast)
        XCTAssertEqual(listed.nextHops, route.nextHops)

        XCTAssertThrowsError(try netlink.addRoute(route)) { error in
            XCTAssertEqual((error as? NetlinkError)?.errno, EEXIST)
        }

        var replaced = route
        replaced.nextHops = [
            NextHop(gateway: IPAddress("198.18.0.2"), interfaceIndex: vethA, weight: 2),
            NextHop(gateway: IPAddress("198.18.0.3"), interfaceIndex: vethA, weight: 2),
            NextHop(gateway: IPAddress("198.18.1.3"), interfaceIndex: vethB, weight: 4),
        ]
        try netlink.replaceRoute(replaced)
        try netlink.replaceRoute(replaced)
        let after = hops(try XCTUnwrap(try ipRoute("192.0.2.0/24")))
        XCTAssertEqual(after.map(\.gateway), ["198.18.0.2", "198.18.0.3", "198.18.1.3"])
        XCTAssertEqual(after.map(\.weight), [2, 2, 4])
        XCTAssertEqual(try ns.ipJSON("route", "show", "192.0.2.0/24").count, 1, "replace, not append")

        XCTAssertTrue(try netlink.deleteRoute(replaced))
        XCTAssertNil(try ipRoute("192.0.2.0/24"))
        XCTAssertFalse(try netlink.deleteRoute(replaced), "absent is success")
    }

    func testIPv6MultipathRouteAddReplaceDelete() throws {
        try makeLinks()
        let destination = RoutePrefix("2001:db8:100::/64")!
        let route = Route(
            destination: destination,
            nextHops: [
                NextHop(gateway: IPAddress("2001:db8:1::2"), interfaceIndex: vethA, weight: 1),
                NextHop(gateway: IPAddress("2001:db8:2::2"), interfaceIndex: vethB, weight: 5),
            ],
            protocol: .starling, metric: 200)
        try netlink.addRoute(route)

        let entry = try XCTUnwrap(try ipRoute("2001:db8:100::/64", v6: true))
        XCTAssertEqual(entry["metric"] as? Int, 200)
        let shown = hops(entry)
        XCTAssertEqual(Set(shown.compactMap(\.gateway)), ["2001:db8:1::2", "2001:db8:2::2"])
        XCTAssertEqual(shown.first { $0.gateway == "2001:db8:2::2" }?.weight, 5)

        let listed = try XCTUnwrap(try netlink.routes(family: .ipv6).first { $0.destination == destination })
        XCTAssertEqual(listed.protocol, .starling)
        XCTAssertEqual(listed.metric, 200)
        XCTAssertEqual(Set(listed.nextHops), Set(route.nextHops))

        var replaced = route
        replaced.nextHops = [NextHop(gateway: IPAddress("2001:db8:1::3"), interfaceIndex: vethA)]
        try netlink.replaceRoute(replaced)
        let after = hops(try XCTUnwrap(try ipRoute("2001:db8:100::/64", v6: true)))
        XCTAssertEqual(after.map(\.gateway), ["2001:db8:1::3"])

        try netlink.replaceRoute(route)
        XCTAssertEqual(hops(try XCTUnwrap(try ipRoute("2001:db8:100::/64", v6: true))).count, 2)
        XCTAssertTrue(try netlink.deleteRoute(route), "deletes every path of the ECMP route")
        XCTAssertNil(try ipRoute("2001:db8:100::/64", v6: true))

        try netlink.addRoute(replaced)
        XCTAssertTrue(try netlink.deleteRoute(replaced))
        XCTAssertNil(try ipRoute("2001:db8:100::/64", v6: true))
        XCTAssertFalse(try netlink.deleteRoute(replaced))
    }

    func testRoutesInAnotherTableWithoutGateway() throws {
        try makeLinks()
        let route = Route(
            destination: RoutePrefix("192.0.2.128/25")!, nextHops: [NextHop(interfaceIndex: vethA)],
            table: RouteTable(1000), protocol: .bgp)
        try netlink.replaceRoute(route)
        let entry = try XCTUnwrap(try ipRoute("192.0.2.128/25", table: "1000"))
        XCTAssertEqual(entry["dev"] as? String, "va")
        XCTAssertEqual(entry["scope"] as? String, "link")
        XCTAssertEqual("\(entry["protocol"] ?? "")", "bgp")
        XCTAssertNil(try ipRoute("192.0.2.128/25"), "not in main")

        let listed = try netlink.routes(table: RouteTable(1000))
        XCTAssertEqual(listed.map(\.destination.description), ["192.0.2.128/25"])
        XCTAssertEqual(listed.first?.scope, .link)
        XCTAssertTrue(try netlink.routes(table: nil).contains { $0.table == RouteTable(1000) })
        XCTAssertTrue(try netlink.deleteRoute(RoutePrefix("192.0.2.128/25")!, table: RouteTable(1000)))
        XCTAssertNil(try ipRoute("192.0.2.128/25", table: "1000"))
    }

    func testBlackholeRoute() throws {
        let route = Route(destination: RoutePrefix("192.0.2.0/26")!, type: .blackhole)
        try netlink.addRoute(route)
        let entry = try XCTUnwrap(try ipRoute("192.0.2.0/26"))
        XCTAssertEqual(entry["type"] as? String, "blackhole")
        XCTAssertEqual(try netlink.routes().first { $0.destination == route.destination }?.type, .blackhole)
        XCTAssertTrue(try netlink.deleteRoute(route))
    }

    func testDeleteRouteMatchesProtocol() throws {
        try makeLinks()
        try ns.ip("route", "add", "192.0.2.64/26", "via", "198.18.0.2", "proto", "static")
        XCTAssertFalse(try netlink.deleteRoute(RoutePrefix("192.0.2.64/26")!, protocol: .starling))
        XCTAssertNotNil(try ipRoute("192.0.2.64/26"), "someone else's route stays")
        XCTAssertTrue(try netlink.deleteRoute(RoutePrefix("192.0.2.64/26")!, protocol: .static))
        XCTAssertNil(try ipRoute("192.0.2.64/26"))
    }

    func testRouteViaMissingInterfaceReportsErrnoAndOperation() throws {
        let route = Route(
            destination: RoutePrefix("192.0.2.0/24")!, nextHops: [NextHop(interfaceIndex: 4242)])
        XCTAssertThrowsError(try netlink.addRoute(route)) { error in
            guard let error = error as? NetlinkError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.errno, ENODEV)
            XCTAssertEqual(error.operation, "add route 192.0.2.0/24 table 254")
            XCTAssertTrue(error.message.hasPrefix(String(cString: strerror(ENODEV))), error.message)
        }
    }

    func testUnreachableGatewayCarriesKernelMessage() throws {
        try makeLinks()
        let route = Route(
            destination: RoutePrefix("192.0.2.0/24")!, nextHops: [NextHop(gateway: IPAddress("203.0.113.1"))])
        XCTAssertThrowsError(try netlink.addRoute(route)) { error in
            guard let error = error as? NetlinkError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.errno, ENETUNREACH)
            XCTAssertTrue(error.message.contains(":"), "extended ACK text expected: \(error.message)")
        }
    }

    func testInvalidWeightIsRejected() throws {
        let route = Route(
            destination: RoutePrefix("192.0.2.0/24")!,
            nextHops: [NextHop(gateway: IPAddress("198.18.0.2"), weight: 0), NextHop(gateway: IPAddress("198.18.0.3"))])
        XCTAssertThrowsError(try netlink.addRoute(route)) { error in
            XCTAssertEqual((error as? NetlinkError)?.errno, EINVAL)
        }
    }
}
