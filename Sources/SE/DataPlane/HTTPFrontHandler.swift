import NIOCore
import NIOHTTP1
import NIOPosix

/// The client side of the HTTP/1.1 reverse proxy, one per client connection, after NIOHTTP1's server
/// codec. Per request it picks a server, takes an idle keep-alive connection to it from the loop's pool
/// (or opens one, trying the next server on failure), forwards the head (hop-by-hop fields removed,
/// `X-Forwarded-For` appended, `X-Forwarded-Proto: http`) and streams both bodies as they come. It
/// answers itself with 400 (malformed), 408 (head too slow), 431 (head too big), 502 (server failed),
/// 503 (no server up) and 504 (server too slow), each with a short text body.
///
/// Requests are handled one at a time: after a request's end it stops reading until the response is
/// done; pipelined requests that were already decoded wait in `queue`. It reads from the client only
/// while the server connection is writable, and the server handler reads only while the client is
/// (backpressure). One timer per connection covers the header, keep-alive idle and server response
/// timeouts: a request only moves the deadline, it does not schedule anything.
final class HTTPFrontHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxConnectAttempts = 3

    private enum State {
        /// Waiting for a request head.
        case idle
        /// Connecting to a server for the current request; parts wait in `queue`.
        case connecting
        /// The request goes (or went) to `back`; waiting for or relaying the response.
        case forwarding
        /// A local response was sent before the request's end: dropping the rest of the request.
        case discarding
        case closed
    }

    private enum TimerKind {
        case none, header, idle, response
    }

    private let service: LoopService
    private var context: ChannelHandlerContext?
    private var state = State.idle
    private var back: HTTPBackHandler?
    private var server: LoopServer?
    private var queue = CircularBuffer<HTTPServerRequestPart>(initialCapacity: 4)

    // The current exchange.
    private var requestHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
    private var requestDone = false
    private var responseStarted = false
    private var keepAlive = true
    private var clientVersion = HTTPVersion.http1_1
    private var sawBody = false
    private var reused = false
    private var resendEnd = false
    private var tried = ExcludedServers()
    private var attempts = 0
    private var requestStart = NIODeadline.uptimeNanoseconds(0)

    // Connection.
    private var clientIP = ""
    private var draining = false
    private var pendingRead = false
    private var needsServerFlush = false

    // Timer.
    private var timerKind = TimerKind.none
    private var deadline = NIODeadline.distantFuture
    private var timer: Scheduled<Void>?
    private var timerAt = NIODeadline.distantFuture

    init(service: LoopService) {
        self.service = service
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        clientIP = context.channel.remoteAddress?.ipAddress ?? ""
        service.register(self)
        arm(.header, after: service.requestHeaderTimeout)
        context.fireChannelActive()
    }

    // MARK: request in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receive(unwrapInboundIn(data))
    }

    /// One request part from the decoder (`queued`: taken from the front of `queue`, so the parts still in
    /// the queue are after it).
    private func receive(_ part: HTTPServerRequestPart, queued: Bool = false) {
        let inOrder = queued || queue.isEmpty
        switch part {
        case .head(let head):
            if state == .idle && inOrder {
                startRequest(head)
            } else {
                queue.append(part)
            }
        case .body(let body):
            LoopStats.add(service.stats.bytesIn, body.readableBytes)
            switch state {
            case .forwarding where !requestDone && inOrder:
                sawBody = true
                back?.write(.body(.byteBuffer(body)))
                needsServerFlush = true
            case .discarding:
                break
            default:
                queue.append(part)
            }
        case .end:
            switch state {
            case .forwarding where !requestDone && inOrder:
                requestDone = true
                back?.write(.end(nil))
                needsServerFlush = true
            case .discarding:
                requestDone = true
                finishExchange()
            default:
                queue.append(part)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsServerFlush {
            needsServerFlush = false
            back?.flush()
        }
        context.fireChannelReadComplete()
    }

    private func startRequest(_ head: HTTPRequestHead) {
        LoopStats.add(service.stats.requests, 1)
        requestStart = context?.eventLoop.now ?? .now()
        clientVersion = head.version
        keepAlive = head.isKeepAlive && !draining
        requestDone = false
        responseStarted = false
        sawBody = false
        resendEnd = false
        attempts = 0
        tried = ExcludedServers()
        timerKind = .none

        var h = head
        Self.prepareRequest(&h, clientIP: clientIP)
        requestHead = h
        forwardToNextServer()
    }

    /// Removes hop-by-hop fields, appends the client to `X-Forwarded-For`, sets `X-Forwarded-Proto` and
    /// speaks HTTP/1.1 (keep-alive) to the server.
    static func prepareRequest(_ h: inout HTTPRequestHead, clientIP: String) {
        removeHopByHop(&h.headers, keepChunked: true)
        if let xff = h.headers.first(name: "x-forwarded-for") {
            h.headers.replaceOrAdd(name: "X-Forwarded-For", value: xff + ", " + clientIP)
        } else {
            h.headers.add(name: "X-Forwarded-For", value: clientIP)
        }
        h.headers.replaceOrAdd(name: "X-Forwarded-Proto", value: "http")
        h.version = .http1_1
    }

    /// RFC 9110 §7.6.1: a proxy removes the fields named in `Connection` and the connection-specific
    /// fields. `Transfer-Encoding` is re-framed by the encoder; a chunked request stays chunked.
    static func removeHopByHop(_ headers: inout HTTPHeaders, keepChunked: Bool) {
        // One pass to see which are there (the usual case is `Connection: keep-alive` alone), then remove
        // only those.
        var present: HopByHop = []
        var connectionNames: [Substring] = []
        for (name, value) in headers {
            let kind = HopByHop(name: name)
            guard !kind.isEmpty else { continue }
            present.insert(kind)
            if kind == .connection {
                for token in value.split(separator: ",") {
                    let t = token.trimmingASCIISpaces()
                    if !t.isEmpty && !asciiEqual(t, "keep-alive") && !asciiEqual(t, "close") {
                        connectionNames.append(t)
                    }
                }
            }
        }
        guard !present.isEmpty else { return }
        for name in connectionNames { headers.remove(name: String(name)) }
        for (kind, name) in HopByHop.names where present.contains(kind) { headers.remove(name: name) }
        if keepChunked && present.contains(.transferEncoding) {
            headers.add(name: "Transfer-Encoding", value: "chunked")
        }
    }

    /// The connection-specific fields (RFC 9110 §7.6.1, plus `Keep-Alive` and `Proxy-Connection`).
    struct HopByHop: OptionSet {
        let rawValue: UInt8
        static let connection = HopByHop(rawValue: 1)
        static let keepAlive = HopByHop(rawValue: 2)
        static let proxyConnection = HopByHop(rawValue: 4)
        static let te = HopByHop(rawValue: 8)
        static let trailer = HopByHop(rawValue: 16)
        static let transferEncoding = HopByHop(rawValue: 32)
        static let upgrade = HopByHop(rawValue: 64)

        static let names: [(HopByHop, String)] = [
            (.connection, "connection"), (.keepAlive, "keep-alive"), (.proxyConnection, "proxy-connection"),
            (.te, "te"), (.trailer, "trailer"), (.transferEncoding, "transfer-encoding"), (.upgrade, "upgrade"),
        ]

        init(rawValue: UInt8) { self.rawValue = rawValue }

        /// The kind of a field name (empty when it is end-to-end), without allocating.
        init(name: String) {
            switch name.utf8.count {
            case 2: self = asciiEqual(name, "te") ? .te : []
            case 7: self = asciiEqual(name, "trailer") ? .trailer : asciiEqual(name, "upgrade") ? .upgrade : []
            case 10:
                self = asciiEqual(name, "connection") ? .connection : asciiEqual(name, "keep-alive") ? .keepAlive : []
            case 16: self = asciiEqual(name, "proxy-connection") ? .proxyConnection : []
            case 17: self = asciiEqual(name, "transfer-encoding") ? .transferEncoding : []
            default: self = []
            }
        }
    }

    // MARK: choosing and reaching a server

    private func forwardToNextServer() {
        guard attempts < Self.maxConnectAttempts else {
            sendLocal(.badGateway, "502 Bad Gateway: no server accepted the connection\n")
            return
        }
        guard let server = service.pick(excluding: tried) else {
            if attempts == 0 {
                sendLocal(.serviceUnavailable, "503 Service Unavailable: no server is up\n")
            } else {
                sendLocal(.badGateway, "502 Bad Gateway: no server accepted the connection\n")
            }
            return
        }
        attempts += 1
        tried.insert(server.index)
        self.server = server
        if let conn = server.idle.popLast() {
            reused = true
            conn.attach(self)
            back = conn
            state = .forwarding
            sendHeadAndQueuedBody()
            return
        }
        reused = false
        connect(to: server)
    }

    private func connect(to server: LoopServer) {
        guard let address = server.address, let context else {
            serverUnreachable("no address")
            return
        }
        state = .connecting
        let handler = HTTPBackHandler(server: server, service: service)
        let loop = context.eventLoop
        let boundHandler = NIOLoopBound(handler, eventLoop: loop)
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(service.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    // 1xx (100 Continue) is passed on to the client; the decoder watches the request
                    // heads going out so that it knows a HEAD response has no body.
                    try channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder())
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(HTTPResponseDecoder(informationalResponseStrategy: .forward)))
                    try channel.pipeline.syncOperations.addHandler(boundHandler.value)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        if let source = service.source(for: address) { bootstrap = bootstrap.bind(to: source) }
        let me = NIOLoopBound(self, eventLoop: loop)
        let boundServer = NIOLoopBound(server, eventLoop: loop)
        bootstrap.connect(to: address).hop(to: loop).whenComplete { result in
            let front = me.value
            let server = boundServer.value
            switch result {
            case .success(let channel):
                guard front.state == .connecting, front.server === server else {
                    channel.close(promise: nil)
                    return
                }
                if boundHandler.value.closed {
                    front.serverUnreachable("closed at once")
                    return
                }
                boundHandler.value.attach(front)
                front.back = boundHandler.value
                front.state = .forwarding
                front.sendHeadAndQueuedBody()
            case .failure(let error):
                guard front.state == .connecting, front.server === server else { return }
                front.serverUnreachable("\(error)")
            }
        }
    }

    /// Connecting to the current server failed: try the next one.
    private func serverUnreachable(_ reason: String) {
        if let server {
            service.logger.debug(
                "HTTP: cannot reach server",
                metadata: ["se.vs": "\(service.name)", "se.server": "\(server.key)", "error": "\(reason)"])
            service.release(server)
        }
        server = nil
        back = nil
        forwardToNextServer()
    }

    private func sendHeadAndQueuedBody() {
        guard let back else { return }
        back.write(.head(requestHead))
        if resendEnd {
            // A retry of a request without body that had already ended.
            resendEnd = false
            back.write(.end(nil))
        }
        // Parts of this request that arrived while connecting; stop at the next request's head.
        while let part = queue.first {
            if case .head = part { break }
            queue.removeFirst()
            switch part {
            case .body(let b):
                sawBody = true
                back.write(.body(.byteBuffer(b)))
            case .end:
                requestDone = true
                back.write(.end(nil))
            case .head:
                break
            }
        }
        back.flush()
        arm(.response, after: service.serverResponseTimeout)
        maybeRead()
    }

    // MARK: response out (called by HTTPBackHandler)

    var clientWritable: Bool { context?.channel.isWritable ?? false }

    func responseHead(_ head: HTTPResponseHead) {
        guard state == .forwarding, let context else { return }
        if head.status.code < 200 {
            // Informational (100 Continue): pass it on; the final response follows.
            var h = head
            h.version = clientVersion.minor == 0 ? .http1_0 : .http1_1
            context.writeAndFlush(wrapOutboundOut(.head(h)), promise: nil)
            return
        }
        responseStarted = true
        // From here on, a response that stalls for the idle timeout ends the connection.
        arm(.idle, after: service.idleTimeout)
        var h = head
        Self.removeHopByHop(&h.headers, keepChunked: false)
        if clientVersion.major == 1 && clientVersion.minor == 0 {
            h.version = .http1_0
            // An HTTP/1.0 client can only keep the connection when the length is known.
            if keepAlive && !h.headers.contains(name: "content-length") { keepAlive = false }
            if keepAlive { h.headers.add(name: "Connection", value: "keep-alive") }
        } else {
            h.version = .http1_1
            if !keepAlive { h.headers.add(name: "Connection", value: "close") }
        }
        let code = Int(h.status.code)
        service.stats.response(code)
        context.write(wrapOutboundOut(.head(h)), promise: nil)
    }

    func responseBody(_ body: ByteBuffer) {
        guard state == .forwarding, let context else { return }
        LoopStats.add(service.stats.bytesOut, body.readableBytes)
        deadline = context.eventLoop.now + service.idleTimeout
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
    }

    func responseFlush() {
        context?.flush()
    }

    func responseEnd(_ trailers: HTTPHeaders?, serverKeepAlive: Bool) {
        guard state == .forwarding, let context else { return }
        service.metrics.latency.recordNanoseconds(
            Int64(context.eventLoop.now.uptimeNanoseconds &- requestStart.uptimeNanoseconds))
        if let server { service.release(server) }
        server = nil
        let conn = back
        back = nil
        conn?.release(reusable: serverKeepAlive && requestDone)
        // The server answered before the request ended: the rest of it cannot be told apart from the
        // next request, so close after this response.
        if !requestDone { keepAlive = false }
        if keepAlive {
            context.write(wrapOutboundOut(.end(trailers)), promise: nil)
            context.flush()
        } else {
            writeEndAndClose(trailers)
        }
        finishExchange()
    }

    /// The server connection closed before the response ended.
    func serverLost(_ conn: HTTPBackHandler) {
        guard conn === back else { return }
        back = nil
        serverFailed(reason: "server closed the connection")
    }

    /// The server connection failed (bad response, I/O error).
    func serverFailed(_ conn: HTTPBackHandler, reason: String) {
        guard conn === back else { return }
        back = nil
        conn.closeNow()
        serverFailed(reason: reason)
    }

    private func serverFailed(reason: String) {
        guard state == .forwarding else { return }
        if !responseStarted && reused && !sawBody && requestDone && attempts < Self.maxConnectAttempts,
            let server
        {
            // A kept-alive connection the server closed as we sent the request (it had not seen it): send
            // it again to the same server on a new connection.
            attempts += 1
            reused = false
            resendEnd = true
            connect(to: server)
            return
        }
        if let server { service.release(server) }
        server = nil
        if responseStarted {
            // Part of the response is out: the client can only learn of the failure by the close.
            context?.close(promise: nil)
            return
        }
        service.logger.debug(
            "HTTP: bad or no response from server", metadata: ["se.vs": "\(service.name)", "error": "\(reason)"])
        sendLocal(.badGateway, "502 Bad Gateway: the server did not send a valid response\n")
    }

    func serverBecameWritable() {
        maybeRead()
    }

    // MARK: local responses

    private func sendLocal(_ status: HTTPResponseStatus, _ text: String, close: Bool = false) {
        guard let context, state != .closed else { return }
        if let back {
            self.back = nil
            back.closeNow()
        }
        if let server {
            service.release(server)
            self.server = nil
        }
        if close { keepAlive = false }
        var head = HTTPResponseHead(version: clientVersion.minor == 0 ? .http1_0 : .http1_1, status: status)
        var body = context.channel.allocator.buffer(capacity: text.utf8.count)
        body.writeString(text)
        head.headers.add(name: "Content-Type", value: "text/plain")
        head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        head.headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let code = Int(status.code)
        service.stats.response(code)
        responseStarted = true
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if !keepAlive {
            writeEndAndClose(nil)
            state = .closed
            return
        }
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        context.flush()
        if requestDone {
            finishExchange()
        } else {
            state = .discarding
            // The rest of the request must come within the idle timeout.
            arm(.idle, after: service.idleTimeout)
            replayQueue()
            maybeRead()
        }
    }

    private func writeEndAndClose(_ trailers: HTTPHeaders?) {
        guard let context else { return }
        let channel = context.channel
        state = .closed
        context.writeAndFlush(wrapOutboundOut(.end(trailers))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// The exchange is over: wait for the next request (or close when we must).
    private func finishExchange() {
        guard state != .closed else { return }
        if !keepAlive || draining {
            state = .closed
            context?.close(promise: nil)
            return
        }
        state = .idle
        arm(.idle, after: service.idleTimeout)
        replayQueue()
        if needsServerFlush {
            needsServerFlush = false
            back?.flush()
        }
        maybeRead()
    }

    /// Handles the queued parts that can be handled now: the rest of a request whose answer is already
    /// out, requests the client pipelined while the previous one ran.
    private func replayQueue() {
        while let part = queue.first, canTakeQueued(part) {
            queue.removeFirst()
            receive(part, queued: true)
        }
    }

    /// Whether a part at the front of `queue` can be handled now.
    private func canTakeQueued(_ part: HTTPServerRequestPart) -> Bool {
        switch part {
        case .head: state == .idle
        case .body, .end: (state == .forwarding && !requestDone) || state == .discarding
        }
    }

    // MARK: reading (backpressure and one request at a time)

    func read(context: ChannelHandlerContext) {
        if canRead {
            context.read()
        } else {
            pendingRead = true
        }
    }

    /// Reading goes on while a request waits for its server or its response (pausing and resuming costs
    /// two `epoll_ctl` calls per request); only a backlog of pipelined or early parts, or a server
    /// connection that cannot take more, stops it.
    private var canRead: Bool {
        switch state {
        case .idle, .discarding: return true
        case .closed: return false
        case .connecting: return queue.count < Self.maxQueuedParts
        case .forwarding:
            if requestDone { return queue.count < Self.maxQueuedParts }
            return back?.isWritable ?? false
        }
    }

    /// Most request parts kept while a request waits for its server or the previous response.
    static let maxQueuedParts = 16

    private func maybeRead() {
        guard pendingRead, canRead, let context else { return }
        pendingRead = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { back?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: timer

    private func arm(_ kind: TimerKind, after: TimeAmount) {
        timerKind = kind
        deadline = (context?.eventLoop.now ?? .now()) + after
        if timer == nil || timerAt > deadline { schedule(at: deadline) }
    }

    private func schedule(at when: NIODeadline) {
        guard let context else { return }
        timer?.cancel()
        timerAt = when
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: when) { me.value.timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerAt = .distantFuture
        guard state != .closed, timerKind != .none else { return }
        if let context, context.eventLoop.now < deadline {
            schedule(at: deadline)
            return
        }
        switch timerKind {
        case .none:
            break
        case .header:
            keepAlive = false
            sendLocal(.requestTimeout, "408 Request Timeout: the request head did not arrive in time\n", close: true)
        case .idle:
            state = .closed
            context?.close(promise: nil)
        case .response:
            service.logger.debug("HTTP: server response timeout", metadata: ["se.vs": "\(service.name)"])
            keepAlive = false
            sendLocal(.gatewayTimeout, "504 Gateway Timeout: the server did not answer in time\n", close: true)
        }
    }

    // MARK: errors and close

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? HTTPParserError, state != .closed, !responseStarted || state == .idle {
            keepAlive = false
            if case .headerOverflow = parseError {
                sendLocal(
                    .init(statusCode: 431, reasonPhrase: "Request Header Fields Too Large"),
                    "431 Request Header Fields Too Large\n", close: true)
            } else {
                sendLocal(.badRequest, "400 Bad Request: malformed request\n", close: true)
            }
            return
        }
        service.logger.debug(
            "HTTP: client connection error", metadata: ["se.vs": "\(service.name)", "error": "\(error)"])
        state = .closed
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        timer?.cancel()
        timer = nil
        if let back {
            self.back = nil
            back.closeNow()
        }
        if let server {
            service.release(server)
            self.server = nil
        }
        queue.removeAll()
        service.unregister(self)
        context.fireChannelInactive()
    }
}

extension HTTPFrontHandler: ClientConnection {
    func startDraining() {
        draining = true
        keepAlive = false
        if state == .idle && queue.isEmpty {
            state = .closed
            context?.close(promise: nil)
        }
    }

    func forceClose() {
        context?.close(promise: nil)
    }
}

/// ASCII case-insensitive equality with a lowercase literal, without allocating.
@inline(__always)
func asciiEqual<S: StringProtocol>(_ a: S, _ lower: StaticString) -> Bool {
    let au = a.utf8
    guard au.count == lower.utf8CodeUnitCount else { return false }
    return lower.withUTF8Buffer { l in
        var i = 0
        for c in au {
            let folded = c >= 65 && c <= 90 ? c | 0x20 : c
            if folded != l[i] { return false }
            i += 1
        }
        return true
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    fileprivate func trimmingASCIISpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
