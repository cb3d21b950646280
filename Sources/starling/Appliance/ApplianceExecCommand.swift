import ArgumentParser
import Foundation
import Glibc
import Netlink
import SE
import StarlingModel

struct ApplianceExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: """
            Run the role's daemon (`starling controller` or `starling se`), or a cluster controller's etcd member \
            (`etcd`), from the persisted configuration.
            """
    )

    @Argument(help: "controller, se or etcd")
    var role: String

    @Option(name: .long, help: ArgumentHelp("Root of the appliance's file system (tests).", visibility: .hidden))
    var root: String = "/"

    @Flag(name: .long, help: "Print the command line instead of running it.")
    var dryRun = false

    func validate() throws {
        guard ApplianceRole(rawValue: role) != nil || role == "etcd" else {
            throw ValidationError("'\(role)' is not a role (controller or se) nor etcd")
        }
    }

    func run() throws {
        let paths = AppliancePaths(root: root)
        let plan: AppliancePlan
        do {
            guard let text = try? String(contentsOfFile: paths.persisted, encoding: .utf8) else {
                throw ConfigError(
                    field: "",
                    message: "no configuration at \(paths.persisted) (starling-appliance.service did not succeed)")
            }
            plan = try ApplianceConfigLoader.parse(text, cmdlineRole: paths.kernelRole())
        } catch {
            FileHandle.standardError.write(Data("starling appliance exec: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if role == "etcd" {
            guard case .controller(_, _, _, let cluster?) = plan.settings else {
                FileHandle.standardError.write(
                    Data("starling appliance exec: no controller.cluster in the configuration: no etcd member\n".utf8))
                throw ExitCode(1)
            }
            let arguments = ApplianceLaunch.etcdArguments(for: cluster, paths: paths)
            if dryRun {
                print((["etcd"] + arguments).joined(separator: " "))
                return
            }
            try? FileManager.default.createDirectory(
                atPath: paths.etcdDataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let etcd = ["/usr/bin/etcd", "/usr/local/bin/etcd"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            }
            guard let etcd else {
                FileHandle.standardError.write(Data("starling appliance exec: etcd is not installed\n".utf8))
                throw ExitCode(1)
            }
            let argv = (["etcd"] + arguments).map { strdup($0) } + [nil]
            resetSignalsForExec()
            execv(etcd, argv)
            FileHandle.standardError.write(Data("starling appliance exec: cannot run \(etcd): \(errnoText())\n".utf8))
            throw ExitCode(1)
        }
        guard plan.role.rawValue == role else {
            FileHandle.standardError.write(
                Data("starling appliance exec: this appliance is a \(plan.role.rawValue), not a \(role)\n".utf8))
            throw ExitCode(1)
        }
        let arguments = ApplianceLaunch.arguments(for: plan, paths: paths)
        if dryRun {
            print((["starling"] + arguments).joined(separator: " "))
            return
        }
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let argv = (["starling"] + arguments).map { strdup($0) } + [nil]
        resetSignalsForExec()
        execv(executable, argv)
        FileHandle.standardError.write(Data("starling appliance exec: cannot run \(executable): \(errnoText())\n".utf8))
        throw ExitCode(1)
    }
}
