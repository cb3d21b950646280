import CLinuxIO
import Glibc
import NIOCore
import Synchronization

// The L4 fast path: plain TCP virtual services on an ``L4EventLoop``, with the same behaviour as
// ``L4ProxyHandler`` (connect retries over the pool, half-close, backpressure, idle timeout, counters,
// drain) at a fraction of its per-connection cost: a connection is one object and two non-blocking
// sockets in an edge-triggered epoll set, bytes go through the loop's scratch buffer and are kept only
// when the other side cannot take them yet.

/// A listening socket of a plain TCP service on an ``L4EventLoop`` (`SO_REUSEPORT` like the NIO
/// listeners, so the loops share the address).
final class FastL4Listener: L4Readiness, ServiceListener, @unchecked Sendable {
    private let loop: L4EventLoop
    private let service: LoopService
    private var fd: Int32

    private init(loop: L4EventLoop, service: LoopService, fd: Int32) {
        self.loop = loop
        self.service = service
        self.fd = fd
    }

    /// Binds `address` and accepts on `service`'s loop (which must be an ``L4EventLoop``).
    static func bind(_ address: SocketAddress, service: LoopService) -> EventLoopFuture<any ServiceListener> {
        guard let loop = service.loop as? L4EventLoop else {
            return service.loop.makeFailedFuture(ChannelError.inappropriateOperationForState)
        }
        return loop.submit {
            let fd = socket(Int32(address.protocol.rawValue), streamFlags, 0)
            guard fd >= 0 else { throw L4Error("socket", errno) }
            do {
                try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
                try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1)
                if case .v6 = address {
                    try setOption(fd, Int32(IPPROTO_IPV6), 78, 1)  // IPV6_FREEBIND
                } else {
                    try setOption(fd, Int32(IPPROTO_IP), 15, 1)  // IP_FREEBIND
                }
                let bound = address.withSockAddr { Glibc.bind(fd, $0, socklen_t($1)) }
                guard bound == 0 else { throw L4Error("bind", errno) }
                guard listen(fd, 1024) == 0 else { throw L4Error("listen", errno) }
                let listener = FastL4Listener(loop: loop, service: service, fd: fd)
                try loop.watch(fd, events: EPOLLIN.rawValue, handler: listener)
                return listener
            } catch {
                Glibc.close(fd)
                throw error
            }
        }
    }

    func ready(fd: Int32, events: UInt32) {
        // At most a batch per wake-up, so that connections already open get their turn.
        for _ in 0..<64 {
            let client = starling_accept_nonblocking(fd)
            guard client >= 0 else {
                let e = errno
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                    // Out of descriptors or memory: the queued connection stays ready, so accepting again at
                    // once would spin. Pause for a second (as NIO's AcceptBackoffHandler does).
                    service.logger.warning(
                        "L4: cannot accept, pausing the listener for 1 s: \(L4Error("accept4", e))",
                        metadata: ["se.vs": "\(service.name)"])
                    loop.rewatch(fd, events: 0)
                    loop.scheduleTask(in: Self.acceptBackoff) { [self] in
                        if self.fd >= 0 { loop.rewatch(self.fd, events: EPOLLIN.rawValue) }
                    }
                }
                return
            }
            FastL4Connection(loop: loop, service: service, client: client).start()
        }
    }

    static let acceptBackoff = TimeAmount.seconds(1)

    func close() async {
        guard loop.isRunning else {
            // The loop's thread is gone: nothing else touches the descriptor.
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
            return
        }
        try? await loop.submit { [self] in
            guard fd >= 0 else { return }
            loop.forget(fd)
            Glibc.close(fd)
            fd = -1
        }.get()
    }

    /// A non-blocking TCP socket closed on exec.
    static let streamFlags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw L4Error("setsockopt", errno)
        }
    }
}

/// One proxied connection: the client's socket and the server's, and the bytes one side could not take yet.
final class FastL4Connection: L4Readiness, ClientConnection, @unchecked Sendable {
    /// Bytes read from one side and not yet written to the other.
    private struct Direction {
        var pending: [UInt8] = []
        var sent = 0
        /// The source gave EOF (read 0): once `pending` is written, the destination's output is shut.
        var eof = false
        var shut = false
        /// The source signalled its FIN or an error (EPOLLRDHUP, EPOLLHUP, EPOLLERR): read until read says so.
        var hangup = false
        var hasPending: Bool { sent < pending.count }

        /// Nothing more can go this way (its destination failed): what is kept is dropped.
        mutating func abandon() {
            pending = []
            sent = 0
            eof = true
            shut = true
        }
    }

    private let loop: L4EventLoop
    private let service: LoopService
    private let client: Int32
    private var server: Int32 = -1
    private var picked: LoopServer?
    private var connecting = false
    private var connectDeadline = NIODeadline.distantFuture
    private var lastActive: NIODeadline
    private var tried = ExcludedServers()
    private var attempts = 0
    private var up = Direction()  // client → server
    private var down = Direction()  // server → client
    // Edge-triggered readiness, cleared when a call would block.
    private var clientReadable = true
    private var clientWritable = true
    private var serverReadable = false
    private var serverWritable = false
    private var closed = false
    /// Place in the loop's list of open connections (for the timeout sweep).
    fileprivate var slot = -1

    init(loop: L4EventLoop, service: LoopService, client: Int32) {
        self.loop = loop
        self.service = service
        self.client = client
        self.lastActive = loop.tick
    }

    func start() {
        _ = try? FastL4Listener.setOption(client, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        do {
            try loop.watch(client, events: Self.events, handler: self)
        } catch {
            service.logger.debug("L4: cannot watch a connection: \(error)")
            Glibc.close(client)
            return
        }
        service.register(self)
        FastL4Sweeper.of(loop).add(self)
        connectNext()
    }

    private static let events =
        EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue

    // MARK: connecting

    private func connectNext() {
        guard !closed else { return }
        guard let (picked, address) = service.nextL4Server(tried: &tried, attempts: &attempts) else {
            finish()
            return
        }
        self.picked = picked
        let fd = socket(Int32(address.protocol.rawValue), FastL4Listener.streamFlags, 0)
        guard fd >= 0 else {
            connectFailed(L4Error("socket", errno))
            return
        }
        server = fd
        _ = try? FastL4Listener.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        if let source = service.source(for: address) {
            _ = try? FastL4Listener.setOption(fd, Int32(IPPROTO_IP), 24, 1)  // IP_BIND_ADDRESS_NO_PORT
            guard source.withSockAddr({ Glibc.bind(fd, $0, socklen_t($1)) }) == 0 else {
                connectFailed(L4Error("bind", errno))
                return
            }
        }
        let result = address.withSockAddr { Glibc.connect(fd, $0, socklen_t($1)) }
        if result != 0 && errno != EINPROGRESS {
            connectFailed(L4Error("connect", errno))
            return
        }
        do {
            try loop.watch(fd, events: Self.events, handler: self)
        } catch {
            connectFailed(error)
            return
        }
        connecting = true
        connectDeadline = loop.tick + service.connectTimeout
        serverReadable = false
        serverWritable = false
    }

    private func connectFailed(_ error: any Error) {
        if let stats = picked?.stats { LoopStats.add(stats.failures, 1) }
        service.logger.debug(
            "L4: connect failed",
            metadata: ["se.vs": "\(service.name)", "se.server": "\(picked?.key ?? "")", "error": "\(error)"])
        closeServer()
        if let picked { service.release(picked) }
        picked = nil
        connecting = false
        connectNext()
    }

    private func closeServer() {
        guard server >= 0 else { return }
        loop.forget(server)
        Glibc.close(server)
        server = -1
    }

    // MARK: events

    func ready(fd: Int32, events: UInt32) {
        guard !closed else { return }
        let hangup = events & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
        let readable = hangup || events & EPOLLIN.rawValue != 0
        let writable = events & (EPOLLOUT.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
        if fd == client {
            if hangup { up.hangup = true }
            if readable { clientReadable = true }
            if writable { clientWritable = true }
        } else if fd == server {
            if connecting {
                guard writable || readable else { return }
                var code: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
                guard code == 0 else {
                    connectFailed(L4Error("connect", code))
                    return
                }
                connecting = false
                if let stats = picked?.stats { LoopStats.add(stats.connections, 1) }
            }
            if hangup { down.hangup = true }
            if readable { serverReadable = true }
            if writable { serverWritable = true }
        } else {
            return
        }
        pump()
    }

    /// Moves what can be moved both ways, then closes when both directions are done.
    ///
    /// A socket error ends only what it touches, as NIO's path does by flushing before it closes: a failed
    /// send drops that direction (its bytes can no longer be delivered) while the other goes on (a server's
    /// error answer to an upload it cut short still reaches the client); a failed read is that side's end,
    /// and nothing more can be sent to it.
    private func pump() {
        guard !closed else { return }
        let connected = server >= 0 && !connecting
        var again = false
        if move(
            &up, from: client, readable: &clientReadable, to: connected ? server : -1, writable: &serverWritable,
            again: &again, counter: service.stats.bytesIn) == .sourceFailed
        {
            down.abandon()
        }
        if connected
            && move(
                &down, from: server, readable: &serverReadable, to: client, writable: &clientWritable,
                again: &again, counter: service.stats.bytesOut) == .sourceFailed
        {
            up.abandon()
        }
        if up.shut && down.shut { return finish() }
        // A side with more to read than one turn allows: continue on the next turn.
        if again { loop.execute { [self] in pump() } }
    }

    private enum Moved { case ok, sourceFailed }

    /// One direction: what is pending first, then reads written on at once.
    private func move(
        _ d: inout Direction, from source: Int32, readable: inout Bool, to destination: Int32, writable: inout Bool,
        again: inout Bool, counter: borrowing Atomic<Int>
    ) -> Moved {
        if d.shut { return .ok }
        if d.hasPending {
            guard destination >= 0, writable else { return .ok }
            let n = d.pending.withUnsafeBytes { bytes in
                send(destination, bytes.baseAddress! + d.sent, bytes.count - d.sent, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR {
                    writable = errno != EAGAIN
                } else {
                    d.abandon()
                }
                return .ok
            }
            d.sent += n
            lastActive = loop.tick
            if d.hasPending {
                writable = false
                return .ok
            }
            d.pending = []
            d.sent = 0
        }
        var reads = 0
        while readable && !d.eof {
            if reads == 16 {
                again = true
                break
            }
            reads += 1
            let n = recv(source, loop.scratch.baseAddress, loop.scratch.count, 0)
            if n > 0 {
                LoopStats.add(counter, n)
                lastActive = loop.tick
                var written = 0
                if destination >= 0 && writable {
                    written = send(destination, loop.scratch.baseAddress, n, Int32(MSG_NOSIGNAL))
                    if written < 0 {
                        guard errno == EAGAIN || errno == EINTR else {
                            d.abandon()
                            return .ok
                        }
                        written = 0
                    }
                }
                if written < n {
                    // Kept until the destination (or the connection to it) is ready; no read meanwhile.
                    d.pending = Array(UnsafeRawBufferPointer(rebasing: loop.scratch[written..<n]))
                    d.sent = 0
                    if destination >= 0 { writable = false }
                    return .ok
                }
                // A short read emptied the socket: new bytes will raise a new edge, so no read that would
                // only say EAGAIN (unless a FIN is known to wait behind the bytes).
                if n < loop.scratch.count && !d.hangup { readable = false }
            } else if n == 0 {
                d.eof = true
            } else if errno == EAGAIN {
                readable = false
            } else if errno != EINTR {
                d.eof = true
                readable = false
                shutdownWhenFlushed(&d, destination)
                return .sourceFailed
            }
        }
        shutdownWhenFlushed(&d, destination)
        return .ok
    }

    /// Passes the source's end on once its bytes are written.
    private func shutdownWhenFlushed(_ d: inout Direction, _ destination: Int32) {
        if d.eof && !d.hasPending && destination >= 0 && !d.shut {
            shutdown(destination, Int32(SHUT_WR))
            d.shut = true
        }
    }

    /// Closes both sockets and gives back what the connection counted.
    private func finish() {
        guard !closed else { return }
        closed = true
        loop.forget(client)
        Glibc.close(client)
        closeServer()
        if let picked { service.release(picked) }
        picked = nil
        FastL4Sweeper.of(loop).remove(self)
        service.unregister(self)
    }

    /// The sweeper's check: connect and idle timeouts.
    fileprivate func checkTimeouts(now: NIODeadline) {
        if connecting && now >= connectDeadline {
            connectFailed(L4Error("connect", ETIMEDOUT))
        } else if now - lastActive >= service.idleTimeout {
            service.logger.debug("L4: idle timeout", metadata: ["se.vs": "\(service.name)"])
            finish()
        }
    }

    // MARK: ClientConnection

    func startDraining() {
        // An L4 connection has no request boundary: let it run until it ends or the drain times out.
    }

    func forceClose() { finish() }
}

/// The open connections of one ``L4EventLoop`` and the timer that applies their connect and idle timeouts
/// (every 100 ms while there are connections: one timer per loop instead of one per connection).
final class FastL4Sweeper: @unchecked Sendable {
    private let loop: L4EventLoop
    private var connections: [FastL4Connection] = []
    private var scheduled = false
    static let interval = TimeAmount.milliseconds(100)

    private init(loop: L4EventLoop) { self.loop = loop }

    /// The loop's sweeper (made on first use, on the loop).
    static func of(_ loop: L4EventLoop) -> FastL4Sweeper {
        if let s = loop.sweeper { return s }
        let s = FastL4Sweeper(loop: loop)
        loop.sweeper = s
        return s
    }

    func add(_ c: FastL4Connection) {
        c.slot = connections.count
        connections.append(c)
        if !scheduled {
            scheduled = true
            loop.scheduleTask(in: Self.interval) { [self] in sweep() }
        }
    }

    func remove(_ c: FastL4Connection) {
        let i = c.slot
        guard i >= 0, i < connections.count, connections[i] === c else { return }
        let last = connections.removeLast()
        if i < connections.count {
            connections[i] = last
            last.slot = i
        }
        c.slot = -1
    }

    /// Closes every connection (the loop stops).
    func closeAll() {
        for c in connections { c.forceClose() }
    }

    private func sweep() {
        let now = loop.tick
        for c in connections { c.checkTimeouts(now: now) }
        if connections.isEmpty {
            scheduled = false
        } else {
            loop.scheduleTask(in: Self.interval) { [self] in sweep() }
        }
    }
}
