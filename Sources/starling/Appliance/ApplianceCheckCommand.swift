import ArgumentParser
import Foundation
import Glibc
import Netlink
import SE
import StarlingModel

struct ApplianceCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a configuration document without applying it (exit 0 when valid)."
    )

    @Argument(help: "The document (YAML or JSON).")
    var file: String

    @Option(name: .long, help: "A role as the kernel command line would give it (starling.role=).")
    var role: String?

    func run() throws {
        do {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigError(field: "", message: "cannot read \(file)")
            }
            let plan = try ApplianceConfigLoader.parse(text, cmdlineRole: role)
            try ApplianceLaunch.check(plan, paths: AppliancePaths())
            print(
                "\(file): valid: role \(plan.role.rawValue), hostname \(plan.hostname), "
                    + "\(plan.interfaces.count) interface(s), \(plan.routes.count) route(s)")
        } catch {
            FileHandle.standardError.write(Data("\(file): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
