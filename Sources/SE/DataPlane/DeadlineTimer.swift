import NIOCore

/// The one pending deadline of a loop-bound handler: arming an earlier deadline replaces a later one, a later
/// one waits for the earlier to fire. Owned by the handler and used on its event loop only.
struct DeadlineTimer {
    private var task: Scheduled<Void>?
    /// When the pending deadline fires; `distantFuture` when none is pending.
    private(set) var deadline = NIODeadline.distantFuture

    /// Whether a deadline no later than `deadline` is pending: then arming `deadline` is not needed (callers
    /// check this first, so that the hot path does not build a closure per request).
    func covers(_ deadline: NIODeadline) -> Bool { task != nil && self.deadline <= deadline }

    /// Fires `fire` on `loop` at `deadline` unless an earlier deadline is pending (then that one fires first,
    /// and the handler arms the next).
    mutating func arm(_ deadline: NIODeadline, on loop: any EventLoop, _ fire: @escaping @Sendable () -> Void) {
        guard !covers(deadline) else { return }
        task?.cancel()
        self.deadline = deadline
        task = loop.scheduleTask(deadline: deadline, fire)
    }

    /// To be called first thing when the deadline fires: nothing is pending any more.
    mutating func fired() {
        task = nil
        deadline = .distantFuture
    }

    mutating func cancel() {
        task?.cancel()
        fired()
    }
}
