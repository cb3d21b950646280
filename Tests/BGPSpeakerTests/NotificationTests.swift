import NIOCore
import XCTest

@testable import BGPSpeaker

final class NotificationTests: XCTestCase {
    typealias V = MessageVectors

    func testHoldTimerExpiredBothWays() throws {
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 0015 03 04 00")
        let message = BGPMessage.notification(NotificationMessage(code: .holdTimerExpired, subcode: 0))
        XCTAssertEqual(try V.decode(bytes), message)
        XCTAssertEqual(V.encode(message), bytes)
    }

    func testAdministrativeShutdownWithCommunicationBothWays() throws {
        // RFC 8203: Cease / Administrative Shutdown, data = length-prefixed UTF-8 "bye".
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 0019 03 06 02 03 627965")
        let message = BGPMessage.notification(
            NotificationMessage(
                code: .cease, subcode: NotificationSubcode.Cease.administrativeShutdown, data: [3, 0x62, 0x79, 0x65]))
        XCTAssertEqual(try V.decode(bytes), message)
        XCTAssertEqual(V.encode(message), bytes)
    }

    func testUnknownCodeAndSubcodeRoundTrip() throws {
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 0017 03 09 63 01 02")
        let message = BGPMessage.notification(
            NotificationMessage(code: NotificationCode(rawValue: 9), subcode: 99, data: [1, 2]))
        XCTAssertEqual(try V.decode(bytes), message)
        XCTAssertEqual(V.encode(message), bytes)
    }

    func testNotificationFromBGPErrorCarriesCodeSubcodeData() throws {
        let error = BGPError(code: .messageHeaderError, subcode: 2, data: [0, 18], reason: "short")
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 0017 03 01 02 0012")
        XCTAssertEqual(V.encode(.notification(NotificationMessage(error))), bytes)
    }

    func testNotificationWithOnlyCodeIsBadMessageLength() {
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(V.bytes("ffffffffffffffffffffffffffffffff 0014 03 06")) },
            code: .messageHeaderError, subcode: 2, data: [0, 20])
    }

    func testDirectDecodeOfEmptyBodyIsBadMessageLength() {
        var empty = ByteBuffer()
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try NotificationMessage(from: &empty, context: WireContext()) },
            code: .messageHeaderError, subcode: 2, data: [0, 19])
    }
}
