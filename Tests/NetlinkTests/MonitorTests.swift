import Glibc
import IPAddresses
import Netlink
import XCTest

final class MonitorTests: NamespaceTestCase {
    func testCallbackMonitorSeesAddressAddAndRemove() throws {
        let added = expectation(description: "RTM_NEWADDR 192.0.2.40")
        let removed = expectation(description: "RTM_DELADDR 192.0.2.40")
        let monitor = try NetlinkMonitor(namespace: ns.namespace) { event in
            switch event {
            case .addressAdded(let address) where address.address == IPAddress("192.0.2.40"):
                XCTAssertEqual(address.interfaceIndex, 1)
                XCTAssertEqual(address.prefixLength, 32)
                added.fulfill()
            case .addressRemoved(let address) where address.address == IPAddress("192.0.2.40"):
                removed.fulfill()
            default:
                break
            }
        }
        defer { monitor.stop() }
        try netlink.addAddress("192.0.2.40", prefixLength: 32, interface: 1)
        wait(for: [added], timeout: 10)
        try netlink.deleteAddress("192.0.2.40", prefixLength: 32, interface: 1)
        wait(for: [removed], timeout: 10)
    }

    func testStreamMonitorSeesIPv6AddressRouteAndLinkEvents() async throws {
        let (monitor, events) = try NetlinkMonitor.stream(namespace: ns.namespace)
        // A deadline, not a sleep: if the events never come, stopping ends the stream.
        let deadline = Task {
            try await Task.sleep(for: .seconds(10))
            monitor.stop()
        }
        defer { deadline.cancel() }

        try ns.ip("link", "add", "va", "type", "veth", "peer", "name", "vb")
        let vethA = try ns.index(of: "va")
        try netlink.setLink(vethA, up: true)
        try netlink.addAddress("2001:db8::41", prefixLength: 128, interface: 1)
        try netlink.addRoute(Route(destination: RoutePrefix("192.0.2.0/24")!, type: .blackhole))

        var sawLink = false
        var sawAddress = false
        var sawRoute = false
        for await event in events {
            switch event {
            case .linkChanged(let link) where link.name == "va" && link.isUp: sawLink = true
            case .addressAdded(let address) where address.address == IPAddress("2001:db8::41"): sawAddress = true
            case .routeAdded(let route) where route.destination.description == "192.0.2.0/24":
                XCTAssertEqual(route.type, .blackhole)
                XCTAssertEqual(route.protocol, .starling)
                sawRoute = true
            default: break
            }
            if sawLink && sawAddress && sawRoute { break }
        }
        XCTAssertTrue(sawLink, "link up event")
        XCTAssertTrue(sawAddress, "IPv6 address event")
        XCTAssertTrue(sawRoute, "route event")
        monitor.stop()
    }

    func testStopEndsTheStreamAndIsIdempotent() async throws {
        let (monitor, events) = try NetlinkMonitor.stream(namespace: ns.namespace)
        monitor.stop()
        monitor.stop()
        var count = 0
        for await _ in events { count += 1 }
        XCTAssertEqual(count, 0)
    }

    func testStopFromInsideTheHandlerDoesNotDeadlock() throws {
        let stopped = expectation(description: "handler stopped the monitor")
        let box = MonitorBox()
        box.monitor = try NetlinkMonitor(namespace: ns.namespace, groups: [.ipv4Addresses]) { event in
            if case .addressAdded = event {
                box.monitor?.stop()
                stopped.fulfill()
            }
        }
        try netlink.addAddress("192.0.2.42", prefixLength: 32, interface: 1)
        wait(for: [stopped], timeout: 10)
        box.monitor = nil
    }

    func testMonitorInMissingNamespaceFails() {
        XCTAssertThrowsError(try NetlinkMonitor(namespace: NetworkNamespace(named: "starling-no-such-ns")) { _ in }) {
            XCTAssertEqual(($0 as? NetlinkError)?.errno, ENOENT)
        }
    }
}

private final class MonitorBox: @unchecked Sendable {
    var monitor: NetlinkMonitor?
}

extension NetlinkMonitor {
    fileprivate convenience init(
        namespace: NetworkNamespace, groups: NetlinkGroups, handler: @escaping @Sendable (NetlinkEvent) -> Void
    ) throws {
        try self.init(groups: groups, namespace: namespace, handler: handler)
    }
}
