import BGPSpeaker
import Foundation
import NIOCore
import NIOPosix
import StarlingModel

/// The hitless restart of an SE (a new binary, a new configuration of the process): the running SE
/// (the predecessor) listens on a Unix socket; a new `starling se` started with the same socket (the
/// successor) takes over without a refused connection or a withdrawn route:
///
/// 1. successor → `takeover` with its identity; predecessor → `state`: the servers up per service and
///    the controller registration (or `refused` when the successor is another SE). The predecessor goes on
///    serving.
/// 2. The successor starts from that health (``DataPlane/inheritHealth(_:)``), applies its configuration
///    and binds its listeners beside the predecessor's (`SO_REUSEPORT`), then → `release`.
/// 3. The predecessor leaves its BGP sessions without a withdrawal (routers with Graceful Restart keep
///    the VIPs, RFC 4724), closes its listeners (with `net.ipv4.tcp_migrate_req` the kernel moves their
///    queued connections to the successor's), → `released` with its Up BFD sessions, lets its
///    connections finish and exits.
/// 4. The successor starts BGP as a restarting speaker, going on with those BFD sessions before the
///    routers' Detection Time runs out, and its management API, and listens for the next successor.

public struct HandoffMessage: Codable, Sendable, Equatable {
    public enum Op: String, Codable, Sendable {
        case takeover, state, release, released, refused
    }
    public var op: Op
    /// `takeover`: which SE the successor is; the predecessor refuses another one's.
    public var identity: String?
    /// `refused`: why.
    public var reason: String?
    /// `state`: the servers up (server keys `ip:port`) per service id.
    public var health: [String: [String]]?
    /// `state`: the predecessor's controller registration (managed SEs).
    public var registration: SERegistered?
    /// `released`: the Up BFD sessions, by peer address.
    public var bfd: [String: BFDSession.Handoff]?
    /// The sender's process id (for the logs).
    public var pid: Int32?

    public init(
        op: Op, identity: String? = nil, reason: String? = nil, health: [String: [String]]? = nil,
        registration: SERegistered? = nil, bfd: [IPAddress: BFDSession.Handoff]? = nil,
        pid: Int32 = ProcessInfo.processInfo.processIdentifier
    ) {
        self.op = op
        self.identity = identity
        self.reason = reason
        self.health = health
        self.registration = registration
        self.bfd = bfd.map { Dictionary(uniqueKeysWithValues: $0.map { ("\($0.key)", $0.value) }) }
        self.pid = pid
    }
}

extension HandoffMessage {
    /// The BFD sessions by address (entries whose key is no address are dropped).
    public var bfdSessions: [IPAddress: BFDSession.Handoff] {
        Dictionary(
            (bfd ?? [:]).compactMap { key, value in IPAddress(key).map { ($0, value) } },
            uniquingKeysWith: { a, _ in a })
    }
}

/// One end of a handoff connection: JSON messages, one per line.
public final class HandoffLink: Sendable {
    /// Longest message accepted (a state with tens of thousands of servers fits).
    static let maximumMessage = 8 << 20

    private let channel: any Channel
    private let messages: AsyncThrowingStream<HandoffMessage, any Error>

    init(channel: any Channel, messages: AsyncThrowingStream<HandoffMessage, any Error>) {
        self.channel = channel
        self.messages = messages
    }

    /// Connects to the predecessor listening on `path`; nil when no process listens there.
    public static func connect(path: String, group: any EventLoopGroup) async -> HandoffLink? {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: HandoffMessage.self)
        do {
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HandoffLineHandler(continuation))
                    }
                }
                .connect(unixDomainSocketPath: path).get()
            return HandoffLink(channel: channel, messages: stream)
        } catch {
            return nil
        }
    }

    /// Sends one message.
    public func send(_ message: HandoffMessage) async throws {
        var bytes = try JSONEncoder().encode(message)
        bytes.append(UInt8(ascii: "\n"))
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// The next message, waiting at most `timeout`; throws when the other side closed or sent garbage.
    public func receive(timeout: Duration) async throws -> HandoffMessage {
        let messages = self.messages
        return try await withThrowingTaskGroup(of: HandoffMessage.self) { group in
            group.addTask {
                var iterator = messages.makeAsyncIterator()
                guard let message = try await iterator.next() else {
                    throw HandoffError(message: "the other process closed the handoff connection")
                }
                return message
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw HandoffError(message: "no handoff message within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// Receives a message and checks it is `op`.
    public func expect(_ op: HandoffMessage.Op, timeout: Duration) async throws -> HandoffMessage {
        let message = try await receive(timeout: timeout)
        guard message.op == op else {
            throw HandoffError(message: "expected '\(op.rawValue)', got '\(message.op.rawValue)'")
        }
        return message
    }

    /// The successor's first step: `takeover` as `identity`, and the predecessor's `state`; throws with
    /// the predecessor's reason when it refuses.
    public func requestTakeover(identity: String, timeout: Duration = .seconds(10)) async throws -> HandoffMessage {
        try await send(HandoffMessage(op: .takeover, identity: identity))
        let answer = try await receive(timeout: timeout)
        switch answer.op {
        case .state: return answer
        case .refused: throw HandoffError(message: "refused: \(answer.reason ?? "no reason given")")
        default: throw HandoffError(message: "expected 'state', got '\(answer.op.rawValue)'")
        }
    }

    /// The predecessor's side of steps 1 and 2: answers a `takeover` from the same SE with `state()` and
    /// returns the successor's `takeover` once it asks for the `release`; refuses another SE's (and
    /// throws). Throws when the successor goes away or takes longer than `releaseTimeout`.
    public func answerTakeover(
        identity: String, releaseTimeout: Duration, state: () async -> HandoffMessage
    ) async throws -> HandoffMessage {
        let hello = try await expect(.takeover, timeout: .seconds(10))
        guard hello.identity == identity else {
            let reason = "this socket belongs to another SE (\(identity)), not \(hello.identity ?? "unnamed")"
            try? await send(HandoffMessage(op: .refused, reason: reason))
            throw HandoffError(message: "takeover refused: \(reason)")
        }
        try await send(await state())
        _ = try await expect(.release, timeout: releaseTimeout)
        return hello
    }

    public func close() async {
        try? await channel.close()
    }
}

/// The predecessor's side: a listener on the handoff socket; each connection is handed to `onLink`.
public enum HandoffListener {
    /// Binds `path` (replacing a stale socket file; the directory is created if missing).
    public static func bind(
        path: String, group: any EventLoopGroup, onLink: @escaping @Sendable (HandoffLink) -> Void
    ) async throws -> any Channel {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let (stream, continuation) = AsyncThrowingStream.makeStream(of: HandoffMessage.self)
                    try channel.pipeline.syncOperations.addHandler(HandoffLineHandler(continuation))
                    onLink(HandoffLink(channel: channel, messages: stream))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        // Only root (the SE's user) may take the SE over.
        chmod(path, 0o600)
        return channel
    }
}

public struct HandoffError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Splits the byte stream into lines and decodes each as a ``HandoffMessage``.
final class HandoffLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let continuation: AsyncThrowingStream<HandoffMessage, any Error>.Continuation
    private var pending: ByteBuffer?

    init(_ continuation: AsyncThrowingStream<HandoffMessage, any Error>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if pending == nil { pending = context.channel.allocator.buffer(capacity: bytes.readableBytes) }
        pending!.writeBuffer(&bytes)
        while let newline = pending!.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending!.readerIndex
            let line = pending!.readSlice(length: length)!
            pending!.moveReaderIndex(forwardBy: 1)
            do {
                continuation.yield(try JSONDecoder().decode(HandoffMessage.self, from: Data(line.readableBytesView)))
            } catch {
                continuation.finish(throwing: HandoffError(message: "unreadable handoff message: \(error)"))
                context.close(promise: nil)
                return
            }
        }
        if pending!.readableBytes > HandoffLink.maximumMessage {
            continuation.finish(
                throwing: HandoffError(message: "handoff message over \(HandoffLink.maximumMessage) bytes"))
            context.close(promise: nil)
        }
        pending!.discardReadBytes()
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }
}
