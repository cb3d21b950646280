import ArgumentParser
import Foundation
import Glibc
import Logging

/// `--log-level` of every daemon: checked in `validate()`, installed once in `run()` (logs go to stderr).
enum LogLevelOption {
    static func validate(_ text: String) throws {
        guard Logger.Level(rawValue: text) != nil else {
            throw ValidationError(
                "--log-level: '\(text)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    static func bootstrap(_ text: String) {
        let level = Logger.Level(rawValue: text) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Before `execv`: the new program starts with every signal unblocked and at its default action, whatever
/// this process set up (a signal ignored or blocked here would otherwise stay so across exec, and e.g. a
/// SIGTERM would not stop it).
func resetSignalsForExec() {
    var empty = sigset_t()
    sigemptyset(&empty)
    pthread_sigmask(SIG_SETMASK, &empty, nil)
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD] {
        Glibc.signal(signal, SIG_DFL)
    }
}

/// The service manager's notification socket (`sd_notify(3)`'s protocol, without libsystemd).
enum SystemdNotify {
    /// Sends `state` (e.g. `MAINPID=123`) when the service manager listens (`$NOTIFY_SOCKET`); false when
    /// it does not or the datagram could not be sent.
    @discardableResult
    static func send(_ state: String) -> Bool {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // A leading '@' names a socket in the abstract namespace.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, message, message.count, 0, $0, length)
            }
        }
        return sent == message.count
    }
}

/// Processes a daemon starts to take its place.
enum Successor {
    /// The binary this process runs, as the file system has it now: after an upgrade replaced it,
    /// `/proc/self/exe` names the path with " (deleted)", and the path holds the new binary.
    static func executable() -> String {
        var path =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
        return path
    }

    /// Starts `executable` with `arguments` (argv[0] first) with every signal unblocked and at its default
    /// action (this process traps some), stdin from /dev/null, stdout and stderr shared, no other
    /// descriptor, and the same environment. Returns its process id.
    static func spawn(_ executable: String, arguments: [String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Nothing else of ours: an inherited listening socket would hold its port and take a share of its
        // connections that no one accepts. Every descriptor above stderr closes at exec.
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in descriptors.compactMap(Int32.init) where fd > 2 {
            _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
        }
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw SuccessorError(message: "cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        return pid
    }
}

struct SuccessorError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
