import CNetlink
import Glibc
import Logging
import Synchronization

/// A change the kernel announced on one of the rtnetlink multicast groups.
public enum NetlinkEvent: Hashable, Sendable {
    /// `RTM_NEWLINK`: a link appeared or changed (flags, MTU, name ...).
    case linkChanged(Link)
    /// `RTM_DELLINK`: a link went away.
    case linkRemoved(Link)
    /// `RTM_NEWADDR`: an address was added (or its flags or lifetimes changed).
    case addressAdded(InterfaceAddress)
    /// `RTM_DELADDR`: an address was removed.
    case addressRemoved(InterfaceAddress)
    /// `RTM_NEWROUTE`: a route was added or replaced.
    case routeAdded(Route)
    /// `RTM_DELROUTE`: a route was removed.
    case routeRemoved(Route)
    /// The kernel dropped notifications because they came faster than they were read
    /// (`ENOBUFS`). Events were lost: re-read the full state (desired state is
    /// level-triggered, so this is a resync, not a failure).
    case overrun
}

/// The rtnetlink multicast groups a ``NetlinkMonitor`` joins.
public struct NetlinkGroups: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `RTNLGRP_LINK`.
    public static let links = NetlinkGroups(rawValue: 1 << 0)
    /// `RTNLGRP_IPV4_IFADDR`.
    public static let ipv4Addresses = NetlinkGroups(rawValue: 1 << 1)
    /// `RTNLGRP_IPV6_IFADDR`.
    public static let ipv6Addresses = NetlinkGroups(rawValue: 1 << 2)
    /// `RTNLGRP_IPV4_ROUTE`.
    public static let ipv4Routes = NetlinkGroups(rawValue: 1 << 3)
    /// `RTNLGRP_IPV6_ROUTE`.
    public static let ipv6Routes = NetlinkGroups(rawValue: 1 << 4)
    /// All of the above.
    public static let all: NetlinkGroups = [.links, .ipv4Addresses, .ipv6Addresses, .ipv4Routes, .ipv6Routes]

    /// The kernel's group numbers (`RTNLGRP_*`) for the members of this set.
    var kernelGroups: [Int32] {
        let table: [(NetlinkGroups, rtnetlink_groups)] = [
            (.links, RTNLGRP_LINK), (.ipv4Addresses, RTNLGRP_IPV4_IFADDR), (.ipv6Addresses, RTNLGRP_IPV6_IFADDR),
            (.ipv4Routes, RTNLGRP_IPV4_ROUTE), (.ipv6Routes, RTNLGRP_IPV6_ROUTE),
        ]
        return table.filter { contains($0.0) }.map { Int32($0.1.rawValue) }
    }
}

/// Watches rtnetlink change notifications and delivers them as typed ``NetlinkEvent``s.
///
/// The monitor owns its own netlink socket and one dedicated thread that waits in `poll(2)`
/// on the socket and on an eventfd. The handler runs on that thread, in kernel order; keep
/// it short (hand the event to an actor or a stream). ``stop()`` signals the eventfd and
/// joins the thread, so once it returns the handler will not be called again; `deinit`
/// stops too. For `async` code use ``stream(groups:namespace:logger:bufferingPolicy:)``.
public final class NetlinkMonitor: Sendable {
    private let worker: MonitorWorker

    /// Joins `groups` (in `namespace`, or the calling thread's namespace) and starts the
    /// monitor thread, which calls `handler` for every event until ``stop()``.
    public convenience init(
        groups: NetlinkGroups = .all,
        namespace: NetworkNamespace? = nil,
        logger: Logger = Logger(label: "starling.netlink"),
        handler: @escaping @Sendable (NetlinkEvent) -> Void
    ) throws {
        try self.init(groups: groups, namespace: namespace, logger: logger, onFinish: nil, handler: handler)
    }

    private init(
        groups: NetlinkGroups,
        namespace: NetworkNamespace?,
        logger: Logger,
        onFinish: (@Sendable () -> Void)?,
        handler: @escaping @Sendable (NetlinkEvent) -> Void
    ) throws {
        let socket = try NamespaceThread.run(in: namespace) {
            try NetlinkMonitor.subscribe(groups: groups)
        }
        worker = try MonitorWorker(socket: socket, logger: logger, handler: handler, onFinish: onFinish)
        try worker.start()
    }

    deinit {
        worker.stop()
    }

    /// A monitor and the stream of its events. The stream finishes when the monitor stops;
    /// cancelling the consuming task (stream termination) stops the monitor.
    /// Call ``stop()`` when done with the stream.
    public static func stream(
        groups: NetlinkGroups = .all,
        namespace: NetworkNamespace? = nil,
        logger: Logger = Logger(label: "starling.netlink"),
        bufferingPolicy: AsyncStream<NetlinkEvent>.Continuation.BufferingPolicy = .unbounded
    ) throws -> (monitor: NetlinkMonitor, events: AsyncStream<NetlinkEvent>) {
        let (events, continuation) = AsyncStream.makeStream(of: NetlinkEvent.self, bufferingPolicy: bufferingPolicy)
        let monitor = try NetlinkMonitor(
            groups: groups, namespace: namespace, logger: logger,
            onFinish: { continuation.finish() },
            handler: { continuation.yield($0) })
        continuation.onTermination = { [weak monitor] _ in monitor?.stop() }
        return (monitor, events)
    }

    /// Stops the monitor thread and waits for it (unless called from the handler itself).
    /// Idempotent.
    public func stop() {
        worker.stop()
    }

    /// Opens a netlink socket on the calling thread and joins `groups`.
    private static func subscribe(groups: NetlinkGroups) throws -> OpaquePointer {
        let socket = try NetlinkSocket.connect()
        nl_socket_disable_seq_check(socket)
        for group in groups.kernelGroups {
            let code = nl_socket_add_membership(socket, group)
            if code < 0 {
                nl_socket_free(socket)
                throw NetlinkError.libnl(operation: "join rtnetlink group \(group)", code: code)
            }
        }
        // A large receive buffer makes overruns rare; SO_RCVBUFFORCE lifts rmem_max for root.
        var size: Int32 = 8 << 20
        let fd = nl_socket_get_fd(socket)
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        return socket
    }
}

/// The monitor's socket, wake-up eventfd and thread. Retained by the ``NetlinkMonitor`` and
/// by the running thread; the socket and eventfd are closed when both let go.
private final class MonitorWorker: @unchecked Sendable {
    // @unchecked: `socket` is read only by the monitor thread after `start()`; `thread`,
    // `started` and `stopped` are guarded by `lock`; the rest is immutable.
    private let socket: OpaquePointer
    private let wakeFD: Int32
    private let logger: Logger
    private let handler: @Sendable (NetlinkEvent) -> Void
    private let onFinish: (@Sendable () -> Void)?
    private let lock = Mutex(())
    private var thread = pthread_t()
    private var started = false
    private var stopped = false

    init(
        socket: OpaquePointer, logger: Logger, handler: @escaping @Sendable (NetlinkEvent) -> Void,
        onFinish: (@Sendable () -> Void)?
    ) throws {
        let wakeFD = starling_eventfd()
        guard wakeFD >= 0 else {
            let error = NetlinkError.system(operation: "create monitor eventfd")
            nl_socket_free(socket)
            throw error
        }
        self.socket = socket
        self.wakeFD = wakeFD
        self.logger = logger
        self.handler = handler
        self.onFinish = onFinish
    }

    deinit {
        nl_socket_free(socket)
        close(wakeFD)
    }

    func start() throws {
        try lock.withLock { _ in
            let context = Unmanaged.passRetained(self).toOpaque()
            let code = pthread_create(
                &thread, nil,
                { raw in
                    let worker = Unmanaged<MonitorWorker>.fromOpaque(raw!).takeRetainedValue()
                    worker.run()
                    return nil
                }, context)
            guard code == 0 else {
                Unmanaged<MonitorWorker>.fromOpaque(context).release()
                throw NetlinkError(operation: "start netlink monitor thread", errno: code)
            }
            started = true
        }
    }

    func stop() {
        let thread: pthread_t? = lock.withLock { _ in
            guard started, !stopped else { return nil }
            stopped = true
            return self.thread
        }
        guard let thread else { return }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, MemoryLayout<UInt64>.size)
        if pthread_equal(pthread_self(), thread) != 0 {
            pthread_detach(thread)  // called from the handler: the loop ends after it returns
        } else {
            pthread_join(thread, nil)
        }
    }

    /// The thread body: wait, read, decode, deliver; until the eventfd fires.
    private func run() {
        defer { onFinish?() }
        let fd = nl_socket_get_fd(socket)
        let capacity = 1 << 16
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                logger.error("netlink monitor poll failed", metadata: ["netlink.errno": "\(errno)"])
                return
            }
            if fds[1].revents != 0 { return }
            if fds[0].revents == 0 { continue }
            guard drain(fd: fd, buffer: buffer, capacity: capacity) else { return }
        }
    }

    /// Reads every queued datagram. Returns false on a socket error that ends the monitor.
    private func drain(fd: Int32, buffer: UnsafeMutableRawPointer, capacity: Int) -> Bool {
        while true {
            let count = recv(fd, buffer, capacity, Int32(MSG_DONTWAIT | MSG_TRUNC))
            if count < 0 {
                switch errno {
                case EAGAIN, EWOULDBLOCK: return true
                case EINTR: continue
                case ENOBUFS:
                    logger.warning("netlink monitor overrun: events were dropped")
                    handler(.overrun)
                    continue
                default:
                    logger.error("netlink monitor recv failed", metadata: ["netlink.errno": "\(errno)"])
                    return false
                }
            }
            if count > capacity {
                logger.warning("netlink monitor: datagram of \(count) bytes truncated")
                handler(.overrun)
                continue
            }
            deliver(buffer: buffer, count: count)
        }
    }

    /// Walks the netlink messages of one datagram and delivers the ones that decode.
    private func deliver(buffer: UnsafeMutableRawPointer, count: Int) {
        var offset = 0
        while offset < count {
            let header = (buffer + offset).assumingMemoryBound(to: nlmsghdr.self)
            guard starling_nlmsg_ok(header, count - offset) != 0 else { return }
            offset += Int(starling_nlmsg_aligned_length(header))
            let type = Int32(header.pointee.nlmsg_type)
            if type == NLMSG_OVERRUN {
                handler(.overrun)
                continue
            }
            guard type >= Int32(RTM_BASE), let message = nlmsg_convert(header) else { continue }
            nlmsg_set_proto(message, NETLINK_ROUTE)
            let event = NetlinkEvent(message: message)
            nlmsg_free(message)
            if let event { handler(event) }
        }
    }
}

extension NetlinkEvent {
    /// Decodes a link, address or route notification; nil for anything else.
    init?(message: OpaquePointer) {
        guard let header = nlmsg_hdr(message) else { return nil }
        switch Int(header.pointee.nlmsg_type) {
        case Int(RTM_NEWLINK): guard let link = Link(message: message) else { return nil }; self = .linkChanged(link)
        case Int(RTM_DELLINK): guard let link = Link(message: message) else { return nil }; self = .linkRemoved(link)
        case Int(RTM_NEWADDR):
            guard let address = InterfaceAddress(message: message) else { return nil }
            self = .addressAdded(address)
        case Int(RTM_DELADDR):
            guard let address = InterfaceAddress(message: message) else { return nil }
            self = .addressRemoved(address)
        case Int(RTM_NEWROUTE): guard let route = Route(message: message) else { return nil }; self = .routeAdded(route)
        case Int(RTM_DELROUTE):
            guard let route = Route(message: message) else { return nil }; self = .routeRemoved(route)
        default: return nil
        }
    }
}
