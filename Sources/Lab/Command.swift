import Foundation

/// The outcome of a finished command.
public struct CommandResult: Sendable, CustomStringConvertible {
    /// The argument vector that ran (argv[0] is the program name as given).
    public var argv: [String]
    /// Exit status; for a command killed by a signal, 128 + the signal number.
    public var status: Int32
    /// Everything the command wrote to standard output.
    public var stdout: String
    /// Everything the command wrote to standard error.
    public var stderr: String

    /// True when the command exited with status 0.
    public var succeeded: Bool { status == 0 }

    public var description: String {
        var text = "`\(argv.joined(separator: " "))` exited \(status)"
        let err = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        let out = stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if !err.isEmpty { text += "; stderr: \(err.suffix(800))" }
        if !out.isEmpty { text += "; stdout: \(out.suffix(800))" }
        return text
    }
}

/// Runs short-lived commands synchronously, with a deadline, capturing their output.
///
/// Output goes through temporary files rather than pipes, so a command that writes a lot, or that leaves a
/// background child holding its output open, can never block the caller.
public enum Command {
    /// Directories searched for programs in addition to `$PATH` (daemons live in sbin on Debian).
    static let extraSearchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The absolute path of `program` (searched in `$PATH` and the sbin directories), or nil.
    public static func which(_ program: String) -> String? {
        if program.contains("/") {
            return FileManager.default.isExecutableFile(atPath: program) ? program : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + extraSearchPath
        for dir in dirs where !dir.isEmpty {
            let candidate = dir + "/" + program
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The programs among `programs` that cannot be found (see ``which(_:)``).
    public static func missing(_ programs: [String]) -> [String] {
        programs.filter { which($0) == nil }
    }

    /// Runs `argv` and waits at most `timeout` seconds; a command still running then is killed.
    /// Never throws for a non-zero exit; see ``check(_:timeout:)``.
    public static func run(_ argv: [String], timeout: Double = 30) throws -> CommandResult {
        precondition(!argv.isEmpty, "empty argv")
        guard let executable = which(argv[0]) else {
            throw LabError(.unavailable, "program not found: \(argv[0])")
        }
        let tmp = FileManager.default.temporaryDirectory.path
        let token = UUID().uuidString
        let outPath = "\(tmp)/starling-lab-cmd-\(token).out"
        let errPath = "\(tmp)/starling-lab-cmd-\(token).err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        guard let outHandle = FileHandle(forWritingAtPath: outPath),
            let errHandle = FileHandle(forWritingAtPath: errPath)
        else {
            throw LabError(.unavailable, "cannot create temporary files in \(tmp)")
        }
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(argv.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = outHandle
        process.standardError = errHandle
        do {
            try process.run()
        } catch {
            try? outHandle.close()
            try? errHandle.close()
            throw LabError(.commandFailed, "cannot start `\(argv.joined(separator: " "))`: \(error)")
        }
        try? outHandle.close()
        try? errHandle.close()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() >= deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                break
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        let status =
            process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
        let result = CommandResult(argv: argv, status: status, stdout: stdout, stderr: stderr)
        if timedOut {
            throw LabError(.timeout, "killed after \(timeout) s: \(result)")
        }
        return result
    }

    /// Runs `argv` like ``run(_:timeout:)`` and throws unless it exits 0; returns its standard output.
    @discardableResult
    public static func check(_ argv: [String], timeout: Double = 30) throws -> String {
        let result = try run(argv, timeout: timeout)
        guard result.succeeded else { throw LabError(.commandFailed, result.description) }
        return result.stdout
    }
}
