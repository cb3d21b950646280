import NIOCore
import StarlingModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a service logs (from its `analytics_policy`): significant requests, and the others when full logs
/// are on, each up to a rate per second per SE (0: no limit).
public struct RequestLogPolicy: Sendable, Hashable {
    public var significantPerSecond: Int
    /// nil: only significant requests are logged.
    public var fullPerSecond: Int?

    public init(significantPerSecond: Int = AnalyticsPolicy.defaultThrottle, fullPerSecond: Int? = nil) {
        self.significantPerSecond = significantPerSecond
        self.fullPerSecond = fullPerSecond
    }

    public init(_ policy: AnalyticsPolicy?) {
        let p = policy ?? AnalyticsPolicy()
        self.init(significantPerSecond: p.significantPerSecond, fullPerSecond: p.fullPerSecond)
    }
}

/// The SE's request logs on their way to the controller: a bounded queue every loop appends to and the
/// agent takes batches from for its heartbeats. When the controller cannot be reached the queue fills up
/// to `capacity`; after that the oldest logs go and are counted (``dropped``): the data plane never
/// waits for the controller.
public final class RequestLogQueue: Sendable {
    public let capacity: Int
    private struct State {
        var logs = CircularBuffer<RequestLog>()
        var dropped = 0
    }
    private let state = Mutex(State())

    public init(capacity: Int = 20_000) {
        self.capacity = max(1, capacity)
    }

    func append(_ log: RequestLog) {
        state.withLock { s in
            if s.logs.count >= capacity {
                s.logs.removeFirst()
                s.dropped += 1
            }
            s.logs.append(log)
        }
    }

    /// Takes the oldest `max` logs.
    public func take(max: Int) -> [RequestLog] {
        state.withLock { s in
            let n = min(max, s.logs.count)
            var out: [RequestLog] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(s.logs.removeFirst()) }
            return out
        }
    }

    /// Puts back logs taken by ``take(max:)`` that did not reach the controller, in front of the newer ones
    /// (as far as the capacity allows: the oldest go first, counted).
    public func putBack(_ logs: [RequestLog]) {
        state.withLock { s in
            for log in logs.reversed() {
                if s.logs.count >= capacity {
                    s.dropped += 1
                    continue
                }
                s.logs.prepend(log)
            }
        }
    }

    public var count: Int { state.withLock { $0.logs.count } }
    /// Logs dropped since the SE started because the queue was full.
    public var dropped: Int { state.withLock { $0.dropped } }
}

/// One service's request logging on one event loop: decides which requests are logged and throttles them
/// with this loop's share of the per-second rates. Loop-confined: the per-request path takes no lock
/// unless the request is logged.
final class LoopRequestLog {
    let queue: RequestLogQueue
    let loops: Int
    var policy = RequestLogPolicy()
    private var second: Int64 = -1
    private var significantThisSecond = 0
    private var fullThisSecond = 0

    init(queue: RequestLogQueue, loops: Int) {
        self.queue = queue
        self.loops = max(1, loops)
    }

    /// Why a request with this outcome is significant, or nil when it is not.
    static func significance(status: Int, totalMs: Double, local: String?) -> String? {
        if let local { return local }
        if status == 0 { return "the connection closed before a response was sent" }
        if status >= 500 { return "server error response (\(status))" }
        if status >= 400 { return "client error response (\(status))" }
        if totalMs > Double(AnalyticsPolicy.significantLatencyMs) {
            return "response took longer than \(AnalyticsPolicy.significantLatencyMs) ms"
        }
        return nil
    }

    /// Whether a request that got `status` (0: none) after `totalMs` is logged, and if so why it is
    /// significant ("" when it is not) and the wall-clock time; nil when it is not logged (counting a
    /// candidate against its rate). `local`: why the SE ended it itself, when it did.
    func decide(status: Int, totalMs: Double, local: String?) -> (why: String?, nowMs: Int64)? {
        let why = Self.significance(status: status, totalMs: totalMs, local: local)
        guard policy.fullPerSecond != nil || why != nil else { return nil }
        let nowMs = WallClock.milliseconds()
        guard admit(significant: why != nil, nowMs: nowMs) else { return nil }
        return (why, nowMs)
    }

    /// Whether a request ending now, significant or not, is logged (counting it against its rate).
    func admit(significant: Bool, nowMs: Int64) -> Bool {
        let s = nowMs / 1000
        if s != second {
            second = s
            significantThisSecond = 0
            fullThisSecond = 0
        }
        let limit: Int
        if significant {
            limit = policy.significantPerSecond
            significantThisSecond += 1
            return limit == 0 || significantThisSecond <= share(limit)
        }
        guard let full = policy.fullPerSecond else { return false }
        limit = full
        fullThisSecond += 1
        return limit == 0 || fullThisSecond <= share(limit)
    }

    /// This loop's part of a per-SE rate (rounded up: never 0 for a rate above 0).
    private func share(_ perSecond: Int) -> Int { (perSecond + loops - 1) / loops }

    func record(_ log: RequestLog) { queue.append(log) }

    /// A request target's path and query (without the `?`).
    static func split(_ target: String) -> (path: String, query: String) {
        guard let q = target.firstIndex(of: "?") else { return (target, "") }
        return (String(target[..<q]), String(target[target.index(after: q)...]))
    }
}

/// Wall-clock time for log timestamps (the loops' clocks are monotonic).
enum WallClock {
    static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
