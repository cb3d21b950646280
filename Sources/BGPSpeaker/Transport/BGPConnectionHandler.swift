import NIOCore

/// The per-connection channel handler: cuts the TCP byte stream into `BGPFrame`s (with
/// `BGPFrameDecoder.decodeFrame`, RFC 4271 §4.1) and passes each frame, connection state and framing
/// errors straight to the speaker core. It is the only handler on the connection and runs on the
/// core's loop.
///
/// It frames by itself rather than sitting behind `ByteToMessageHandler(BGPFrameDecoder())` so that a
/// frame never travels through the pipeline boxed in a `NIOAny` (an allocation per message on the
/// UPDATE hot path). Behaviour is the same: frames are delivered in order as soon as they are whole;
/// after a framing error (reported once, as `ByteToMessageHandler` does through `errorCaught`) the rest
/// of the stream is discarded; a partial message at end of stream is dropped.
final class BGPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let core: SpeakerCore
    private let peerAddress: IPAddress
    private let connection: ConnectionID
    private let inbound: Bool
    private var reportedActive = false
    /// Bytes received but not yet cut into frames (a partial message), or nil.
    private var pending: ByteBuffer?
    /// Set while frames are being delivered, so that a re-entrant read only queues its bytes.
    private var delivering = false
    /// Set after a framing error: the stream can no longer be trusted and is discarded.
    private var failed = false

    init(core: SpeakerCore, peerAddress: IPAddress, connection: ConnectionID, inbound: Bool) {
        self.core = core
        self.peerAddress = peerAddress
        self.connection = connection
        self.inbound = inbound
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Child channels of a server are already active when their initializer runs.
        if context.channel.isActive { reportActive() }
    }

    func channelActive(context: ChannelHandlerContext) {
        reportActive()
        context.fireChannelActive()
    }

    private func reportActive() {
        guard !reportedActive else { return }
        reportedActive = true
        core.connectionActive(peerAddress: peerAddress, id: connection, inbound: inbound)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var bytes = unwrapInboundIn(data)
        if pending == nil {
            pending = bytes
        } else {
            pending!.writeBuffer(&bytes)
        }
        guard !delivering else { return }  // the outer call delivers what was queued
        delivering = true
        defer { delivering = false }
        while !failed, var buffer = pending {
            pending = nil  // keep the storage uniquely referenced while cutting frames
            let frame: BGPFrame?
            do {
                frame = try BGPFrameDecoder.decodeFrame(&buffer)
            } catch {
                failed = true
                core.decodeError(error, peerAddress: peerAddress, id: connection)
                return
            }
            guard let frame else {
                // A partial message: keep it, moved to the front of its storage, for the next read.
                if buffer.readerIndex > 0 { buffer.discardReadBytes() }
                pending = buffer
                return
            }
            // Bytes that arrived re-entrantly (during the previous delivery) follow the remainder.
            if var queued = pending { buffer.writeBuffer(&queued) }
            pending = buffer.readableBytes > 0 ? buffer : nil
            core.received(frame, peerAddress: peerAddress, id: connection)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        core.readComplete(peerAddress: peerAddress)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A partial message left at end of stream has nobody to be answered to (see BGPFrameDecoder).
        pending = nil
        core.connectionClosed(peerAddress: peerAddress, id: connection)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? BGPError {
            core.decodeError(error, peerAddress: peerAddress, id: connection)
        } else {
            context.close(promise: nil)
        }
    }
}
