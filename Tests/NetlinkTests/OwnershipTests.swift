import Glibc
import IPAddresses
import Netlink
import XCTest

final class OwnershipTests: NamespaceTestCase {
    private var protocolOwner: AddressOwner {
        AddressOwner(protocol: .starling, labelSuffix: "starling", tagging: .addressProtocol)
    }
    private var labelOwner: AddressOwner {
        AddressOwner(protocol: .starling, labelSuffix: "starling", tagging: .label)
    }

    private func requireAddressProtocol() throws {
        guard KernelVersion.running >= KernelVersion(major: 6, minor: 3) else {
            let reason = "IFA_PROTO needs Linux 6.3; running \(KernelVersion.running)"
            print(reason)
            throw XCTSkip(reason)
        }
    }

    func testAddressProtocolTagIsStoredAndReported() throws {
        try requireAddressProtocol()
        try netlink.addAddress("192.0.2.20", prefixLength: 32, interface: 1, owner: protocolOwner)
        try netlink.addAddress("2001:db8::20", prefixLength: 128, interface: 1, owner: protocolOwner)
        try netlink.addAddress("192.0.2.21", prefixLength: 32, interface: 1)
        let listed = try netlink.addresses(interface: 1)
        XCTAssertEqual(listed.first { $0.address == IPAddress("192.0.2.20") }?.protocol, .starling)
        XCTAssertEqual(listed.first { $0.address == IPAddress("2001:db8::20") }?.protocol, .starling)
        XCTAssertEqual(listed.first { $0.address == IPAddress("192.0.2.21") }?.protocol, .unspecified)
        XCTAssertEqual(
            listed.first { $0.address == IPAddress("192.0.2.20") }?.label, "lo", "protocol tagging keeps the label")
        XCTAssertTrue(try ns.addresses(dev: "lo").isSuperset(of: ["192.0.2.20/32", "2001:db8::20/128"]))
    }

    func testLabelTagIsWhatIpShows() throws {
        try netlink.addAddress("192.0.2.30", prefixLength: 32, interface: 1, owner: labelOwner)
        let info = try XCTUnwrap(try ns.addressInfo(dev: "lo", local: "192.0.2.30"))
        XCTAssertEqual(info["label"] as? String, "lo:starling")
        let listed = try XCTUnwrap(try netlink.addresses(interface: 1).first { $0.address == IPAddress("192.0.2.30") })
        XCTAssertTrue(labelOwner.owns(listed, interfaceName: "lo"))
        XCTAssertFalse(protocolOwner.owns(listed, interfaceName: "lo"))
    }

    func testSyncAddressesWithProtocolTagRemovesOnlyOwnedExtras() throws {
        try requireAddressProtocol()
        // Somebody else's addresses, and leftovers of an earlier Starling run.
        try ns.ip("addr", "add", "192.0.2.50/32", "dev", "lo")
        try ns.ip("addr", "add", "2001:db8::50/128", "dev", "lo")
        try netlink.addAddress("192.0.2.51", prefixLength: 32, interface: 1, owner: protocolOwner)
        try netlink.addAddress("2001:db8::51", prefixLength: 128, interface: 1, owner: protocolOwner)
        try netlink.addAddress("192.0.2.52", prefixLength: 32, interface: 1, owner: protocolOwner)

        let desired: Set<InterfaceAddressSpec> = [
            InterfaceAddressSpec("192.0.2.10/32")!, InterfaceAddressSpec("2001:db8::10/128")!,
            InterfaceAddressSpec("192.0.2.52/32")!,
        ]
        let result = try netlink.syncAddresses(desired: desired, interface: 1, owner: protocolOwner)
        XCTAssertEqual(result.added.map(\.description), ["192.0.2.10/32", "2001:db8::10/128"])
        XCTAssertEqual(result.removed.map(\.description), ["192.0.2.51/32", "2001:db8::51/128"])

        let shown = try ns.addresses(dev: "lo")
        XCTAssertTrue(
            shown.isSuperset(of: [
                "127.0.0.1/8", "::1/128", "192.0.2.50/32", "2001:db8::50/128", "192.0.2.10/32",
                "2001:db8::10/128", "192.0.2.52/32",
            ]))
        XCTAssertFalse(shown.contains("192.0.2.51/32"))
        XCTAssertFalse(shown.contains("2001:db8::51/128"))

        let again = try netlink.syncAddresses(desired: desired, interface: 1, owner: protocolOwner)
        XCTAssertEqual(again.added, [])
        XCTAssertEqual(again.removed, [])

        let emptied = try netlink.syncAddresses(desired: [], interface: 1, owner: protocolOwner)
        XCTAssertEqual(
            emptied.removed.map(\.description), ["192.0.2.10/32", "192.0.2.52/32", "2001:db8::10/128"])
        XCTAssertTrue(try ns.addresses(dev: "lo").isSuperset(of: ["192.0.2.50/32", "2001:db8::50/128", "127.0.0.1/8"]))
    }

    func testSyncAddressesWithLabelTagRemovesOnlyOwnedIPv4Extras() throws {
        let (vethA, _) = try ns.addVethPair("va", "vb")
        try ns.ip("addr", "add", "198.18.0.1/24", "dev", "va")
        try netlink.addAddress("198.18.0.2", prefixLength: 24, interface: vethA, owner: labelOwner)
        let desired: Set<InterfaceAddressSpec> = [InterfaceAddressSpec("198.18.0.3/24")!]
        let result = try netlink.syncAddresses(desired: desired, interface: vethA, owner: labelOwner)
        XCTAssertEqual(result.added.map(\.description), ["198.18.0.3/24"])
        XCTAssertEqual(result.removed.map(\.description), ["198.18.0.2/24"])
        let shown = try ns.addresses(dev: "va")
        XCTAssertTrue(shown.isSuperset(of: ["198.18.0.1/24", "198.18.0.3/24"]))
        XCTAssertFalse(shown.contains("198.18.0.2/24"))
        XCTAssertEqual(try ns.addressInfo(dev: "va", local: "198.18.0.3")?["label"] as? String, "va:starling")
    }

    func testSyncAddressesOnMissingInterfaceReportsENODEV() throws {
        XCTAssertThrowsError(try netlink.syncAddresses(desired: [], interface: 4242, owner: .starling)) { error in
            XCTAssertEqual((error as? NetlinkError)?.errno, ENODEV)
        }
    }
}
