import CLinuxIO
import Dispatch
import Foundation
import Glibc
import NIOCore
import Synchronization

/// What an ``L4EventLoop`` calls when a descriptor it watches is ready.
protocol L4Readiness: AnyObject {
    /// `events`: the epoll event bits (`EPOLLIN`, `EPOLLOUT`, `EPOLLRDHUP`, `EPOLLERR`, `EPOLLHUP`).
    func ready(fd: Int32, events: UInt32)
}

/// An event loop of its own for plain TCP virtual services (the L4 fast path): one thread, one epoll set,
/// raw sockets. NIO builds a channel, a pipeline and a bootstrap for every connection, which costs an L4
/// proxy more CPU than the proxying itself (Benchmarks/README.md: 54 us of user time per proxied connection
/// against HAProxy's 6); here a connection is one object and two descriptors.
///
/// It is a NIO ``EventLoop`` too (tasks, timers, promises), so the per-loop service state (``LoopService``:
/// balancer, counters, drain) runs on it unchanged. Everything registered with it is confined to its thread.
final class L4EventLoop: EventLoop, @unchecked Sendable {
    private let epoll: Int32
    private let wake: Int32
    private let threadID = Atomic<UInt>(0)
    private let stopping = Atomic<Bool>(false)
    /// False once the thread has stopped taking tasks.
    private let running = Atomic<Bool>(true)
    private let nextTimer = Atomic<UInt64>(0)
    private let inbox = Mutex<[@Sendable () -> Void]>([])
    private let stopped = DispatchSemaphore(value: 0)

    // Confined to the loop's thread.
    private var handlers: [(generation: UInt32, handler: any L4Readiness)?] = []
    private var generation: UInt32 = 0
    private var timers: [Timer] = []

    private struct Timer {
        var id: UInt64
        var deadline: NIODeadline
        var cancelled: CancelFlag
        var run: () -> Void
        var fail: (any Error) -> Void
    }

    private final class CancelFlag: Sendable {
        let flag = Atomic<Bool>(false)
    }
    /// The time of the current wake-up (read instead of the clock on the per-read path).
    private(set) var tick = NIODeadline.now()
    /// The open fast-path connections and their timeouts (made on first use).
    var sweeper: FastL4Sweeper?
    /// A buffer for reads that are written on at once (a connection keeps bytes only when its peer is full).
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)

    init(name: String) throws {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw L4Error("epoll_create1", errno) }
        wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wake >= 0 else {
            let e = errno
            Glibc.close(epoll)
            throw L4Error("eventfd", e)
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = UInt64(UInt32.max)
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, wake, &event) == 0 else {
            let e = errno
            Glibc.close(wake)
            Glibc.close(epoll)
            throw L4Error("epoll_ctl", e)
        }
        let thread = Thread { [self] in
            _ = starling_name_thread(String(name.prefix(15)))
            run()
        }
        thread.start()
        while threadID.load(ordering: .acquiring) == 0 { sched_yield() }
    }

    deinit {
        // Closed only here: a late `execute` still writes to the eventfd, never to a reused descriptor.
        Glibc.close(wake)
        Glibc.close(epoll)
        scratch.deallocate()
    }

    /// Whether the thread still runs tasks (false after ``stop()`` took effect).
    var isRunning: Bool { running.load(ordering: .acquiring) }

    // MARK: EventLoop

    var inEventLoop: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

    func execute(_ task: @escaping @Sendable () -> Void) {
        guard running.load(ordering: .acquiring) else {
            FileHandle.standardError.write(Data("starling: a task for a stopped L4 event loop is dropped\n".utf8))
            return
        }
        let wasEmpty = inbox.withLock { tasks in
            tasks.append(task)
            return tasks.count == 1
        }
        if wasEmpty && !inEventLoop {
            var one: UInt64 = 1
            _ = write(wake, &one, 8)
        }
    }

    @discardableResult
    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise = makePromise(of: T.self)
        let id = nextTimer.wrappingAdd(1, ordering: .relaxed).newValue
        let cancelled = CancelFlag()
        let add: @Sendable () -> Void = { [self] in
            timers.append(
                Timer(
                    id: id, deadline: deadline, cancelled: cancelled,
                    run: {
                        do { promise.assumeIsolated().succeed(try task()) } catch { promise.fail(error) }
                    },
                    fail: { promise.fail($0) }))
        }
        if inEventLoop { add() } else { execute(add) }
        // As on NIO's loops, a cancelled task does not run even when it is due already: the flag is checked
        // before running, and the promise fails once, wherever the timer is found.
        return Scheduled(promise: promise) { [self] in
            cancelled.flag.store(true, ordering: .releasing)
            execute { [self] in
                guard let i = timers.firstIndex(where: { $0.id == id }) else { return }
                timers.remove(at: i)
                promise.fail(EventLoopError.cancelled)
            }
        }
    }

    @discardableResult
    func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        stop()
        DispatchQueue.global().async { [self] in
            stopped.wait()
            stopped.signal()
            queue.async { callback(nil) }
        }
    }

    /// Stops the thread after the tasks already queued; descriptors still registered are left to their owners.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    // MARK: descriptors (on the loop)

    /// Watches `fd` for `events` (edge-triggered when `EPOLLET` is in them) until it is closed or
    /// ``forget(_:)`` is called.
    func watch(_ fd: Int32, events: UInt32, handler: any L4Readiness) throws {
        generation &+= 1
        if generation == 0 { generation = 1 }
        let index = Int(fd)
        if index >= handlers.count { handlers += Array(repeating: nil, count: index + 64 - handlers.count) }
        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else { throw L4Error("epoll_ctl", errno) }
        handlers[index] = (generation, handler)
    }

    /// Changes the events `fd` is watched for (0: none for now).
    func rewatch(_ fd: Int32, events: UInt32) {
        guard Int(fd) < handlers.count, let entry = handlers[Int(fd)] else { return }
        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(entry.generation) << 32 | UInt64(UInt32(bitPattern: fd))
        _ = epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event)
    }

    /// Stops calling `fd`'s handler; the caller closes `fd` (which takes it out of the epoll set).
    func forget(_ fd: Int32) {
        if Int(fd) < handlers.count { handlers[Int(fd)] = nil }
    }

    // MARK: the thread

    private func run() {
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        let capacity: Int32 = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(capacity))
        defer {
            events.deallocate()
            stopped.signal()
        }
        while true {
            tick = .now()
            runTasks()
            runTimers()
            if stopping.load(ordering: .acquiring) {
                // Connections still open are closed (their services see them end), then the tasks queued so
                // far run; as on NIO's loops, what was scheduled for later fails with `shutdown`, and tasks
                // given after this are dropped with a message.
                sweeper?.closeAll()
                running.store(false, ordering: .releasing)
                runTasks()
                let left = timers
                timers = []
                for t in left { t.fail(EventLoopError.shutdown) }
                return
            }
            var timeout: Int32 = -1
            if !inbox.withLock({ $0.isEmpty }) {
                timeout = 0
            } else if let first = timers.min(by: { $0.deadline < $1.deadline }) {
                let at = first.deadline.uptimeNanoseconds
                let now = NIODeadline.now().uptimeNanoseconds
                timeout = at <= now ? 0 : Int32(min((at - now) / 1_000_000 + 1, 60_000))
            }
            let n = epoll_wait(epoll, events, capacity, timeout)
            tick = .now()
            guard n > 0 else { continue }
            for i in 0..<Int(n) {
                let data = events[i].data.u64
                let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
                if data == UInt64(UInt32.max) {
                    var count: UInt64 = 0
                    _ = read(wake, &count, 8)
                    continue
                }
                // A descriptor closed earlier in this batch may already be reused: the generation tells.
                guard Int(fd) < handlers.count, let entry = handlers[Int(fd)],
                    entry.generation == UInt32(truncatingIfNeeded: data >> 32)
                else { continue }
                entry.handler.ready(fd: fd, events: events[i].events)
            }
        }
    }

    private func runTasks() {
        let tasks = inbox.withLock { tasks in
            let all = tasks
            tasks = []
            return all
        }
        for t in tasks { t() }
    }

    private func runTimers() {
        guard !timers.isEmpty else { return }
        let now = NIODeadline.now()
        var due: [Timer] = []
        timers.removeAll { timer in
            guard timer.deadline <= now else { return false }
            due.append(timer)
            return true
        }
        for timer in due {
            if timer.cancelled.flag.load(ordering: .acquiring) {
                timer.fail(EventLoopError.cancelled)
            } else {
                timer.run()
            }
        }
    }
}

/// A system call of the L4 fast path that failed, with its errno.
struct L4Error: Error, CustomStringConvertible {
    var call: String
    var code: Int32

    init(_ call: String, _ code: Int32) {
        self.call = call
        self.code = code
    }

    var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}
