import ArgumentParser
import Foundation
import StarlingModel

/// `backup FILE`: the whole configuration (`GET /api/configuration/export`) into FILE, mode 0600 (it holds
/// password hashes and join tokens).
struct CtlBackup: CtlSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Save the whole configuration (objects, users, SE registrations, placement) to FILE (mode 0600).")

    @OptionGroup var global: CtlGlobalOptions

    @Argument(help: "The file to write (replaced when it exists).")
    var file: String

    func execute(_ context: CtlContext) async throws(CtlError) {
        let api = try await global.connection(context.environment)
        let backup = try await api.call("GET", "/api/configuration/export")
        let text = backup.pretty + "\n"
        let path = file
        guard
            FileManager.default.createFile(
                atPath: path + ".tmp", contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw CtlError.api("\(path): cannot write") }
        guard rename(path + ".tmp", path) == 0 else { throw CtlError.api("\(path): cannot write (\(errno))") }
        var counts: [String] = []
        if case .object(let top) = backup {
            for (key, value) in top.sorted(by: { $0.key < $1.key }) where !key.hasPrefix("_") && key != "META" {
                counts.append("\(value.array?.count ?? 0) \(key)")
            }
        }
        context.out("saved the configuration to \(path): \(counts.joined(separator: ", "))")
    }
}

/// `restore FILE`: replaces the whole configuration with a backup's (`POST /api/configuration/import`).
struct CtlRestore: CtlSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: """
            Replace the whole configuration with the backup in FILE (from `ctl backup`, of a SQLite or an etcd \
            controller); sessions end.
            """)

    @OptionGroup var global: CtlGlobalOptions

    @Argument(help: "A file written by `starling ctl backup`.")
    var file: String

    func execute(_ context: CtlContext) async throws(CtlError) {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CtlError.usage("\(file): cannot read")
        }
        let backup: JSONValue
        do {
            backup = try JSONValue.parse(Array(data))
        } catch {
            throw CtlError.usage("\(file): not JSON (\(error))")
        }
        let api = try await global.connection(context.environment)
        let answer = try await api.call("POST", "/api/configuration/import", json: .object(["configuration": backup]))
        context.out(
            "restored \(answer["objects"]?.display ?? "?") objects, \(answer["users"]?.display ?? "?") users and "
                + "\(answer["serviceengines"]?.display ?? "?") SE registrations from \(file)")
    }
}
