import Foundation

/// The session saved by `starling ctl login` in `~/.starling/ctl.json` (mode 0600).
struct CtlSession: Codable, Sendable, Equatable {
    /// The controller URL the session belongs to.
    var controller: String
    var username: String
    var sessionid: String
    var csrftoken: String
    /// The cluster CA (PEM) the controller was verified with at login (`https://`).
    var ca: String?

    /// `<home>/.starling/ctl.json`.
    static func path(home: String) -> String { "\(home)/.starling/ctl.json" }

    /// The saved session, or nil when there is none; a file that cannot be read is an error.
    static func load(home: String) throws(CtlError) -> CtlSession? {
        let file = path(home: home)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            return try JSONDecoder().decode(CtlSession.self, from: data)
        } catch {
            throw CtlError.usage("\(file): not a saved session (\(ConfigDocument.oneLine(error))); log in again")
        }
    }

    /// Writes the session file (directory 0700, file 0600, replaced atomically).
    func save(home: String) throws(CtlError) {
        let file = Self.path(home: home)
        let dir = (file as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(
                atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(self)
            let temporary = "\(file).tmp-\(getpid())"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard fd >= 0 else {
                throw CtlError.usage("cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fchmod(fd, 0o600)
            close(fd)
            guard written == data.count else { throw CtlError.usage("cannot write \(temporary)") }
            guard rename(temporary, file) == 0 else {
                unlink(temporary)
                throw CtlError.usage("cannot write \(file): \(String(cString: strerror(errno)))")
            }
        } catch let error as CtlError {
            throw error
        } catch {
            throw CtlError.usage("cannot write \(file): \(ConfigDocument.oneLine(error))")
        }
    }

    /// Removes the session file (no error when there is none).
    static func remove(home: String) {
        unlink(path(home: home))
    }
}

/// Where `starling ctl` takes its settings from besides the flags: the environment, the home directory and
/// the terminal (for the password prompt).
struct CtlEnvironment: Sendable {
    var variables: [String: String]
    var home: String
    /// Reads a password without echo; nil when there is no terminal.
    var readPassword: @Sendable (String) -> String?

    /// The process's environment, `$HOME` and the terminal.
    static var current: CtlEnvironment {
        let variables = ProcessInfo.processInfo.environment
        return CtlEnvironment(
            variables: variables, home: variables["HOME"] ?? NSHomeDirectory(), readPassword: Terminal.readPassword)
    }
}

/// The password prompt.
enum Terminal {
    /// Prints `prompt` to stderr and reads one line from the terminal with echo off; nil without a terminal.
    static func readPassword(_ prompt: String) -> String? {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        let haveTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
        if haveTerminal {
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        }
        let line = readLine(strippingNewline: true)
        if haveTerminal {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return line
    }
}
