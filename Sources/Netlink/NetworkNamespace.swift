import CNetlink
import Glibc

/// A network namespace, named by a file that refers to it: `/run/netns/NAME` as made by
/// `ip netns add NAME`, or `/proc/PID/ns/net`.
///
/// Netlink sockets belong to the namespace of the thread that created them, for their
/// whole life. `NetlinkSocket(namespace:)` and `NetlinkMonitor(namespace:)` therefore
/// create their socket on a short-lived helper thread that first `setns(2)`s into the
/// namespace and then exits; no other thread (and never the process' main namespace)
/// is changed, and the socket keeps working from any thread afterwards.
public struct NetworkNamespace: Hashable, Sendable, CustomStringConvertible {
    /// The file that refers to the namespace.
    public var path: String

    /// A namespace made with `ip netns add NAME` (the file `/run/netns/NAME`).
    public init(named name: String) { self.path = "/run/netns/" + name }

    /// A namespace referred to by any file: `/run/netns/NAME`, `/proc/PID/ns/net`, a bind mount.
    public init(path: String) { self.path = path }

    public var description: String { path }
}

/// Runs a closure on a fresh thread that has joined a network namespace.
enum NamespaceThread {
    private final class Job: @unchecked Sendable {
        // Written by the helper thread before it exits, read by the caller after
        // pthread_join: the join orders the accesses.
        let path: String
        let body: () throws -> OpaquePointer
        var result: Result<OpaquePointer, any Error>?
        init(path: String, body: @escaping () throws -> OpaquePointer) {
            self.path = path
            self.body = body
        }

        func run() {
            let operation = "enter network namespace \(path)"
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                result = .failure(NetlinkError.system(operation: operation))
                return
            }
            defer { close(fd) }
            guard starling_setns(fd, STARLING_CLONE_NEWNET) == 0 else {
                result = .failure(NetlinkError.system(operation: operation))
                return
            }
            result = Result { try body() }
        }
    }

    /// Calls `body` on the current thread when `namespace` is nil, otherwise on a new
    /// thread that has entered `namespace` and ends when `body` returns. `body` creates
    /// a libnl object (a socket) and returns it.
    static func run(
        in namespace: NetworkNamespace?,
        _ body: @escaping () throws -> OpaquePointer
    ) throws -> OpaquePointer {
        guard let namespace else { return try body() }
        let job = Job(path: namespace.path, body: body)
        let context = Unmanaged.passRetained(job).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { raw in
                let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
                job.run()
                return nil
            }, context)
        guard created == 0 else {
            Unmanaged<Job>.fromOpaque(context).release()
            throw NetlinkError(operation: "start namespace thread", errno: created)
        }
        pthread_join(thread, nil)
        guard let result = job.result else {
            throw NetlinkError(operation: "enter network namespace \(namespace.path)", errno: EIO)
        }
        return try result.get()
    }
}
