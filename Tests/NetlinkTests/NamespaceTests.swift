import Glibc
import IPAddresses
import Netlink
import XCTest

final class NamespaceTests: NamespaceTestCase {
    func testSocketSeesOnlyItsOwnNamespace() throws {
        let host = try NetlinkSocket()
        try ns.ip("link", "add", "starling-va", "type", "veth", "peer", "name", "starling-vb")
        XCTAssertNotNil(try netlink.link(named: "starling-va"))
        XCTAssertNil(try host.link(named: "starling-va"), "the test's links stay in its namespace")
        try netlink.addAddress("192.0.2.99", prefixLength: 32, interface: 1)
        XCTAssertFalse(try host.addresses().contains { $0.address == IPAddress("192.0.2.99") })
        XCTAssertEqual(netlink.namespace, ns.namespace)
    }

    func testSocketWorksFromOtherThreads() throws {
        let socket = netlink!
        let done = expectation(description: "concurrent calls")
        done.expectedFulfillmentCount = 4
        for worker in 0..<4 {
            Thread.detachNewThread {
                do {
                    for _ in 0..<20 {
                        let text = "192.0.2.\(100 + worker)"
                        try socket.addAddress(text, prefixLength: 32, interface: 1)
                        _ = try socket.links()
                        try socket.deleteAddress(text, prefixLength: 32, interface: 1)
                    }
                } catch {
                    XCTFail("worker \(worker): \(error)")
                }
                done.fulfill()
            }
        }
        wait(for: [done], timeout: 60)
        XCTAssertFalse(try ns.addresses(dev: "lo").contains { $0.hasPrefix("192.0.2.10") })
    }

    func testMissingNamespaceReportsENOENT() {
        XCTAssertThrowsError(try NetlinkSocket(namespace: NetworkNamespace(named: "starling-no-such-ns"))) { error in
            let error = error as? NetlinkError
            XCTAssertEqual(error?.errno, ENOENT)
            XCTAssertEqual(error?.operation, "enter network namespace /run/netns/starling-no-such-ns")
        }
    }
}
