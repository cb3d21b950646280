import Logging
import ServiceLifecycle

/// Services run the way `starling controller` runs them (one `ServiceGroup`), stopped the way SIGTERM stops
/// them: a graceful shutdown. Cancelling a NIO server's task instead can drop a connection accepted but not yet
/// served, which traps in debug builds ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#2813).
struct RunningServices: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(_ services: [any Service], logger: Logger) {
        let group = ServiceGroup(services: services, logger: logger)
        self.group = group
        task = Task { try await group.run() }
    }

    /// Stops accepting, lets open connections finish, and returns when every service has returned.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}
