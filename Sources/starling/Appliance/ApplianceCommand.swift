import ArgumentParser
import Foundation
import Glibc
import Netlink
import SE
import StarlingModel

/// `starling appliance ...`: what the appliance image runs at boot (see image/README.md).
struct ApplianceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "appliance",
        abstract: "The appliance image's first-boot configuration, role units and login banner.",
        subcommands: [
            ApplianceConfigureCommand.self, ApplianceExecCommand.self, ApplianceBannerCommand.self,
            ApplianceCheckCommand.self,
        ]
    )
}

/// The appliance's fixed paths, under `root` (`/` on the appliance; a scratch folder in tests).
struct AppliancePaths {
    var root: String = "/"

    func path(_ relative: String) -> String { (root.hasSuffix("/") ? root : root + "/") + relative }
    var persisted: String { path("etc/starling/appliance.yaml") }
    var adminPasswordFile: String { path("etc/starling/admin-password") }
    var seTokenFile: String { path("etc/starling/se-token") }
    /// The SE's cluster CA, key, client certificate and registration (kept across reboots).
    var seStateDir: String { path("var/lib/starling/se") }
    var controllerDataDir: String { path("var/lib/starling/controller") }
    var roleFile: String { path("run/starling/role") }
    func roleMarker(_ role: ApplianceRole) -> String { path("run/starling/role-\(role.rawValue)") }
    var sourceFile: String { path("run/starling/source") }
    var failureFile: String { path("run/starling/failure") }
    var issue: String { path("run/starling/issue") }
    var cmdline: String { path("proc/cmdline") }
    var hostnameFile: String { path("etc/hostname") }

    func kernelRole() -> String? {
        guard let line = try? String(contentsOfFile: cmdline, encoding: .utf8) else { return nil }
        return ApplianceConfigLoader.role(fromKernelCommandLine: line)
    }

    /// Writes `text` to `path` atomically with `mode`, creating the folder.
    func write(_ text: String, to path: String, mode: Int = 0o644) throws {
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = path + ".tmp"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        else { throw ConfigError(field: "", message: "cannot write \(temporary): \(errnoText())") }
        guard rename(temporary, path) == 0 else {
            throw ConfigError(field: "", message: "cannot rename \(temporary) to \(path): \(errnoText())")
        }
    }
}

/// The `starling controller|se` command line an appliance role runs.
enum ApplianceLaunch {
    static func arguments(for plan: AppliancePlan, paths: AppliancePaths) -> [String] {
        switch plan.settings {
        case .controller(let listen, _, let insecureHTTP):
            var arguments = ["controller", "--listen", listen, "--data-dir", paths.controllerDataDir]
            if insecureHTTP { arguments.append("--insecure-http") }
            if FileManager.default.fileExists(atPath: paths.adminPasswordFile) {
                arguments += ["--admin-password-file", paths.adminPasswordFile]
            }
            return arguments
        case .se(let controller, _, let name, let dataAddress, let vipInterface):
            // `--option=value`: a value starting with '-' stays a value.
            // The token goes through a 0600 file `configure` writes, not the process list.
            return [
                "se", "--controller=\(controller)", "--token-file=\(paths.seTokenFile)", "--name=\(name)",
                "--data-address=\(dataAddress)", "--vip-interface=\(vipInterface)", "--state-dir=\(paths.seStateDir)",
            ]
        }
    }

    /// Checks the command line with the daemon's own parser, so that a configuration `configure` accepts is
    /// one `starling controller|se` starts with (not a unit restarting for ever on a usage error).
    static func check(_ plan: AppliancePlan, paths: AppliancePaths) throws(ConfigError) {
        let arguments = Array(Self.arguments(for: plan, paths: paths).dropFirst())
        do {
            switch plan.role {
            case .controller: _ = try ControllerCommand.parse(arguments)
            case .se: _ = try SECommand.parse(arguments)
            }
        } catch {
            let message =
                (plan.role == .se ? SECommand.message(for: error) : ControllerCommand.message(for: error))
                .split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
            throw ConfigError(
                field: plan.role.rawValue, message: "starling \(plan.role.rawValue) would refuse it: \(message)")
        }
    }
}
