import NIOCore
import XCTest

@testable import BGPSpeaker

/// Helpers shared by the UPDATE, attribute, RFC 7606 and packing tests.
enum UpdateVectors {
    /// A 4-octet-AS eBGP session with IPv4 and IPv6 unicast.
    static let ebgp = WireContext(fourOctetAS: true, internalPeer: false, families: [.ipv4Unicast, .ipv6Unicast])
    static let ibgp = WireContext(fourOctetAS: true, internalPeer: true, families: [.ipv4Unicast, .ipv6Unicast])
    /// A session without the 4-octet AS capability (an OLD peer, RFC 6793).
    static let twoOctet = WireContext(fourOctetAS: false, internalPeer: false, families: [.ipv4Unicast, .ipv6Unicast])

    static func decode(_ body: [UInt8], _ context: WireContext = ebgp) throws(BGPError) -> DecodedUpdate {
        var buffer = ByteBuffer(bytes: body)
        return try UpdateMessage.decode(body: &buffer, context: context)
    }

    static func encode(_ update: UpdateMessage, _ context: WireContext = ebgp) -> [UInt8] {
        var buffer = ByteBuffer()
        update.write(body: &buffer, context: context)
        return Array(buffer.readableBytesView)
    }

    /// An UPDATE body holding only the given attribute bytes (no withdrawn routes, no NLRI).
    static func body(attributes: [UInt8], nlri: [UInt8] = [], withdrawn: [UInt8] = []) -> [UInt8] {
        [UInt8(withdrawn.count >> 8), UInt8(withdrawn.count & 0xFF)] + withdrawn
            + [UInt8(attributes.count >> 8), UInt8(attributes.count & 0xFF)] + attributes + nlri
    }

    /// Attributes every announcing test UPDATE carries:
    /// ORIGIN IGP          40 01 01 00
    /// AS_PATH SEQ [65001] 40 02 06 02 01 00 00 FD E9      (65001 = 0xFDE9)
    /// NEXT_HOP 192.0.2.1  40 03 04 C0 00 02 01
    static let mandatory: [UInt8] = [
        0x40, 0x01, 0x01, 0x00,
        0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xFD, 0xE9,
        0x40, 0x03, 0x04, 0xC0, 0x00, 0x02, 0x01,
    ]
    static let mandatoryAttributes = PathAttributes(
        origin: .igp, asPath: ASPath(segments: [.init(type: .asSequence, asns: [65001])]),
        nextHop: IPv4Address(192, 0, 2, 1))

    /// NLRI 192.0.2.10/32 (20 C0 00 02 0A) and 198.51.100.0/24 (18 C6 33 64).
    static let nlriBytes: [UInt8] = [0x20, 0xC0, 0x00, 0x02, 0x0A, 0x18, 0xC6, 0x33, 0x64]
    static let nlri: [IPv4Prefix] = [IPv4Prefix("192.0.2.10/32")!, IPv4Prefix("198.51.100.0/24")!]

    static func prefix4(_ s: String) -> IPv4Prefix { IPv4Prefix(s)! }
    static func prefix(_ s: String) -> IPPrefix { IPPrefix(s)! }
}

/// Asserts that decoding `body` throws a `BGPError` with the given NOTIFICATION fields and action.
func assertUpdateError(
    _ body: [UInt8], context: WireContext = UpdateVectors.ebgp, subcode: UInt8, data: [UInt8]? = nil,
    action: BGPError.Action = .sessionReset, file: StaticString = #filePath, line: UInt = #line
) {
    do {
        let decoded = try UpdateVectors.decode(body, context)
        XCTFail("expected an error, decoded \(decoded)", file: file, line: line)
    } catch {
        XCTAssertEqual(error.code, .updateMessageError, file: file, line: line)
        XCTAssertEqual(error.subcode, subcode, "subcode (\(error.reason))", file: file, line: line)
        if let data { XCTAssertEqual(error.data, data, "data", file: file, line: line) }
        XCTAssertEqual(error.action, action, "action (\(error.reason))", file: file, line: line)
    }
}

/// Decodes `body`, which must not throw, and returns the result.
func decodeUpdate(
    _ body: [UInt8], context: WireContext = UpdateVectors.ebgp, file: StaticString = #filePath, line: UInt = #line
) -> DecodedUpdate? {
    do {
        return try UpdateVectors.decode(body, context)
    } catch {
        XCTFail("unexpected error: \(error)", file: file, line: line)
        return nil
    }
}
