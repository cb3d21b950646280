import NIOCore

/// The per-connection channel handler: passes decoded frames, connection state and framing errors to
/// the speaker core. It sits after `ByteToMessageHandler(BGPFrameDecoder())` and runs on the core's loop.
final class BGPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = BGPFrame
    typealias OutboundOut = ByteBuffer

    private let core: SpeakerCore
    private let peerAddress: IPAddress
    private let connection: ConnectionID
    private let inbound: Bool
    private var reportedActive = false

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
        core.received(unwrapInboundIn(data), peerAddress: peerAddress, id: connection)
    }

    func channelInactive(context: ChannelHandlerContext) {
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
