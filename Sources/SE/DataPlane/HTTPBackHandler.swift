import NIOCore
import NIOHTTP1

/// The server side of the HTTP reverse proxy: one keep-alive connection to a pool server, owned by one
/// event loop. While a request uses it, `front` is set and response parts go straight to the client
/// handler; between requests it waits in `LoopServer.idle`. It reads from the server only while the
/// client can take more bytes (backpressure).
final class HTTPBackHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let server: LoopServer
    private let service: LoopService
    private(set) var context: ChannelHandlerContext?
    /// The client handler using this connection, nil while idle.
    var front: HTTPFrontHandler?
    private var serverKeepAlive = true
    private var pendingRead = false
    private(set) var closed = false
    private var inPool = false

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

    @inline(__always)
    func write(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    @inline(__always)
    func flush() {
        context?.flush()
    }

    /// Whether the server connection can take more bytes now.
    var isWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: response in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let front else {
            // Nothing was asked: a server talking on an idle connection is broken.
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            serverKeepAlive = head.isKeepAlive
            front.responseHead(head)
        case .body(let body):
            front.responseBody(body)
        case .end(let trailers):
            front.responseEnd(trailers, serverKeepAlive: serverKeepAlive)
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
    func attach(_ front: HTTPFrontHandler) {
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

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
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
