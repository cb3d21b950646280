import NIOCore

/// The per-connection channel handler: cuts the TCP byte stream into `BGPFrame`s (`BGPFrameStream`,
/// RFC 4271 §4.1) and passes each frame, connection state and framing
/// errors straight to the speaker core. It is the only handler on the connection and runs on the
/// core's loop.
///
/// It frames by itself rather than sitting behind `ByteToMessageHandler(BGPFrameDecoder())` so that a
/// frame never travels through the pipeline boxed in a `NIOAny` (an allocation per message on the
/// UPDATE hot path). Behaviour is the same: frames are delivered in order as soon as they are whole;
/// after a framing error (reported once, as `ByteToMessageHandler` does through `errorCaught`) the rest
/// of the stream is discarded; a partial message at end of stream is dropped.
///
/// Outbound it keeps the SendHoldTimer (RFC 9687): at a flush with nothing pending it queues an empty
/// marker behind the data and starts the timer; the marker's completion (everything before it reached
/// the socket) stops it. A peer that stops reading fills its window and our socket buffer, the marker
/// never completes, and at expiry the core ends the session instead of waiting forever.
final class BGPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let core: SpeakerCore
    private let peerAddress: IPAddress
    private let connection: ConnectionID
    private let inbound: Bool
    private var reportedActive = false
    /// Bytes received but not yet cut into frames.
    private var stream = BGPFrameStream()
    /// Set while frames are being delivered, so that a re-entrant read only queues its bytes.
    private var delivering = false
    /// Set after a framing error: the stream can no longer be trusted and is discarded.
    private var failed = false
    /// The SendHoldTimer, running while flushed data has not all reached the socket.
    private var sendHoldTimer: Scheduled<Void>?

    init(core: SpeakerCore, peerAddress: IPAddress, connection: ConnectionID, inbound: Bool) {
        self.core = core
        self.peerAddress = peerAddress
        self.connection = connection
        self.inbound = inbound
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Normally the channel becomes active after the handler is added (channelActive reports it);
        // if it already is, report it here. `reportActive` makes sure it is reported once.
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
        stream.append(&bytes)
        guard !delivering else { return }  // a re-entrant read: the outer call delivers these bytes
        delivering = true
        defer { delivering = false }
        while !failed {
            let frame: BGPFrame?
            do {
                frame = try stream.next()
            } catch {
                failed = true
                stream.reset()
                core.decodeError(error, peerAddress: peerAddress, id: connection)
                return
            }
            guard let frame else { return }
            core.received(frame, peerAddress: peerAddress, id: connection)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        core.readComplete(peerAddress: peerAddress)
        context.fireChannelReadComplete()
    }

    func flush(context: ChannelHandlerContext) {
        if sendHoldTimer == nil {
            let marker = context.eventLoop.makePromise(of: Void.self)
            context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: marker)
            startSendHoldTimer(context: context)
            marker.futureResult.assumeIsolated().whenComplete { [self] _ in
                sendHoldTimer?.cancel()
                sendHoldTimer = nil
            }
        }
        context.flush()
    }

    /// Writable again: the backlog drained below the low watermark, so the peer is reading. RFC 9687 is
    /// about a peer that makes no progress, not a slow one: the timer starts over.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let timer = sendHoldTimer {
            timer.cancel()
            startSendHoldTimer(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    private func startSendHoldTimer(context: ChannelHandlerContext) {
        sendHoldTimer = context.eventLoop.assumeIsolated().scheduleTask(in: core.sendHoldTime(peerAddress: peerAddress))
        {
            [self] in
            core.sendHoldTimerExpired(peerAddress: peerAddress, id: connection)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        sendHoldTimer?.cancel()
        sendHoldTimer = nil
        // A partial message left at end of stream has nobody to be answered to (see BGPFrameDecoder).
        stream.reset()
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
