import NIOCore
import NIOEmbedded
import XCTest

@testable import BGPSpeaker

final class FramingTests: XCTestCase {
    typealias V = MessageVectors
    let keepaliveBytes = V.bytes("ffffffffffffffffffffffffffffffff 0013 04")

    // MARK: KEEPALIVE golden vector

    func testKeepaliveGoldenBothWays() throws {
        XCTAssertEqual(try V.decode(keepaliveBytes), .keepalive)
        XCTAssertEqual(V.encode(.keepalive), keepaliveBytes)
    }

    func testKeepaliveWithBodyIsBadMessageLength() {
        // RFC 4271 §6.1: KEEPALIVE length must be exactly 19; data is the Length field.
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(V.message(type: 4, body: [0])) }, code: .messageHeaderError,
            subcode: 2, data: [0x00, 0x14])
    }

    // MARK: Frame decoder

    func testFrameDecoderWaitsForWholeMessageWithoutConsuming() throws {
        var decoder = BGPFrameDecoder()
        let open = V.bytes(OpenMessageTests.birdOpenHex)
        for cut in [0, 1, 16, 18, 19, open.count - 1] {
            var buffer = ByteBuffer(bytes: open.prefix(cut))
            XCTAssertNil(try decoder.decode(buffer: &buffer), "cut at \(cut)")
            XCTAssertEqual(buffer.readableBytes, cut, "nothing consumed at cut \(cut)")
        }
    }

    func testFrameDecoderSplitsConsecutiveMessages() throws {
        var decoder = BGPFrameDecoder()
        let open = V.bytes(OpenMessageTests.birdOpenHex)
        var buffer = ByteBuffer(bytes: keepaliveBytes + open + keepaliveBytes + [0xFF, 0xFF])
        let first = try XCTUnwrap(decoder.decode(buffer: &buffer))
        XCTAssertEqual(first.type, .keepalive)
        XCTAssertEqual(first.body.readableBytes, 0)
        let second = try XCTUnwrap(decoder.decode(buffer: &buffer))
        XCTAssertEqual(second.type, .open)
        XCTAssertEqual(Array(second.body.readableBytesView), Array(open.dropFirst(19)))
        XCTAssertEqual(second.length, open.count)
        XCTAssertEqual(try decoder.decode(buffer: &buffer)?.type, .keepalive)
        XCTAssertNil(try decoder.decode(buffer: &buffer))
        XCTAssertEqual(buffer.readableBytes, 2)
    }

    func testFrameDecoderAllows65535Octets() throws {
        var decoder = BGPFrameDecoder()
        var buffer = ByteBuffer(bytes: V.header(length: 65535, type: 2) + [UInt8](repeating: 0, count: 65535 - 19))
        let frame = try XCTUnwrap(decoder.decode(buffer: &buffer))
        XCTAssertEqual(frame.length, 65535)
        XCTAssertEqual(frame.type, .update)
    }

    func testDecodeLastReturnsCompleteFramesAndLeavesPartialOne() throws {
        var decoder = BGPFrameDecoder()
        var buffer = ByteBuffer(bytes: keepaliveBytes + keepaliveBytes.prefix(10))
        XCTAssertEqual(try decoder.decodeLast(buffer: &buffer, seenEOF: true)?.type, .keepalive)
        XCTAssertNil(try decoder.decodeLast(buffer: &buffer, seenEOF: true))
        XCTAssertEqual(buffer.readableBytes, 10)
    }

    func testMarkerNotAllOnesIsConnectionNotSynchronized() {
        var bytes = keepaliveBytes
        bytes[7] = 0xFE
        var buffer = ByteBuffer(bytes: bytes)
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try BGPFrameDecoder.decodeFrame(&buffer) }, code: .messageHeaderError,
            subcode: 1)
    }

    func testMarkerAllZeroIsConnectionNotSynchronized() {
        var buffer = ByteBuffer(bytes: [UInt8](repeating: 0, count: 16) + [0, 19, 4])
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try BGPFrameDecoder.decodeFrame(&buffer) }, code: .messageHeaderError,
            subcode: 1)
    }

    func testLengthBelow19IsBadMessageLength() {
        for length in [0, 1, 18] {
            var buffer = ByteBuffer(bytes: V.header(length: length, type: 4) + [0, 0])
            assertThrowsMessageCodecError(
                { () throws(BGPError) in try BGPFrameDecoder.decodeFrame(&buffer) }, code: .messageHeaderError,
                subcode: 2, data: [0, UInt8(length)])
        }
    }

    func testDecoderInChannelPipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(BGPFrameDecoder()))
        var input = channel.allocator.buffer(capacity: 64)
        input.writeBytes(keepaliveBytes + keepaliveBytes.prefix(5))
        try channel.writeInbound(input)
        let frame = try XCTUnwrap(channel.readInbound(as: BGPFrame.self))
        XCTAssertEqual(frame.type, .keepalive)
        XCTAssertNil(try channel.readInbound(as: BGPFrame.self))
        var rest = channel.allocator.buffer(capacity: 64)
        rest.writeBytes(keepaliveBytes.dropFirst(5))
        try channel.writeInbound(rest)
        XCTAssertEqual(try channel.readInbound(as: BGPFrame.self)?.type, .keepalive)

        var bad = channel.allocator.buffer(capacity: 64)
        bad.writeBytes(V.header(length: 5, type: 4))
        XCTAssertThrowsError(try channel.writeInbound(bad)) { error in
            XCTAssertEqual((error as? BGPError)?.subcode, NotificationSubcode.Header.badMessageLength)
        }
        _ = try? channel.finish()
    }

    // MARK: BGPFrameStream (the speaker's framing, inside BGPConnectionHandler)

    func testFrameStreamCutsWholeFramesAcrossReads() throws {
        let update = V.header(length: 23, type: 2) + [0, 0, 0, 0]
        let bytes = keepaliveBytes + update + keepaliveBytes
        // Every split of the stream into two reads yields the same three frames, in order.
        for cut in 0...bytes.count {
            var stream = BGPFrameStream()
            var types: [MessageType] = []
            var first = ByteBuffer(bytes: bytes[..<cut])
            stream.append(&first)
            while let f = try stream.next() { types.append(f.type) }
            var second = ByteBuffer(bytes: bytes[cut...])
            stream.append(&second)
            while let f = try stream.next() { types.append(f.type) }
            XCTAssertEqual(types, [.keepalive, .update, .keepalive], "cut at \(cut)")
            XCTAssertEqual(stream.bufferedBytes, 0)
        }
        // Byte by byte.
        var stream = BGPFrameStream()
        var frames: [BGPFrame] = []
        for b in bytes {
            var one = ByteBuffer(bytes: [b])
            stream.append(&one)
            while let f = try stream.next() { frames.append(f) }
        }
        XCTAssertEqual(frames.map(\.type), [.keepalive, .update, .keepalive])
        XCTAssertEqual(frames[1].body, ByteBuffer(bytes: [0, 0, 0, 0]))
    }

    func testFrameStreamKeepsOrderWhenBytesArriveBetweenFrames() throws {
        var stream = BGPFrameStream()
        var input = ByteBuffer(bytes: keepaliveBytes + V.header(length: 23, type: 2) + [0, 0])
        stream.append(&input)
        XCTAssertEqual(try stream.next()?.type, .keepalive)
        // More bytes arrive (a re-entrant read) while the remainder is still buffered.
        var more = ByteBuffer(bytes: [0, 0] + keepaliveBytes)
        stream.append(&more)
        XCTAssertEqual(try stream.next()?.type, .update)
        XCTAssertEqual(try stream.next()?.type, .keepalive)
        XCTAssertNil(try stream.next())
    }

    func testFrameStreamThrowsOnBadHeader() {
        var stream = BGPFrameStream()
        var bad = ByteBuffer(bytes: keepaliveBytes + [0xFE] + keepaliveBytes.dropFirst())
        stream.append(&bad)
        XCTAssertEqual(try stream.next()?.type, .keepalive)
        assertThrowsMessageCodecError(
            { () throws(BGPError) in _ = try stream.next() }, code: .messageHeaderError,
            subcode: NotificationSubcode.Header.connectionNotSynchronized, data: [])
        stream.reset()
        XCTAssertEqual(stream.bufferedBytes, 0)
    }

    // MARK: Per-type rules in BGPMessage.decode

    func testUnknownTypeIsBadMessageType() {
        for type: UInt8 in [0, 6, 255] {
            assertThrowsMessageCodecError(
                { () throws(BGPError) in try V.decode(V.message(type: type, body: [])) }, code: .messageHeaderError,
                subcode: 3, data: [type])
        }
    }

    func testOpenShorterThan29IsBadMessageLength() {
        let body = V.bytes("04 fde9 00f0 c0000201")  // 9 octets: no Opt Parm Len
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(V.message(type: 1, body: body)) }, code: .messageHeaderError,
            subcode: 2, data: [0, 28])
    }

    func testUpdateShorterThan23IsBadMessageLength() {
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(V.message(type: 2, body: [0, 0, 0])) }, code: .messageHeaderError,
            subcode: 2, data: [0, 22])
    }

    func testNotificationShorterThan21IsBadMessageLength() {
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(V.message(type: 3, body: [6])) }, code: .messageHeaderError,
            subcode: 2, data: [0, 20])
    }

    func testMessageOver4096WithoutExtendedMessagesIsBadMessageLength() {
        let body = [6, 2] + [UInt8](repeating: 0x41, count: 4097 - 21)
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(V.message(type: 3, body: body)) }, code: .messageHeaderError,
            subcode: 2, data: [0x10, 0x01])
    }

    func testMessageOver4096WithExtendedMessagesIsAccepted() throws {
        let body = [6, 2] + [UInt8](repeating: 0x41, count: 4097 - 21)
        let message = try V.decode(V.message(type: 3, body: body), context: WireContext(extendedMessages: true))
        guard case .notification(let n) = message else { return XCTFail("\(message)") }
        XCTAssertEqual(n.data.count, 4097 - 21)
    }

    func testOpenOver4096IsBadMessageLengthEvenWithExtendedMessages() {
        // RFC 8654 §4: OPEN is never longer than 4096 octets.
        let body = V.bytes("04 fde9 00f0 c0000201 00") + [UInt8](repeating: 0, count: 4097 - 29)
        assertThrowsMessageCodecError(
            { () throws(BGPError) in
                try V.decode(V.message(type: 1, body: body), context: WireContext(extendedMessages: true))
            }, code: .messageHeaderError, subcode: 2, data: [0x10, 0x01])
    }

    func testKeepaliveOver4096IsBadMessageLengthEvenWithExtendedMessages() {
        let body = [UInt8](repeating: 0, count: 4097 - 19)
        assertThrowsMessageCodecError(
            { () throws(BGPError) in
                try V.decode(V.message(type: 4, body: body), context: WireContext(extendedMessages: true))
            }, code: .messageHeaderError, subcode: 2, data: [0x10, 0x01])
    }

    // MARK: Exhaustive neighbourhood of the golden vectors (a deterministic mini-fuzz)

    static let goldenVectors: [[UInt8]] = [
        V.bytes(OpenMessageTests.birdOpenHex), V.bytes(OpenMessageTests.birdOpen4ByteASHex),
        V.bytes("ffffffffffffffffffffffffffffffff 0013 04"),
        V.bytes("ffffffffffffffffffffffffffffffff 0019 03 06 02 03 627965"),
        V.bytes("ffffffffffffffffffffffffffffffff 0017 05 0002 01 01"),
    ]

    /// Decodes `bytes` as a stream under three contexts; every outcome must be a value that re-encodes
    /// to itself or a session-reset error. A trap fails the whole test run.
    func checkDecodesOrThrows(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        for context in [WireContext.preOpen, WireContext(), WireContext(extendedMessages: true)] {
            var buffer = ByteBuffer(bytes: bytes)
            var decoder = BGPFrameDecoder()
            do {
                while let frame = try decoder.decode(buffer: &buffer) {
                    var warnings: [BGPError] = []
                    let message = try BGPMessage.decode(frame, context: context, warnings: &warnings)
                    let again = try V.decode(V.encode(message, context: context), context: context)
                    XCTAssertEqual(again, message, "\(bytes)", file: file, line: line)
                }
            } catch let error as BGPError {
                XCTAssertEqual(error.action, .sessionReset, "\(error)", file: file, line: line)
            } catch {
                XCTFail("unexpected error \(error)", file: file, line: line)
            }
        }
    }

    func testEveryTruncationOfGoldenVectorsDecodesOrThrows() {
        for vector in Self.goldenVectors {
            for cut in 0...vector.count {
                var truncated = vector.prefix(cut)
                // Also with the Length field saying what is really there.
                checkDecodesOrThrows(Array(truncated))
                if cut >= 19 {
                    truncated[truncated.startIndex + 16] = UInt8(cut >> 8)
                    truncated[truncated.startIndex + 17] = UInt8(cut & 0xFF)
                    checkDecodesOrThrows(Array(truncated))
                }
            }
        }
    }

    func testBoundaryByteValuesAtEveryPositionOfGoldenVectorsDecodeOrThrow() {
        for vector in Self.goldenVectors {
            for position in vector.indices {
                var mutated = vector
                let original = vector[position]
                let values: Set<UInt8> = [
                    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x7F, 0x80, 0xFE, 0xFF, original &- 1, original &+ 1,
                ]
                for value in values {
                    mutated[position] = value
                    checkDecodesOrThrows(mutated)
                }
            }
        }
    }

    func testWriteBackPatchesLengthAfterExistingBytes() {
        var buffer = ByteBuffer(bytes: [1, 2, 3])
        BGPMessage.routeRefresh(RouteRefreshMessage(family: .ipv4Unicast)).write(to: &buffer, context: WireContext())
        XCTAssertEqual(
            Array(buffer.readableBytesView), [1, 2, 3] + V.bytes("ffffffffffffffffffffffffffffffff 0017 05 0001 00 01"))
    }
}
