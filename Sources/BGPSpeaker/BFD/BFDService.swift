import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// One peer to run BFD with (RFC 5881 single hop).
public struct BFDPeer: Sendable, Hashable {
    public var address: IPAddress
    /// The source address of our packets; nil lets the kernel pick it from the route to the peer.
    public var localAddress: IPAddress?
    /// The peer's BFD port (3784).
    public var port: Int
    public var timers: BFDTimers

    public init(
        address: IPAddress, localAddress: IPAddress? = nil, port: Int = BFDService.controlPort,
        timers: BFDTimers = .fast
    ) {
        self.address = address
        self.localAddress = localAddress
        self.port = port
        self.timers = timers
    }
}

/// What the status API shows for one BFD session.
public struct BFDStatus: Sendable, Hashable {
    public var peer: IPAddress
    public var state: BFDState
    public var remoteState: BFDState
    public var diagnostic: BFDDiagnostic
    public var localDiscriminator: UInt32
    public var remoteDiscriminator: UInt32
    /// The negotiated interval between our packets and the time without packets that takes the session
    /// down, in milliseconds (zero before the peer spoke).
    public var transmitIntervalMilliseconds: Double
    public var detectionTimeMilliseconds: Double
    public var packetsReceived: Int
    public var packetsSent: Int
    public var packetsDiscarded: Int
    public var upTransitions: Int
}

/// BFD for a speaker's peers (RFC 5880 asynchronous mode, RFC 5881 single hop over IPv4 and IPv6).
///
/// I/O: a UDP listener on port 3784 per address family, with a socket filter that drops every datagram
/// whose TTL (hop limit) is not 255 before it reaches us (RFC 5881 §5; Linux honours `IP_MINTTL` for TCP
/// only); one sending socket per session, bound to a source port in 49152–65535 (RFC 5881 §4) and sending
/// with TTL 255. All of it runs on its own event loop thread, so BFD timing never waits behind UPDATE
/// processing on the speaker's loop or behind the data plane (the issue's "timers honoured on a loaded
/// 2-core machine").
///
/// The session logic is `BFDSession` (pure); this type feeds it packets and the clock and reports state
/// changes through `onStateChange`, called on the BFD thread.
public final class BFDService: Sendable {
    /// `remote` is the peer's state as last heard: AdminDown there means the peer took BFD down on purpose,
    /// which RFC 5882 §3.2 says is no path failure.
    public typealias StateChange =
        @Sendable (
            _ peer: IPAddress, _ from: BFDState, _ to: BFDState, _ diagnostic: BFDDiagnostic, _ remote: BFDState
        ) -> Void

    /// The well-known destination port of single-hop BFD Control packets (RFC 5881 §4).
    public static let controlPort = 3784

    let group: MultiThreadedEventLoopGroup
    let eventLoop: any EventLoop
    private let core: NIOLoopBoundBox<BFDCore>

    /// - Parameters:
    ///   - listenPort: 3784 in production; tests that run two services in one namespace pass other ports.
    public init(
        logger: Logger, listenPort: Int = BFDService.controlPort, onStateChange: @escaping StateChange
    ) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        eventLoop = group.next()
        core = .makeBoxSendingValue(
            BFDCore(
                eventLoop: eventLoop, logger: logger, listenPort: listenPort, onStateChange: onStateChange),
            eventLoop: eventLoop)
    }

    /// Sets the sessions to run (desired state): new peers start in Down, removed ones send AdminDown
    /// once and stop, peers whose timers changed start a Poll Sequence. Fails when a listener cannot be
    /// bound; the sessions that could start run anyway.
    ///
    /// - Parameter resuming: Up sessions handed off by a predecessor process (`handOff()`), by peer: a
    ///   new peer with one goes on with it instead of starting in Down.
    public func setPeers(_ peers: [BFDPeer], resuming: [IPAddress: BFDSession.Handoff] = [:]) async throws {
        try await eventLoop.flatSubmit { self.core.value.setPeers(peers, resuming: resuming) }.get()
    }

    /// Stops without AdminDown and returns the Up sessions for a successor process, which goes on with
    /// them before the peers' Detection Time runs out (hitless restart). The sockets close and the
    /// thread stops.
    public func handOff() async -> [IPAddress: BFDSession.Handoff] {
        let sessions = (try? await eventLoop.flatSubmit { self.core.value.handOff() }.get()) ?? [:]
        try? await group.shutdownGracefully()
        return sessions
    }

    public func status() async -> [BFDStatus] {
        (try? await eventLoop.submit { self.core.value.status() }.get()) ?? []
    }

    /// Sends AdminDown to every peer, closes the sockets and stops the thread.
    public func shutdown() async {
        _ = try? await eventLoop.flatSubmit { self.core.value.shutdown() }.get()
        try? await group.shutdownGracefully()
    }
}

/// The service's state, confined to its event loop.
final class BFDCore {
    final class Entry {
        var peer: BFDPeer
        var session: BFDSession
        var channel: (any Channel)?
        var timer: Scheduled<Void>?
        var timerDeadline: NIODeadline?
        var packetsReceived = 0
        var packetsSent = 0
        var packetsDiscarded = 0
        var upTransitions = 0
        var logger: Logger

        /// Where the packets go: the peer's address and BFD port, which stay the same for the entry's life
        /// (a change of either replaces the entry).
        let remote: SocketAddress?

        init(peer: BFDPeer, session: BFDSession, logger: Logger) {
            self.peer = peer
            self.session = session
            self.logger = logger
            self.remote = try? SocketAddress(ipAddress: peer.address.description, port: peer.port)
        }
    }

    let eventLoop: any EventLoop
    let logger: Logger
    let listenPort: Int
    let onStateChange: BFDService.StateChange
    var entries: [IPAddress: Entry] = [:]
    var byDiscriminator: [UInt32: IPAddress] = [:]
    var listeners: [NIOBSDSocket.ProtocolFamily: any Channel] = [:]
    var rng = SystemRandomNumberGenerator()
    /// Datagrams refused before a session was found (bad packet, unknown discriminator or source).
    var unmatched = 0

    init(
        eventLoop: any EventLoop, logger: Logger, listenPort: Int, onStateChange: @escaping BFDService.StateChange
    ) {
        self.eventLoop = eventLoop
        self.logger = logger
        self.listenPort = listenPort
        self.onStateChange = onStateChange
    }

    private var bound: NIOLoopBound<BFDCore> { NIOLoopBound(self, eventLoop: eventLoop) }

    func setPeers(_ peers: [BFDPeer], resuming: [IPAddress: BFDSession.Handoff] = [:]) -> EventLoopFuture<Void> {
        let wanted = Dictionary(peers.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        for (address, entry) in entries where wanted[address] != entry.peer {
            if let new = wanted[address], new.localAddress == entry.peer.localAddress, new.port == entry.peer.port {
                // Only the timers changed: a Poll Sequence carries them, the session stays up.
                entry.peer = new
                execute(entry.session.reconfigure(new.timers, now: .now(), using: &rng), entry: entry)
                schedule(entry)
                continue
            }
            remove(entry)
        }
        var futures: [EventLoopFuture<Void>] = []
        for peer in peers where entries[peer.address] == nil {
            futures.append(add(peer, resuming: resuming[peer.address]))
        }
        let families = Set(entries.keys.map(SpeakerCore.family(of:)))
        for family in families where listeners[family] == nil {
            futures.append(listen(family))
        }
        for (family, channel) in listeners where !families.contains(family) {
            channel.close(promise: nil)
            listeners[family] = nil
        }
        return EventLoopFuture.andAllSucceed(futures, on: eventLoop)
    }

    func shutdown() -> EventLoopFuture<Void> {
        for entry in entries.values { remove(entry) }
        let closes = listeners.values.map { $0.close() }
        listeners = [:]
        return EventLoopFuture.whenAllComplete(closes, on: eventLoop).map { _ in }
    }

    func handOff() -> EventLoopFuture<[IPAddress: BFDSession.Handoff]> {
        var sessions: [IPAddress: BFDSession.Handoff] = [:]
        var closes: [EventLoopFuture<Void>] = []
        for entry in entries.values {
            entry.timer?.cancel()
            entry.timer = nil
            if let h = entry.session.handoff { sessions[entry.peer.address] = h }
            if let c = entry.channel { closes.append(c.close()) }
            entry.logger.info("BFD session handed off to the successor process")
        }
        entries = [:]
        byDiscriminator = [:]
        closes += listeners.values.map { $0.close() }
        listeners = [:]
        let handedOff = sessions
        return EventLoopFuture.whenAllComplete(closes, on: eventLoop).map { _ in handedOff }
    }

    func status() -> [BFDStatus] {
        entries.values.sorted { $0.peer.address.description < $1.peer.address.description }.map { e in
            let s = e.session
            return BFDStatus(
                peer: e.peer.address, state: s.state, remoteState: s.remoteState, diagnostic: s.diagnostic,
                localDiscriminator: s.localDiscriminator, remoteDiscriminator: s.remoteDiscriminator,
                transmitIntervalMilliseconds: Double(s.transmitInterval.nanoseconds) / 1e6,
                detectionTimeMilliseconds: Double(s.detectionTime.nanoseconds) / 1e6,
                packetsReceived: e.packetsReceived, packetsSent: e.packetsSent,
                packetsDiscarded: e.packetsDiscarded, upTransitions: e.upTransitions)
        }
    }

    // MARK: - Sessions

    private func add(_ peer: BFDPeer, resuming: BFDSession.Handoff? = nil) -> EventLoopFuture<Void> {
        var logger = self.logger
        logger[metadataKey: "bfd.peer"] = "\(peer.address)"
        let session: BFDSession
        if let resuming, byDiscriminator[resuming.localDiscriminator] == nil {
            session = BFDSession(resuming: resuming, timers: peer.timers, now: .now(), using: &rng)
            logger.info(
                "BFD session taken over Up from the previous process", metadata: ["bfd.timers": "\(peer.timers)"])
        } else {
            var discriminator: UInt32 = 0
            while discriminator == 0 || byDiscriminator[discriminator] != nil {
                discriminator = .random(in: 1...UInt32.max, using: &rng)
            }
            session = BFDSession(localDiscriminator: discriminator, timers: peer.timers, now: .now())
            logger.info("BFD session started", metadata: ["bfd.timers": "\(peer.timers)"])
        }
        let entry = Entry(peer: peer, session: session, logger: logger)
        entries[peer.address] = entry
        byDiscriminator[session.localDiscriminator] = peer.address
        let bound = self.bound
        let boundEntry = NIOLoopBound(entry, eventLoop: eventLoop)
        return openSender(for: peer).map { channel in
            let core = bound.value
            let entry = boundEntry.value
            guard core.entries[peer.address] === entry else {
                channel.close(promise: nil)
                return
            }
            entry.channel = channel
            core.schedule(entry)
        }.flatMapErrorThrowing { error in
            let core = bound.value
            core.logger.error("BFD session cannot send: \(error)", metadata: ["bfd.peer": "\(peer.address)"])
            // Forget it, so that the next setPeers (the speaker applies its configuration again on every
            // change) tries again rather than keeping a session that never transmits.
            if let entry = core.entries[peer.address], entry === boundEntry.value {
                core.entries[peer.address] = nil
                core.byDiscriminator[entry.session.localDiscriminator] = nil
            }
            throw error
        }
    }

    private func remove(_ entry: Entry) {
        entry.timer?.cancel()
        entry.timer = nil
        _ = entry.session.adminDown(now: .now(), using: &rng)
        // RFC 5880 §6.8.16: tell the peer the session is administratively down, so that it does not take
        // the path for failed.
        if let channel = entry.channel {
            send(entry.session.makePacket(final: false), on: channel, entry: entry)
            channel.close(promise: nil)
        }
        entries[entry.peer.address] = nil
        byDiscriminator[entry.session.localDiscriminator] = nil
        entry.logger.info("BFD session stopped")
    }

    private func execute(_ actions: [BFDAction], entry: Entry) {
        for action in actions {
            switch action {
            case .send(let packet):
                if let channel = entry.channel { send(packet, on: channel, entry: entry) }
            case .stateChanged(let from, let to, let diagnostic):
                if to == .up { entry.upTransitions += 1 }
                let level: Logger.Level = from == .up ? .warning : .info
                entry.logger.log(
                    level: level, "BFD session \(from) -> \(to)", metadata: ["bfd.diagnostic": "\(diagnostic)"])
                onStateChange(entry.peer.address, from, to, diagnostic, entry.session.remoteState)
            }
        }
    }

    private func send(_ packet: BFDControlPacket, on channel: any Channel, entry: Entry) {
        guard let remote = entry.remote else { return }
        var buffer = channel.allocator.buffer(capacity: BFDControlPacket.length)
        packet.write(to: &buffer)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: buffer), promise: nil)
        entry.packetsSent += 1
    }

    private func schedule(_ entry: Entry) {
        guard let deadline = entry.session.nextDeadline, entries[entry.peer.address] === entry else { return }
        if let current = entry.timerDeadline, entry.timer != nil, current <= deadline { return }
        entry.timer?.cancel()
        entry.timerDeadline = deadline
        entry.timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            entry.timer = nil
            entry.timerDeadline = nil
            guard entries[entry.peer.address] === entry else { return }
            execute(entry.session.timersExpired(now: .now(), using: &rng), entry: entry)
            schedule(entry)
        }
    }

    /// A datagram on a listener: decode, find the session (RFC 5880 §6.8.6), hand it over.
    func received(_ envelope: AddressedEnvelope<ByteBuffer>) {
        let packet: BFDControlPacket
        let source = SpeakerCore.ipAddress(of: envelope.remoteAddress)
        do {
            packet = try BFDControlPacket(datagram: envelope.data)
        } catch {
            unmatched += 1
            if let source, let entry = entries[source] { entry.packetsDiscarded += 1 }
            logger.debug("BFD packet discarded: \(error)", metadata: ["bfd.source": "\(envelope.remoteAddress)"])
            return
        }
        let entry: Entry?
        if packet.yourDiscriminator != 0 {
            // "If the Your Discriminator field is nonzero, it MUST be used to select the session ...
            // If no session is found, the packet MUST be discarded."
            entry = byDiscriminator[packet.yourDiscriminator].flatMap { entries[$0] }
        } else {
            // "...the session MUST be selected based on some combination of other fields": for single
            // hop, the source address (RFC 5881 §3).
            entry = source.flatMap { entries[$0] }
        }
        // A packet for one peer's session must come from that peer.
        guard let entry, entry.peer.address == source else {
            unmatched += 1
            logger.debug(
                "BFD packet for no session of ours",
                metadata: [
                    "bfd.source": "\(envelope.remoteAddress)", "bfd.your_discriminator": "\(packet.yourDiscriminator)",
                ])
            return
        }
        entry.packetsReceived += 1
        execute(entry.session.received(packet, now: .now(), using: &rng), entry: entry)
        schedule(entry)
    }

    // MARK: - Sockets

    /// A listener on port 3784 of the family's wildcard address, behind a TTL-255 socket filter.
    private func listen(_ family: NIOBSDSocket.ProtocolFamily) -> EventLoopFuture<Void> {
        let fd: CInt
        do {
            fd = try Self.makeListenerSocket(family: family, port: listenPort)
        } catch {
            logger.error("BFD cannot listen: \(error)")
            return eventLoop.makeFailedFuture(error)
        }
        let bound = self.bound
        return DatagramBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BFDReceiveHandler(core: bound))
                }
            }
            .withBoundSocket(fd)
            .map { channel in
                let core = bound.value
                core.listeners[family] = channel
                core.logger.info(
                    "BFD listening", metadata: ["bfd.listen": "\(channel.localAddress?.description ?? "?")"])
            }
    }

    /// The sending socket of one session: TTL 255, a source port in 49152–65535 (RFC 5881 §4: "The
    /// source port MUST be in the range 49152 through 65535", the same for every packet of the session).
    private func openSender(for peer: BFDPeer) -> EventLoopFuture<any Channel> {
        let family = SpeakerCore.family(of: peer.address)
        let local = peer.localAddress?.description ?? (family == .inet ? "0.0.0.0" : "::")
        let ttlOption: ChannelOptions.Types.SocketOption =
            family == .inet
            ? .init(level: .ip, name: NIOBSDSocket.Option(rawValue: IP_TTL))
            : .init(level: .ipv6, name: NIOBSDSocket.Option(rawValue: IPV6_UNICAST_HOPS))
        return Self.bindSender(on: eventLoop, local: local, ttlOption: ttlOption, attemptsLeft: 32)
    }

    /// Binds a random port of the range, trying another while one is taken.
    private static func bindSender(
        on eventLoop: any EventLoop, local: String, ttlOption: ChannelOptions.Types.SocketOption, attemptsLeft: Int
    ) -> EventLoopFuture<any Channel> {
        let address: SocketAddress
        do { address = try SocketAddress(ipAddress: local, port: Int.random(in: 49152...65535)) } catch {
            return eventLoop.makeFailedFuture(error)
        }
        return DatagramBootstrap(group: eventLoop)
            .channelOption(ttlOption, value: 255)
            .bind(to: address)
            .flatMapError { error in
                guard attemptsLeft > 0 else { return eventLoop.makeFailedFuture(error) }
                return bindSender(on: eventLoop, local: local, ttlOption: ttlOption, attemptsLeft: attemptsLeft - 1)
            }
    }

    /// socket(2) + the TTL filter + bind(2): the parts NIO's bootstrap has no option for.
    static func makeListenerSocket(family: NIOBSDSocket.ProtocolFamily, port: Int) throws -> CInt {
        let fd = socket(family.rawValue, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var one: CInt = 1
        do {
            // No SO_REUSEADDR: with it a second BFD daemon could bind 3784 too and take our packets; without
            // it that conflict fails here, and is logged.
            if family == .inet6 {
                guard setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<CInt>.size)) == 0
                else { throw IOError(errnoCode: errno, reason: "setsockopt(IPV6_V6ONLY)") }
            }
            try attachTTLFilter(fd, family: family)
            let address = try SocketAddress(ipAddress: family == .inet ? "0.0.0.0" : "::", port: port)
            let rc = address.withSockAddr { sa, len in bind(fd, sa, socklen_t(len)) }
            guard rc == 0 else { throw IOError(errnoCode: errno, reason: "bind(\(address))") }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// A classic BPF socket filter that passes a datagram only when its IPv4 TTL (octet 8 of the IP
    /// header) or IPv6 Hop Limit (octet 7) is 255: RFC 5881 §5 "If the received TTL/Hop Limit is not
    /// 255, the packet MUST be discarded" (GTSM, RFC 5082), enforced by the kernel.
    static func attachTTLFilter(_ fd: CInt, family: NIOBSDSocket.ProtocolFamily) throws {
        // BPF_LD|BPF_B|BPF_ABS at SKF_NET_OFF + offset; BPF_JMP|BPF_JEQ|BPF_K 255; BPF_RET|BPF_K.
        let skfNetOff: Int64 = -0x10_0000
        let offset: Int64 = family == .inet ? 8 : 7
        let program: [(code: UInt16, jt: UInt8, jf: UInt8, k: UInt32)] = [
            (0x30, 0, 0, UInt32(truncatingIfNeeded: skfNetOff + offset)),
            (0x15, 0, 1, 255),
            (0x06, 0, 0, 0xFFFF_FFFF),
            (0x06, 0, 0, 0),
        ]
        // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }, 8 octets each.
        var instructions = [UInt8](repeating: 0, count: program.count * 8)
        for (i, ins) in program.enumerated() {
            withUnsafeBytes(of: ins.code) { instructions.replaceSubrange(i * 8..<i * 8 + 2, with: $0) }
            instructions[i * 8 + 2] = ins.jt
            instructions[i * 8 + 3] = ins.jf
            withUnsafeBytes(of: ins.k) { instructions.replaceSubrange(i * 8 + 4..<i * 8 + 8, with: $0) }
        }
        // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: 16 octets on 64-bit.
        let rc = instructions.withUnsafeMutableBytes { filter -> CInt in
            var fprog = [UInt8](repeating: 0, count: 16)
            withUnsafeBytes(of: UInt16(program.count)) { fprog.replaceSubrange(0..<2, with: $0) }
            withUnsafeBytes(of: filter.baseAddress) { fprog.replaceSubrange(8..<16, with: $0) }
            return fprog.withUnsafeBytes { setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, $0.baseAddress, socklen_t(16)) }
        }
        guard rc == 0 else { throw IOError(errnoCode: errno, reason: "setsockopt(SO_ATTACH_FILTER)") }
    }
}

/// Hands the listener's datagrams to the core.
final class BFDReceiveHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let core: NIOLoopBound<BFDCore>

    init(core: NIOLoopBound<BFDCore>) { self.core = core }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        core.value.received(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram socket reports ICMP errors here; they say nothing about a session.
        core.value.logger.debug("BFD listener: \(error)")
    }
}
