import NIOCore
import NIOHTTP1
import NIOPosix
import SE
import StarlingHTTP
import XCTest

/// The client against a tiny NIO HTTP/1.1 server on 127.0.0.1 (loopback only, short deadlines).
final class HTTPClientTests: XCTestCase {
    private var server: ClientTestHTTPServer!

    override func setUp() async throws {
        server = try await ClientTestHTTPServer.start()
    }

    override func tearDown() async throws {
        try await server?.stop()
    }

    func testGetReturnsStatusHeadersAndBody() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)/")
        let response = try await client.request("GET", "/hello?x=1")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "hello GET /hello?x=1\n")
        XCTAssertEqual(response.header("content-type"), "text/plain")
        XCTAssertEqual(response.header("X-HOST"), "127.0.0.1:\(server.port)", "Host header sent")
        await client.shutdown()
    }

    func testPostSendsBodyAndHeaders() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        let response = try await client.request(
            "POST", "/echo", headers: [("X-Test", "yes"), ("Content-Type", "application/json")],
            body: Array(#"{"name":"p"}"#.utf8))
        XCTAssertEqual(response.status, 201)
        XCTAssertEqual(response.text, #"POST x-test=yes length=12 {"name":"p"}"#)
        let empty = try await client.request("POST", "/echo")
        XCTAssertEqual(empty.text, "POST x-test= length=0 ")
        await client.shutdown()
    }

    func testNotFoundIsAResponseNotAnError() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        let response = try await client.request("DELETE", "/nothing")
        XCTAssertEqual(response.status, 404)
        XCTAssertEqual(response.text, #"{"error": "no such path"}"#)
        await client.shutdown()
    }

    func testSetCookiesParsed() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        let response = try await client.request("POST", "/login")
        XCTAssertEqual(response.setCookies, ["sessionid": "abc123", "csrftoken": "tok=en"])
        await client.shutdown()
    }

    func testChunkedLargeBodyIsReassembled() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        let response = try await client.request("GET", "/big")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body.count, 100 * 10_000)
        XCTAssertEqual(response.body.first, UInt8(ascii: "0"))
        XCTAssertEqual(response.body.last, UInt8(ascii: "9"))
        await client.shutdown()
    }

    func testBodyOverTheLimitFails() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)", maxBodySize: 1000)
        do {
            _ = try await client.request("GET", "/big")
            XCTFail("a 1 MB body passed a 1000-byte limit")
        } catch let error as HTTPClientError {
            XCTAssertEqual(error.kind, .badResponse)
            XCTAssertTrue(error.description.contains("larger than 1000"), error.description)
        }
        await client.shutdown()
    }

    func testKeepAliveReusesTheConnection() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        let first = try await client.request("GET", "/hello")
        let second = try await client.request("GET", "/hello")
        XCTAssertEqual(first.header("X-Request-Number"), "1")
        XCTAssertEqual(second.header("X-Request-Number"), "2", "second request on the same connection")
        XCTAssertEqual(first.header("X-Client-Port"), second.header("X-Client-Port"))
        await client.shutdown()
    }

    func testConnectionCloseIsHonoured() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        let first = try await client.request("GET", "/close")
        XCTAssertEqual(first.status, 200)
        let second = try await client.request("GET", "/hello")
        XCTAssertEqual(second.header("X-Request-Number"), "1", "a new connection after Connection: close")
        await client.shutdown()
    }

    func testServerClosingAnIdleConnectionIsRetried() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        // The server answers without `Connection: close`, then drops the connection, as a server does when
        // an idle keep-alive connection times out; the client notices before or after sending the next one.
        let first = try await client.request("GET", "/drop")
        XCTAssertEqual(first.status, 200)
        let second = try await client.request("GET", "/hello")
        XCTAssertEqual(second.status, 200)
        XCTAssertEqual(second.header("X-Request-Number"), "1")
        await client.shutdown()
    }

    func testTimeoutWhenTheServerDoesNotAnswer() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        let start = ContinuousClock.now
        do {
            _ = try await client.request("GET", "/silent", timeout: .milliseconds(300))
            XCTFail("no timeout")
        } catch let error as HTTPClientError {
            XCTAssertEqual(error.kind, .timeout)
            XCTAssertTrue(error.description.contains("GET /silent"), error.description)
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertLessThan(elapsed, .seconds(3))
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(250))
        // The client still works afterwards.
        let ok = try await client.request("GET", "/hello")
        XCTAssertEqual(ok.status, 200)
        await client.shutdown()
    }

    func testConnectRefused() async throws {
        let port = try await ClientTestHTTPServer.unusedPort()
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(port)")
        do {
            _ = try await client.request("GET", "/")
            XCTFail("connected to a closed port")
        } catch let error as HTTPClientError {
            XCTAssertEqual(error.kind, .connectFailed)
            XCTAssertEqual(error.description, "cannot connect to 127.0.0.1:\(port): connection refused")
        }
    }

    func testServerClosingMidRequestIsAnError() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        do {
            _ = try await client.request("POST", "/hangup")
            XCTFail("no error when the server hangs up")
        } catch let error as HTTPClientError {
            XCTAssertEqual(error.kind, .connectionClosed)
            XCTAssertTrue(error.description.contains("POST /hangup"), error.description)
        }
    }

    func testGarbageResponseIsBadResponse() async throws {
        let raw = try await ClientTestHTTPServer.start(raw: "NOT HTTP AT ALL\r\n\r\n")
        defer { raw.channel.close(promise: nil) }
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(raw.port)")
        do {
            _ = try await client.request("GET", "/garbage")
            XCTFail("garbage accepted")
        } catch let error as HTTPClientError {
            XCTAssertEqual(error.kind, .badResponse, error.description)
        }
    }

    func testCancellationStopsALongPoll() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        let start = ContinuousClock.now
        let task = Task { try await client.request("GET", "/silent", timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("cancelled long poll returned")
        } catch let error as HTTPClientError {
            XCTAssertEqual(error.kind, .cancelled)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
    }

    func testBadURLs() {
        for url in [
            "127.0.0.1:80", "http://", "https://", "http://host:0", "http://host:99999", "http://h/api",
            "http://::1:80", "http://[::1", "ftp://x",
        ] {
            XCTAssertThrowsError(try HTTPClient(baseURL: url), url) { error in
                XCTAssertEqual((error as? HTTPClientError)?.kind, .badURL, url)
                XCTAssertTrue("\(error)".contains(url), "\(error)")
            }
        }
    }

    func testGoodURLs() throws {
        let v6 = try HTTPClient(baseURL: "http://[::1]:8443")
        XCTAssertEqual(v6.host, "::1")
        XCTAssertEqual(v6.port, 8443)
        let named = try HTTPClient(baseURL: "HTTP://controller.example/")
        XCTAssertEqual(named.host, "controller.example")
        XCTAssertEqual(named.port, 80)
    }

    func testBadPathIsRejectedBeforeSending() async throws {
        let client = try HTTPClient(baseURL: "http://127.0.0.1:\(server.port)")
        do {
            _ = try await client.request("GET", "api/pool")
            XCTFail("relative path accepted")
        } catch let error as HTTPClientError {
            XCTAssertEqual(error.kind, .badRequest)
        }
    }
}

/// A loopback HTTP/1.1 server with a few fixed behaviours, one per path.
final class ClientTestHTTPServer: Sendable {
    let channel: any Channel
    let port: Int

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    /// The HTTP server of ``TestHandler``, or (with `raw`) a server that answers any bytes with `raw`.
    static func start(raw: String? = nil) async throws -> ClientTestHTTPServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    if let raw {
                        try child.pipeline.syncOperations.addHandler(RawReplyHandler(reply: raw))
                    } else {
                        try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try child.pipeline.syncOperations.addHandler(TestHandler())
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ClientTestHTTPServer(channel: channel)
    }

    /// A port on 127.0.0.1 where nothing listens (bound, then closed).
    static func unusedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    func stop() async throws {
        try await channel.close()
    }
}

/// Answers whatever arrives with fixed bytes.
private final class RawReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let reply: String
    init(reply: String) { self.reply = reply }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: reply)), promise: nil)
    }
}

/// Serves the test paths; counts requests per connection (`X-Request-Number`).
private final class TestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var requests = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            requests += 1
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        var headers = HTTPHeaders([
            ("X-Request-Number", "\(requests)"),
            ("X-Client-Port", "\(context.remoteAddress?.port ?? 0)"),
            ("X-Host", head.headers.first(name: "Host") ?? ""),
        ])
        var status = HTTPResponseStatus.ok
        var text = ""
        var close = false
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        switch path {
        case "/hello":
            headers.add(name: "Content-Type", value: "text/plain")
            text = "hello \(head.method.rawValue) \(head.uri)\n"
        case "/echo":
            status = .created
            let test = head.headers.first(name: "X-Test") ?? ""
            let length = head.headers.first(name: "Content-Length") ?? "none"
            text = "\(head.method.rawValue) x-test=\(test) length=\(length) \(String(decoding: body, as: UTF8.self))"
        case "/login":
            headers.add(name: "Set-Cookie", value: "sessionid=abc123; Path=/; HttpOnly")
            headers.add(name: "Set-Cookie", value: "csrftoken=\"tok=en\"; Path=/")
            text = #"{"version": "1"}"#
        case "/close":
            headers.add(name: "Connection", value: "close")
            close = true
            text = "bye"
        case "/drop":
            close = true
            text = "dropping"
        case "/big":
            headers.add(name: "Transfer-Encoding", value: "chunked")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                promise: nil)
            for digit in 0..<10 {
                let chunk = [UInt8](repeating: UInt8(ascii: "0") + UInt8(digit), count: 100_000)
                context.write(
                    wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: chunk)))),
                    promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        case "/silent":
            return
        case "/hangup":
            context.close(promise: nil)
            return
        default:
            status = .notFound
            text = #"{"error": "no such path"}"#
        }
        headers.add(name: "Content-Length", value: "\(text.utf8.count)")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
