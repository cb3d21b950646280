import Foundation

/// A process that outlives the program that started it (the demo lab's daemons after `starling lab up`
/// exits): its own session (no terminal signals), output appended to a log file, and known afterwards only by
/// its pid and kernel start time (so a reused pid is never mistaken for it).
public struct DetachedProcess: Codable, Sendable, Hashable {
    /// A short name (`bird-router`, `controller`, `se1`, `srv1`).
    public var name: String
    /// The process id (the program itself: `ip netns exec` replaces itself with it).
    public var pid: Int32
    /// The kernel start time of the process (field 22 of /proc/PID/stat), to recognise it later.
    public var startTime: UInt64
    /// The command as given (without the `ip netns exec` prefix).
    public var argv: [String]
    /// The namespace it runs in, if any.
    public var namespace: String?
    /// Where its standard output and error go.
    public var logPath: String

    /// Starts `argv` (inside `namespace` when given) in a new session, with `environment` added to this
    /// process's environment, appending its output to `logPath`.
    public static func spawn(
        name: String, argv: [String], namespace: String? = nil, logPath: String, environment: [String: String] = [:]
    ) throws -> DetachedProcess {
        precondition(!argv.isEmpty, "empty argv")
        var full = argv
        if let namespace { full = ["ip", "netns", "exec", namespace] + argv }
        guard let executable = Command.which(full[0]) else {
            throw LabError(.unavailable, "program not found: \(full[0])")
        }
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        if let log = FileHandle(forWritingAtPath: logPath) {
            log.seekToEndOfFile()
            log.write(Data("=== \(Date()) start \(name): \(full.joined(separator: " "))\n".utf8))
            try? log.close()
        }
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }

        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // POSIX_SPAWN_SETSID (glibc 2.26): a new session, so the daemon survives its starter and the terminal.
        // Default signal dispositions and an empty mask, whatever the starter had.
        let setsid: Int32 = 0x80
        var defaults = sigset_t()
        sigfillset(&defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let cArgs = ([executable] + full.dropFirst()).map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in cArgs { free(pointer) }
            for pointer in cEnv { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, cArgs, cEnv)
        guard result == 0 else {
            throw LabError(
                .daemon, "cannot start \(name) (\(full.joined(separator: " "))): \(String(cString: strerror(result)))")
        }
        return DetachedProcess(
            name: name, pid: pid, startTime: Self.startTime(of: pid) ?? 0, argv: argv, namespace: namespace,
            logPath: logPath)
    }

    /// The kernel start time of `pid`, or nil when there is no such process.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may hold spaces): state is field 3, starttime field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// True while the process runs (a zombie child is reaped and counts as ended).
    public var isRunning: Bool {
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { return false }
        guard let now = Self.startTime(of: pid), startTime == 0 || now == startTime else { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            let state = stat[stat.index(after: close)...].split(separator: " ").first
            if state == "Z" || state == "X" { return false }
        }
        return true
    }

    /// Sends `signal` if the process still runs.
    public func send(_ signal: Int32) {
        guard isRunning else { return }
        kill(pid, signal)
    }

    /// Waits at most `timeout` seconds for the process to end; true when it has.
    @discardableResult
    public func waitForExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() >= deadline { return false }
            usleep(10_000)
        }
        return true
    }

    /// SIGTERM, then SIGKILL after `grace` seconds. Idempotent.
    public func stop(grace: Double = 5) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        if waitForExit(timeout: grace) { return }
        kill(pid, SIGKILL)
        waitForExit(timeout: 2)
    }

    /// The last `lines` lines of its log.
    public func logTail(lines: Int = 25) -> String {
        Daemon.tail(of: logPath, lines: lines)
    }
}
