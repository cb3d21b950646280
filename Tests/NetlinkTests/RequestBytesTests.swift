import Glibc
import IPAddresses
import XCTest

@testable import Netlink

/// The rtnetlink requests Starling sends, byte for byte, against golden vectors written from the kernel's
/// UAPI layouts (`linux/netlink.h`, `linux/if_addr.h`, `linux/rtnetlink.h`, `linux/if_link.h`). No root and no
/// socket: the requests are built and read back. All integers are host order (little-endian here); addresses
/// are network order. The sequence number and port ID are 0 and `NLM_F_REQUEST | NLM_F_ACK` is absent:
/// libnl fills those in when it sends.
final class RequestBytesTests: XCTestCase {
    /// `nlmsghdr`: length, type, flags, sequence 0, port 0.
    private func header(length: UInt32, type: UInt16, flags: UInt16) -> [UInt8] {
        le32(length) + le16(type) + le16(flags) + [0, 0, 0, 0] + [0, 0, 0, 0]
    }

    private func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    private func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// `nlattr`: length (header + payload, unpadded), type, payload padded to 4 bytes with zeros.
    private func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        let padding = (4 - payload.count % 4) % 4
        return le16(UInt16(4 + payload.count)) + le16(type) + payload + [UInt8](repeating: 0, count: padding)
    }

    private func assertBytes(
        _ actual: [UInt8], _ expected: [UInt8], file: StaticString = #filePath, line: UInt = #line
    ) {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined(separator: " ") }
        XCTAssertEqual(hex(actual), hex(expected), file: file, line: line)
    }

    private let v4: [UInt8] = [192, 0, 2, 10]
    private let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x10]

    // MARK: Addresses

    /// `ip addr add 192.0.2.10/32 dev 7 proto 245`: RTM_NEWADDR (20), NLM_F_CREATE | NLM_F_EXCL (0x600).
    func testAddIPv4AddressTaggedWithTheStarlingProtocol() throws {
        let spec = try XCTUnwrap(InterfaceAddressSpec("192.0.2.10/32"))
        let request = try NetlinkSocket.addAddressRequest(
            spec, interface: 7, label: nil, protocol: .starling, flags: [], validFor: nil)
        let expected =
            header(length: 48, type: 20, flags: 0x600)
            + [2, 32, 0, 0] + le32(7)  // ifaddrmsg: AF_INET, /32, flags 0, scope universe, index 7
            + attribute(2, v4)  // IFA_LOCAL
            + attribute(1, v4)  // IFA_ADDRESS
            + attribute(11, [245])  // IFA_PROTO (u8, padded)
        assertBytes(request.bytes, expected)
    }

    /// A native VIP: IPv6, no DAD, a 3 s lifetime (renewed by adding again: NLM_F_REPLACE, not EXCL).
    func testAddIPv6AddressWithLifetimeAndNoDAD() throws {
        let spec = try XCTUnwrap(InterfaceAddressSpec("2001:db8::10/128"))
        let request = try NetlinkSocket.addAddressRequest(
            spec, interface: 3, label: nil, protocol: nil, flags: .noDAD, validFor: 3)
        let cacheInfo = le32(3) + le32(3) + le32(0) + le32(0)  // ifa_prefered, ifa_valid, cstamp, tstamp
        let expected =
            header(length: 84, type: 20, flags: 0x500)
            + [10, 128, 0x02, 0] + le32(3)  // AF_INET6, /128, IFA_F_NODAD, universe, index 3
            + attribute(2, v6) + attribute(1, v6)
            + attribute(6, cacheInfo)  // IFA_CACHEINFO
        assertBytes(request.bytes, expected)
    }

    /// Flags above 8 bits go in IFA_FLAGS (the header keeps the low byte); an IPv4 owner tag is a label.
    func testAddIPv4AddressWithLabelAndWideFlags() throws {
        let spec = try XCTUnwrap(InterfaceAddressSpec("198.18.0.1/24"))
        let request = try NetlinkSocket.addAddressRequest(
            spec, interface: 1, label: "lo:starling", protocol: nil, flags: [.noDAD, .noPrefixRoute], validFor: nil)
        let address: [UInt8] = [198, 18, 0, 1]
        let expected =
            header(length: 64, type: 20, flags: 0x600)
            + [2, 24, 0x02, 0] + le32(1)
            + attribute(2, address) + attribute(1, address)
            + attribute(8, le32(0x202))  // IFA_FLAGS: IFA_F_NODAD | IFA_F_NOPREFIXROUTE
            + attribute(3, Array("lo:starling".utf8) + [0])  // IFA_LABEL, NUL-terminated
        assertBytes(request.bytes, expected)
    }

    /// `ip addr del 192.0.2.10/32 dev 7`: RTM_DELADDR (21), no flags.
    func testDeleteAddress() throws {
        let spec = try XCTUnwrap(InterfaceAddressSpec("192.0.2.10/32"))
        let request = try NetlinkSocket.deleteAddressRequest(spec, interface: 7)
        let expected =
            header(length: 40, type: 21, flags: 0)
            + [2, 32, 0, 0] + le32(7)
            + attribute(2, v4) + attribute(1, v4)
        assertBytes(request.bytes, expected)
    }

    // MARK: Routes

    /// `ip route replace 198.51.100.0/24 via 10.0.0.1 dev 4 proto 245`: RTM_NEWROUTE (24),
    /// NLM_F_CREATE | NLM_F_REPLACE (0x500).
    func testReplaceIPv4RouteWithOneGateway() throws {
        let route = Route(
            destination: try XCTUnwrap(RoutePrefix("198.51.100.0/24")),
            nextHops: [NextHop(gateway: IPAddress("10.0.0.1"), interfaceIndex: 4)])
        let request = try NetlinkSocket.routeRequest(
            route, verb: "replace", type: 24, flags: 0x400 | 0x100)
        let expected =
            header(length: 60, type: 24, flags: 0x500)
            // rtmsg: AF_INET, dst /24, src /0, tos 0, table main (254), proto 245, scope universe, unicast; flags
            + [2, 24, 0, 0, 254, 245, 0, 1] + le32(0)
            + attribute(15, le32(254))  // RTA_TABLE
            + attribute(1, [198, 51, 100, 0])  // RTA_DST
            + attribute(5, [10, 0, 0, 1])  // RTA_GATEWAY
            + attribute(4, le32(4))  // RTA_OIF
        assertBytes(request.bytes, expected)
    }

    /// An IPv6 default route in table 1000 (beyond the header's 8 bits: rtm_table 0, RTA_TABLE carries it) with
    /// a metric: no RTA_DST for a /0.
    func testIPv6DefaultRouteInAWideTableWithMetric() throws {
        let route = Route(
            destination: try XCTUnwrap(RoutePrefix("::/0")),
            nextHops: [NextHop(gateway: IPAddress("2001:db8::1"), interfaceIndex: 5)],
            table: RouteTable(rawValue: 1000), protocol: .static, metric: 100)
        let request = try NetlinkSocket.routeRequest(
            route, verb: "add", type: 24, flags: 0x400 | 0x200)
        let gateway: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        let expected =
            header(length: 72, type: 24, flags: 0x600)
            + [10, 0, 0, 0, 0, 4, 0, 1] + le32(0)  // AF_INET6, /0, table 0, proto static, universe, unicast
            + attribute(15, le32(1000))  // RTA_TABLE
            + attribute(6, le32(100))  // RTA_PRIORITY
            + attribute(5, gateway)  // RTA_GATEWAY
            + attribute(4, le32(5))  // RTA_OIF
        assertBytes(request.bytes, expected)
    }

    /// An ECMP route: RTA_MULTIPATH holds one `rtnexthop` per path (length covering its own attributes,
    /// weight - 1 in rtnh_hops, the interface), the second path an IPv6 gateway for an IPv4 route (RTA_VIA:
    /// family, then the address).
    func testECMPRouteWithWeightsAndAnIPv6Via() throws {
        let route = Route(
            destination: try XCTUnwrap(RoutePrefix("203.0.113.0/24")),
            nextHops: [
                NextHop(gateway: IPAddress("10.0.0.1"), interfaceIndex: 2),
                NextHop(gateway: IPAddress("fe80::1"), interfaceIndex: 3, weight: 3),
            ])
        let request = try NetlinkSocket.routeRequest(
            route, verb: "replace", type: 24, flags: 0x400 | 0x100)
        let linkLocal: [UInt8] = [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1]
        let first = le16(16) + [0, 0] + le32(2) + attribute(5, [10, 0, 0, 1])  // rtnexthop + RTA_GATEWAY
        let second = le16(32) + [0, 2] + le32(3) + attribute(18, le16(10) + linkLocal)  // rtnexthop + RTA_VIA
        let expected =
            header(length: 96, type: 24, flags: 0x500)
            + [2, 24, 0, 0, 254, 245, 0, 1] + le32(0)
            + attribute(15, le32(254))
            + attribute(1, [203, 0, 113, 0])
            + attribute(0x8000 | 9, first + second)  // RTA_MULTIPATH, NLA_F_NESTED (libnl sets it on a nest)
        assertBytes(request.bytes, expected)
    }

    /// `deleteRoute(_:table:protocol:metric:)`: RTM_DELROUTE (25), any type, scope nowhere, the protocol
    /// to match.
    func testDeleteRouteMatchesByProtocol() throws {
        let template = Route(
            destination: try XCTUnwrap(RoutePrefix("198.51.100.0/24")), protocol: .bgp, type: .unspecified,
            scope: .nowhere)
        let request = try NetlinkSocket.routeRequest(template, verb: "delete", type: 25, flags: 0)
        let expected =
            header(length: 44, type: 25, flags: 0)
            + [2, 24, 0, 0, 254, 186, 255, 0] + le32(0)
            + attribute(15, le32(254)) + attribute(1, [198, 51, 100, 0])
        assertBytes(request.bytes, expected)
    }

    func testRouteWithAWeightOutOfRangeIsRefusedBeforeSending() throws {
        let route = Route(
            destination: try XCTUnwrap(RoutePrefix("203.0.113.0/24")),
            nextHops: [NextHop(gateway: IPAddress("10.0.0.1")), NextHop(gateway: IPAddress("10.0.0.2"), weight: 300)])
        XCTAssertThrowsError(
            try NetlinkSocket.routeRequest(route, verb: "add", type: 24, flags: 0x400)
        ) { error in
            XCTAssertTrue("\(error)".contains("weight 300"), "\(error)")
        }
    }

    // MARK: Links

    /// `ip link set dev 5 up`: RTM_NEWLINK (16), ifinfomsg with IFF_UP in both flags and change mask.
    func testSetLinkUp() throws {
        let request = try NetlinkSocket.setLinkRequest(5, up: true)
        // ifinfomsg: AF_UNSPEC, pad, type 0, index 5, flags IFF_UP, change IFF_UP
        let expected = header(length: 32, type: 16, flags: 0) + [0, 0, 0, 0] + le32(5) + le32(1) + le32(1)
        assertBytes(request.bytes, expected)
        let down = try NetlinkSocket.setLinkRequest(5, up: false)
        assertBytes(down.bytes, header(length: 32, type: 16, flags: 0) + [0, 0, 0, 0] + le32(5) + le32(0) + le32(1))
    }

    func testSetLinkMTUAndName() throws {
        let info: [UInt8] = [0, 0, 0, 0] + le32(5) + le32(0) + le32(0)
        let mtu = try NetlinkSocket.linkMTURequest(5, mtu: 9000)
        assertBytes(mtu.bytes, header(length: 40, type: 16, flags: 0) + info + attribute(4, le32(9000)))  // IFLA_MTU
        let name = try NetlinkSocket.renameLinkRequest(5, name: "vip0", operation: "rename")
        // IFLA_IFNAME, NUL-terminated
        assertBytes(name.bytes, header(length: 44, type: 16, flags: 0) + info + attribute(3, Array("vip0".utf8) + [0]))
    }
}
