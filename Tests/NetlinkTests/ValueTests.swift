import Glibc
import IPAddresses
import Netlink
import XCTest

/// Value types: no root, no kernel.
final class ValueTests: XCTestCase {
    func testRoutePrefixParsing() {
        XCTAssertEqual(RoutePrefix("192.0.2.0/24")?.description, "192.0.2.0/24")
        XCTAssertEqual(RoutePrefix("2001:DB8:0::/32")?.description, "2001:db8::/32")
        XCTAssertEqual(RoutePrefix("192.0.2.7")?.length, 32)
        XCTAssertEqual(RoutePrefix("0.0.0.0/0")?.family, .ipv4)
        XCTAssertEqual(RoutePrefix("::/0")?.family, .ipv6)
    }

    func testRoutePrefixWithHostBitsIsRejected() {
        XCTAssertNil(RoutePrefix("192.0.2.1/24"))
        XCTAssertNil(RoutePrefix("2001:db8::1/64"))
    }

    func testRoutePrefixWithBadLengthIsRejected() {
        XCTAssertNil(RoutePrefix("192.0.2.0/33"))
        XCTAssertNil(RoutePrefix("2001:db8::/129"))
        XCTAssertNil(RoutePrefix("192.0.2.0/"))
        XCTAssertNil(RoutePrefix("example.com/24"))
    }

    func testInterfaceAddressSpecKeepsHostBitsAndIsCanonical() {
        let spec = InterfaceAddressSpec("2001:DB8::0:1/64")
        XCTAssertEqual(spec?.description, "2001:db8::1/64")
        XCTAssertEqual(InterfaceAddressSpec("198.18.0.1/24")?.address, "198.18.0.1")
        XCTAssertEqual(InterfaceAddressSpec("192.0.2.1"), InterfaceAddressSpec(address: "192.0.2.1", prefixLength: 32))
        XCTAssertNil(InterfaceAddressSpec(address: "192.0.2.1", prefixLength: 40))
    }

    func testNextHopGatewayIsCanonical() {
        XCTAssertEqual(NextHop(gateway: IPAddress("2001:DB8::0001")).gateway?.description, "2001:db8::1")
    }

    func testKernelVersionParsing() {
        XCTAssertEqual(KernelVersion(release: "6.18.44-fc-v857"), KernelVersion(major: 6, minor: 18))
        XCTAssertEqual(KernelVersion(release: "5.15.0-91-generic"), KernelVersion(major: 5, minor: 15))
        XCTAssertTrue(KernelVersion(major: 6, minor: 2) < KernelVersion(major: 6, minor: 3))
        XCTAssertNil(KernelVersion(release: "unknown"))
    }

    func testOwnerLabelIsCutToFifteenBytes() {
        let owner = AddressOwner(protocol: .starling, labelSuffix: "starling", tagging: .label)
        XCTAssertEqual(owner.label(forInterface: "lo"), "lo:starling")
        XCTAssertEqual(owner.label(forInterface: "enp0s31f6"), "enp0s31f6:starl")
    }

    func testOwnerRecognisesItsTagOnly() {
        let byProtocol = AddressOwner(protocol: .starling, labelSuffix: "starling", tagging: .addressProtocol)
        let byLabel = AddressOwner(protocol: .starling, labelSuffix: "starling", tagging: .label)
        let tagged = InterfaceAddress(
            interfaceIndex: 1, family: .ipv4, address: IPAddress("192.0.2.1")!, prefixLength: 32, label: "lo",
            protocol: .starling)
        let labelled = InterfaceAddress(
            interfaceIndex: 1, family: .ipv4, address: IPAddress("192.0.2.2")!, prefixLength: 32, label: "lo:starling")
        let foreign = InterfaceAddress(
            interfaceIndex: 1, family: .ipv6, address: IPAddress("2001:db8::1")!, prefixLength: 128,
            protocol: .kernelLoopback)
        XCTAssertTrue(byProtocol.owns(tagged, interfaceName: "lo"))
        XCTAssertFalse(byProtocol.owns(labelled, interfaceName: "lo"))
        XCTAssertFalse(byProtocol.owns(foreign, interfaceName: "lo"))
        XCTAssertTrue(byLabel.owns(labelled, interfaceName: "lo"))
        XCTAssertFalse(byLabel.owns(tagged, interfaceName: "lo"))
        XCTAssertFalse(byLabel.owns(foreign, interfaceName: "lo"))
    }

    func testCodePointsRoundTripUnknownValues() {
        XCTAssertEqual(RouteProtocol(rawValue: 77).rawValue, 77)
        XCTAssertEqual(RouteProtocol.bgp.rawValue, 186)
        XCTAssertEqual(RouteProtocol.static.rawValue, 4)
        XCTAssertEqual(RouteProtocol.boot.rawValue, 3)
        XCTAssertEqual(AddressProtocol.starling.rawValue, RouteProtocol.starling.rawValue)
        XCTAssertEqual(RouteTable(rawValue: 100_000).rawValue, 100_000)
    }

    func testErrorDescriptionCarriesOperationAndErrno() {
        let error = NetlinkError(operation: "add route 192.0.2.0/24 table 254", errno: ENODEV, detail: "x")
        XCTAssertEqual(error.message, String(cString: strerror(ENODEV)) + ": x")
        XCTAssertTrue(error.description.hasPrefix("add route 192.0.2.0/24 table 254: "))
        XCTAssertTrue(error.description.hasSuffix("(errno \(ENODEV))"))
    }
}
