import NIOCore
import NIOPosix
import StarlingModel

/// A request as the client handler sees it: the head, body bytes (as framed on the wire), the end.
enum HTTPRequestPart {
    case head(HTTPHead)
    case body(ByteBuffer)
    case end
}

/// The client side of the HTTP/1.1 reverse proxy, one per client connection, reading the client's bytes
/// with `HTTPCodec` (no NIOHTTP1: heads are rewritten from their bytes, bodies pass through as slices).
/// Per request it picks a server, takes an idle keep-alive connection to it from the loop's pool
/// (or opens one, trying the next server on failure), forwards the head (hop-by-hop fields removed,
/// `X-Forwarded-For` appended, `X-Forwarded-Proto: http` or `https`) and streams both bodies as they come. It
/// answers itself with 400 (malformed), 408 (head too slow), 431 (head too big), 502 (server failed),
/// 503 (no server up) and 504 (server too slow), each with a short text body.
///
/// Requests are handled one at a time: after a request's end it stops reading until the response is
/// done; pipelined requests that were already decoded wait in `queue`. It reads from the client only
/// while the server connection is writable, and the server handler reads only while the client is
/// (backpressure). One timer per connection covers the header, keep-alive idle and server response
/// timeouts: a request only moves the deadline, it does not schedule anything.
final class HTTPFrontHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

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
    private var queue = CircularBuffer<HTTPRequestPart>(initialCapacity: 4)

    // Reading requests.
    private enum Reading {
        case head
        case body(HTTPBodyReader)
        case failed
    }
    private var reading = Reading.head
    /// Bytes of a head not complete yet.
    private var pending: ByteBuffer?
    private var headScanned = 0

    // The current exchange.
    /// The head for the server.
    private var requestHead = ByteBuffer()
    private var requestIsHEAD = false
    private var requestDone = false
    private var responseStarted = false
    private var keepAlive = true
    /// The client's HTTP/1.x minor version.
    private(set) var clientMinor: UInt8 = 1
    private var sawBody = false
    private var reused = false
    private var tried = ExcludedServers()
    private var attempts = 0
    private var requestStart = NIODeadline.uptimeNanoseconds(0)

    // Connection.
    private var clientIP = ""
    private var clientPort = 0
    /// The current request's head, kept for its log entry (nil between requests), and what went back.
    private var logHead: HTTPHead?
    private var responseStatus = 0
    private var responseBytes = 0
    private var draining = false
    private var pendingRead = false
    private var needsServerFlush = false

    // Timer.
    private var timerKind = TimerKind.none
    private var deadline = NIODeadline.distantFuture
    private var timer: Scheduled<Void>?
    private var timerAt = NIODeadline.distantFuture

    /// The connection came through TLS termination.
    private let tls: Bool
    /// `Strict-Transport-Security: ...\r\n` for responses on a TLS connection, else empty.
    private let extraResponseFields: String

    init(service: LoopService, tls: Bool = false) {
        self.service = service
        self.tls = tls
        self.extraResponseFields = tls ? service.hsts.map { "Strict-Transport-Security: \($0)\r\n" } ?? "" : ""
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Behind TLS the handler is added once the handshake is done: the connection is already active.
        if context.channel.isActive { activate(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        activate(context)
        context.fireChannelActive()
    }

    private var activated = false

    private func activate(_ context: ChannelHandlerContext) {
        guard !activated else { return }
        activated = true
        clientIP = context.channel.remoteAddress?.ipAddress ?? ""
        clientPort = context.channel.remoteAddress?.port ?? 0
        service.register(self)
        arm(.header, after: service.requestHeaderTimeout)
    }

    // MARK: request in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var p = pending {
            pending = nil
            p.writeBuffer(&buffer)
            buffer = p
        }
        decode(&buffer)
    }

    /// Cuts the client's bytes into request parts.
    private func decode(_ buffer: inout ByteBuffer) {
        while state != .closed {
            switch reading {
            case .failed:
                return
            case .head:
                guard buffer.readableBytes > 0 else { return }
                let head: HTTPHead?
                do {
                    head = try HTTPHeadParser.parse(
                        &buffer, isRequest: true, limit: service.limits.maxHeaderBytes, scanned: &headScanned)
                } catch {
                    reading = .failed
                    requestRefused(error)
                    return
                }
                guard let head else {
                    pending = buffer
                    return
                }
                let framing = requestFraming(head.info)
                if framing == .none {
                    receive(.head(head))
                    receive(.end)
                } else {
                    reading = .body(HTTPBodyReader(framing))
                    receive(.head(head))
                }
            case .body(var reader):
                let body: ByteBuffer?
                let ended: Bool
                do {
                    (body, ended) = try reader.read(&buffer)
                } catch {
                    reading = .failed
                    requestRefused(error)
                    return
                }
                reading = ended ? .head : .body(reader)
                if let body { receive(.body(body)) }
                if ended {
                    receive(.end)
                } else if body == nil {
                    return
                }
            }
        }
    }

    /// One request part (`queued`: taken from the front of `queue`, so the parts still in the queue are
    /// after it).
    private func receive(_ part: HTTPRequestPart, queued: Bool = false) {
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
                back?.write(body)
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

    private func startRequest(_ head: HTTPHead) {
        LoopStats.add(service.stats.requests, 1)
        requestStart = context?.eventLoop.now ?? .now()
        logHead = head
        responseStatus = 0
        responseBytes = 0
        clientMinor = head.info.minorVersion
        keepAlive = head.info.keepAlive && !draining
        requestIsHEAD = head.info.isHEAD
        requestDone = false
        responseStarted = false
        sawBody = false
        attempts = 0
        tried = ExcludedServers()
        timerKind = .none
        if !tls, let port = service.httpsRedirectPort {
            let location = Self.httpsLocation(head, port: port)
            sendLocal(301, "Moved Permanently", "\(location)\n", extraFields: "Location: \(location)\r\n")
            return
        }
        requestHead = HTTPHeadWriter.request(
            head, clientIP: clientIP, https: tls, allocator: context?.channel.allocator ?? ByteBufferAllocator())
        forwardToNextServer()
    }

    // MARK: choosing and reaching a server

    private func forwardToNextServer() {
        guard attempts < Self.maxConnectAttempts else {
            sendLocal(502, "Bad Gateway", "502 Bad Gateway: no server accepted the connection\n")
            return
        }
        guard let server = service.pick(excluding: tried) else {
            if attempts == 0 {
                sendLocal(503, "Service Unavailable", "503 Service Unavailable: no server is up\n")
            } else {
                sendLocal(502, "Bad Gateway", "502 Bad Gateway: no server accepted the connection\n")
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
        guard let context else { return }
        state = .connecting
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        HTTPBackHandler.open(to: server, service: service, on: context.eventLoop) { result in
            let front = me.value
            let wanted = front.state == .connecting && front.server === server
            switch result {
            case .success(let conn):
                guard wanted else {
                    conn.closeNow()
                    return
                }
                if let stats = server.stats { LoopStats.add(stats.connections, 1) }
                conn.attach(front)
                front.back = conn
                front.state = .forwarding
                front.sendHeadAndQueuedBody()
            case .failure(let error):
                if wanted { front.serverUnreachable("\(error)") }
            }
        }
    }

    /// Connecting to the current server failed: try the next one.
    private func serverUnreachable(_ reason: String) {
        if let server {
            if let stats = server.stats { LoopStats.add(stats.failures, 1) }
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
        back.expect(requestWasHEAD: requestIsHEAD, dechunk: clientMinor == 0)
        back.write(requestHead)
        // Parts of this request that arrived while connecting; stop at the next request's head.
        while let part = queue.first {
            if case .head = part { break }
            queue.removeFirst()
            switch part {
            case .body(let b):
                sawBody = true
                back.write(b)
            case .end:
                requestDone = true
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

    /// A response head from the server; `framing`: how its body is delimited.
    func responseHead(_ head: HTTPHead, framing: HTTPBodyFraming) {
        guard state == .forwarding, let context else { return }
        if head.info.status < 200 {
            // Informational (100 Continue): pass it on; the final response follows.
            let out = HTTPHeadWriter.response(
                head, clientMinor: clientMinor, keepAlive: true, keepTransferEncoding: true,
                allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            return
        }
        responseStarted = true
        responseStatus = head.info.status
        // From here on, a response that stalls for the idle timeout ends the connection.
        arm(.idle, after: service.idleTimeout)
        // A body that ends at the close cannot be followed by another response; an HTTP/1.0 client can
        // only keep the connection when the length is known (a chunked body reaches it without framing).
        if framing == .untilClose { keepAlive = false }
        if clientMinor == 0 && keepAlive && head.info.contentLength == nil { keepAlive = false }
        service.stats.response(head.info.status)
        let out = HTTPHeadWriter.response(
            head, clientMinor: clientMinor, keepAlive: keepAlive, keepTransferEncoding: clientMinor != 0,
            extraFields: extraResponseFields, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(out), promise: nil)
    }

    func responseBody(_ body: ByteBuffer) {
        guard state == .forwarding, let context else { return }
        LoopStats.add(service.stats.bytesOut, body.readableBytes)
        responseBytes &+= body.readableBytes
        deadline = context.eventLoop.now + service.idleTimeout
        context.write(wrapOutboundOut(body), promise: nil)
    }

    func responseFlush() {
        context?.flush()
    }

    func responseEnd(serverKeepAlive: Bool) {
        guard state == .forwarding, let context else { return }
        let elapsed = Int64(context.eventLoop.now.uptimeNanoseconds &- requestStart.uptimeNanoseconds)
        service.metrics.latency.recordNanoseconds(elapsed)
        service.stats.timed(nanoseconds: elapsed)
        logRequest(elapsedNanoseconds: elapsed, local: nil)
        server?.stats?.response(status: responseStatus, nanoseconds: elapsed)
        if let server { service.release(server) }
        server = nil
        let conn = back
        back = nil
        conn?.release(reusable: serverKeepAlive && requestDone)
        // The server answered before the request ended: the rest of it cannot be told apart from the
        // next request, so close after this response.
        if !requestDone { keepAlive = false }
        if keepAlive {
            context.flush()
        } else {
            flushAndClose()
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
            connect(to: server)
            return
        }
        if let server {
            if let stats = server.stats { LoopStats.add(stats.failures, 1) }
            service.release(server)
        }
        server = nil
        if responseStarted {
            // Part of the response is out: the client can only learn of the failure by the close.
            logRequest(local: "the server's response broke off (\(reason))")
            context?.close(promise: nil)
            return
        }
        service.logger.debug(
            "HTTP: bad or no response from server", metadata: ["se.vs": "\(service.name)", "error": "\(reason)"])
        sendLocal(502, "Bad Gateway", "502 Bad Gateway: the server did not send a valid response\n")
    }

    func serverBecameWritable() {
        maybeRead()
    }

    // MARK: local responses

    /// `https://<Host without port>[:port]<path>` for a request on a plain listener (`http_to_https`).
    static func httpsLocation(_ head: HTTPHead, port: Int) -> String {
        let info = head.info
        let base = head.bytes.readerIndex
        var host = head.bytes.getString(at: base + info.hostStart, length: info.hostEnd - info.hostStart) ?? ""
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = String(host[...close])
        } else if let colon = host.firstIndex(of: ":") {
            host = String(host[..<colon])
        }
        let target =
            head.bytes.getString(at: base + info.targetStart, length: info.targetEnd - info.targetStart) ?? "/"
        return "https://\(host)\(port == 443 ? "" : ":\(port)")\(target.hasPrefix("/") ? target : "/")"
    }

    private func sendLocal(
        _ status: Int, _ reason: StaticString, _ text: String, close: Bool = false, extraFields: String = ""
    ) {
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
        service.stats.response(status)
        responseStarted = true
        responseStatus = status
        logRequest(local: status >= 400 ? "answered by the SE: \(reason)" : nil)
        let out = HTTPHeadWriter.local(
            status: status, reason: reason, text: text, clientMinor: clientMinor, keepAlive: keepAlive,
            extraFields: extraResponseFields + extraFields, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(out), promise: nil)
        if !keepAlive {
            flushAndClose()
            state = .closed
            return
        }
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

    /// Logs the current request when its outcome or the service's full logs call for it (and the
    /// throttles let it through). `local`: why the SE ended it itself, when it did.
    private func logRequest(elapsedNanoseconds: Int64? = nil, local: String?) {
        let log = service.requestLog
        let elapsed =
            elapsedNanoseconds
            ?? (logHead == nil
                ? 0 : Int64((context?.eventLoop.now ?? .now()).uptimeNanoseconds &- requestStart.uptimeNanoseconds))
        let totalMs = Double(elapsed) / 1e6
        guard let (why, nowMs) = log.decide(status: responseStatus, totalMs: totalMs, local: local) else { return }
        var method = ""
        var target = ""
        var host = ""
        if let head = logHead {
            let info = head.info
            let base = head.bytes.readerIndex
            method = head.bytes.getString(at: base, length: info.methodEnd) ?? ""
            target = head.bytes.getString(at: base + info.targetStart, length: info.targetEnd - info.targetStart) ?? ""
            host = head.bytes.getString(at: base + info.hostStart, length: info.hostEnd - info.hostStart) ?? ""
        }
        let (path, query) = LoopRequestLog.split(target)
        let address = server?.address
        let entry = RequestLog(
            timestamp_ms: nowMs - elapsed / 1_000_000, vs_uuid: service.id, client_ip: clientIP,
            client_src_port: clientPort, method: method, uri_path: path, uri_query: query, host: host,
            http_version: clientMinor == 0 ? "HTTP/1.0" : "HTTP/1.1", response_code: responseStatus,
            total_time_ms: totalMs, request_length: logHead?.bytes.readableBytes ?? 0,
            response_length: responseBytes, server_ip: address?.ipAddress ?? "", server_port: address?.port ?? 0,
            significant: why != nil, significance: why ?? "")
        log.record(entry)
    }

    /// Closes the connection once what was written is out.
    private func flushAndClose() {
        guard let context else { return }
        let channel = context.channel
        state = .closed
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// The exchange is over: wait for the next request (or close when we must).
    private func finishExchange() {
        logHead = nil
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
    private func canTakeQueued(_ part: HTTPRequestPart) -> Bool {
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
            sendLocal(
                408, "Request Timeout", "408 Request Timeout: the request head did not arrive in time\n", close: true)
        case .idle:
            state = .closed
            context?.close(promise: nil)
        case .response:
            service.logger.debug("HTTP: server response timeout", metadata: ["se.vs": "\(service.name)"])
            keepAlive = false
            sendLocal(504, "Gateway Timeout", "504 Gateway Timeout: the server did not answer in time\n", close: true)
        }
    }

    // MARK: errors and close

    /// The client sent something that is not a valid request: 431 or 400, then close.
    private func requestRefused(_ error: HTTPCodecError) {
        guard state != .closed else { return }
        guard !responseStarted || state == .idle else {
            state = .closed
            context?.close(promise: nil)
            return
        }
        keepAlive = false
        if error == .headTooLarge {
            sendLocal(431, "Request Header Fields Too Large", "431 Request Header Fields Too Large\n", close: true)
        } else {
            sendLocal(400, "Bad Request", "400 Bad Request: malformed request\n", close: true)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
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
        pending = nil
        service.unregister(self)
        context.fireChannelInactive()
    }
}

extension HTTPFrontHandler: HTTPExchangeOwner {}

extension HTTPFrontHandler: ClientConnection {
    /// Drain: the exchange in progress ends with `Connection: close`. A connection idle now gets
    /// ``drainIdleGrace`` (or what is left of its idle timeout, if less) for one more request, answered
    /// with `Connection: close`: closing it at once races a request already on its way, which the client
    /// then sees reset.
    func startDraining() {
        draining = true
        keepAlive = false
        if state == .idle && queue.isEmpty {
            arm(.idle, after: min(Self.drainIdleGrace, max(.zero, deadline - (context?.eventLoop.now ?? .now()))))
        }
    }

    /// How long a connection idle when the drain starts may still send a request.
    static let drainIdleGrace = TimeAmount.seconds(1)

    func forceClose() {
        context?.close(promise: nil)
    }
}
