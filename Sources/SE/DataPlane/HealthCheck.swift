import NIOCore

/// The health of one pool server as seen by one monitor: a pure state machine driven by a clock the
/// caller passes in (STYLE "State machines are structs"). `MonitorRunner` executes its actions (opens the probe connection,
/// abandons it, publishes the state) and feeds the results back.
///
/// - The first check starts at once (`start`); then one every `interval` (a check still running when
///   the next is due delays it until it ends).
/// - The server starts DOWN ("no check yet"), goes UP after `successfulChecks` consecutive passes and
///   DOWN after `failedChecks` consecutive failures.
/// - A check that has not finished `timeout` after it started fails ("no answer within ...").
public struct HealthCheck: Sendable {
    /// What happened.
    public enum Event: Sendable, Hashable {
        /// The server appeared: check at once.
        case start
        /// Time passed (the runner wakes up at `nextWakeup`).
        case tick
        /// A check ended; `detail` says why it passed or failed (`connect refused`, `HTTP 200`, ...).
        case checkEnded(id: UInt64, passed: Bool, detail: String)
    }

    /// What the runner must do.
    public enum Action: Sendable, Hashable {
        /// Start check `id` (open a connection, send the request ...).
        case startCheck(id: UInt64)
        /// Check `id` timed out: close whatever it opened and ignore its result.
        case abandonCheck(id: UInt64)
        /// Up/down or the reason changed.
        case report(up: Bool, reason: String)
    }

    /// Interval, timeout and thresholds.
    public let monitor: MonitorConfig
    /// Whether the server is up according to this monitor.
    public private(set) var up = false
    /// Why (`no check yet`, `2/2 checks ok`, `connect refused`, ...).
    public private(set) var reason = "no check yet"
    /// Consecutive passes.
    public private(set) var passes = 0
    /// Consecutive failures.
    public private(set) var failures = 0
    private var inFlight: (id: UInt64, deadline: NIODeadline)?
    private var nextStart: NIODeadline?
    private var lastID: UInt64 = 0

    /// A state machine for one (server, monitor) pair.
    public init(monitor: MonitorConfig) {
        self.monitor = monitor
    }

    /// One that starts UP: the server was up when the previous SE process handed over (hitless restart),
    /// so it stays up until `failedChecks` consecutive failures, as it would have in that process.
    public init(monitor: MonitorConfig, inheritedUp: Bool) {
        self.monitor = monitor
        if inheritedUp {
            up = true
            reason = Self.inheritedReason
            passes = max(1, monitor.successfulChecks)
        }
    }

    /// The reason of a server up by inheritance, until its first check here ends.
    public static let inheritedReason = "up before the restart"

    /// When the runner must deliver the next `.tick`: the running check's deadline or the next check's
    /// start, whichever is first; nil before `.start`.
    public var nextWakeup: NIODeadline? {
        if let running = inFlight { return running.deadline }
        return nextStart
    }

    /// The id of the check in flight, if any.
    public var checkInFlight: UInt64? { inFlight?.id }

    /// Feeds one event at time `now`; returns what to do, in order.
    public mutating func handle(_ event: Event, now: NIODeadline) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .start:
            if nextStart == nil && inFlight == nil { nextStart = now }
        case .tick:
            break
        case .checkEnded(let id, let passed, let detail):
            guard let running = inFlight, running.id == id else { return [] }  // stale or abandoned
            inFlight = nil
            record(passed: passed, detail: detail, into: &actions)
        }
        if let running = inFlight, now >= running.deadline {
            inFlight = nil
            actions.append(.abandonCheck(id: running.id))
            record(passed: false, detail: "no answer within \(Self.format(monitor.timeout))", into: &actions)
        }
        if inFlight == nil, let start = nextStart, now >= start {
            lastID &+= 1
            inFlight = (lastID, now + TimeAmount(monitor.timeout))
            nextStart = now + TimeAmount(monitor.interval)
            actions.append(.startCheck(id: lastID))
        }
        return actions
    }

    private mutating func record(passed: Bool, detail: String, into actions: inout [Action]) {
        let needed = max(1, monitor.successfulChecks)
        let allowed = max(1, monitor.failedChecks)
        let wasUp = up
        let oldReason = reason
        if passed {
            passes += 1
            failures = 0
            if !up && passes >= needed { up = true }
            reason = up ? "\(needed)/\(needed) checks ok" : "\(passes)/\(needed) checks ok"
        } else {
            failures += 1
            passes = 0
            if up && failures >= allowed { up = false }
            reason = up ? "\(failures)/\(allowed) checks failed: \(detail)" : detail
        }
        if up != wasUp || reason != oldReason { actions.append(.report(up: up, reason: reason)) }
    }

    /// `1 s`, `250 ms`.
    static func format(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }
}
