import NIOCore
import XCTest

@testable import BGPSpeaker

final class RouteRefreshTests: XCTestCase {
    typealias V = MessageVectors

    func testIPv4UnicastRequestBothWays() throws {
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 0017 05 0001 00 01")
        let message = BGPMessage.routeRefresh(RouteRefreshMessage(family: .ipv4Unicast))
        XCTAssertEqual(try V.decode(bytes), message)
        XCTAssertEqual(V.encode(message), bytes)
    }

    func testIPv6BeginningAndEndOfRouteRefreshBothWays() throws {
        for subtype in [RouteRefreshMessage.beginningOfRouteRefresh, RouteRefreshMessage.endOfRouteRefresh] {
            let bytes = V.bytes("ffffffffffffffffffffffffffffffff 0017 05 0002") + [subtype, 0x01]
            let message = BGPMessage.routeRefresh(RouteRefreshMessage(family: .ipv6Unicast, subtype: subtype))
            XCTAssertEqual(try V.decode(bytes), message)
            XCTAssertEqual(V.encode(message), bytes)
        }
    }

    func testUnknownSubtypeDecodesForTheSessionToIgnore() throws {
        // RFC 7313 §5: subtypes other than 0, 1, 2 MUST be ignored — not an error.
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 0017 05 0001 03 01")
        let message = try V.decode(bytes)
        guard case .routeRefresh(let refresh) = message else { return XCTFail("\(message)") }
        XCTAssertEqual(refresh.subtype, 3)
        XCTAssertFalse(refresh.hasKnownSubtype)
        XCTAssertTrue(RouteRefreshMessage(family: .ipv4Unicast, subtype: 2).hasKnownSubtype)
        XCTAssertEqual(V.encode(message), bytes)
    }

    func testTooShortIsInvalidMessageLengthWithWholeMessage() {
        // RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, data = complete message.
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 0016 05 0001 01")
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(bytes) }, code: .routeRefreshMessageError, subcode: 1, data: bytes)
    }

    func testTooLongBoRRIsInvalidMessageLengthWithWholeMessage() {
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 001b 05 0001 01 01 00000000")
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(bytes) }, code: .routeRefreshMessageError, subcode: 1, data: bytes)
    }

    func testHeaderOnlyIsInvalidMessageLength() {
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 0013 05")
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(bytes) }, code: .routeRefreshMessageError, subcode: 1, data: bytes)
    }

    func testDirectDecodeOfWrongLengthBodyIsInvalidMessageLength() {
        var buffer = ByteBuffer(bytes: [0, 1, 0, 1, 0])
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try RouteRefreshMessage(from: &buffer, context: WireContext()) },
            code: .routeRefreshMessageError, subcode: 1,
            data: V.bytes("ffffffffffffffffffffffffffffffff 0018 05 0001 00 01 00"))
    }
}
