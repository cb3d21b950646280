import NIOCore
import NIOHPACK
import NIOHTTP2
import StarlingModel

// HTTP/2 on the client side (ALPN `h2`), proxied to the pool's HTTP/1.1 servers. swift-nio-http2's
// `NIOHTTP2Handler` runs the protocol (framing, HPACK, stream states, outbound flow control, the limits
// against abuse); `HTTP2ProxyConnection` takes its frames directly, without a child channel per stream
// (that machinery cost half the CPU of a request), keeps one small `HTTP2ProxyStream` per stream and
// turns each request into an HTTP/1.1 exchange on a keep-alive server connection from the loop's pool,
// as `HTTPFrontHandler` does for an HTTP/1.1 connection, so the streams of one client connection spread
// over the servers.

/// The HTTP/2 pipeline of a client connection whose TLS handshake chose `h2`.
enum HTTP2Front {
    static func install(on channel: any Channel, service: LoopService) throws {
        let limits = service.limits
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: limits.http2.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: limits.maxHeaderBytes),
            HTTP2Setting(parameter: .initialWindowSize, value: limits.http2.initialWindowSize),
        ]
        connection.controlFrameRateLimit.maximumCount = limits.http2.maxControlFrames
        connection.controlFrameRateLimit.windowLength = TimeAmount(limits.http2.window)
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.streamResetFrameRateLimit.maximumCount = limits.http2.maxStreamResets
        stream.streamResetFrameRateLimit.windowLength = TimeAmount(limits.http2.window)

        // Idle connections (no stream open for the idle timeout) and draining close gracefully: GOAWAY,
        // then the close once the open streams are done.
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: service.idleTimeout, maxAge: nil, maxGraceTime: nil, keepalive: nil))
        let ops = channel.pipeline.syncOperations
        try ops.addHandler(
            NIOHTTP2Handler(
                mode: .server, frameDelegate: nil, connectionConfiguration: connection, streamConfiguration: stream))
        try ops.addHandler(
            HTTP2ProxyConnection(
                service: service, clientIP: channel.remoteAddress?.ipAddress ?? "",
                clientPort: channel.remoteAddress?.port ?? 0, streamWindow: limits.http2.initialWindowSize))
        try ops.addHandler(manager)
        // The manager starts its idle timer when the connection becomes active, which was before ALPN
        // chose HTTP/2.
        manager.channelActive(context: try ops.context(handler: manager))
    }
}

/// The handler after swift-nio-http2 on an HTTP/2 client connection (the connection manager comes after
/// it and sees the connection-level frames and the stream events): its streams' table, their inbound flow control
/// (WINDOW_UPDATE once what came was passed on to a server that can take more), the outbound windows
/// (a stream whose window is spent stops reading its server), one flush per event-loop turn for all the
/// responses of that turn, the service's registration (connection counts, draining).
final class HTTP2ProxyConnection: ChannelInboundHandler, ClientConnection {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    let service: LoopService
    let clientIP: String
    let clientPort: Int
    /// The stream window we advertise (SETTINGS_INITIAL_WINDOW_SIZE); credit goes back by halves.
    let streamWindow: Int
    private(set) var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: HTTP2ProxyStream] = [:]
    /// Streams swift-nio-http2 announced as created (the manager must only hear of closes of these: a
    /// request refused at once is closed without being created).
    private var announced = Set<HTTP2StreamID>()
    private var registered = false
    private var flushPending = false
    private var flushScheduled = false
    /// Connection-level DATA bytes not credited back yet.
    private var connectionUnacked = 0
    /// The client's connection window for our DATA is spent.
    private(set) var connectionBlocked = false

    init(service: LoopService, clientIP: String, clientPort: Int = 0, streamWindow: Int) {
        self.service = service
        self.clientIP = clientIP
        self.clientPort = clientPort
        self.streamWindow = streamWindow
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        registered = true
        service.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeAll()
        self.context = nil
    }

    // MARK: frames in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let id = frame.streamID
        switch frame.payload {
        case .headers(let h):
            if let stream = streams[id] {
                // Trailers: not passed on to an HTTP/1.1 server; they end the body.
                if h.endStream { stream.endOfRequest() }
            } else {
                let stream = HTTP2ProxyStream(id: id, connection: self)
                streams[id] = stream
                stream.startRequest(h.headers, endStream: h.endStream)
            }
        case .data(let d):
            guard case .byteBuffer(let bytes) = d.data else { return }
            let n = bytes.readableBytes
            connectionUnacked += n
            if let stream = streams[id] {
                stream.body(bytes, flowControlled: n)
                if d.endStream { stream.endOfRequest() }
            }
        case .rstStream:
            streams.removeValue(forKey: id)?.closed()
        default:
            // Connection-level frames (PING acks for a graceful close, GOAWAY) go on to the manager.
            if id == .rootStream { context.fireChannelRead(data) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // The connection window: credited back at once (the stream windows bound what waits).
        if connectionUnacked >= 32 * 1024 || (connectionUnacked > 0 && streams.isEmpty) {
            write(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: connectionUnacked)))
            connectionUnacked = 0
        }
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let e as NIOHTTP2StreamCreatedEvent:
            announced.insert(e.streamID)
        case let e as StreamClosedEvent:
            streams.removeValue(forKey: e.streamID)?.closed()
            guard announced.remove(e.streamID) != nil else { return }
        case let e as NIOHTTP2WindowUpdatedEvent:
            if let window = e.outboundWindowSize {
                if e.streamID == .rootStream {
                    let wasBlocked = connectionBlocked
                    connectionBlocked = window <= 0
                    if wasBlocked && !connectionBlocked { for s in streams.values { s.windowOpened() } }
                } else if let stream = streams[e.streamID] {
                    stream.sendWindow(window)
                }
            }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: frames out

    func write(_ frame: HTTP2Frame) {
        context?.write(wrapOutboundOut(frame), promise: nil)
    }

    /// Flushes once this turn's work is done: at the end of the read batch, or after the event loop has
    /// handled the other connections' events of this turn (the servers' responses arrive one per event).
    func flushSoon() {
        flushPending = true
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let connection = me.value
            connection.flushScheduled = false
            if connection.flushPending {
                connection.flushPending = false
                connection.context?.flush()
            }
        }
    }

    var isWritable: Bool { !connectionBlocked && (context?.channel.isWritable ?? false) }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { for s in streams.values { s.windowOpened() } }
        context.fireChannelWritabilityChanged()
    }

    // MARK: response deadlines

    private var timer = DeadlineTimer()

    /// A stream waits for its server until `deadline`: the timer fires by then.
    func watch(_ deadline: NIODeadline) {
        guard !timer.covers(deadline), let context else { return }
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer.arm(deadline, on: context.eventLoop) { me.value.deadlinesPassed() }
    }

    /// Times out the streams whose deadline passed, then waits for the earliest of the others.
    private func deadlinesPassed() {
        timer.fired()
        guard let now = context?.eventLoop.now else { return }
        var next: NIODeadline?
        for s in Array(streams.values) {
            guard let d = s.responseDeadline else { continue }
            if d <= now {
                s.responseTimedOut()
            } else if next == nil || d < next! {
                next = d
            }
        }
        if let next { watch(next) }
    }

    // MARK: errors, close, draining

    /// A connection error (swift-nio-http2 has written the GOAWAY: a flood, a protocol violation) or an
    /// I/O error ends the connection; a request the stream's RST_STREAM refused is that stream's business.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if Self.refusesOneStream(error) { return }
        service.logger.debug(
            "HTTP/2: client connection error", metadata: ["se.vs": "\(service.name)", "error": "\(error)"])
        context.close(promise: nil)
    }

    /// The errors swift-nio-http2 reports for a malformed request, answered with RST_STREAM on its stream
    /// (RFC 9113 §8.1.1). It reports connection errors the same way, so anything else closes the connection.
    static func refusesOneStream(_ error: any Error) -> Bool {
        switch error {
        case is NIOHTTP2Errors.MissingPseudoHeader, is NIOHTTP2Errors.DuplicatePseudoHeader,
            is NIOHTTP2Errors.PseudoHeaderAfterRegularHeader, is NIOHTTP2Errors.UnknownPseudoHeader,
            is NIOHTTP2Errors.UnsupportedPseudoHeader, is NIOHTTP2Errors.InvalidPseudoHeaders,
            is NIOHTTP2Errors.InvalidPseudoHeaderValue, is NIOHTTP2Errors.MissingHostHeader,
            is NIOHTTP2Errors.DuplicateHostHeader, is NIOHTTP2Errors.EmptyPathHeader,
            is NIOHTTP2Errors.ForbiddenHeaderField, is NIOHTTP2Errors.InvalidHTTP2HeaderFieldName,
            is NIOHTTP2Errors.InvalidHTTP2HeaderFieldValue, is NIOHTTP2Errors.TrailersWithoutEndStream,
            is NIOHTTP2Errors.ContentLengthViolated, is NIOHTTP2Errors.ContentLengthHeadersMismatch,
            is NIOHTTP2Errors.ContentLengthHeaderNegative, is NIOHTTP2Errors.ContentLengthHeaderMalformedValue:
            true
        default:
            false
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeAll()
        context.fireChannelInactive()
    }

    private func closeAll() {
        timer.cancel()
        let open = streams.values
        streams = [:]
        for s in open { s.closed() }
        if registered {
            registered = false
            service.unregister(self)
        }
    }

    func startDraining() {
        // GOAWAY, a PING round trip, GOAWAY with the last stream taken; closed when those are done.
        context?.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }

    func forceClose() {
        context?.close(promise: nil)
    }
}

/// One HTTP/2 stream: its request goes to a pool server as HTTP/1.1 over a keep-alive connection from
/// the loop's pool (the next server is tried when one cannot be reached), the response comes back as
/// HEADERS and DATA frames. Request bodies without `content-length` go to the server chunked; response
/// bodies lose their chunked framing. It answers itself with 400 (a request HTTP/1.1 cannot carry), 501
/// (CONNECT), 502, 503 and 504 like the HTTP/1.1 side. Backpressure both ways: the client's body is
/// credited back (WINDOW_UPDATE) only while the server connection can take more, and the server
/// connection is read only while the client's windows allow.
final class HTTP2ProxyStream {
    private enum State {
        /// Waiting for the request's HEADERS.
        case idle
        case connecting
        case forwarding
        /// The response is complete (or a local one was sent).
        case done
        case closed
    }

    let id: HTTP2StreamID
    private unowned let connection: HTTP2ProxyConnection
    private var service: LoopService { connection.service }
    private var state = State.idle
    private var back: HTTPBackHandler?
    private var server: LoopServer?

    private var requestHead = ByteBuffer()
    private var requestIsHEAD = false
    private var chunked = false
    private var requestDone = false
    /// Body bytes (already framed for the server) that came before a server connection was there.
    private var queued: [ByteBuffer] = []
    /// Body bytes received and not credited back to the client yet.
    private var unacked = 0
    private var sawBody = false
    private var responseStarted = false
    private var endSent = false
    /// The last response body part received, not written yet (it goes out with END_STREAM).
    private var heldBody: ByteBuffer?
    /// The head of a response without body, written with END_STREAM at its end.
    private var finalHeaders: HPACKHeaders?
    /// The client's window for this stream is spent.
    private var windowBlocked = false
    private var reused = false
    private var tried = ExcludedServers()
    private var attempts = 0
    private var requestStart = NIODeadline.uptimeNanoseconds(0)
    /// The request's header fields, kept for its log entry, and what went back.
    private var requestHeaders: HPACKHeaders?
    private var responseStatus = 0
    private var responseBytes = 0
    init(id: HTTP2StreamID, connection: HTTP2ProxyConnection) {
        self.id = id
        self.connection = connection
    }

    private func write(_ payload: HTTP2Frame.FramePayload) {
        connection.write(HTTP2Frame(streamID: id, payload: payload))
    }

    private var allocator: ByteBufferAllocator { connection.context?.channel.allocator ?? ByteBufferAllocator() }

    // MARK: request in

    func startRequest(_ headers: HPACKHeaders, endStream: Bool) {
        LoopStats.add(service.stats.requests, 1)
        requestStart = connection.context?.eventLoop.now ?? .now()
        requestHeaders = headers
        requestDone = endStream
        switch HTTP2RequestHead.make(
            headers, bodyFollows: !endStream, clientIP: connection.clientIP, allocator: allocator)
        {
        case .success(let head):
            requestHead = head.bytes
            requestIsHEAD = head.isHEAD
            chunked = head.chunked
            forwardToNextServer()
        case .failure(let refusal):
            sendLocal(refusal.status, refusal.text)
        }
    }

    func body(_ bytes: ByteBuffer, flowControlled: Int) {
        LoopStats.add(service.stats.bytesIn, bytes.readableBytes)
        unacked += flowControlled
        guard !requestDone else { return }
        switch state {
        case .forwarding:
            if bytes.readableBytes > 0 {
                sawBody = true
                back?.write(framed(bytes))
                back?.flush()
            }
        case .connecting, .idle:
            if bytes.readableBytes > 0 { queued.append(framed(bytes)) }
        case .done, .closed:
            break
        }
        creditBack()
    }

    func endOfRequest() {
        guard !requestDone else { return }
        requestDone = true
        guard chunked else { return }
        let last = ByteBuffer(staticString: "0\r\n\r\n")
        switch state {
        case .forwarding:
            back?.write(last)
            back?.flush()
        case .connecting, .idle:
            queued.append(last)
        case .done, .closed:
            break
        }
    }

    /// `bytes` as the server gets them (a chunk when the body goes chunked).
    private func framed(_ bytes: ByteBuffer) -> ByteBuffer {
        guard chunked else { return bytes }
        var out = allocator.buffer(capacity: bytes.readableBytes + 16)
        Self.chunk(bytes, into: &out)
        return out
    }

    /// One chunk of RFC 9112 §7.1 chunked coding.
    static func chunk(_ bytes: ByteBuffer, into out: inout ByteBuffer) {
        out.writeString(String(bytes.readableBytes, radix: 16))
        out.writeStaticString("\r\n")
        var b = bytes
        out.writeBuffer(&b)
        out.writeStaticString("\r\n")
    }

    /// Gives the client back the credit of what was passed on, by halves of the window, while the
    /// server connection can take more (else the client waits: backpressure).
    private func creditBack() {
        guard unacked > 0, !requestDone, state != .closed else { return }
        let canTake: Bool
        switch state {
        case .forwarding: canTake = back?.isWritable ?? false
        case .done: canTake = true
        case .idle, .connecting, .closed: canTake = false
        }
        guard canTake, unacked >= connection.streamWindow / 2 else { return }
        write(.windowUpdate(windowSizeIncrement: unacked))
        unacked = 0
        connection.flushSoon()
    }

    // MARK: choosing and reaching a server

    private func forwardToNextServer() {
        guard attempts < HTTPFrontHandler.maxConnectAttempts else {
            sendLocal(502, "502 Bad Gateway: no server accepted the connection\n")
            return
        }
        guard let server = service.pick(excluding: tried) else {
            sendLocal(
                attempts == 0 ? 503 : 502,
                attempts == 0
                    ? "503 Service Unavailable: no server is up\n"
                    : "502 Bad Gateway: no server accepted the connection\n")
            return
        }
        attempts += 1
        tried.insert(server.index)
        self.server = server
        if let conn = server.idle.popLast() {
            reused = true
            use(conn)
            return
        }
        reused = false
        connect(to: server)
    }

    private func connect(to server: LoopServer) {
        guard let loop = connection.context?.eventLoop else { return }
        state = .connecting
        let me = NIOLoopBound(self, eventLoop: loop)
        HTTPBackHandler.open(to: server, service: service, on: loop) { result in
            let stream = me.value
            let wanted = stream.state == .connecting && stream.server === server
            switch result {
            case .success(let conn):
                if let stats = server.stats { LoopStats.add(stats.connections, 1) }
                if wanted { stream.use(conn) } else { conn.closeNow() }
            case .failure(let error):
                if wanted { stream.serverUnreachable("\(error)") }
            }
        }
    }

    private func serverUnreachable(_ reason: String) {
        if let server {
            if let stats = server.stats { LoopStats.add(stats.failures, 1) }
            service.logger.debug(
                "HTTP/2: cannot reach server",
                metadata: ["se.vs": "\(service.name)", "se.server": "\(server.key)", "error": "\(reason)"])
            service.release(server)
        }
        server = nil
        back = nil
        forwardToNextServer()
    }

    /// Sends the request head and what came of the body on `conn`.
    private func use(_ conn: HTTPBackHandler) {
        conn.attach(self)
        back = conn
        state = .forwarding
        conn.expect(requestWasHEAD: requestIsHEAD, dechunk: true)
        conn.write(requestHead)
        if !queued.isEmpty { sawBody = true }
        for b in queued { conn.write(b) }
        queued = []
        conn.flush()
        armResponseTimeout()
        creditBack()
    }

    // MARK: local responses

    private func sendLocal(_ status: Int, _ text: String) {
        guard state != .closed, state != .done else { return }
        dropServer()
        cancelTimer()
        service.stats.response(status)
        responseStarted = true
        responseStatus = status
        logRequest(local: status >= 400 ? "answered by the SE: \(text.split(separator: "\n").first ?? "")" : nil)
        var headers: HPACKHeaders = [
            ":status": String(status), "content-type": "text/plain", "content-length": String(text.utf8.count),
        ]
        if let hsts = service.hsts { headers.add(name: "strict-transport-security", value: hsts) }
        write(.headers(.init(headers: headers)))
        write(.data(.init(data: .byteBuffer(allocator.buffer(string: text)), endStream: true)))
        endSent = true
        finish()
    }

    /// Logs the request when its outcome or the service's full logs call for it (and the throttles let
    /// it through). `local`: why the SE ended it itself, when it did.
    private func logRequest(elapsedNanoseconds: Int64? = nil, local: String?) {
        let log = service.requestLog
        let elapsed =
            elapsedNanoseconds
            ?? Int64((connection.context?.eventLoop.now ?? .now()).uptimeNanoseconds &- requestStart.uptimeNanoseconds)
        let totalMs = Double(elapsed) / 1e6
        guard let (why, nowMs) = log.decide(status: responseStatus, totalMs: totalMs, local: local) else { return }
        let target = requestHeaders?.first(name: ":path") ?? ""
        let (path, query) = LoopRequestLog.split(target)
        let method = requestHeaders?.first(name: ":method") ?? ""
        let host = requestHeaders?.first(name: ":authority") ?? requestHeaders?.first(name: "host") ?? ""
        let address = server?.address
        let entry = RequestLog(
            timestamp_ms: nowMs - elapsed / 1_000_000, vs_uuid: service.id, client_ip: connection.clientIP,
            client_src_port: connection.clientPort, method: method, uri_path: path, uri_query: query, host: host,
            http_version: "HTTP/2", response_code: responseStatus, total_time_ms: totalMs,
            request_length: requestHead.readableBytes, response_length: responseBytes,
            server_ip: address?.ipAddress ?? "", server_port: address?.port ?? 0, significant: why != nil,
            significance: why ?? "")
        log.record(entry)
    }

    /// The response is out: the stream ends once the client's side has too; a request still coming is
    /// refused with RST_STREAM(NO_ERROR) (RFC 9113 §8.1).
    private func finish() {
        cancelTimer()
        // Writing END_STREAM may have closed the stream already (`closed()`).
        if state != .closed {
            state = .done
            if !requestDone { write(.rstStream(.noError)) }
        }
        connection.flushSoon()
    }

    // MARK: timer

    /// When the server must have started its response (504 after), or nil; the connection's one timer
    /// checks it (a timer per request would be scheduled and cancelled for every request).
    private(set) var responseDeadline: NIODeadline?

    /// The server must start its response in time (504), as on HTTP/1.1.
    private func armResponseTimeout() {
        guard responseDeadline == nil, let loop = connection.context?.eventLoop else { return }
        let deadline = loop.now + service.serverResponseTimeout
        responseDeadline = deadline
        connection.watch(deadline)
    }

    private func cancelTimer() {
        responseDeadline = nil
    }

    /// The connection's timer found `responseDeadline` passed.
    func responseTimedOut() {
        responseDeadline = nil
        guard state == .forwarding || state == .connecting, !responseStarted else { return }
        service.logger.debug("HTTP/2: server response timeout", metadata: ["se.vs": "\(service.name)"])
        sendLocal(504, "504 Gateway Timeout: the server did not answer in time\n")
    }

    // MARK: windows

    /// The client's send window for this stream is now `window` bytes.
    func sendWindow(_ window: Int) {
        let wasBlocked = windowBlocked
        windowBlocked = window <= 0
        if wasBlocked && !windowBlocked { windowOpened() }
    }

    /// The client can take more: the server connection may read again.
    func windowOpened() {
        if clientWritable { back?.resumeReading() }
    }

    /// Leaves the server mid-exchange: its connection cannot be reused, the balancer slot is freed.
    private func dropServer() {
        if let back {
            self.back = nil
            back.closeNow()
        }
        if let server {
            service.release(server)
            self.server = nil
        }
    }

    /// The stream ended (closed by both sides, reset, or the connection went).
    func closed() {
        state = .closed
        cancelTimer()
        dropServer()
        queued = []
        heldBody = nil
        finalHeaders = nil
    }
}

extension HTTP2ProxyStream: HTTPExchangeOwner {
    var clientWritable: Bool { !windowBlocked && connection.isWritable }

    func responseHead(_ head: HTTPHead, framing: HTTPBodyFraming) {
        guard state == .forwarding else { return }
        let status = head.info.status
        if status < 200 {
            // 100 Continue and 103 Early Hints go on as informational HEADERS; 101 cannot happen on
            // HTTP/2 and is dropped.
            if status == 100 || status == 103 {
                write(.headers(.init(headers: HTTP2ResponseHead.make(head, hsts: nil))))
                connection.flushSoon()
            }
            return
        }
        responseStarted = true
        cancelTimer()
        service.stats.response(status)
        responseStatus = status
        let headers = HTTP2ResponseHead.make(head, hsts: service.hsts)
        if framing == .none {
            // It ends the stream: written by `responseEnd`, once the server connection is released (the
            // stream closes as the frame is written).
            finalHeaders = headers
        } else {
            write(.headers(.init(headers: headers)))
        }
    }

    func responseBody(_ body: ByteBuffer) {
        guard state == .forwarding, !endSent else { return }
        LoopStats.add(service.stats.bytesOut, body.readableBytes)
        responseBytes &+= body.readableBytes
        // The newest part waits until the next one or the end, so that the last goes out with END_STREAM
        // (no empty DATA frame to end the stream).
        if let held = heldBody { write(.data(.init(data: .byteBuffer(held)))) }
        heldBody = body
    }

    func responseFlush() {
        if let held = heldBody, state == .forwarding {
            heldBody = nil
            write(.data(.init(data: .byteBuffer(held))))
        }
        connection.flushSoon()
    }

    func responseEnd(serverKeepAlive: Bool) {
        guard state == .forwarding else { return }
        let elapsed = Int64(
            (connection.context?.eventLoop.now ?? .now()).uptimeNanoseconds &- requestStart.uptimeNanoseconds)
        service.metrics.latency.recordNanoseconds(elapsed)
        service.stats.timed(nanoseconds: elapsed)
        logRequest(elapsedNanoseconds: elapsed, local: nil)
        server?.stats?.response(status: responseStatus, nanoseconds: elapsed)
        if let server { service.release(server) }
        server = nil
        let conn = back
        back = nil
        conn?.release(reusable: serverKeepAlive && requestDone)
        if let headers = finalHeaders {
            finalHeaders = nil
            endSent = true
            write(.headers(.init(headers: headers, endStream: true)))
        } else if !endSent {
            endSent = true
            let last = heldBody ?? allocator.buffer(capacity: 0)
            heldBody = nil
            write(.data(.init(data: .byteBuffer(last), endStream: true)))
        }
        finish()
    }

    func serverLost(_ conn: HTTPBackHandler) {
        guard conn === back else { return }
        back = nil
        serverFailed(reason: "server closed the connection")
    }

    func serverFailed(_ conn: HTTPBackHandler, reason: String) {
        guard conn === back else { return }
        back = nil
        conn.closeNow()
        serverFailed(reason: reason)
    }

    private func serverFailed(reason: String) {
        guard state == .forwarding else { return }
        if !responseStarted && reused && !sawBody && requestDone && attempts < HTTPFrontHandler.maxConnectAttempts,
            let server
        {
            // A kept-alive connection the server closed as the request went out: again on a new one.
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
            // Part of the response is out: the client learns of the failure by the reset.
            state = .done
            heldBody = nil
            write(.rstStream(.internalError))
            connection.flushSoon()
            return
        }
        service.logger.debug(
            "HTTP/2: bad or no response from server", metadata: ["se.vs": "\(service.name)", "error": "\(reason)"])
        sendLocal(502, "502 Bad Gateway: the server did not send a valid response\n")
    }

    func serverBecameWritable() {
        creditBack()
    }
}

/// Why a stream's request cannot go to an HTTP/1.1 server.
struct HTTP2Refusal: Error, Equatable {
    var status: Int
    var text: String
    static func bad(_ why: String) -> Self { Self(status: 400, text: "400 Bad Request: \(why)\n") }
}

/// An HTTP/2 request as an HTTP/1.1 head for the server (RFC 9113 §8.3 → RFC 9112): pseudo-header
/// fields to the request line and `Host`, `cookie` fields joined with "; " (§8.2.3), the client added to
/// `X-Forwarded-For`, `X-Forwarded-Proto: https`, and `Transfer-Encoding: chunked` when a body follows
/// without `content-length`. Pure value code.
enum HTTP2RequestHead {
    struct Head {
        var bytes: ByteBuffer
        var isHEAD: Bool
        /// The body goes to the server chunked.
        var chunked: Bool
    }

    static func make(
        _ headers: HPACKHeaders, bodyFollows: Bool, clientIP: String, allocator: ByteBufferAllocator
    ) -> Result<Head, HTTP2Refusal> {
        var method: String?
        var path: String?
        var authority: String?
        var host: String?
        var cookies: [String] = []
        var forwardedFor: String?
        var contentLength: String?
        for (name, value, _) in headers where name.hasPrefix(":") {
            switch name {
            case ":method": method = value
            case ":path": path = value
            case ":authority": authority = value
            case ":scheme", ":protocol": break
            default: return .failure(.bad("unknown pseudo-header field \(name)"))
            }
        }
        guard let method, !method.isEmpty, method.utf8.allSatisfy(HTTPHeadParser.isToken) else {
            return .failure(.bad("no valid :method"))
        }
        if method == "CONNECT" {
            return .failure(HTTP2Refusal(status: 501, text: "501 Not Implemented: CONNECT is not proxied\n"))
        }
        guard let path, Self.isValidTarget(path) else { return .failure(.bad("no valid :path")) }

        var out = allocator.buffer(capacity: 256)
        out.writeString(method)
        out.writeStaticString(" ")
        out.writeString(path)
        out.writeStaticString(" HTTP/1.1\r\n")
        var fields = allocator.buffer(capacity: 256)
        for (name, value, _) in headers where !name.hasPrefix(":") {
            // swift-nio-http2 refuses uppercase names, connection-specific fields and CR/LF/NUL in values
            // (RFC 9113 §8.2); checked again here, as these bytes become an HTTP/1.1 head.
            guard !name.isEmpty, name.utf8.allSatisfy({ HTTPHeadParser.isToken($0) && !(65...90).contains($0) }),
                Self.isValidValue(value)
            else { return .failure(.bad("invalid header field")) }
            switch name {
            case "host": host = value
            case "cookie": cookies.append(value)
            case "x-forwarded-for": forwardedFor = forwardedFor.map { "\($0), \(value)" } ?? value
            case "content-length":
                guard contentLength == nil || contentLength == value, value.utf8.allSatisfy({ (48...57).contains($0) })
                else { return .failure(.bad("invalid content-length")) }
                contentLength = value
            case "x-forwarded-proto", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
                "te", "trailer":
                continue
            default:
                fields.writeString(name)
                fields.writeStaticString(": ")
                fields.writeString(value)
                fields.writeStaticString("\r\n")
            }
        }
        // RFC 9113 §8.3.1: `:authority` wins over `Host`; HTTP/1.1 needs one.
        guard let target = authority ?? host, Self.isValidValue(target), !target.isEmpty else {
            return .failure(.bad("no :authority or host"))
        }
        out.writeStaticString("Host: ")
        out.writeString(target)
        out.writeStaticString("\r\n")
        out.writeBuffer(&fields)
        if !cookies.isEmpty {
            out.writeStaticString("Cookie: ")
            out.writeString(cookies.joined(separator: "; "))
            out.writeStaticString("\r\n")
        }
        let chunked = bodyFollows && contentLength == nil
        if let contentLength {
            out.writeStaticString("Content-Length: ")
            out.writeString(contentLength)
            out.writeStaticString("\r\n")
        } else if chunked {
            out.writeStaticString("Transfer-Encoding: chunked\r\n")
        }
        out.writeStaticString("X-Forwarded-For: ")
        if let forwardedFor {
            out.writeString(forwardedFor)
            out.writeStaticString(", ")
        }
        out.writeString(clientIP)
        out.writeStaticString("\r\nX-Forwarded-Proto: https\r\n\r\n")
        return .success(Head(bytes: out, isHEAD: method == "HEAD", chunked: chunked))
    }

    /// An origin-form target (or `*`): visible ASCII only.
    static func isValidTarget(_ path: String) -> Bool {
        guard path == "*" || path.hasPrefix("/") else { return false }
        return path.utf8.allSatisfy { $0 > 32 && $0 < 127 }
    }

    /// A field value an HTTP/1.1 head can carry: no CR, LF, NUL or other control bytes but HTAB.
    static func isValidValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 >= 32 && $0 != 127 || $0 == 9 }
    }
}

/// A server's HTTP/1.1 response head as HTTP/2 fields: `:status`, the end-to-end fields with lowercase
/// names (connection-specific ones and those named by `Connection` dropped, RFC 9113 §8.2.2), HSTS on
/// TLS when configured.
enum HTTP2ResponseHead {
    static func make(_ head: HTTPHead, hsts: String?) -> HPACKHeaders {
        let info = head.info
        var headers = HPACKHeaders()
        headers.reserveCapacity(16)
        headers.add(name: ":status", value: String(info.status))
        head.bytes.withUnsafeReadableBytes { p in
            try? HTTPHeadParser.forEachField(p, from: info.fieldsStart) {
                (ns, ne, vs, ve, _) throws(HTTPCodecError) in
                switch FieldKind(p, ns, ne) {
                case .connection, .hopByHop, .transferEncoding: return
                case .other where info.connectionNamesOthers:
                    if HTTPHeadParser.namedInConnection(p, from: info.fieldsStart, ns, ne) { return }
                default: break
                }
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: p[ns..<ne]), as: UTF8.self).lowercased()
                let value = String(decoding: UnsafeRawBufferPointer(rebasing: p[vs..<ve]), as: UTF8.self)
                headers.add(name: name, value: value)
            }
        }
        if let hsts { headers.add(name: "strict-transport-security", value: hsts) }
        return headers
    }
}
