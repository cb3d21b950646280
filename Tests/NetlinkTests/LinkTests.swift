import Glibc
import Netlink
import XCTest

final class LinkTests: NamespaceTestCase {
    func testLinksMatchWhatIpReports() throws {
        let (vethA, _) = try ns.addVethPair("va", "vb")
        let links = try netlink.links()
        let reported = try ns.ipJSON("link", "show")
        XCTAssertEqual(links.count, reported.count)
        for entry in reported {
            let name = try XCTUnwrap(entry["ifname"] as? String)
            let link = try XCTUnwrap(links.first { $0.name == name }, "missing \(name)")
            XCTAssertEqual(Int(link.index), entry["ifindex"] as? Int)
            XCTAssertEqual(Int(link.mtu), entry["mtu"] as? Int)
            XCTAssertEqual(link.macAddress, entry["address"] as? String)
            let flags = entry["flags"] as? [String] ?? []
            XCTAssertEqual(link.isUp, flags.contains("UP"), name)
        }
        let loopback = try XCTUnwrap(try netlink.link(named: "lo"))
        XCTAssertTrue(loopback.flags.contains(.loopback))
        XCTAssertTrue(loopback.isUp)
        let veth = try XCTUnwrap(try netlink.link(named: "va"))
        XCTAssertEqual(veth.index, vethA)
        XCTAssertEqual(veth.kind, "veth")
        XCTAssertNil(try netlink.link(named: "does-not-exist"))
    }

    func testSetLinkDownAndUp() throws {
        let (vethA, _) = try ns.addVethPair("va", "vb")
        try netlink.setLink(vethA, up: false)
        XCTAssertFalse(try ipFlags("va").contains("UP"))
        XCTAssertFalse(try XCTUnwrap(try netlink.link(named: "va")).isUp)

        try netlink.setLink(vethA, up: true)
        XCTAssertTrue(try ipFlags("va").contains("UP"))
        let link = try XCTUnwrap(try netlink.link(named: "va"))
        XCTAssertTrue(link.isUp)
        XCTAssertTrue(link.isRunning, "both ends of the veth are up, so it has carrier")
    }

    func testSetLinkOnMissingInterfaceReportsENODEV() throws {
        XCTAssertThrowsError(try netlink.setLink(4242, up: true)) { error in
            let error = error as? NetlinkError
            XCTAssertEqual(error?.errno, ENODEV)
            XCTAssertEqual(error?.operation, "set link 4242 up")
        }
    }

    private func ipFlags(_ dev: String) throws -> [String] {
        try ns.ipJSON("link", "show", "dev", dev).first?["flags"] as? [String] ?? []
    }
}
