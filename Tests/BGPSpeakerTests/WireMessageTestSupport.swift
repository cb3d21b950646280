import NIOCore
import XCTest

@testable import BGPSpeaker

/// Helpers for the message codec tests: hex vectors, whole-message decode, error assertions.
enum MessageVectors {
    /// Bytes from hex text; spaces and newlines are ignored.
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = hex.unicodeScalars.filter { !$0.properties.isWhitespace }.map { Character($0) }
        precondition(digits.count % 2 == 0, "odd hex digit count")
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    static let marker = [UInt8](repeating: 0xFF, count: 16)

    /// A header with the given Length field and Type.
    static func header(length: Int, type: UInt8) -> [UInt8] {
        marker + [UInt8(length >> 8), UInt8(length & 0xFF), type]
    }

    /// A whole message: header with the right length, then `body`.
    static func message(type: UInt8, body: [UInt8]) -> [UInt8] {
        header(length: 19 + body.count, type: type) + body
    }

    /// Frames `bytes` (which must hold exactly one message) and decodes it.
    static func decode(
        _ bytes: [UInt8], context: WireContext = WireContext(), warnings: inout [BGPError]
    ) throws(BGPError) -> BGPMessage {
        var buffer = ByteBuffer(bytes: bytes)
        guard let frame = try BGPFrameDecoder.decodeFrame(&buffer) else {
            throw BGPError(code: NotificationCode(rawValue: 0), subcode: 0, reason: "test: incomplete message")
        }
        guard buffer.readableBytes == 0 else {
            throw BGPError(code: NotificationCode(rawValue: 0), subcode: 0, reason: "test: trailing bytes")
        }
        return try BGPMessage.decode(frame, context: context, warnings: &warnings)
    }

    static func decode(_ bytes: [UInt8], context: WireContext = WireContext()) throws(BGPError) -> BGPMessage {
        var warnings: [BGPError] = []
        return try decode(bytes, context: context, warnings: &warnings)
    }

    static func encode(_ message: BGPMessage, context: WireContext = WireContext()) -> [UInt8] {
        Array(message.encoded(context: context).readableBytesView)
    }
}

/// Asserts that `body` throws a `BGPError` with this NOTIFICATION code, subcode and data, and action.
func assertThrowsMessageCodecError<T>(
    _ body: () throws(BGPError) -> T, code: NotificationCode, subcode: UInt8, data: [UInt8] = [],
    action: BGPError.Action = .sessionReset, file: StaticString = #filePath, line: UInt = #line
) {
    do {
        let value = try body()
        XCTFail("expected \(code) subcode \(subcode), decoded \(value)", file: file, line: line)
    } catch {
        XCTAssertEqual(error.code, code, "code (\(error.reason))", file: file, line: line)
        XCTAssertEqual(error.subcode, subcode, "subcode (\(error.reason))", file: file, line: line)
        XCTAssertEqual(error.data, data, "data (\(error.reason))", file: file, line: line)
        XCTAssertEqual(error.action, action, "action (\(error.reason))", file: file, line: line)
    }
}
