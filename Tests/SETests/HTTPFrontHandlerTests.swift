import Foundation
import Logging
import NIOCore
import NIOEmbedded
import XCTest

@testable import SE

/// The HTTP client-side handler on an `EmbeddedChannel` with the listener's real pipeline: local
/// answers (400, 408, 431, 503) and timeouts with a manual clock.
final class HTTPFrontHandlerTests: XCTestCase {
    func makeChannel(
        limits: HTTPLimits = HTTPLimits(), idle: Duration = .seconds(60), logs: RequestLogQueue = RequestLogQueue(),
        logPolicy: RequestLogPolicy = RequestLogPolicy()
    ) throws -> EmbeddedChannel {
        let loop = EmbeddedEventLoop()
        let config = ServiceConfig(
            id: "vs-1", name: "web", listeners: [], kind: .http, pool: PoolConfig(name: "p", servers: []),
            idleTimeout: idle, http: limits, requestLogs: logPolicy)
        let service = LoopService(
            loop: loop, config: config, stats: LoopStats(), metrics: ServiceMetrics(service: "web"),
            sources: SourceAddresses([]), requestLog: LoopRequestLog(queue: logs, loops: 1),
            logger: Logger(label: "test"))
        service.update(config: config, servers: [], tls: nil, serverTLS: nil)
        let channel = EmbeddedChannel(loop: loop)
        try Listener.install(on: channel, tls: false, service: service)
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 40000)).wait()
        return channel
    }

    func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func output(_ channel: EmbeddedChannel) throws -> String {
        var out = ""
        while let buf = try channel.readOutbound(as: ByteBuffer.self) {
            out += String(buffer: buf)
        }
        return out
    }

    func testHeadersOverTheLimitGet431AndClose() throws {
        let channel = try makeChannel(limits: HTTPLimits(maxHeaderBytes: 1024))
        let big = String(repeating: "x", count: 2000)
        try send(channel, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: \(big)\r\n\r\n")
        let out = try output(channel)
        XCTAssertTrue(out.hasPrefix("HTTP/1.1 431"), out)
        XCTAssertTrue(out.lowercased().contains("connection: close"), out)
        XCTAssertFalse(channel.isActive)
    }

    func testMalformedRequestGets400AndClose() throws {
        let channel = try makeChannel()
        try send(channel, "NOT HTTP AT ALL\r\n\r\n")
        let out = try output(channel)
        XCTAssertTrue(out.hasPrefix("HTTP/1.1 400"), out)
        XCTAssertTrue(out.hasSuffix("400 Bad Request: malformed request\n"), out)
        XCTAssertFalse(channel.isActive)
    }

    func testNoServerUpGets503AndKeepsTheConnection() throws {
        let channel = try makeChannel()
        try send(channel, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        var out = try output(channel)
        XCTAssertTrue(out.hasPrefix("HTTP/1.1 503"), out)
        XCTAssertTrue(out.contains("no server is up"), out)
        XCTAssertTrue(channel.isActive)
        // A POST with a body: the body is dropped and the next request works.
        try send(channel, "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        try send(channel, "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        out = try output(channel)
        XCTAssertEqual(out.components(separatedBy: "HTTP/1.1 503").count - 1, 2, out)
        XCTAssertFalse(channel.isActive, "Connection: close is honoured")
    }

    /// Answers the SE gives itself are significant: logged with the request's method, path, query, host,
    /// client address and why, up to the significant throttle per second (the rest are not logged).
    func testLocalAnswersAreLoggedUpToTheThrottle() throws {
        let logs = RequestLogQueue()
        let channel = try makeChannel(logs: logs, logPolicy: RequestLogPolicy(significantPerSecond: 2))
        for i in 0..<5 { try send(channel, "GET /a/\(i)?x=1 HTTP/1.1\r\nHost: shop.example\r\n\r\n") }
        XCTAssertEqual(try output(channel).components(separatedBy: "HTTP/1.1 503").count - 1, 5)
        let taken = logs.take(max: 100)
        // The five requests fall in one or two wall-clock seconds: 2 a second at most.
        XCTAssertTrue((2...4).contains(taken.count), "\(taken.count) logged")
        let first = try XCTUnwrap(taken.first)
        XCTAssertEqual(first.vs_uuid, "vs-1")
        XCTAssertEqual(first.method, "GET")
        XCTAssertEqual(first.uri_path, "/a/0")
        XCTAssertEqual(first.uri_query, "x=1")
        XCTAssertEqual(first.host, "shop.example")
        XCTAssertEqual(first.client_ip, "192.0.2.7")
        XCTAssertEqual(first.client_src_port, 40000)
        XCTAssertEqual(first.response_code, 503)
        XCTAssertEqual(first.http_version, "HTTP/1.1")
        XCTAssertTrue(first.significant)
        XCTAssertEqual(first.significance, "answered by the SE: Service Unavailable")
        XCTAssertGreaterThan(first.response_length + first.request_length, 0)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        XCTAssertLessThan(abs(first.timestamp_ms - now), 10_000, "wall-clock milliseconds")
    }

    /// A request the SE cannot parse is logged too (no method or path to show).
    func testMalformedRequestsAreLogged() throws {
        let logs = RequestLogQueue()
        let channel = try makeChannel(logs: logs)
        try send(channel, "NOT HTTP AT ALL\r\n\r\n")
        _ = try output(channel)
        let taken = logs.take(max: 10)
        XCTAssertEqual(taken.map(\.response_code), [400])
        XCTAssertEqual(taken.first?.significance, "answered by the SE: Bad Request")
    }

    func testHTTP10ClientGetsHTTP10AnswerAndClose() throws {
        let channel = try makeChannel()
        try send(channel, "GET / HTTP/1.0\r\n\r\n")
        let out = try output(channel)
        XCTAssertTrue(out.hasPrefix("HTTP/1.0 503"), out)
        XCTAssertFalse(channel.isActive, "HTTP/1.0 without keep-alive closes")
    }

    func testSlowRequestHeadGets408() throws {
        let channel = try makeChannel(limits: HTTPLimits(requestHeaderTimeout: .seconds(2)))
        try send(channel, "GET / HTTP/1.1\r\nHost:")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1900))
        XCTAssertTrue(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        let out = try output(channel)
        XCTAssertTrue(out.hasPrefix("HTTP/1.1 408"), out)
        XCTAssertFalse(channel.isActive)
    }

    func testIdleKeepAliveConnectionIsClosed() throws {
        let channel = try makeChannel(limits: HTTPLimits(requestHeaderTimeout: .seconds(2)), idle: .seconds(5))
        try send(channel, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = try output(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        XCTAssertTrue(channel.isActive, "the header timeout no longer applies once a request arrived")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        XCTAssertFalse(channel.isActive)
        XCTAssertEqual(try output(channel), "", "closed without an answer")
    }

    /// Random bytes, random splits, request-like prefixes: the handler answers or closes, never traps or
    /// loops (each input is bounded by the clock advancing past every timeout).
    func testRandomInputNeverTrapsOrHangs() throws {
        var rng = SplitMix(seed: 0x5EED)
        let prefixes = [
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "",
        ]
        for _ in 0..<1500 {
            let channel = try makeChannel(limits: HTTPLimits(maxHeaderBytes: 512, requestHeaderTimeout: .seconds(1)))
            var bytes = Array(prefixes[Int(rng.next() % UInt64(prefixes.count))].utf8)
            let alphabet = Array("GET /HTTP1.\r\n:abc 0123456789;xX-".utf8)
            for _ in 0..<Int(rng.next() % 300) {
                bytes.append(
                    rng.next() % 4 == 0
                        ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))])
            }
            var offset = 0
            while offset < bytes.count && channel.isActive {
                let n = min(bytes.count - offset, 1 + Int(rng.next() % 64))
                _ = try? channel.writeInbound(ByteBuffer(bytes: bytes[offset..<(offset + n)]))
                offset += n
            }
            channel.embeddedEventLoop.advanceTime(by: .seconds(120))
            XCTAssertFalse(
                channel.isActive,
                "every connection ends once the timeouts pass: \(String(decoding: bytes, as: UTF8.self).debugDescription)"
            )
            _ = try? output(channel)
            _ = try? channel.finish()
        }
    }
}

/// A small deterministic generator for the random-input test.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
