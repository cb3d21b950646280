import BGPSpeaker

// The two seams of `SEEngine` that tests replace: the clock its drain and VIP-retirement deadlines are
// read from, and the VIP plumbing (netlink, which needs root).

/// A `Clock` with `Duration` reduced to what ``SEEngine`` needs: the time elapsed since the engine was
/// made, and sleeping. `SEEngine` keeps one of these instead of being generic over its clock, so its type
/// stays the same for its callers; the daemon passes `ContinuousClock`, tests a manual clock.
struct EngineClock: Sendable {
    /// Time since the engine was made (monotonic).
    let now: @Sendable () -> Duration
    /// Suspends for a duration of this clock (throws when the task is cancelled).
    let sleep: @Sendable (Duration) async throws -> Void

    init<C: Clock<Duration>>(_ clock: C) {
        let origin = clock.now
        now = { origin.duration(to: clock.now) }
        sleep = { duration in try await clock.sleep(for: duration) }
    }
}

/// Puts exactly a set of VIPs on the VIP interface (level-triggered): ``VIPPlumbing`` through netlink in
/// the daemon, a recorder in tests.
protocol VIPPlumbingSeam: Sendable {
    /// The interface the VIPs go on (`--vip-interface`), named in errors.
    var interfaceName: String { get }
    /// Makes the interface carry exactly `vips` among Starling's addresses.
    func plumb(_ vips: Set<IPAddress>) throws
}

extension VIPPlumbing: VIPPlumbingSeam {
    func plumb(_ vips: Set<IPAddress>) throws { try sync(vips) }
}
