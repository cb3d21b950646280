import NIOCore
import NIOPosix
import Synchronization
import XCTest

/// A BGP peer played by the test over a real TCP connection: it sends hand-written bytes and reads whole
/// messages back (type and body), so a test sees exactly what a router on the other side would.
struct RawBGPPeer {
    /// One message as received: the header's Type and the bytes after the 19-octet header.
    struct Message: Sendable, Equatable {
        var type: UInt8
        var body: [UInt8]
    }

    /// What a read found.
    enum Received: Equatable {
        case message(Message)
        /// The speaker closed the connection (or reset it).
        case closed
        /// Nothing within the time given.
        case timedOut
    }

    let channel: any Channel
    private var messages: AsyncStream<Message>.Iterator
    private let timedOut: TimeoutFlag

    /// Connects from `source` (port 0) to `host`:`port`.
    static func connect(
        from source: String, to host: String, port: Int, group: any EventLoopGroup
    ) async throws -> RawBGPPeer {
        let (stream, continuation) = AsyncStream.makeStream(of: Message.self)
        let channel = try await ClientBootstrap(group: group)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MessageCollector(continuation))
                }
            }
            .connect(to: try SocketAddress(ipAddress: host, port: port)).get()
        return RawBGPPeer(channel: channel, messages: stream.makeAsyncIterator(), timedOut: TimeoutFlag())
    }

    /// Sends `bytes` as they are.
    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// The next message, or `.closed` when the speaker closed the connection, or `.timedOut` (the
    /// connection is then closed) when nothing came within `timeout`.
    mutating func next(within timeout: TimeAmount) async -> Received {
        let flag = timedOut
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            flag.set()
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        if let message = await messages.next() { return .message(message) }
        return flag.isSet ? .timedOut : .closed
    }

    /// Reads until a message of `type` (skipping KEEPALIVEs and UPDATEs such as End-of-RIB), the close,
    /// or the timeout.
    mutating func next(ofType type: UInt8, within timeout: TimeAmount) async -> Received {
        let deadline = NIODeadline.now() + timeout
        while true {
            let left = deadline - NIODeadline.now()
            let received = await next(within: max(left, .zero))
            guard case .message(let m) = received, m.type != type else { return received }
        }
    }

    func close() async {
        try? await channel.close()
    }
}

/// Whether a read's timer closed the connection.
private final class TimeoutFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Cuts the byte stream into BGP messages by the header's Length field (RFC 4271 §4.1).
private final class MessageCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let continuation: AsyncStream<RawBGPPeer.Message>.Continuation
    private var pending = ByteBuffer()

    init(_ continuation: AsyncStream<RawBGPPeer.Message>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        pending.writeBuffer(&bytes)
        while pending.readableBytes >= 19 {
            let length = Int(pending.getInteger(at: pending.readerIndex + 16, as: UInt16.self)!)
            guard length >= 19 else {
                // Not BGP: end the stream, the test sees the close.
                context.close(promise: nil)
                return
            }
            guard pending.readableBytes >= length else { return }
            let type = pending.getInteger(at: pending.readerIndex + 18, as: UInt8.self)!
            pending.moveReaderIndex(forwardBy: 19)
            let body = pending.readBytes(length: length - 19)!
            continuation.yield(RawBGPPeer.Message(type: type, body: body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset: the speaker dropped the connection.
        context.close(promise: nil)
    }
}

/// Hand-written messages (RFC 4271 §4).
enum RawMessages {
    static let marker = [UInt8](repeating: 0xFF, count: 16)

    /// A whole message: marker, Length, Type, then `body`.
    static func message(type: UInt8, body: [UInt8]) -> [UInt8] {
        let length = 19 + body.count
        return marker + [UInt8(length >> 8), UInt8(length & 0xFF), type] + body
    }

    /// An OPEN (RFC 4271 §4.2) with a 2-octet AS, no optional parameters.
    static func open(as asn: UInt16, holdTime: UInt16, identifier: [UInt8]) -> [UInt8] {
        message(
            type: 1,
            body: [4, UInt8(asn >> 8), UInt8(asn & 0xFF), UInt8(holdTime >> 8), UInt8(holdTime & 0xFF)] + identifier
                + [0])
    }

    static let keepalive = message(type: 4, body: [])
}

extension RawBGPPeer.Received: CustomStringConvertible {
    var description: String {
        switch self {
        case .message(let m): "message type \(m.type), body \(m.body)"
        case .closed: "closed"
        case .timedOut: "nothing (timed out)"
        }
    }
}
