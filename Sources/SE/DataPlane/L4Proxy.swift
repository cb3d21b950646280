import Logging
import NIOCore
import NIOPosix

/// One side of an L4 (TCP) proxy connection. The client side (`front`) is installed on accepted
/// connections; it picks a server, connects (trying the next server on failure, at most
/// `maxConnectAttempts` times) and installs the server side (`back`). Both then shovel bytes to each
/// other:
///
/// - bytes read on one side are written to the other and flushed once per read batch;
/// - backpressure: a side only reads while the other side's channel is writable, and resumes when it
///   becomes writable again;
/// - half-close: a FIN from one side shuts down the other side's output once its queued bytes are
///   written (`allowRemoteHalfClosure` on both channels); when both directions are shut the channels
///   close;
/// - a side that closes closes the other after its queued bytes are written;
/// - the client channel's `IdleStateHandler` closes both after `idleTimeout` with no traffic.
final class L4ProxyHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let maxConnectAttempts = 3

    private let isFront: Bool
    private let service: LoopService
    private var context: ChannelHandlerContext?
    private var partner: L4ProxyHandler?
    private var server: LoopServer?
    private var pendingRead = false
    private var partnerInputClosed = false  // shut our output once connected
    private var closed = false
    /// Bytes read before the other side existed (NIO drains the socket on EOF even while reads are
    /// paused): written to the other side once it is connected.
    private var early: [ByteBuffer] = []
    private var tried = ExcludedServers()
    private var attempts = 0

    init(service: LoopService, isFront: Bool) {
        self.service = service
        self.isFront = isFront
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: front: connecting

    func channelActive(context: ChannelHandlerContext) {
        if isFront {
            service.register(self)
            connectNext()
        }
        context.fireChannelActive()
    }

    private func connectNext() {
        guard !closed, let context else { return }
        guard let (server, address) = service.nextL4Server(tried: &tried, attempts: &attempts) else {
            context.close(promise: nil)
            return
        }
        let back = L4ProxyHandler(service: service, isFront: false)
        let loopBound = NIOLoopBound(back, eventLoop: context.eventLoop)
        var bootstrap = ClientBootstrap(group: context.eventLoop)
            .connectTimeout(service.connectTimeout)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.addHandler(loopBound.value)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        bootstrap = bootstrap.bindingSource(service.source(for: address))
        let front = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundServer = NIOLoopBound(server, eventLoop: context.eventLoop)
        bootstrap.connect(to: address).hop(to: context.eventLoop).whenComplete { result in
            let me = front.value
            let server = boundServer.value
            switch result {
            case .success(let channel):
                if let stats = server.stats { LoopStats.add(stats.connections, 1) }
                me.connected(server: server, back: loopBound.value, channel: channel)
            case .failure(let error):
                if let stats = server.stats { LoopStats.add(stats.failures, 1) }
                me.service.release(server)
                me.service.logger.debug(
                    "L4: connect failed",
                    metadata: ["se.vs": "\(me.service.name)", "se.server": "\(server.key)", "error": "\(error)"])
                me.connectNext()
            }
        }
    }

    private func connected(server: LoopServer, back: L4ProxyHandler, channel: any Channel) {
        guard !closed, let context else {
            service.release(server)
            channel.close(promise: nil)
            return
        }
        self.server = server
        if back.closed {
            // The server answered and closed before we got here: pass on what it sent, then close.
            back.writeEarly(to: self)
            closeAfterFlush()
            return
        }
        partner = back
        back.partner = self
        writeEarly(to: back)
        back.writeEarly(to: self)
        back.resumeReading()
        if partnerInputClosed {
            partnerInputClosed = false
            back.shutdownOutputAfterFlush()
        }
        // Start reading from the client now that there is somewhere to write.
        if pendingRead {
            pendingRead = false
            context.read()
        }
    }

    // MARK: shovelling

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let n = buffer.readableBytes
        if isFront { LoopStats.add(service.stats.bytesIn, n) } else { LoopStats.add(service.stats.bytesOut, n) }
        if let partner {
            partner.context?.write(wrapOutboundOut(buffer), promise: nil)
        } else {
            early.append(buffer)
        }
    }

    private func writeEarly(to other: L4ProxyHandler) {
        guard !early.isEmpty, let otherContext = other.context else { return }
        for b in early { otherContext.write(wrapOutboundOut(b), promise: nil) }
        early = []
        otherContext.flush()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if let p = partner, let pc = p.context, pc.channel.isWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    private func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    // MARK: closing

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed {
            // Our peer sent FIN: pass it on once what we forwarded is written.
            if let partner { partner.shutdownOutputAfterFlush() } else { partnerInputClosed = true }
        } else if event is IdleStateHandler.IdleStateEvent {
            service.logger.debug("L4: idle timeout", metadata: ["se.vs": "\(service.name)"])
            context.close(promise: nil)
            partner?.context?.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func shutdownOutputAfterFlush() {
        guard let context else { return }
        let channel = context.channel
        // An empty write completes after everything queued before it: only then send our FIN (closing
        // the output of a channel whose input is already shut closes it fully and drops queued bytes).
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
    }

    private func closeAfterFlush() {
        guard let context, !closed else { return }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if let partner {
            self.partner = nil
            partner.partner = nil
            partner.closeAfterFlush()
        }
        if isFront {
            if let server { service.release(server) }
            server = nil
            service.unregister(self)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        service.logger.debug(
            "L4: connection error", metadata: ["se.vs": "\(service.name)", "error": "\(error)"])
        context.close(promise: nil)
    }
}

extension L4ProxyHandler: ClientConnection {
    func startDraining() {
        // An L4 connection has no request boundary: let it run until it ends or the drain times out.
    }

    func forceClose() {
        context?.close(promise: nil)
        partner?.context?.close(promise: nil)
    }
}
