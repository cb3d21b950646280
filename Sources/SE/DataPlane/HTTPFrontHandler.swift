import NIOCore
import NIOPosix
import StarlingModel

/// The client side of the HTTP/1.1 reverse proxy, one per client connection, reading the client's bytes
/// with `HTTPCodec` (no NIOHTTP1: heads are rewritten from their bytes, bodies pass through as slices).
/// What to do with each request part, server outcome, response part and timeout is decided by
/// ``HTTPProxyStateMachine``; this handler feeds it events and executes its actions: it picks servers,
/// takes idle keep-alive connections from the loop's pool (or opens one), forwards the head (hop-by-hop
/// fields removed, `X-Forwarded-For` appended, `X-Forwarded-Proto: http` or `https`), streams both bodies
/// as they come, writes the local answers (400, 408, 431, 502, 503, 504), keeps stats and logs.
///
/// It reads from the client only while the server connection is writable, and the server handler reads
/// only while the client is (backpressure). One timer per connection covers the header, keep-alive idle
/// and server response timeouts: a request only moves the machine's deadline, it does not schedule
/// anything.
final class HTTPFrontHandler: ChannelDuplexHandler, HTTPProxyExecutor {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let maxConnectAttempts = HTTPProxyStateMachine.maxConnectAttempts

    private let service: LoopService
    private var context: ChannelHandlerContext?
    private var machine: HTTPProxyStateMachine
    private var back: HTTPBackHandler?
    private var server: LoopServer?
    /// A connection opened by `.connect`, until the machine takes it (`.attachNewConnection`).
    private var newConnection: HTTPBackHandler?

    // Feeding the machine.
    /// `machine.handle` is running: events that an action causes (a close that fires `channelInactive`, a
    /// server write that fails) wait in `deferred`.
    private var handling = false
    private var deferred: [HTTPProxyStateMachine.Event] = []
    /// The time of the event being handled.
    private var eventTime = NIODeadline.uptimeNanoseconds(0)
    /// `.resumeReading` came: `maybeRead` once the machine is done.
    private var readWanted = false
    /// Client bytes came while the machine was busy (they wait in `pending`).
    private var decodeWanted = false
    private var inactive = false

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
    /// The client's HTTP/1.x minor version.
    private(set) var clientMinor: UInt8 = 1
    private var tried = ExcludedServers()
    private var requestStart = NIODeadline.uptimeNanoseconds(0)

    // Connection.
    private var clientIP = ""
    private var clientPort = 0
    /// The current request's head, kept for its log entry (nil between requests), and what went back.
    private var logHead: HTTPHead?
    private var responseStatus = 0
    private var responseBytes = 0
    private var pendingRead = false
    private var needsServerFlush = false

    // Timer.
    private var timer = DeadlineTimer()

    /// The connection came through TLS termination.
    private let tls: Bool
    /// `Strict-Transport-Security: ...\r\n` for responses on a TLS connection, else empty.
    private let extraResponseFields: String

    init(service: LoopService, tls: Bool = false) {
        self.service = service
        self.tls = tls
        self.extraResponseFields = tls ? service.hsts.map { "Strict-Transport-Security: \($0)\r\n" } ?? "" : ""
        self.machine = HTTPProxyStateMachine(settings: Self.settings(service, tls: tls))
    }

    /// The service's current timeouts (a service update changes them while connections run).
    @inline(__always)
    private static func settings(_ service: LoopService, tls: Bool) -> HTTPProxyStateMachine.Settings {
        HTTPProxyStateMachine.Settings(
            requestHeaderTimeout: service.requestHeaderTimeout, idleTimeout: service.idleTimeout,
            serverResponseTimeout: service.serverResponseTimeout,
            httpsRedirectPort: tls ? nil : service.httpsRedirectPort)
    }

    /// Feeds one event to the machine, which calls `execute` for each action.
    private func feed(_ event: HTTPProxyStateMachine.Event) {
        guard !handling else {
            deferred.append(event)
            return
        }
        handling = true
        eventTime = context?.eventLoop.now ?? .now()
        machine.settings = Self.settings(service, tls: tls)
        machine.handle(event, now: eventTime, executor: self)
        if !deferred.isEmpty {
            // In order, including those deferred meanwhile; by index (`removeFirst` moved the rest every time).
            var next = 0
            while next < deferred.count {
                let event = deferred[next]
                next += 1
                machine.handle(event, now: eventTime, executor: self)
            }
            deferred.removeAll(keepingCapacity: true)
        }
        handling = false
        if let unused = newConnection {
            // The request no longer waits for it.
            newConnection = nil
            unused.closeNow()
        }
        if decodeWanted, var buffer = pending {
            decodeWanted = false
            pending = nil
            decode(&buffer)
        }
        if inactive { timer.cancel() }
        if readWanted {
            readWanted = false
            maybeRead()
        }
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
        feed(.activated)
    }

    // MARK: request in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var p = pending {
            pending = nil
            p.writeBuffer(&buffer)
            buffer = p
        }
        guard !handling else {
            pending = buffer
            decodeWanted = true
            return
        }
        decode(&buffer)
    }

    /// Cuts the client's bytes into request parts.
    private func decode(_ buffer: inout ByteBuffer) {
        while machine.state != .closed {
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
                    feed(.requestMalformed(error))
                    return
                }
                guard let head else {
                    pending = buffer
                    return
                }
                let framing = requestFraming(head.info)
                if framing == .none {
                    feed(.requestHead(head))
                    feed(.requestEnd)
                } else {
                    reading = .body(HTTPBodyReader(framing))
                    feed(.requestHead(head))
                }
            case .body(var reader):
                let body: ByteBuffer?
                let ended: Bool
                do {
                    (body, ended) = try reader.read(&buffer)
                } catch {
                    reading = .failed
                    feed(.requestMalformed(error))
                    return
                }
                reading = ended ? .head : .body(reader)
                if let body {
                    LoopStats.add(service.stats.bytesIn, body.readableBytes)
                    feed(.requestBody(body))
                }
                if ended {
                    feed(.requestEnd)
                } else if body == nil {
                    return
                }
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

    // MARK: executing the machine's actions

    func execute(_ action: HTTPProxyStateMachine.Action) {
        switch action {
        case .armTimer(let deadline):
            guard !inactive else { return }
            guard !timer.covers(deadline), let context else { return }
            let me = NIOLoopBound(self, eventLoop: context.eventLoop)
            timer.arm(deadline, on: context.eventLoop) { me.value.timerFired() }
        case .startRequest(let head, let redirect):
            LoopStats.add(service.stats.requests, 1)
            requestStart = eventTime
            logHead = head
            responseStatus = 0
            responseBytes = 0
            clientMinor = head.info.minorVersion
            tried = ExcludedServers()
            if !redirect {
                requestHead = HTTPHeadWriter.request(
                    head, clientIP: clientIP, https: tls, allocator: context?.channel.allocator ?? ByteBufferAllocator()
                )
            }
        case .connect:
            if let server { connect(to: server) }
        case .attachNewConnection:
            guard let conn = newConnection else { return }
            newConnection = nil
            if let stats = conn.server.stats { LoopStats.add(stats.connections, 1) }
            conn.attach(self)
            back = conn
        case .serverUnreachable(let reason):
            if let server {
                if let stats = server.stats { LoopStats.add(stats.failures, 1) }
                service.logger.debug(
                    "HTTP: cannot reach server",
                    metadata: ["se.vs": "\(service.name)", "se.server": "\(server.key)", "error": "\(reason)"])
                service.release(server)
            }
            server = nil
            back = nil
        case .sendRequestHead(let requestWasHEAD, let dechunk):
            back?.expect(requestWasHEAD: requestWasHEAD, dechunk: dechunk)
            back?.write(requestHead)
        case .writeQueuedBody(let body):
            back?.write(body)
        case .forwardBody(let body):
            back?.write(body)
            needsServerFlush = true
        case .flushServer:
            back?.flush()
        case .flushServerIfNeeded:
            if needsServerFlush {
                needsServerFlush = false
                back?.flush()
            }
        case .forwardInformational(let head):
            guard let context else { return }
            let out = HTTPHeadWriter.response(
                head, clientMinor: clientMinor, keepAlive: true, keepTransferEncoding: true,
                allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .writeResponseHead(let head, let keepAlive):
            guard let context else { return }
            responseStatus = head.info.status
            service.stats.response(head.info.status)
            let out = HTTPHeadWriter.response(
                head, clientMinor: clientMinor, keepAlive: keepAlive, keepTransferEncoding: clientMinor != 0,
                extraFields: extraResponseFields, allocator: context.channel.allocator)
            context.write(wrapOutboundOut(out), promise: nil)
        case .writeResponseBody(let body):
            guard let context else { return }
            LoopStats.add(service.stats.bytesOut, body.readableBytes)
            responseBytes &+= body.readableBytes
            context.write(wrapOutboundOut(body), promise: nil)
        case .completeResponse(let reusable):
            let elapsed = Int64(eventTime.uptimeNanoseconds &- requestStart.uptimeNanoseconds)
            service.metrics.latency.recordNanoseconds(elapsed)
            service.stats.timed(nanoseconds: elapsed)
            logRequest(elapsedNanoseconds: elapsed, local: nil)
            server?.stats?.response(status: responseStatus, nanoseconds: elapsed)
            if let server { service.release(server) }
            server = nil
            let conn = back
            back = nil
            conn?.release(reusable: reusable)
        case .serverFailed(let reason, let responseStarted):
            if let server {
                if let stats = server.stats { LoopStats.add(stats.failures, 1) }
                service.release(server)
            }
            server = nil
            if responseStarted {
                logRequest(local: "the server's response broke off (\(reason))")
                context?.close(promise: nil)
            } else {
                service.logger.debug(
                    "HTTP: bad or no response from server",
                    metadata: ["se.vs": "\(service.name)", "error": "\(reason)"])
            }
        case .sendLocal(let response, let keepAlive):
            sendLocal(response, keepAlive: keepAlive)
        case .flushClient:
            context?.flush()
        case .flushAndClose:
            flushAndClose()
        case .close:
            context?.close(promise: nil)
        case .exchangeFinished:
            logHead = nil
        case .resumeReading:
            readWanted = true
        }
    }

    // MARK: choosing and reaching a server

    func pickServer() -> HTTPProxyStateMachine.ServerPick {
        guard let server = service.pick(excluding: tried) else { return .none }
        tried.insert(server.index)
        self.server = server
        if let conn = server.idle.popLast() {
            conn.attach(self)
            back = conn
            return .idleConnection
        }
        return .newConnection
    }

    private func connect(to server: LoopServer) {
        guard let context else { return }
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        HTTPBackHandler.open(to: server, service: service, on: context.eventLoop) { result in
            let front = me.value
            switch result {
            case .success(let conn):
                guard front.server === server else {
                    conn.closeNow()
                    return
                }
                front.newConnection = conn
                front.feed(.serverConnected)
            case .failure(let error):
                if front.server === server { front.feed(.serverConnectFailed(reason: "\(error)")) }
            }
        }
    }

    // MARK: response out (called by HTTPBackHandler)

    var clientWritable: Bool { context?.channel.isWritable ?? false }

    /// A response head from the server; `framing`: how its body is delimited.
    func responseHead(_ head: HTTPHead, framing: HTTPBodyFraming) {
        feed(.responseHead(head, framing: framing))
    }

    func responseBody(_ body: ByteBuffer) {
        feed(.responseBody(body))
    }

    func responseFlush() {
        context?.flush()
    }

    func responseEnd(serverKeepAlive: Bool) {
        feed(.responseEnd(serverKeepAlive: serverKeepAlive))
    }

    /// The server connection closed before the response ended.
    func serverLost(_ conn: HTTPBackHandler) {
        guard conn === back else { return }
        back = nil
        feed(.serverFailed(reason: "server closed the connection"))
    }

    /// The server connection failed (bad response, I/O error).
    func serverFailed(_ conn: HTTPBackHandler, reason: String) {
        guard conn === back else { return }
        back = nil
        conn.closeNow()
        feed(.serverFailed(reason: reason))
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

    /// Closes the server connection, gives the server back, writes (and logs) a local response.
    private func sendLocal(_ response: HTTPProxyStateMachine.LocalResponse, keepAlive: Bool) {
        guard let context else { return }
        if case .gatewayTimeout = response {
            service.logger.debug("HTTP: server response timeout", metadata: ["se.vs": "\(service.name)"])
        }
        if let back {
            self.back = nil
            back.closeNow()
        }
        if let server {
            service.release(server)
            self.server = nil
        }
        let status = response.status
        service.stats.response(status)
        responseStatus = status
        logRequest(local: status >= 400 ? "answered by the SE: \(response.reason)" : nil)
        var text = response.text
        var extraFields = extraResponseFields
        if case .redirect(let port) = response, let head = logHead {
            let location = Self.httpsLocation(head, port: port)
            text = "\(location)\n"
            extraFields += "Location: \(location)\r\n"
        }
        let out = HTTPHeadWriter.local(
            status: status, reason: response.reason, text: text, clientMinor: clientMinor, keepAlive: keepAlive,
            extraFields: extraFields, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(out), promise: nil)
    }

    /// Logs the current request when its outcome or the service's full logs call for it (and the
    /// throttles let it through). `local`: why the SE ended it itself, when it did.
    private func logRequest(elapsedNanoseconds: Int64? = nil, local: String?) {
        let log = service.requestLog
        let elapsed =
            elapsedNanoseconds
            ?? (logHead == nil ? 0 : Int64(eventTime.uptimeNanoseconds &- requestStart.uptimeNanoseconds))
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
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    // MARK: reading (backpressure and one request at a time)

    func read(context: ChannelHandlerContext) {
        if !handling && canRead {
            context.read()
        } else {
            pendingRead = true
            if handling { readWanted = true }
        }
    }

    private var canRead: Bool { machine.canRead(serverWritable: self.back?.isWritable ?? false) }

    private func maybeRead() {
        guard pendingRead, !handling, canRead, let context else { return }
        pendingRead = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { back?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: timer

    private func timerFired() {
        timer.fired()
        feed(.timerFired)
    }

    // MARK: errors and close

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        service.logger.debug(
            "HTTP: client connection error", metadata: ["se.vs": "\(service.name)", "error": "\(error)"])
        feed(.clientError)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        feed(.clientClosed)
        timer.cancel()
        if let back {
            self.back = nil
            back.closeNow()
        }
        if let server {
            service.release(server)
            self.server = nil
        }
        if let conn = newConnection {
            newConnection = nil
            conn.closeNow()
        }
        pending = nil
        service.unregister(self)
        context.fireChannelInactive()
    }
}

extension HTTPFrontHandler: HTTPExchangeOwner {}

extension HTTPFrontHandler: ClientConnection {
    /// Drain: the exchange in progress ends with `Connection: close`. A connection idle now gets
    /// ``HTTPProxyStateMachine/drainIdleGrace`` (or what is left of its idle timeout, if less) for one
    /// more request, answered with `Connection: close`.
    func startDraining() {
        feed(.drain)
    }

    func forceClose() {
        context?.close(promise: nil)
    }
}
