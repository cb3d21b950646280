import Glibc
import IPAddresses
import XCTest

final class IPAddressesTests: XCTestCase {
    // MARK: - Text in

    func testIPv4GoldenText() {
        XCTAssertEqual(IPv4Address("192.0.2.1")?.rawValue, 0xC000_0201)
        XCTAssertEqual(IPv4Address("0.0.0.0")?.rawValue, 0)
        XCTAssertEqual(IPv4Address("255.255.255.255")?.rawValue, 0xFFFF_FFFF)
        for bad in [
            "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.04", "+1.2.3.4", "1.2.3.-4", "1..2.3",
            "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/32", "a.b.c.d", "1.2.3.4.",
        ] {
            XCTAssertNil(IPv4Address(bad), "'\(bad)' is not an IPv4 address")
        }
    }

    func testIPv6GoldenText() {
        XCTAssertEqual(IPv6Address("::"), IPv6Address(high: 0, low: 0))
        XCTAssertEqual(IPv6Address("::1"), IPv6Address(high: 0, low: 1))
        XCTAssertEqual(IPv6Address("2001:db8::1"), IPv6Address(high: 0x2001_0DB8_0000_0000, low: 1))
        XCTAssertEqual(IPv6Address("2001:DB8:0:0:0:0:0:1"), IPv6Address(high: 0x2001_0DB8_0000_0000, low: 1))
        XCTAssertEqual(IPv6Address("::ffff:192.0.2.1"), IPv6Address(high: 0, low: 0xFFFF_C000_0201))
        XCTAssertEqual(
            IPv6Address("1:2:3:4:5:6:1.2.3.4"), IPv6Address(high: 0x0001_0002_0003_0004, low: 0x0005_0006_0102_0304))
        XCTAssertEqual(IPv6Address("fe80::"), IPv6Address(high: 0xFE80_0000_0000_0000, low: 0))
        for bad in [
            "", ":", ":::", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", "12345::",
            "::g", ":1::", "1::2:", "fe80::1%eth0", "1.2.3.4::", "::1.2.3.4:5", "::+1", "::-1", "2001:db8::/32",
            "::ffff:1.2.3.256",
        ] {
            XCTAssertNil(IPv6Address(bad), "'\(bad)' is not an IPv6 address")
        }
    }

    func testIPAddressPicksTheFamily() {
        XCTAssertEqual(IPAddress("192.0.2.1"), .v4(IPv4Address(192, 0, 2, 1)))
        XCTAssertEqual(IPAddress("2001:db8::1"), .v6(IPv6Address(high: 0x2001_0DB8_0000_0000, low: 1)))
        XCTAssertNil(IPAddress("example.com"))
        XCTAssertNil(IPAddress("300.1.1.1"))
    }

    // MARK: - Text out (RFC 5952)

    func testIPv6CanonicalText() {
        let cases: [(String, String)] = [
            ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            // §4.2.2: a single zero group is not compressed.
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            // §4.2.3: the longest run; of equal runs, the first.
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            // §4.3: lower case. §4.1: no leading zeros.
            ("2001:DB8:00AB::0001", "2001:db8:ab::1"),
            ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("fe80::1:2", "fe80::1:2"),
            // §5: IPv4-mapped addresses in mixed notation.
            ("::ffff:c000:201", "::ffff:192.0.2.1"),
        ]
        for (text, canonical) in cases {
            XCTAssertEqual(IPv6Address(text)?.description, canonical, text)
        }
    }

    /// The text matches glibc's `inet_ntop`, and parsing matches `inet_pton`, over addresses with zero
    /// runs of every length and position (the deprecated IPv4-compatible form ::a.b.c.d excepted).
    func testAgreesWithInetNtopAndPton() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var groups = (0..<8).map { _ in UInt16.random(in: 0...0xFFFF, using: &generator) }
            let start = Int.random(in: 0..<8, using: &generator)
            let count = Int.random(in: 0...(8 - start), using: &generator)
            for i in start..<(start + count) { groups[i] = 0 }
            if Bool.random(using: &generator) { groups[Int.random(in: 0..<8, using: &generator)] = 0 }
            let bytes = groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
            let address = IPv6Address(bytes: bytes)
            let compatible = address.high == 0 && address.low >> 32 == 0 && address.low > 0xFFFF
            guard !compatible else { continue }
            XCTAssertEqual(address.description, ntop(bytes), "\(groups)")
            XCTAssertEqual(IPv6Address(address.description), address)
            XCTAssertEqual(address.bytes, bytes)
            let long = groups.map { String($0, radix: 16, uppercase: true) }.joined(separator: ":")
            XCTAssertEqual(IPv6Address(long), address, long)
            XCTAssertEqual(pton(long), bytes)
        }
        for text in ["1.2.3.4", "01.2.3.4", "1.2.3", "::1.2.3.4.5", "1:2::3:4:5:6:7:8", "::ffff:1.2.3.4", "g::"] {
            XCTAssertEqual(IPAddress(text)?.bytes, pton(text), text)
        }
    }

    // MARK: - Bytes

    func testNetworkOrderBytes() {
        XCTAssertEqual(IPv4Address(192, 0, 2, 1).bytes, [192, 0, 2, 1])
        XCTAssertEqual(IPv4Address(bytes: [192, 0, 2, 1]), IPv4Address(192, 0, 2, 1))
        XCTAssertEqual(IPAddress(bytes: [10, 0, 0, 1]), IPAddress("10.0.0.1"))
        XCTAssertEqual(
            IPAddress(bytes: [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]),
            IPAddress("2001:db8::1"))
        XCTAssertNil(IPAddress(bytes: [1, 2, 3]))
        XCTAssertEqual(
            IPAddress("2001:db8::1")?.bytes, [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1])
    }

    // MARK: - Prefixes

    func testPrefixTextAndHostBits() {
        XCTAssertEqual(IPPrefix("192.0.2.0/24")?.description, "192.0.2.0/24")
        XCTAssertEqual(IPPrefix("192.0.2.1")?.description, "192.0.2.1/32", "a missing length: a host prefix")
        XCTAssertEqual(IPPrefix("2001:DB8::/32")?.description, "2001:db8::/32")
        XCTAssertEqual(IPPrefix("2001:db8::1")?.description, "2001:db8::1/128")
        XCTAssertEqual(IPPrefix("0.0.0.0/0")?.description, "0.0.0.0/0")
        XCTAssertEqual(IPPrefix("::/0")?.description, "::/0")
        for bad in [
            "192.0.2.1/24", "2001:db8::1/64", "192.0.2.0/33", "::/129", "192.0.2.0/", "192.0.2.0/+24", "1/8", "x/8",
        ] {
            XCTAssertNil(IPPrefix(bad), bad)
        }
        XCTAssertEqual(IPPrefix(address: IPAddress("192.0.2.77")!, length: 24).description, "192.0.2.0/24")
        XCTAssertNil(IPPrefix(exactly: IPAddress("192.0.2.77")!, length: 24))
        XCTAssertNil(IPPrefix(exactly: IPAddress("192.0.2.0")!, length: 33))
        XCTAssertEqual(IPPrefix(exactly: IPAddress("192.0.2.0")!, length: 24), IPPrefix("192.0.2.0/24"))
        XCTAssertEqual(IPPrefix(host: IPAddress("::1")!), IPPrefix("::1/128"))
        XCTAssertTrue(IPAddress("192.0.2.0")!.hostBitsAreZero(length: 24))
        XCTAssertFalse(IPAddress("192.0.2.1")!.hostBitsAreZero(length: 31))
        XCTAssertTrue(IPAddress("2001:db8::")!.hostBitsAreZero(length: 32))
        XCTAssertFalse(IPAddress("2001:db8::8000:0:0:0")!.hostBitsAreZero(length: 64))
    }

    func testAddressWithPrefixLengthKeepsHostBits() {
        let parsed = IPAddress.parseWithPrefixLength("192.0.2.10/24")
        XCTAssertEqual(parsed?.address, IPAddress("192.0.2.10"))
        XCTAssertEqual(parsed?.length, 24)
        XCTAssertEqual(IPAddress.parseWithPrefixLength("2001:db8::10")?.length, 128)
        XCTAssertEqual(IPAddress.parseWithPrefixLength("10.0.0.1")?.length, 32)
        XCTAssertNil(IPAddress.parseWithPrefixLength("10.0.0.1/33"))
        XCTAssertNil(IPAddress.parseWithPrefixLength("10.0.0.1/24/1"))
    }

    func testContainsAndOrder() {
        let p = IPPrefix("10.1.0.0/16")!
        XCTAssertTrue(p.contains(IPAddress("10.1.255.3")!))
        XCTAssertFalse(p.contains(IPAddress("10.2.0.1")!))
        XCTAssertFalse(p.contains(IPAddress("::a01:1")!), "the other family")
        XCTAssertTrue(IPPrefix("::/0")!.contains(IPAddress("2001:db8::1")!))
        XCTAssertLessThan(IPAddress("255.255.255.255")!, IPAddress("::")!)
        XCTAssertLessThan(IPAddress("10.0.0.1")!, IPAddress("10.0.0.2")!)
        XCTAssertLessThan(IPPrefix("10.0.0.0/8")!, IPPrefix("::/0")!)
    }

    func testClassification() {
        XCTAssertTrue(IPv6Address("fe80::1")!.isLinkLocal)
        XCTAssertTrue(IPv6Address("febf::1")!.isLinkLocal)
        XCTAssertFalse(IPv6Address("fec0::1")!.isLinkLocal)
        XCTAssertTrue(IPv4Address("169.254.1.1")!.isLinkLocal)
        XCTAssertTrue(IPAddress("127.0.0.2")!.isLoopback)
        XCTAssertTrue(IPAddress("::1")!.isLoopback)
        XCTAssertTrue(IPAddress("::")!.isUnspecified)
        XCTAssertFalse(IPAddress("::1")!.isUnspecified)
    }

    private func ntop(_ bytes: [UInt8]) -> String {
        var output = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        _ = bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &output, socklen_t(output.count)) }
        return String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func pton(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
