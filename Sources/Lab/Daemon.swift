import Foundation

/// How a daemon ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    /// It called exit with this status.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let status): return "exit \(status)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// A long-running program started by the lab, optionally inside a network namespace, with standard output
/// and standard error appended to a log file.
///
/// `ip netns exec` replaces itself with the program, so ``pid`` is the daemon's own process id and signals
/// reach it directly. Daemons must run in the foreground (no self-daemonizing).
public final class Daemon {
    /// A short name used in logs and reports (e.g. `bird-router`).
    public let name: String
    /// The command as given (without the `ip netns exec` prefix).
    public let argv: [String]
    /// The namespace it runs in, if any.
    public let namespace: String?
    /// Where its output goes.
    public let logPath: String
    private let process: Foundation.Process
    private var finished: Termination?

    /// Starts `argv` (inside `namespace` when given), appending its output to `logPath`.
    public init(name: String, argv: [String], namespace: String? = nil, logPath: String) throws {
        precondition(!argv.isEmpty, "empty argv")
        self.name = name
        self.argv = argv
        self.namespace = namespace
        self.logPath = logPath
        var full = argv
        if let namespace {
            guard let ip = Command.which("ip") else { throw LabError(.unavailable, "program not found: ip") }
            full = [ip, "netns", "exec", namespace] + argv
        }
        guard let executable = Command.which(full[0]) else {
            throw LabError(.unavailable, "program not found: \(full[0])")
        }
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw LabError(.unavailable, "cannot open log file \(logPath)")
        }
        log.seekToEndOfFile()
        let header = "=== \(Date()) start \(name): \(full.joined(separator: " "))\n"
        log.write(Data(header.utf8))
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(full.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        do {
            try process.run()
        } catch {
            try? log.close()
            throw LabError(.daemon, "cannot start \(name) (\(full.joined(separator: " "))): \(error)")
        }
        try? log.close()
        self.process = process
    }

    /// The daemon's process id.
    public var pid: Int32 { process.processIdentifier }

    /// True while the process has not exited.
    public var isRunning: Bool {
        if finished != nil { return false }
        if process.isRunning { return true }
        _ = termination
        return false
    }

    /// How it ended, or nil while it runs.
    public var termination: Termination? {
        if let finished { return finished }
        if process.isRunning { return nil }
        process.waitUntilExit()
        let result: Termination =
            process.terminationReason == .uncaughtSignal
            ? .signaled(process.terminationStatus) : .exited(process.terminationStatus)
        finished = result
        return result
    }

    /// Sends `signal` (e.g. `SIGHUP`) to the daemon if it still runs.
    public func send(_ signal: Int32) {
        guard isRunning else { return }
        kill(pid, signal)
    }

    /// Waits at most `timeout` seconds for the daemon to exit; returns how it ended, or nil if it still runs.
    @discardableResult
    public func waitForExit(timeout: Double) -> Termination? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        return termination
    }

    /// Stops the daemon: SIGTERM, then SIGKILL after `grace` seconds. Idempotent.
    @discardableResult
    public func stop(grace: Double = 5) -> Termination {
        if let done = termination { return done }
        kill(pid, SIGTERM)
        if let done = waitForExit(timeout: grace) { return done }
        kill(pid, SIGKILL)
        process.waitUntilExit()
        return termination ?? .signaled(SIGKILL)
    }

    /// The last `lines` lines of the daemon's log.
    public func logTail(lines: Int = 40) -> String {
        Self.tail(of: logPath, lines: lines)
    }

    /// The last `lines` lines of the file at `path` (empty when it cannot be read).
    public static func tail(of path: String, lines: Int) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

/// Polling with a deadline.
public enum Wait {
    /// Calls `probe` every `interval` seconds until it returns a non-nil value, and returns that value.
    /// Errors thrown by `probe` count as "not yet" (the last one is reported on timeout), except a
    /// ``LabError`` of kind `.daemon` (a daemon died), which is rethrown at once.
    /// Throws ``LabError`` `.timeout` naming `what` when `timeout` seconds pass.
    @discardableResult
    public static func value<T>(
        _ what: String, timeout: Double, interval: Double = 0.1, _ probe: () throws -> T?
    ) throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        var lastError: Error?
        while true {
            do {
                if let value = try probe() { return value }
                lastError = nil
            } catch let error as LabError where error.kind == .daemon {
                // A daemon that died will not come back: fail now instead of at the deadline.
                throw LabError(.daemon, "\(what): \(error.message)")
            } catch {
                lastError = error
            }
            if Date() >= deadline { break }
            usleep(UInt32(max(interval, 0.001) * 1_000_000))
        }
        var message = "\(what): not true after \(timeout) s"
        if let lastError { message += " (last error: \(lastError))" }
        throw LabError(.timeout, message)
    }

    /// Like ``value(_:timeout:interval:_:)`` for a Boolean condition.
    public static func until(
        _ what: String, timeout: Double, interval: Double = 0.1, _ condition: () throws -> Bool
    ) throws {
        try value(what, timeout: timeout, interval: interval) { () throws -> Bool? in
            try condition() ? true : nil
        }
    }

    /// Checks that `condition` stays true for `duration` seconds (polling every `interval`); throws as soon as
    /// it is false.
    public static func holds(
        _ what: String, for duration: Double, interval: Double = 0.2, _ condition: () throws -> Bool
    ) throws {
        let deadline = Date().addingTimeInterval(duration)
        repeat {
            guard try condition() else { throw LabError(.daemon, "\(what): stopped holding") }
            usleep(UInt32(interval * 1_000_000))
        } while Date() < deadline
    }
}
