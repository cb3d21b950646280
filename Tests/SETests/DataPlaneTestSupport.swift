import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking TCP client with a receive deadline, for asserting exact bytes.
final class RawClient {
    let fd: Int32
    var buffer: [UInt8] = []

    init(port: Int, host: String = "127.0.0.1", timeout: Double = 5) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc: Int32
        if v6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            inet_pton(AF_INET6, host, &addr.sin6_addr)
            addr.sin6_port = UInt16(port).bigEndian
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr(host)
            addr.sin_port = UInt16(port).bigEndian
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        if rc != 0 {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads more bytes; false on EOF, error or timeout.
    @discardableResult
    func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return false }
        buffer += chunk[0..<n]
        return true
    }

    /// Everything until the peer closes (or the timeout).
    func readToEnd() -> String {
        while fill() {}
        defer { buffer = [] }
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Whether the peer closed the connection (EOF within the timeout).
    func isClosedByPeer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n == 0
    }

    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: String
        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// Reads one HTTP response (Content-Length, chunked, or until close).
    func readResponse(toHEAD: Bool = false) -> Response? {
        var headEnd: Int?
        while headEnd == nil {
            if let r = find([13, 10, 13, 10]) { headEnd = r } else if !fill() { return nil }
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers = lines.map { line -> (String, String) in
            let p = line.split(separator: ":", maxSplits: 1)
            return (String(p[0]), p.count > 1 ? p[1].trimmingCharacters(in: .whitespaces) : "")
        }
        var r = Response(status: status, headers: headers, body: "")
        if toHEAD {
            return r
        } else if let cl = r.header("content-length"), let n = Int(cl) {
            while buffer.count < n { if !fill() { return nil } }
            r.body = String(decoding: buffer[0..<n], as: UTF8.self)
            buffer.removeFirst(n)
        } else if r.header("transfer-encoding")?.lowercased() == "chunked" {
            var body: [UInt8] = []
            while true {
                var lineEnd = find([13, 10])
                while lineEnd == nil {
                    if !fill() { return nil }
                    lineEnd = find([13, 10])
                }
                let sizeText = String(decoding: buffer[0..<lineEnd!], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else { return nil }
                buffer.removeFirst(lineEnd! + 2)
                while buffer.count < size + 2 { if !fill() { return nil } }
                body += buffer[0..<size]
                buffer.removeFirst(size + 2)
                if size == 0 { break }
            }
            r.body = String(decoding: body, as: UTF8.self)
        } else if status == 204 || status == 304 || status < 200 {
        } else {
            while fill() {}
            r.body = String(decoding: buffer, as: UTF8.self)
            buffer = []
        }
        return r
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for i in 0...(buffer.count - pattern.count) where buffer[i..<(i + pattern.count)].elementsEqual(pattern) {
            return i
        }
        return nil
    }
}

/// A small HTTP pool server for the tests.
///
/// - `GET /...`: 200, body `<name> <uri> xff=<X-Forwarded-For> xfp=<X-Forwarded-Proto>`
/// - `/chunked`: 200 with a chunked body of three parts
/// - `/hang`: never answers
/// - `/drop-once`: the first time, closes the connection without an answer
/// - `/slow`: answers after 300 ms
/// - `/status/NNN`: answers NNN
/// - `/headers`: the request line and header fields it received, one per line
/// - `POST`: echoes the request body (chunked back when the request was chunked); answers
///   `Expect: 100-continue` with 100 first
final class TestHTTPServer {
    let name: String
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }
    var health: NIOLockedHealth

    /// `tls`: serve HTTPS with this context (a pool server the SE re-encrypts to).
    init(
        name: String, group: any EventLoopGroup, port: Int = 0, host: String = "127.0.0.1", tls: NIOSSLContext? = nil
    ) throws {
        self.name = name
        let health = NIOLockedHealth()
        self.health = health
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    health.countConnection()
                    if let tls { try ch.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline()
                    try ch.pipeline.syncOperations.addHandler(Handler(name: name, health: health))
                }
            }
            .bind(host: host, port: port).wait()
    }

    func stop() { try? channel.close().wait() }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let name: String
        let health: NIOLockedHealth
        var head: HTTPRequestHead?
        var body = ByteBuffer()
        init(name: String, health: NIOLockedHealth) {
            self.name = name
            self.health = health
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body.clear()
                if h.headers["expect"].first?.lowercased() == "100-continue" {
                    context.writeAndFlush(
                        wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
                }
            case .body(var b):
                body.writeBuffer(&b)
            case .end:
                guard let head else { return }
                respond(context: context, head: head)
            }
        }

        func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
            let uri = head.uri
            health.countRequest()
            if uri == "/hang" { return }
            if uri == "/headers" {
                // The request head as the server got it: "name: value" lines in order.
                let text = ([head.method.rawValue + " " + uri] + head.headers.map { "\($0.name): \($0.value)" })
                    .joined(separator: "\n")
                send(context, status: .ok, text: text, keepAlive: head.isKeepAlive)
                return
            }
            if uri == "/drop-once", health.takeDrop() {
                context.close(promise: nil)
                return
            }
            if uri == "/health" {
                let code = health.code
                send(context, status: .init(statusCode: code), text: "health \(code)", keepAlive: head.isKeepAlive)
                return
            }
            if uri.hasPrefix("/status/"), let code = Int(uri.dropFirst(8)) {
                send(context, status: .init(statusCode: code), text: "status \(code)", keepAlive: head.isKeepAlive)
                return
            }
            if uri == "/slow" {
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(300)) {
                    let (me, ctx) = bound.value
                    me.send(ctx, status: .ok, text: "\(me.name) slow", keepAlive: head.isKeepAlive)
                }
                return
            }
            if uri == "/until-close" {
                // An HTTP/1.0 response without length: the body ends when the server closes.
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_0, status: .ok))), promise: nil)
                context.writeAndFlush(
                    wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "no length, ")))), promise: nil)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ends at the close")))))
                    .whenComplete { _ in channel.close(promise: nil) }
                return
            }
            if uri == "/chunked" {
                var h = HTTPResponseHead(version: .http1_1, status: .ok)
                h.headers.add(name: "Transfer-Encoding", value: "chunked")
                context.write(wrapOutboundOut(.head(h)), promise: nil)
                for part in ["alpha-", "beta-", "gamma"] {
                    context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: part))))).whenComplete {
                        _ in
                    }
                }
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            if head.method == .POST {
                var h = HTTPResponseHead(version: .http1_1, status: .ok)
                if head.headers["transfer-encoding"].first == "chunked" {
                    h.headers.add(name: "Transfer-Encoding", value: "chunked")
                    context.write(wrapOutboundOut(.head(h)), promise: nil)
                    context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
                } else {
                    h.headers.add(name: "Content-Length", value: "\(body.readableBytes)")
                    context.write(wrapOutboundOut(.head(h)), promise: nil)
                    context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
                }
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let xff = head.headers["x-forwarded-for"].joined(separator: "|")
            let xfp = head.headers["x-forwarded-proto"].joined(separator: "|")
            send(context, status: .ok, text: "\(name) \(uri) xff=\(xff) xfp=\(xfp)", keepAlive: head.isKeepAlive)
        }

        func send(_ context: ChannelHandlerContext, status: HTTPResponseStatus, text: String, keepAlive: Bool) {
            var h = HTTPResponseHead(version: .http1_1, status: status)
            h.headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            if !keepAlive { h.headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(h)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}

/// The status code `/health` answers with, settable from the test thread.
final class NIOLockedHealth: @unchecked Sendable {
    private let lock = NSLock()
    private var _code = 200
    private var dropped = false
    private var _requests = 0
    private var _connections = 0
    /// Connections the server has accepted.
    var connections: Int { lock.withLock { _connections } }
    func countConnection() { lock.withLock { _connections += 1 } }
    /// Requests the server has seen.
    var requests: Int { lock.withLock { _requests } }
    func countRequest() { lock.withLock { _requests += 1 } }
    /// True the first time: `/drop-once` closes the connection without an answer once.
    func takeDrop() -> Bool {
        lock.withLock {
            defer { dropped = true }
            return !dropped
        }
    }
    var code: Int {
        get { lock.withLock { _code } }
        set { lock.withLock { _code = newValue } }
    }
}

/// A TCP echo server that, after the client's FIN, sends `reply` and closes.
final class TestEchoServer {
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    init(group: any EventLoopGroup, reply: String) throws {
        channel = try ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(Handler(reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    func stop() { try? channel.close().wait() }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let reply: String
        init(reply: String) { self.reply = reply }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(data, promise: nil)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let e = event as? ChannelEvent, e == .inputClosed {
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply))).whenComplete { _ in
                    channel.close(promise: nil)
                }
            }
        }
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes (loopback tests only).
func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}
