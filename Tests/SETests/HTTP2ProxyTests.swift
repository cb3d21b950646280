import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport
import XCTest

@testable import SE

/// HTTP/2 on the client side end to end on 127.0.0.1: a frame-level HTTP/2 client over TLS (ALPN `h2`)
/// → DataPlane → plain HTTP/1.1 pool server. Covers the proxying (streams side by side, bodies both
/// ways, flow control, the head the server sees) and the limits against abuse.
final class HTTP2ProxyTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var clientGroup: MultiThreadedEventLoopGroup!
    var dataPlane: DataPlane!
    var server: TestHTTPServer!
    var dir: URL!
    var cert: TestCertificate!

    override func setUp() async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "test.h2")
        logger.logLevel = .warning
        dataPlane = DataPlane(
            group: group, sourceAddresses: ["127.0.0.1"], logger: logger, metricsFactory: RecordingMetrics())
        server = try TestHTTPServer(name: "s1", group: clientGroup)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-h2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        cert = try TestCertificate.make(cn: "www-ec", sans: ["www.example"], dir: dir)
    }

    override func tearDown() async throws {
        await dataPlane.shutdown()
        server.stop()
        try await group.shutdownGracefully()
        try await clientGroup.shutdownGracefully()
        try? FileManager.default.removeItem(at: dir)
    }

    /// An HTTPS service on `port` offering h2 (unless `http2` is false).
    func apply(
        port: Int, http2: Bool = true, limits: HTTP2Limits = HTTP2Limits(), idle: Duration? = nil,
        responseTimeout: Duration = .seconds(30), servers: [ServerConfig]? = nil
    ) async {
        let config = ServiceConfig(
            id: "vs-h2", name: "h2", listeners: [ListenAddress(host: "127.0.0.1", port: port, tls: true, http2: http2)],
            kind: .http,
            pool: PoolConfig(name: "pool", servers: servers ?? [ServerConfig(ip: "127.0.0.1", port: server.port)]),
            idleTimeout: idle, http: HTTPLimits(serverResponseTimeout: responseTimeout, http2: limits),
            tls: TLSSettings(
                certificates: [cert.settings], cipherString: "ECDHE-ECDSA-AES128-GCM-SHA256", hsts: "max-age=60"))
        let problems = await dataPlane.apply(DataPlaneConfig(services: [config]))
        XCTAssertEqual(problems, [])
    }

    func h2(_ port: Int, settings: [(UInt16, UInt32)] = []) async throws -> H2TestClient {
        try await H2TestClient(group: clientGroup, port: port, settings: settings)
    }

    static let protocolError: UInt32 = 0x1
    static let enhanceYourCalm: UInt32 = 0xb

    // MARK: proxying

    func testStreamsGoToTheHTTP11PoolSideBySide() async throws {
        let port = reservedPort()
        await apply(port: port)
        let c = try await h2(port)
        // A stream the server never answers does not hold up the others.
        try await c.request(stream: 1, "/hang")
        try await c.request(stream: 3, "/a")
        let a = try await c.response(3)
        XCTAssertEqual(a.status, 200)
        XCTAssertEqual(a.body, "s1 /a xff=127.0.0.1 xfp=https")
        XCTAssertEqual(a.headers.first(name: "strict-transport-security"), "max-age=60")
        XCTAssertEqual(a.headers.first(name: "content-length"), "\(a.body.utf8.count)")
        XCTAssertFalse(c.ended(1), "the stream to /hang is still waiting")
        let dataFrames = c.frames.filter { $0.stream == 3 && $0.type == H2TestClient.data }
        XCTAssertEqual(dataFrames.count, 1, "the body and END_STREAM in one DATA frame")
        XCTAssertEqual(dataFrames.first?.endStream, true)

        try await c.request(stream: 5, "/chunked")
        let chunked = try await c.response(5)
        XCTAssertEqual(chunked.body, "alpha-beta-gamma", "chunked framing removed: HTTP/2 frames the body")
        XCTAssertNil(chunked.headers.first(name: "transfer-encoding"), "connection-specific field dropped")

        try await c.request(stream: 7, "/a", method: "HEAD")
        let head = try await c.response(7)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body, "")

        try await c.request(stream: 9, "/status/404")
        let notFound = try await c.response(9)
        XCTAssertEqual(notFound.status, 404)

        // The server's settings: Avi's defaults, the header list bounded by the head limit.
        XCTAssertEqual(c.serverSettings[0x3], 128, "SETTINGS_MAX_CONCURRENT_STREAMS")
        XCTAssertEqual(c.serverSettings[0x6], 32 * 1024, "SETTINGS_MAX_HEADER_LIST_SIZE")
        XCTAssertFalse(c.ended(1))
        await c.close()
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.totals.requests == 5 })
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.activeConnections == 0 }, "the connection is gone")
    }

    func testRequestBodiesAndTheHeadTheServerSees() async throws {
        let port = reservedPort()
        await apply(port: port)
        let c = try await h2(port)
        // No content-length: the server gets it chunked, and echoes it chunked.
        try await c.request(stream: 1, "/echo", method: "POST", endStream: false)
        try await c.data(stream: 1, "hello ", endStream: false)
        try await c.data(stream: 1, "world", endStream: true)
        let echoed = try await c.response(1)
        XCTAssertEqual(echoed.status, 200)
        XCTAssertEqual(echoed.body, "hello world")

        try await c.request(stream: 3, "/echo", method: "POST", extra: [("content-length", "5")], endStream: false)
        try await c.data(stream: 3, "abcde", endStream: true)
        let abcde = try await c.response(3).body
        XCTAssertEqual(abcde, "abcde")

        try await c.request(
            stream: 5, "/headers",
            extra: [
                ("cookie", "a=1"), ("cookie", "b=2"), ("x-forwarded-for", "192.0.2.7"),
                ("x-forwarded-proto", "http"), ("te", "trailers"), ("user-agent", "h2-test"),
            ])
        let seen = try await c.response(5).body.components(separatedBy: "\n")
        XCTAssertEqual(seen.first, "GET /headers")
        XCTAssertTrue(seen.contains("Host: www.example"), "\(seen)")
        XCTAssertTrue(seen.contains("Cookie: a=1; b=2"), "cookie fields joined (RFC 9113 §8.2.3): \(seen)")
        XCTAssertTrue(seen.contains("X-Forwarded-For: 192.0.2.7, 127.0.0.1"), "\(seen)")
        XCTAssertEqual(seen.filter { $0.lowercased().hasPrefix("x-forwarded-proto") }, ["X-Forwarded-Proto: https"])
        XCTAssertTrue(seen.contains("user-agent: h2-test"), "\(seen)")
        XCTAssertFalse(seen.contains { $0.lowercased().hasPrefix("te:") }, "TE is not passed to HTTP/1.1: \(seen)")
        await c.close()
    }

    func testFlowControlHoldsTheResponseUntilTheClientOpensItsWindow() async throws {
        let port = reservedPort()
        await apply(port: port)
        // SETTINGS_INITIAL_WINDOW_SIZE = 1000: the server may send 1000 bytes on a stream until more credit.
        let c = try await h2(port, settings: [(0x4, 1000)])
        c.autoWindow = false
        let part = String(repeating: "x", count: 10000)
        try await c.request(stream: 1, "/echo", method: "POST", extra: [("content-length", "20000")], endStream: false)
        try await c.data(stream: 1, part, endStream: false)
        try await c.data(stream: 1, part, endStream: true)
        let firstPart = try await c.wait { _ in c.bodyBytes(1) == 1000 }
        XCTAssertTrue(firstPart, "the first 1000 bytes come")
        try await c.wait(timeout: 0.5) { _ in false }
        XCTAssertEqual(c.bodyBytes(1), 1000, "no more than the window")
        XCTAssertFalse(c.ended(1))

        try await c.windowUpdate(stream: 0, 100_000)
        try await c.windowUpdate(stream: 1, 100_000)
        let r = try await c.response(1)
        XCTAssertEqual(r.body.utf8.count, 20000)
        XCTAssertEqual(r.body, part + part)
        await c.close()
    }

    // MARK: errors

    func testServerTroubleBecomesHTTPResponsesOnTheStream() async throws {
        let port = reservedPort()
        let dead = reservedPort()
        await apply(port: port, responseTimeout: .milliseconds(400))
        let c = try await h2(port)
        try await c.request(stream: 1, "/hang")
        let timeout = try await c.response(1)
        XCTAssertEqual(timeout.status, 504)
        XCTAssertEqual(timeout.headers.first(name: "content-type"), "text/plain")

        await apply(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: dead)])
        try await c.request(stream: 3, "/a")
        let unreachable = try await c.response(3).status
        XCTAssertEqual(unreachable, 502, "no server accepts the connection")
        await c.close()
    }

    func testInvalidRequestsAreRefusedOnTheirStreamWithoutReachingTheServer() async throws {
        let port = reservedPort()
        await apply(port: port)
        let c = try await h2(port)
        let before = server.health.requests
        // An uppercase name, a value with CR LF (it would split an HTTP/1.1 head), a connection-specific
        // field, no :path.
        try await c.send(
            H2TestClient.headers, flags: 0x5, stream: 1, try c.requestBlock("GET", "/", extra: [("X-Up", "1")]))
        try await c.send(
            H2TestClient.headers, flags: 0x5, stream: 3,
            try c.requestBlock("GET", "/", extra: [("x-inject", "a\r\nx-evil: 1")]))
        try await c.send(
            H2TestClient.headers, flags: 0x5, stream: 5,
            try c.requestBlock("GET", "/", extra: [("connection", "close")]))
        try await c.send(
            H2TestClient.headers, flags: 0x5, stream: 7,
            try c.block([(":method", "GET"), (":scheme", "https"), (":authority", "www.example")]))
        for s: UInt32 in [1, 3, 5, 7] {
            let refused = try await c.wait { _ in c.ended(s) }
            XCTAssertTrue(refused, "stream \(s) refused")
            XCTAssertEqual(c.reset(s), Self.protocolError, "stream \(s): RST_STREAM(PROTOCOL_ERROR)")
        }
        // CONNECT is valid HTTP/2 but not proxied.
        try await c.send(
            H2TestClient.headers, flags: 0x5, stream: 9,
            try c.block([(":method", "CONNECT"), (":authority", "www.example:443")]))
        let connect = try await c.response(9).status
        XCTAssertEqual(connect, 501)
        // The connection is still good.
        try await c.request(stream: 11, "/ok")
        let ok = try await c.response(11).status
        XCTAssertEqual(ok, 200)
        XCTAssertEqual(server.health.requests, before + 1, "only the valid request reached the server")
        await c.close()
    }

    // MARK: limits

    func testConcurrentStreamsAboveTheLimitAreRefused() async throws {
        let port = reservedPort()
        await apply(port: port, limits: HTTP2Limits(maxConcurrentStreams: 4))
        let c = try await h2(port)
        let settled = try await c.wait { _ in !c.serverSettings.isEmpty }
        XCTAssertTrue(settled)
        XCTAssertEqual(c.serverSettings[0x3], 4, "SETTINGS_MAX_CONCURRENT_STREAMS")
        for s: UInt32 in [1, 3, 5, 7] { try await c.request(stream: s, "/hang") }
        XCTAssertTrue(waitUntil { self.server.health.requests == 4 })
        try await c.request(stream: 9, "/a")
        // swift-nio-http2 treats the stream over the limit as a connection error (RFC 9113 §5.1.2 asks for
        // a stream error): GOAWAY(PROTOCOL_ERROR), then the close.
        let closed = try await c.waitForClose()
        XCTAssertTrue(closed)
        XCTAssertEqual(c.goAway?.code, Self.protocolError)
        XCTAssertEqual(server.health.requests, 4, "the fifth request did not reach the server")
        try await assertStillServes(port)
    }

    func testAHeaderListAboveTheLimitIsRefused() async throws {
        let port = reservedPort()
        await apply(port: port)
        let c = try await h2(port)
        let before = server.health.requests
        // 40 KB of fields (the limit is 32 KB), in HEADERS + CONTINUATION frames of at most 16 KB.
        var block = try c.requestBlock("GET", "/big", extra: [("x-big", String(repeating: "b", count: 40 * 1024))])
        var frames: [(UInt8, UInt8, UInt32, ByteBuffer)] = []
        while block.readableBytes > 0 {
            let part = block.readSlice(length: min(16000, block.readableBytes))!
            let last = block.readableBytes == 0
            frames.append(
                (frames.isEmpty ? H2TestClient.headers : 0x9, (last ? 0x4 : 0) | (frames.isEmpty ? 0x1 : 0), 1, part))
        }
        try await c.sendBatch(frames)
        // Over SETTINGS_MAX_HEADER_LIST_SIZE: the decoder stops, so the connection ends (GOAWAY
        // PROTOCOL_ERROR, close) and nothing reaches the server.
        let closed = try await c.waitForClose()
        XCTAssertTrue(closed)
        XCTAssertEqual(c.goAway?.code, Self.protocolError)
        XCTAssertEqual(server.health.requests, before, "the request did not reach the server")
        try await assertStillServes(port)
    }

    func testRapidResetIsCutOff() async throws {
        let port = reservedPort()
        await apply(port: port, limits: HTTP2Limits(maxStreamResets: 10))
        let c = try await h2(port)
        // CVE-2023-44487: open a stream and reset it at once, over and over.
        var frames: [(UInt8, UInt8, UInt32, ByteBuffer)] = []
        for i in 0..<40 {
            let s = UInt32(1 + 2 * i)
            frames.append((H2TestClient.headers, 0x5, s, try c.requestBlock("GET", "/hang")))
            frames.append((H2TestClient.rstStream, 0, s, H2TestClient.u32(0x8)))
        }
        try await c.sendBatch(frames)
        let gotGoAway = try await c.wait { _ in c.goAway != nil }
        XCTAssertTrue(gotGoAway, "GOAWAY")
        XCTAssertEqual(c.goAway?.code, Self.enhanceYourCalm)
        let closed = try await c.waitForClose()
        XCTAssertTrue(closed, "and the connection is closed")
        try await assertStillServes(port)
    }

    func testPingAndSettingsFloodsAreCutOff() async throws {
        let port = reservedPort()
        await apply(port: port, limits: HTTP2Limits(maxControlFrames: 20))
        for type in [H2TestClient.ping, H2TestClient.settings] {
            let c = try await h2(port)
            let payload = type == H2TestClient.ping ? ByteBuffer(bytes: [UInt8](repeating: 7, count: 8)) : ByteBuffer()
            try await c.sendBatch(Array(repeating: (type, UInt8(0), UInt32(0), payload), count: 50))
            let gotGoAway = try await c.wait { _ in c.goAway != nil }
            XCTAssertTrue(gotGoAway, "GOAWAY after a flood of frame type \(type)")
            XCTAssertEqual(c.goAway?.code, Self.enhanceYourCalm)
            await c.close()
        }
        try await assertStillServes(port)
    }

    func assertStillServes(_ port: Int) async throws {
        let c = try await h2(port)
        try await c.request(stream: 1, "/after")
        let after = try await c.response(1).body
        XCTAssertEqual(after, "s1 /after xff=127.0.0.1 xfp=https")
        await c.close()
    }

    // MARK: negotiation and lifecycle

    func testH2OnlyWhereEnabledAndHTTP11ClientsStillServed() async throws {
        let port = reservedPort()
        await apply(port: port, http2: false)
        let offered = try await TLSTestClient(group: clientGroup, port: port, serverName: "www.example") {
            $0.applicationProtocols = ["h2", "http/1.1"]
        }
        try await offered.handshake()
        let chosen = try await offered.negotiatedALPN()
        XCTAssertEqual(chosen, "http/1.1", "a port without enable_http2 does not offer h2")
        await offered.close()

        await apply(port: port, http2: true)
        let h1 = try await TLSTestClient(group: clientGroup, port: port, serverName: "www.example")
        let r = try await h1.get("/one")
        XCTAssertEqual(r.body, "s1 /one xff=127.0.0.1 xfp=https", "an HTTP/1.1-only client on an h2 port")
        await h1.close()
    }

    func testDrainingSendsGOAWAYAndFinishesOpenStreams() async throws {
        let port = reservedPort()
        await apply(port: port)
        let c = try await h2(port)
        try await c.request(stream: 1, "/slow")
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.activeConnections == 1 })
        let dp = dataPlane!
        let drain = Task { await dp.drain(serviceIDs: nil, timeout: .seconds(5)) }
        let gotGoAway = try await c.wait { _ in c.goAway != nil }
        XCTAssertTrue(gotGoAway, "GOAWAY when the service drains")
        let r = try await c.response(1)
        XCTAssertEqual(r.body, "s1 slow", "the open stream completes")
        let closed = try await c.waitForClose()
        XCTAssertTrue(closed, "then the connection closes")
        await drain.value
    }

    func testIdleConnectionsAreClosedGracefully() async throws {
        let port = reservedPort()
        let idle = Duration.milliseconds(600)
        await apply(port: port, idle: idle)
        let c = try await h2(port)
        try await c.request(stream: 1, "/a")
        _ = try await c.response(1)
        let started = Date()
        let gotGoAway = try await c.wait(timeout: 5) { _ in c.goAway != nil }
        XCTAssertTrue(gotGoAway, "GOAWAY once idle")
        XCTAssertEqual(c.goAway?.code, 0, "NO_ERROR")
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 0.5, "not before the idle timeout")
        let closed = try await c.waitForClose()
        XCTAssertTrue(closed)
    }
}
