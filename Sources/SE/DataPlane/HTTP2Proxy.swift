import NIOCore
import NIOHPACK
import NIOHTTP2

// HTTP/2 on the client side (ALPN `h2`), proxied to the pool's HTTP/1.1 servers: swift-nio-http2 runs
// the protocol (framing, HPACK, flow control, stream states, the limits against abuse) and gives each
// stream a child channel; `HTTP2StreamHandler` turns a stream's request into an HTTP/1.1 exchange on a
// keep-alive server connection from the loop's pool, as `HTTPFrontHandler` does for an HTTP/1.1
// connection, so the streams of one client connection spread over the servers.

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
        connection.targetWindowSize = max(65535, limits.http2.initialWindowSize)
        connection.controlFrameRateLimit.maximumCount = limits.http2.maxControlFrames
        connection.controlFrameRateLimit.windowLength = TimeAmount(limits.http2.window)
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = limits.http2.initialWindowSize
        // A response body flows while the client's window and these bytes allow (backpressure to the server).
        stream.outboundBufferSizeHighWatermark = 64 * 1024
        stream.outboundBufferSizeLowWatermark = 32 * 1024
        stream.streamResetFrameRateLimit.maximumCount = limits.http2.maxStreamResets
        stream.streamResetFrameRateLimit.windowLength = TimeAmount(limits.http2.window)

        // Idle connections (no stream open for the idle timeout) and draining close gracefully: GOAWAY,
        // then the close once the open streams are done.
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: service.idleTimeout, maxAge: nil, maxGraceTime: nil, keepalive: nil))
        let clientIP = channel.remoteAddress?.ipAddress ?? ""
        let ops = channel.pipeline.syncOperations
        let flusher = HTTP2FlushCoalescer()
        try ops.addHandler(flusher)
        let boundFlusher = NIOLoopBound(flusher, eventLoop: channel.eventLoop)
        _ = try ops.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream,
            streamDelegate: manager.http2StreamDelegate
        ) { streamChannel in
            do {
                try streamChannel.pipeline.syncOperations.addHandler(
                    HTTP2StreamHandler(service: service, clientIP: clientIP, flusher: boundFlusher.value))
                return streamChannel.eventLoop.makeSucceededVoidFuture()
            } catch {
                return streamChannel.eventLoop.makeFailedFuture(error)
            }
        }
        try ops.addHandler(manager)
        try ops.addHandler(HTTP2ClientConnection(service: service))
        // The manager starts its idle timer when the connection becomes active, which was before ALPN
        // chose HTTP/2.
        manager.channelActive(context: try ops.context(handler: manager))
    }
}

/// Between TLS and HTTP/2: the streams' responses come from many server connections, each in its own
/// read event; each stream asks for a flush here, and the connection is flushed once after the event
/// loop has handled all the reads of this turn (one TLS write for many responses instead of one each).
final class HTTP2FlushCoalescer: ChannelOutboundHandler {
    typealias OutboundIn = Any

    private var context: ChannelHandlerContext?
    private var streams: [any Channel] = []
    private var scheduled = false
    private var batching = false
    private var flushHeld = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// `stream`'s writes go out with the next batch.
    func flushLater(_ stream: ChannelHandlerContext) {
        streams.append(stream.channel)
        guard !scheduled, let context else { return }
        scheduled = true
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute { me.value.runBatch() }
    }

    private func runBatch() {
        scheduled = false
        let batch = streams
        streams = []
        batching = true
        // Each stream's flush hands its frames to swift-nio-http2, which flushes the connection: held here.
        for s in batch { s.flush() }
        batching = false
        if flushHeld {
            flushHeld = false
            context?.flush()
        }
    }

    func flush(context: ChannelHandlerContext) {
        if batching {
            flushHeld = true
        } else {
            context.flush()
        }
    }
}

/// Last handler of an HTTP/2 client connection: registers it with the service (connection counts,
/// draining) and asks the connection manager for a graceful close when the service drains.
final class HTTP2ClientConnection: ChannelInboundHandler, ClientConnection {
    typealias InboundIn = HTTP2Frame

    private let service: LoopService
    private var context: ChannelHandlerContext?
    private var registered = false

    init(service: LoopService) {
        self.service = service
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        registered = true
        service.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        unregister()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Connection-level frames the handlers before have dealt with.
    }

    func channelInactive(context: ChannelHandlerContext) {
        unregister()
        context.fireChannelInactive()
    }

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

    private func unregister() {
        guard registered else { return }
        registered = false
        service.unregister(self)
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
/// bodies lose their chunked framing. The handler answers itself with 400 (a request HTTP/1.1 cannot
/// carry), 501 (CONNECT), 502, 503 and 504 like the HTTP/1.1 side. Backpressure both ways: the stream is
/// read only while the server connection is writable, and the server connection only while the stream
/// (its flow-control window) is.
final class HTTP2StreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum State {
        /// Waiting for the request's HEADERS.
        case idle
        case connecting
        case forwarding
        /// The response is complete (or a local one was sent).
        case done
        case closed
    }

    private let service: LoopService
    private let clientIP: String
    private var context: ChannelHandlerContext?
    private var state = State.idle
    private var back: HTTPBackHandler?
    private var server: LoopServer?

    private var requestHead = ByteBuffer()
    private var requestIsHEAD = false
    private var chunked = false
    private var requestDone = false
    /// Body bytes (already framed for the server) that came before a server connection was there.
    private var queued: [ByteBuffer] = []
    private var queuedBytes = 0
    private var sawBody = false
    private var responseStarted = false
    private var endSent = false
    /// The last response body part received, not written yet.
    private var heldBody: ByteBuffer?
    private var reused = false
    private var tried = ExcludedServers()
    private var attempts = 0
    private var requestStart = NIODeadline.uptimeNanoseconds(0)
    private var pendingRead = false
    private var needsServerFlush = false
    private var timer: Scheduled<Void>?
    private let flusher: HTTP2FlushCoalescer

    /// Body bytes kept while connecting to a server; more waits in the client's flow-control window.
    static let maxQueuedBytes = 64 * 1024

    init(service: LoopService, clientIP: String, flusher: HTTP2FlushCoalescer) {
        self.service = service
        self.clientIP = clientIP
        self.flusher = flusher
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: request in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let h):
            if state == .idle {
                startRequest(h.headers, endStream: h.endStream)
            } else if h.endStream {
                // Trailers: not passed on to an HTTP/1.1 server; they end the body.
                endOfRequest()
            }
        case .data(let d):
            guard case .byteBuffer(let bytes) = d.data else { return }
            body(bytes)
            if d.endStream { endOfRequest() }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsServerFlush {
            needsServerFlush = false
            back?.flush()
        }
        context.fireChannelReadComplete()
    }

    private func startRequest(_ headers: HPACKHeaders, endStream: Bool) {
        LoopStats.add(service.stats.requests, 1)
        requestStart = context?.eventLoop.now ?? .now()
        requestDone = endStream
        let allocator = context?.channel.allocator ?? ByteBufferAllocator()
        switch HTTP2RequestHead.make(headers, bodyFollows: !endStream, clientIP: clientIP, allocator: allocator) {
        case .success(let head):
            requestHead = head.bytes
            requestIsHEAD = head.isHEAD
            chunked = head.chunked
            forwardToNextServer()
        case .failure(let refusal):
            sendLocal(refusal.status, refusal.text)
        }
    }

    private func body(_ bytes: ByteBuffer) {
        LoopStats.add(service.stats.bytesIn, bytes.readableBytes)
        guard !requestDone, bytes.readableBytes > 0 else { return }
        switch state {
        case .forwarding:
            sawBody = true
            writeBody(bytes)
            needsServerFlush = true
        case .connecting, .idle:
            var framed = bytes
            if chunked {
                framed = context?.channel.allocator.buffer(capacity: bytes.readableBytes + 16) ?? ByteBuffer()
                Self.chunk(bytes, into: &framed)
            }
            queuedBytes += framed.readableBytes
            queued.append(framed)
        case .done, .closed:
            break
        }
    }

    private func endOfRequest() {
        guard !requestDone else { return }
        requestDone = true
        guard chunked else { return }
        let last = ByteBuffer(staticString: "0\r\n\r\n")
        switch state {
        case .forwarding:
            back?.write(last)
            needsServerFlush = true
        case .connecting, .idle:
            queued.append(last)
        case .done, .closed:
            break
        }
    }

    private func writeBody(_ bytes: ByteBuffer) {
        guard let back else { return }
        if chunked {
            var framed = context?.channel.allocator.buffer(capacity: bytes.readableBytes + 16) ?? ByteBuffer()
            Self.chunk(bytes, into: &framed)
            back.write(framed)
        } else {
            back.write(bytes)
        }
    }

    /// One chunk of RFC 9112 §7.1 chunked coding.
    static func chunk(_ bytes: ByteBuffer, into out: inout ByteBuffer) {
        out.writeString(String(bytes.readableBytes, radix: 16))
        out.writeStaticString("\r\n")
        var b = bytes
        out.writeBuffer(&b)
        out.writeStaticString("\r\n")
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
        guard let context else { return }
        state = .connecting
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        HTTPBackHandler.open(to: server, service: service, on: context.eventLoop) { result in
            let stream = me.value
            let wanted = stream.state == .connecting && stream.server === server
            switch result {
            case .success(let conn):
                if wanted { stream.use(conn) } else { conn.closeNow() }
            case .failure(let error):
                if wanted { stream.serverUnreachable("\(error)") }
            }
        }
    }

    private func serverUnreachable(_ reason: String) {
        if let server {
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
        queuedBytes = 0
        conn.flush()
        armResponseTimeout()
        maybeRead()
    }

    // MARK: local responses

    private func sendLocal(_ status: Int, _ text: String) {
        guard let context, state != .closed, state != .done else { return }
        if let back {
            self.back = nil
            back.closeNow()
        }
        if let server {
            service.release(server)
            self.server = nil
        }
        cancelTimer()
        service.stats.response(status)
        responseStarted = true
        var headers: HPACKHeaders = [
            ":status": String(status), "content-type": "text/plain", "content-length": String(text.utf8.count),
        ]
        if let hsts = service.hsts { headers.add(name: "strict-transport-security", value: hsts) }
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        let body = context.channel.allocator.buffer(string: text)
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: true))), promise: nil)
        endSent = true
        finish()
    }

    /// The response is out: the stream ends once the client's side has too; a request still coming is
    /// refused with RST_STREAM(NO_ERROR) (RFC 9113 §8.1).
    private func finish() {
        guard let context else { return }
        state = .done
        cancelTimer()
        if !requestDone {
            context.write(wrapOutboundOut(.rstStream(.noError)), promise: nil)
        }
        flusher.flushLater(context)
    }

    // MARK: timer

    /// The server must start its response in time (504), as on HTTP/1.1.
    private func armResponseTimeout() {
        guard let context, timer == nil else { return }
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: service.serverResponseTimeout) { me.value.responseTimedOut() }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func responseTimedOut() {
        timer = nil
        guard state == .forwarding || state == .connecting, !responseStarted else { return }
        service.logger.debug("HTTP/2: server response timeout", metadata: ["se.vs": "\(service.name)"])
        sendLocal(504, "504 Gateway Timeout: the server did not answer in time\n")
    }

    // MARK: reading (backpressure)

    func read(context: ChannelHandlerContext) {
        if canRead {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private var canRead: Bool {
        switch state {
        case .idle, .done: true
        case .closed: false
        case .connecting: queuedBytes < Self.maxQueuedBytes
        case .forwarding: requestDone || (back?.isWritable ?? false)
        }
    }

    private func maybeRead() {
        guard pendingRead, canRead, let context else { return }
        pendingRead = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { back?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: close

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        service.logger.debug("HTTP/2: stream error", metadata: ["se.vs": "\(service.name)", "error": "\(error)"])
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        cancelTimer()
        if let back {
            // The client reset the stream (or the connection went) mid-exchange: the server connection
            // cannot be reused.
            self.back = nil
            back.closeNow()
        }
        if let server {
            service.release(server)
            self.server = nil
        }
        queued = []
        context.fireChannelInactive()
    }
}

extension HTTP2StreamHandler: HTTPExchangeOwner {
    var clientWritable: Bool { context?.channel.isWritable ?? false }

    func responseHead(_ head: HTTPHead, framing: HTTPBodyFraming) {
        guard state == .forwarding, let context else { return }
        let status = head.info.status
        if status < 200 {
            // 100 Continue and 103 Early Hints go on as informational HEADERS; 101 cannot happen on
            // HTTP/2 and is dropped.
            if status == 100 || status == 103 {
                let headers = HTTP2ResponseHead.make(head, hsts: nil)
                context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
            }
            return
        }
        responseStarted = true
        cancelTimer()
        service.stats.response(status)
        let headers = HTTP2ResponseHead.make(head, hsts: service.hsts)
        endSent = framing == .none
        context.write(wrapOutboundOut(.headers(.init(headers: headers, endStream: endSent))), promise: nil)
    }

    func responseBody(_ body: ByteBuffer) {
        guard state == .forwarding, let context, !endSent else { return }
        LoopStats.add(service.stats.bytesOut, body.readableBytes)
        // The newest part waits until the next one or the end, so that the last goes out with END_STREAM
        // (no empty DATA frame to end the stream).
        if let held = heldBody { context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(held)))), promise: nil) }
        heldBody = body
    }

    func responseFlush() {
        guard let context else { return }
        if let held = heldBody, state == .forwarding {
            heldBody = nil
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(held)))), promise: nil)
        }
        flusher.flushLater(context)
    }

    func responseEnd(serverKeepAlive: Bool) {
        guard state == .forwarding, let context else { return }
        service.metrics.latency.recordNanoseconds(
            Int64(context.eventLoop.now.uptimeNanoseconds &- requestStart.uptimeNanoseconds))
        if let server { service.release(server) }
        server = nil
        let conn = back
        back = nil
        conn?.release(reusable: serverKeepAlive && requestDone)
        if !endSent {
            endSent = true
            let last = heldBody ?? context.channel.allocator.buffer(capacity: 0)
            heldBody = nil
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(last), endStream: true))), promise: nil)
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
        if let server { service.release(server) }
        server = nil
        if responseStarted {
            // Part of the response is out: the client learns of the failure by the reset.
            state = .done
            context?.writeAndFlush(wrapOutboundOut(.rstStream(.internalError)), promise: nil)
            return
        }
        service.logger.debug(
            "HTTP/2: bad or no response from server", metadata: ["se.vs": "\(service.name)", "error": "\(reason)"])
        sendLocal(502, "502 Bad Gateway: the server did not send a valid response\n")
    }

    func serverBecameWritable() {
        maybeRead()
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
