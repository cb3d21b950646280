import Glibc
import IPAddresses
import Netlink
import XCTest

final class AddressTests: NamespaceTestCase {
    func testAddAndDeleteIPv4AndIPv6OnLoopback() throws {
        XCTAssertTrue(try netlink.addAddress("192.0.2.10", prefixLength: 32, interface: 1))
        XCTAssertTrue(try netlink.addAddress("2001:db8::10", prefixLength: 128, interface: 1))
        let shown = try ns.addresses(dev: "lo")
        XCTAssertTrue(shown.isSuperset(of: ["192.0.2.10/32", "2001:db8::10/128", "127.0.0.1/8", "::1/128"]))

        let v4 = try netlink.addresses(family: .ipv4)
        XCTAssertTrue(v4.allSatisfy { $0.family == .ipv4 })
        let added = try XCTUnwrap(v4.first { $0.address == IPAddress("192.0.2.10") })
        XCTAssertEqual(added.interfaceIndex, 1)
        XCTAssertEqual(added.prefixLength, 32)
        XCTAssertEqual(added.label, "lo")
        XCTAssertTrue(added.flags.contains(.permanent))
        let v6 = try netlink.addresses(family: .ipv6)
        XCTAssertTrue(v6.allSatisfy { $0.family == .ipv6 })
        XCTAssertTrue(v6.contains { $0.address == IPAddress("2001:db8::10") && $0.prefixLength == 128 })
        XCTAssertEqual(
            Set(try netlink.addresses(interface: 1).map { "\($0.address)/\($0.prefixLength)" }), shown)

        XCTAssertTrue(try netlink.deleteAddress("192.0.2.10", prefixLength: 32, interface: 1))
        XCTAssertTrue(try netlink.deleteAddress("2001:db8::10", prefixLength: 128, interface: 1))
        let after = try ns.addresses(dev: "lo")
        XCTAssertFalse(after.contains("192.0.2.10/32"))
        XCTAssertFalse(after.contains("2001:db8::10/128"))
        XCTAssertTrue(after.isSuperset(of: ["127.0.0.1/8", "::1/128"]))
    }

    func testAddAndDeleteAreIdempotent() throws {
        XCTAssertTrue(try netlink.addAddress("192.0.2.11", prefixLength: 32, interface: 1))
        XCTAssertFalse(try netlink.addAddress("192.0.2.11", prefixLength: 32, interface: 1), "EEXIST is success")
        XCTAssertTrue(try netlink.addAddress("2001:db8::11", prefixLength: 128, interface: 1))
        XCTAssertFalse(try netlink.addAddress("2001:DB8:0::11", prefixLength: 128, interface: 1))
        let count = try ns.ipJSON("addr", "show", "dev", "lo").first?["addr_info"] as? [[String: Any]]
        XCTAssertEqual(count?.filter { $0["local"] as? String == "192.0.2.11" }.count, 1)

        XCTAssertTrue(try netlink.deleteAddress("192.0.2.11", prefixLength: 32, interface: 1))
        XCTAssertFalse(try netlink.deleteAddress("192.0.2.11", prefixLength: 32, interface: 1), "absent is success")
        XCTAssertTrue(try netlink.deleteAddress("2001:db8::11", prefixLength: 128, interface: 1))
        XCTAssertFalse(try netlink.deleteAddress("2001:db8::11", prefixLength: 128, interface: 1))
    }

    func testAddressesOnVeth() throws {
        let (vethA, _) = try ns.addVethPair("va", "vb")
        XCTAssertTrue(try netlink.addAddress("198.18.0.1", prefixLength: 24, interface: vethA))
        XCTAssertTrue(try netlink.addAddress("2001:db8:1::1", prefixLength: 64, interface: vethA, flags: .noDAD))
        XCTAssertTrue(try ns.addresses(dev: "va").isSuperset(of: ["198.18.0.1/24", "2001:db8:1::1/64"]))
        let info = try XCTUnwrap(try ns.addressInfo(dev: "va", local: "2001:db8:1::1"))
        XCTAssertNil(info["tentative"], "noDAD: usable at once")
        let listed = try netlink.addresses(interface: vethA, family: .ipv6)
        let v6 = try XCTUnwrap(listed.first { $0.address == IPAddress("2001:db8:1::1") })
        XCTAssertTrue(v6.flags.contains(.noDAD))
        XCTAssertFalse(v6.flags.contains(.tentative))

        XCTAssertTrue(try netlink.deleteAddress("198.18.0.1", prefixLength: 24, interface: vethA))
        XCTAssertTrue(try netlink.deleteAddress("2001:db8:1::1", prefixLength: 64, interface: vethA))
        XCTAssertFalse(try ns.addresses(dev: "va").contains("198.18.0.1/24"))
        XCTAssertFalse(try ns.addresses(dev: "va").contains("2001:db8:1::1/64"))
    }

    func testAddressOnMissingInterfaceReportsENODEV() throws {
        XCTAssertThrowsError(try netlink.addAddress("192.0.2.12", prefixLength: 32, interface: 4242)) { error in
            let error = error as? NetlinkError
            XCTAssertEqual(error?.errno, ENODEV)
            XCTAssertEqual(error?.operation, "add address 192.0.2.12/32 dev 4242")
        }
    }

    func testInvalidAddressTextIsRejectedBeforeTheKernel() throws {
        XCTAssertThrowsError(try netlink.addAddress("192.0.2.300", prefixLength: 32, interface: 1)) { error in
            XCTAssertEqual((error as? NetlinkError)?.errno, EINVAL)
        }
        XCTAssertThrowsError(try netlink.addAddress("192.0.2.1", prefixLength: 33, interface: 1)) { error in
            XCTAssertEqual((error as? NetlinkError)?.errno, EINVAL)
        }
    }
}
