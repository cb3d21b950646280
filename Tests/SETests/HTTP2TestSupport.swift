import Foundation
import NIOCore
import NIOHPACK
import NIOSSL

@testable import SE

/// An HTTP/2 client over TLS (ALPN `h2`) that writes frames itself, so that tests can send what a
/// well-behaved client library would refuse to (too many streams, reset floods, PING floods). HPACK
/// comes from swift-nio-http2's encoder and decoder; frames are cut by hand (RFC 9113 §4.1). SETTINGS
/// and PING are acknowledged as a client must.
final class H2TestClient {
    struct Frame {
        var type: UInt8
        var flags: UInt8
        var stream: UInt32
        var payload: ByteBuffer
        /// HEADERS: the decoded fields.
        var headers: HPACKHeaders?
        var endStream: Bool { (type == 0 || type == 1) && flags & 0x1 != 0 }
    }

    static let data: UInt8 = 0, headers: UInt8 = 1, rstStream: UInt8 = 3, settings: UInt8 = 4, ping: UInt8 = 6,
        goAway: UInt8 = 7, windowUpdate: UInt8 = 8

    let tls: TLSTestClient
    private var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
    private var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
    private var inbound = ByteBuffer()
    private(set) var frames: [Frame] = []
    private(set) var closed = false
    /// Give back the flow-control credit of every DATA frame received (off: the test controls windows).
    var autoWindow = true

    /// Connects, checks that the server chose `h2`, sends the preface and `settings` (id, value).
    init(group: any EventLoopGroup, port: Int, settings: [(UInt16, UInt32)] = []) async throws {
        tls = try await TLSTestClient(group: group, port: port, serverName: "www.example") {
            $0.applicationProtocols = ["h2", "http/1.1"]
        }
        try await tls.handshake()
        guard try await tls.negotiatedALPN() == "h2" else { throw TestToolError("the server did not choose h2") }
        var preface = ByteBuffer(string: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        var payload = ByteBuffer()
        for (id, value) in settings {
            payload.writeInteger(id)
            payload.writeInteger(value)
        }
        Self.frame(Self.settings, 0, 0, payload, into: &preface)
        try await tls.channel.writeAndFlush(preface)
    }

    static func frame(
        _ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: ByteBuffer, into out: inout ByteBuffer
    ) {
        let n = payload.readableBytes
        out.writeInteger(UInt8(n >> 16))
        out.writeInteger(UInt16(n & 0xffff))
        out.writeInteger(type)
        out.writeInteger(flags)
        out.writeInteger(stream)
        var p = payload
        out.writeBuffer(&p)
    }

    func send(_ type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: ByteBuffer = ByteBuffer()) async throws {
        var out = ByteBuffer()
        Self.frame(type, flags, stream, payload, into: &out)
        try await tls.channel.writeAndFlush(out)
    }

    /// Several frames in one write.
    func sendBatch(_ frames: [(UInt8, UInt8, UInt32, ByteBuffer)]) async throws {
        var out = ByteBuffer()
        for (t, f, s, p) in frames { Self.frame(t, f, s, p, into: &out) }
        try await tls.channel.writeAndFlush(out)
    }

    /// The HPACK block of a request.
    func requestBlock(
        _ method: String, _ path: String, authority: String = "www.example", extra: [(String, String)] = []
    ) throws -> ByteBuffer {
        try block([(":method", method), (":scheme", "https"), (":path", path), (":authority", authority)] + extra)
    }

    /// An HPACK block of exactly these fields (literals, not indexed).
    func block(_ fields: [(String, String)]) throws -> ByteBuffer {
        try encoder.beginEncoding(allocator: ByteBufferAllocator())
        for (n, v) in fields { try encoder.appendNonIndexed(header: n, value: v) }
        return try encoder.endEncoding()
    }

    /// HEADERS (END_HEADERS, and END_STREAM when `endStream`).
    func request(
        stream: UInt32, _ path: String, method: String = "GET", extra: [(String, String)] = [], endStream: Bool = true
    ) async throws {
        let block = try requestBlock(method, path, extra: extra)
        try await send(Self.headers, flags: 0x4 | (endStream ? 0x1 : 0), stream: stream, block)
    }

    func data(stream: UInt32, _ bytes: String, endStream: Bool) async throws {
        try await send(Self.data, flags: endStream ? 0x1 : 0, stream: stream, ByteBuffer(string: bytes))
    }

    static func u32(_ v: UInt32) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(v)
        return b
    }

    func windowUpdate(stream: UInt32, _ increment: UInt32) async throws {
        try await send(Self.windowUpdate, stream: stream, Self.u32(increment))
    }

    /// Reads frames until `condition` holds for what was received (true) or `timeout` passes, or the
    /// connection closes (false). The server's SETTINGS are acknowledged.
    @discardableResult
    func wait(timeout: Double = 5, _ condition: ([Frame]) -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if condition(frames) { return true }
            if closed || Date() > deadline { return false }
            let (bytes, closedNow) = try await tls.take()
            var b = bytes
            inbound.writeBuffer(&b)
            try parse()
            if closedNow { closed = true }
            if bytes.readableBytes == 0 && !closedNow { try await Task.sleep(for: .milliseconds(5)) }
        }
    }

    private func parse() throws {
        while inbound.readableBytes >= 9 {
            let length =
                Int(inbound.getInteger(at: inbound.readerIndex, as: UInt8.self)!) << 16
                | Int(inbound.getInteger(at: inbound.readerIndex + 1, as: UInt16.self)!)
            guard inbound.readableBytes >= 9 + length else { return }
            inbound.moveReaderIndex(forwardBy: 3)
            let type: UInt8 = inbound.readInteger()!
            let flags: UInt8 = inbound.readInteger()!
            let stream = inbound.readInteger(as: UInt32.self)! & 0x7fff_ffff
            var payload = inbound.readSlice(length: length)!
            var frame = Frame(type: type, flags: flags, stream: stream, payload: payload, headers: nil)
            if type == Self.headers {
                if flags & 0x8 != 0 {  // PADDED
                    let pad = Int(payload.readInteger(as: UInt8.self)!)
                    payload = payload.getSlice(at: payload.readerIndex, length: payload.readableBytes - pad)!
                }
                if flags & 0x20 != 0 { payload.moveReaderIndex(forwardBy: 5) }  // PRIORITY
                frame.headers = try decoder.decodeHeaders(from: &payload)
            }
            if type == Self.settings && flags & 0x1 == 0 {
                var ack = ByteBuffer()
                H2TestClient.frame(H2TestClient.settings, 0x1, 0, ByteBuffer(), into: &ack)
                tls.channel.writeAndFlush(ack, promise: nil)
            }
            if type == Self.ping && flags & 0x1 == 0 {
                var ack = ByteBuffer()
                H2TestClient.frame(H2TestClient.ping, 0x1, 0, frame.payload, into: &ack)
                tls.channel.writeAndFlush(ack, promise: nil)
            }
            if type == Self.data && autoWindow && length > 0 {
                var updates = ByteBuffer()
                H2TestClient.frame(H2TestClient.windowUpdate, 0, 0, Self.u32(UInt32(length)), into: &updates)
                if flags & 0x1 == 0 {
                    H2TestClient.frame(H2TestClient.windowUpdate, 0, stream, Self.u32(UInt32(length)), into: &updates)
                }
                tls.channel.writeAndFlush(updates, promise: nil)
            }
            frames.append(frame)
        }
    }

    /// The server's settings (first SETTINGS frame): id → value.
    var serverSettings: [UInt16: UInt32] {
        guard var p = frames.first(where: { $0.type == Self.settings && $0.flags & 0x1 == 0 })?.payload else {
            return [:]
        }
        var out: [UInt16: UInt32] = [:]
        while let id = p.readInteger(as: UInt16.self), let v = p.readInteger(as: UInt32.self) { out[id] = v }
        return out
    }

    /// GOAWAY's last stream and error code, if one came.
    var goAway: (lastStream: UInt32, code: UInt32)? {
        guard var p = frames.last(where: { $0.type == Self.goAway })?.payload else { return nil }
        let last = p.readInteger(as: UInt32.self)! & 0x7fff_ffff
        return (last, p.readInteger(as: UInt32.self)!)
    }

    /// RST_STREAM's error code for `stream`, if one came.
    func reset(_ stream: UInt32) -> UInt32? {
        frames.first { $0.type == Self.rstStream && $0.stream == stream }.flatMap {
            $0.payload.getInteger(at: $0.payload.readerIndex)
        }
    }

    /// Whether `stream` ended (END_STREAM or RST_STREAM).
    func ended(_ stream: UInt32) -> Bool {
        frames.contains { $0.stream == stream && ($0.endStream || $0.type == Self.rstStream) }
    }

    /// DATA bytes received on `stream`.
    func bodyBytes(_ stream: UInt32) -> Int {
        frames.filter { $0.stream == stream && $0.type == Self.data }.reduce(0) { $0 + $1.payload.readableBytes }
    }

    /// Waits for `stream` to end and returns its final response.
    func response(_ stream: UInt32, timeout: Double = 5) async throws -> (
        status: Int, headers: HPACKHeaders, body: String
    ) {
        guard try await wait(timeout: timeout, { _ in self.ended(stream) }) else {
            throw TestToolError(
                "stream \(stream) did not end (closed: \(closed), goaway: \(String(describing: goAway)))")
        }
        if let code = reset(stream) { throw TestToolError("stream \(stream) reset with \(code)") }
        let heads = frames.filter { $0.stream == stream && $0.type == Self.headers }.compactMap(\.headers)
        guard let final = heads.last(where: { Int($0.first(name: ":status") ?? "") ?? 0 >= 200 }) else {
            throw TestToolError("stream \(stream): no final response head")
        }
        var body = ByteBuffer()
        for f in frames where f.stream == stream && f.type == Self.data {
            var p = f.payload
            body.writeBuffer(&p)
        }
        return (Int(final.first(name: ":status")!)!, final, String(buffer: body))
    }

    /// Waits for the server to close the connection.
    func waitForClose(timeout: Double = 5) async throws -> Bool {
        try await wait(timeout: timeout) { _ in false }
        return closed
    }

    func close() async { await tls.close() }
}
