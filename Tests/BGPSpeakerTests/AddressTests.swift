import XCTest

@testable import BGPSpeaker

final class AddressTests: XCTestCase {
    func testIPv4PrefixParsing() {
        XCTAssertEqual(IPv4Prefix("192.0.2.0/24")?.description, "192.0.2.0/24")
        XCTAssertEqual(IPv4Prefix("192.0.2.10")?.length, 32)
        XCTAssertNil(IPv4Prefix("192.0.2.1/24"), "host bits set")
        XCTAssertNil(IPv4Prefix("192.0.2/24"))
        XCTAssertNil(IPv4Prefix("192.0.2.0/33"))
        XCTAssertNil(IPv4Prefix("256.0.2.0/24"))
    }
    func testIPv6Parsing() {
        XCTAssertEqual(IPv6Address("2001:db8::10")?.description, "2001:db8::10")
        XCTAssertEqual(IPv6Address("2001:0db8:0:0:1:0:0:1")?.description, "2001:db8::1:0:0:1")
        XCTAssertEqual(IPv6Address("::")?.description, "::")
        // RFC 5952 §5: an IPv4-mapped address is written with its IPv4 part in dotted quad (as inet_ntop does).
        XCTAssertEqual(IPv6Address("::ffff:192.0.2.1")?.description, "::ffff:192.0.2.1")
        XCTAssertEqual(IPv6Prefix("2001:db8::10/128")?.description, "2001:db8::10/128")
        XCTAssertNil(IPv6Prefix("2001:db8::1/64"), "host bits set")
        XCTAssertNil(IPv6Address("2001:db8:::1"))
        XCTAssertNil(IPv6Address("1:2:3:4:5:6:7:8:9"))
        XCTAssertTrue(IPv6Address("fe80::1")!.isLinkLocal)
    }
}
