import NIOCore
import NIOPosix

/// What an HTTP exchange with a pool server reports to the client side that owns it: the HTTP/1.1
/// client handler (`HTTPFrontHandler`) or an HTTP/2 stream (`HTTP2StreamHandler`).
protocol HTTPExchangeOwner: AnyObject {
    /// Whether the client can take more bytes now (else the server connection stops reading).
    var clientWritable: Bool { get }
    /// A response head from the server; `framing`: how its body is delimited.
    func responseHead(_ head: HTTPHead, framing: HTTPBodyFraming)
    func responseBody(_ body: ByteBuffer)
    func responseFlush()
    func responseEnd(serverKeepAlive: Bool)
    /// The server connection closed before the response ended.
    func serverLost(_ conn: HTTPBackHandler)
    /// The server connection failed (bad response, I/O error).
    func serverFailed(_ conn: HTTPBackHandler, reason: String)
    func serverBecameWritable()
}

/// The server side of the HTTP reverse proxy: one keep-alive connection to a pool server, owned by one
/// event loop. While a request uses it, `front` is set and response parts go straight to the client
/// handler; between requests it waits in `LoopServer.idle`. It reads from the server only while the
/// client can take more bytes (backpressure). Responses are read with `HTTPCodec`: the head is parsed
/// (1xx heads are passed on, the final one follows), the body is cut by its framing and passed on as
/// slices of the read buffers.
final class HTTPBackHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Largest response head accepted from a server (more → 502).
    static let maxResponseHead = 64 * 1024

    let server: LoopServer
    private let service: LoopService
    private(set) var context: ChannelHandlerContext?
    /// The client side using this connection, nil while idle.
    var front: (any HTTPExchangeOwner)?
    private var serverKeepAlive = true
    private var pendingRead = false
    private(set) var closed = false
    private var inPool = false

    // Reading the current response.
    private var pending: ByteBuffer?
    private var headScanned = 0
    private var body: HTTPBodyReader?
    private var requestWasHEAD = false
    private var dechunk = false

    init(server: LoopServer, service: LoopService) {
        self.server = server
        self.service = service
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: request out

    /// The next response answers a HEAD request (no body) and goes to an HTTP/1.0 client (a chunked
    /// body is passed on without its framing).
    func expect(requestWasHEAD: Bool, dechunk: Bool) {
        self.requestWasHEAD = requestWasHEAD
        self.dechunk = dechunk
        pending = nil
        headScanned = 0
        body = nil
    }

    @inline(__always)
    func write(_ bytes: ByteBuffer) {
        context?.write(wrapOutboundOut(bytes), promise: nil)
    }

    @inline(__always)
    func flush() {
        context?.flush()
    }

    /// Whether the server connection can take more bytes now.
    var isWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: response in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard front != nil else {
            // Nothing was asked: a server talking on an idle connection is broken.
            context.close(promise: nil)
            return
        }
        var buffer = unwrapInboundIn(data)
        if var p = pending {
            pending = nil
            p.writeBuffer(&buffer)
            buffer = p
        }
        do {
            try decode(&buffer)
        } catch {
            service.logger.debug(
                "HTTP: bad response from server",
                metadata: ["se.vs": "\(service.name)", "se.server": "\(server.key)", "error": "\(error)"])
            if let front { front.serverFailed(self, reason: "\(error)") }
            context.close(promise: nil)
            return
        }
        if front == nil && buffer.readableBytes > 0 {
            // More than the response: the connection cannot be trusted with another request.
            context.close(promise: nil)
        }
    }

    /// Cuts the server's bytes into a response for `front`.
    private func decode(_ buffer: inout ByteBuffer) throws(HTTPCodecError) {
        while let front {
            if var reader = body {
                let (bytes, ended) = try reader.read(&buffer)
                body = ended ? nil : reader
                if let bytes { front.responseBody(bytes) }
                if ended {
                    front.responseEnd(serverKeepAlive: serverKeepAlive)
                } else if bytes == nil {
                    return
                }
                continue
            }
            guard buffer.readableBytes > 0 else { return }
            guard
                let head = try HTTPHeadParser.parse(
                    &buffer, isRequest: false, limit: Self.maxResponseHead, scanned: &headScanned)
            else {
                pending = buffer
                return
            }
            let framing = responseFraming(head.info, requestWasHEAD: requestWasHEAD)
            if head.info.status < 200 {
                front.responseHead(head, framing: .none)
                continue
            }
            serverKeepAlive = head.info.keepAlive && framing != .untilClose
            front.responseHead(head, framing: framing)
            if framing == .none {
                front.responseEnd(serverKeepAlive: serverKeepAlive)
            } else {
                body = HTTPBodyReader(framing, dechunk: dechunk && framing == .chunked)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        front?.responseFlush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if let front, !front.clientWritable {
            pendingRead = true
        } else {
            context.read()
        }
    }

    /// The client became writable again.
    func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { front?.serverBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: lifecycle

    /// Back to the idle pool after a complete exchange, or closed when it cannot be reused.
    func release(reusable: Bool) {
        front = nil
        if pendingRead {
            // Keep reading while idle, so that a close by the server is noticed.
            pendingRead = false
            context?.read()
        }
        guard reusable, !closed, !server.removed, server.idle.count < service.maxIdlePerServer,
            context != nil
        else {
            context?.close(promise: nil)
            return
        }
        inPool = true
        server.idle.append(self)
    }

    /// Taken from the idle pool by `front`.
    func attach(_ front: any HTTPExchangeOwner) {
        inPool = false
        self.front = front
    }

    /// Closes an idle connection (server removed from the pool, service removed).
    func closeIdle() {
        inPool = false
        context?.close(promise: nil)
    }

    /// Closes the connection without telling the client handler.
    func closeNow() {
        front = nil
        context?.close(promise: nil)
    }

    /// Opens a connection to `server` from `loop` (from the service's source address when it has one, over
    /// TLS when the pool re-encrypts);
    /// `done` runs on `loop` with the connection, not attached to anyone yet, or why it failed.
    static func open(
        to server: LoopServer, service: LoopService, on loop: any EventLoop,
        _ done: @escaping (Result<HTTPBackHandler, any Error>) -> Void
    ) {
        guard let address = server.address else {
            done(.failure(ChannelError.connectPending))
            return
        }
        let handler = HTTPBackHandler(server: server, service: service)
        let boundHandler = NIOLoopBound(handler, eventLoop: loop)
        let serverTLS = service.serverTLS
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(service.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    // Re-encryption: TLS under the HTTP handler; the request waits for the handshake.
                    if let serverTLS { try channel.pipeline.syncOperations.addHandler(try serverTLS.makeHandler()) }
                    try channel.pipeline.syncOperations.addHandler(boundHandler.value)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        bootstrap = bootstrap.bindingSource(service.source(for: address))
        let callback = NIOLoopBound(done, eventLoop: loop)
        bootstrap.connect(to: address).hop(to: loop).whenComplete { result in
            switch result {
            case .success:
                let handler = boundHandler.value
                callback.value(handler.closed ? .failure(ChannelError.alreadyClosed) : .success(handler))
            case .failure(let error):
                callback.value(.failure(error))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if let front, let reader = body, reader.endsAtClose {
            // A body without length ends here.
            body = nil
            front.responseEnd(serverKeepAlive: false)
        }
        if inPool {
            inPool = false
            if let i = server.idle.firstIndex(where: { $0 === self }) { server.idle.remove(at: i) }
        }
        if let front {
            self.front = nil
            front.serverLost(self)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        service.logger.debug(
            "HTTP: server connection error",
            metadata: ["se.vs": "\(service.name)", "se.server": "\(server.key)", "error": "\(error)"])
        front?.serverFailed(self, reason: "\(error)")
        context.close(promise: nil)
    }
}
