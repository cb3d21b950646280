/// Which registered SEs are up, from their heartbeats: pure value logic driven by a clock value
/// (seconds, monotonic), so tests use a manual clock (STYLE "State machines are structs").
///
/// An SE is down when no heartbeat arrived for `downAfter` seconds (`--se-down-after` × the heartbeat
/// interval). After a controller restart, `grace(_:now:)` counts every known SE as heard from at start,
/// so none is declared down before a full `downAfter` passed without its heartbeat.
public struct SELiveness: Sendable, Hashable {
    public var downAfter: Double
    private var lastSeen: [String: Double] = [:]
    private var draining: [String: Bool] = [:]

    public init(downAfter: Double) { self.downAfter = downAfter }

    /// A heartbeat (or a registration) from `se`.
    public mutating func seen(_ se: String, at now: Double, draining: Bool = false) {
        lastSeen[se] = now
        self.draining[se] = draining
    }

    /// SEs known from the store that have not sent a heartbeat since the controller started: up until then.
    private var graceUntil: [String: Double] = [:]

    /// The grace period after a restart: SEs known from the store count as up, without a heartbeat, until
    /// `now + period` (default `downAfter`). An SE reconnecting to a restarted controller needs its retry
    /// interval on top of the heartbeat interval, so the reconciler grants more than `downAfter`.
    public mutating func grace(_ ses: [String], now: Double, period: Double? = nil) {
        for se in ses where lastSeen[se] == nil { graceUntil[se] = now + (period ?? downAfter) }
    }

    /// An SE that was unregistered.
    public mutating func forget(_ se: String) {
        lastSeen[se] = nil
        graceUntil[se] = nil
        draining[se] = nil
    }

    /// When `se` was last heard from.
    public func lastHeard(_ se: String) -> Double? { lastSeen[se] }

    /// The SE's state and why.
    public func state(_ se: String, now: Double) -> (state: SEState.OperState, reason: String) {
        guard let last = lastSeen[se] else {
            if let until = graceUntil[se], now <= until {
                return (.up, "the controller restarted; waiting \(Self.format(until - now)) s more for a heartbeat")
            }
            return (.down, "no heartbeat since the controller started")
        }
        let age = now - last
        if age > downAfter {
            return (.down, "no heartbeat for \(Self.format(age)) s (down after \(Self.format(downAfter)) s)")
        }
        if draining[se] == true { return (.draining, "the SE reports that it is draining") }
        return (.up, "heartbeat \(Self.format(max(0, age))) s ago")
    }

    static func format(_ x: Double) -> String {
        let r = (x * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }
}
