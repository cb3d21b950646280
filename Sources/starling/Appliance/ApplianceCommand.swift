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
        case .controller(let listen, _):
            var arguments = ["controller", "--listen", listen, "--data-dir", paths.controllerDataDir]
            if FileManager.default.fileExists(atPath: paths.adminPasswordFile) {
                arguments += ["--admin-password-file", paths.adminPasswordFile]
            }
            return arguments
        case .se(let controller, _, let name, let dataAddress, let vipInterface):
            // `--option=value`: a value starting with '-' stays a value.
            // The token goes through a 0600 file `configure` writes, not the process list.
            return [
                "se", "--controller=\(controller)", "--token-file=\(paths.seTokenFile)", "--name=\(name)",
                "--data-address=\(dataAddress)", "--vip-interface=\(vipInterface)",
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

// MARK: - configure

struct ApplianceConfigureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "configure",
        abstract: "Find the configuration (persisted, fw_cfg, seed volume), check it, apply it (run at every boot).",
        discussion: """
            On success: hostname, interfaces (by MAC), addresses and routes are set through rtnetlink, the \
            document is kept in /etc/starling/appliance.yaml, and /run/starling/role-<role> tells systemd which \
            role unit to start. On any error: one line saying why, everything applied is undone, exit 1.
            """
    )

    @Option(name: .long, help: "Seconds to wait for the configured interfaces to appear.")
    var wait: Int = 30

    @Option(name: .long, help: "Seconds to wait for a configuration source (fw_cfg, seed volume) to appear.")
    var seedWait: Int = 10

    @Option(name: .long, help: ArgumentHelp("Root of the appliance's file system (tests).", visibility: .hidden))
    var root: String = "/"

    func run() async throws {
        let paths = AppliancePaths(root: root)
        let say = Self.say
        for role in ApplianceRole.allCases { unlink(paths.roleMarker(role)) }
        unlink(paths.roleFile)
        unlink(paths.failureFile)
        do {
            let plan = try configure(paths: paths, say: say)
            say(
                "configured as \(plan.role == .se ? "Service Engine" : "Controller") \(plan.hostname); starting starling-\(plan.role.rawValue)"
            )
        } catch {
            let reason = "\(error)"
            say("FAILED: \(reason)")
            let where_ =
                FileManager.default.fileExists(atPath: paths.persisted)
                ? paths.persisted + " (the copy kept at first boot)" : "the seed (fw_cfg, cidata or config-2 volume)"
            say("nothing is started; fix \(where_), then reboot or: systemctl restart starling-appliance")
            try? paths.write(reason + "\n", to: paths.failureFile)
            try? paths.write(ApplianceBanner.render(ApplianceBanner.gather(paths: paths)), to: paths.issue)
            throw ExitCode(1)
        }
    }

    /// One line on stderr (the unit sends it to the journal and the console).
    static func say(_ line: String) {
        FileHandle.standardError.write(Data("starling-appliance: \(line)\n".utf8))
    }

    private func configure(paths: AppliancePaths, say: @escaping (String) -> Void) throws(ConfigError)
        -> AppliancePlan
    {
        let locator = ApplianceSeedLocator(root: root)
        let cmdlineRole = paths.kernelRole()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(seedWait)
        var found = try locator.find()
        while found == nil && clock.now < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            found = try locator.find()
        }
        guard let (source, text) = found else {
            throw ConfigError(
                field: "",
                message:
                    "no configuration after \(seedWait) s: none persisted (\(locator.persistedPath)), no qemu fw_cfg "
                    + "opt/org.starling/config, no volume labelled cidata (user-data) or config-2")
        }
        say("configuration from \(source)")
        let plan: AppliancePlan
        do {
            plan = try ApplianceConfigLoader.parse(text, cmdlineRole: cmdlineRole)
        } catch {
            throw ConfigError(field: error.field, message: error.message + " (in \(source))")
        }
        try ApplianceLaunch.check(plan, paths: paths)
        if case .controller(_, let password) = plan.settings, password == nil {
            let store = (try? FileManager.default.contentsOfDirectory(atPath: paths.controllerDataDir)) ?? []
            if store.isEmpty && !FileManager.default.fileExists(atPath: paths.adminPasswordFile) {
                throw ConfigError(
                    field: "controller.admin_password", message: "is required on first boot (no store exists yet)")
            }
        }

        var network: ApplianceNetwork
        do {
            network = ApplianceNetwork(socket: try NetlinkSocket(), report: say)
        } catch {
            throw ConfigError(field: "", message: "cannot open rtnetlink: \(error)")
        }
        try network.apply(plan, timeout: .seconds(wait))
        // Files: a file this run creates is removed again if a later step fails; the persisted copy comes
        // last, so a failed first boot leaves the seed in charge.
        var created: [String] = []
        func write(_ text: String, to path: String, mode: Int = 0o644) throws {
            let existed = FileManager.default.fileExists(atPath: path)
            try paths.write(text, to: path, mode: mode)
            if !existed { created.append(path) }
        }
        do {
            if case .controller(_, let password?) = plan.settings {
                try write(password, to: paths.adminPasswordFile, mode: 0o600)
            }
            if case .se(_, let token, _, _, _) = plan.settings {
                try write(token + "\n", to: paths.seTokenFile, mode: 0o600)
            }
            try write("\(source)\n", to: paths.sourceFile)
            try write(plan.hostname + "\n", to: paths.hostnameFile)
            if case .persisted = source {
            } else {
                try write(text, to: paths.persisted, mode: 0o600)
                say("kept the configuration in \(paths.persisted); later boots use it")
            }
            if root == "/" {
                guard sethostname(plan.hostname, plan.hostname.utf8.count) == 0 else {
                    throw ConfigError(field: "hostname", message: "cannot set the host name: \(errnoText())")
                }
            }
            try paths.write(plan.role.rawValue + "\n", to: paths.roleFile)
            try paths.write("", to: paths.roleMarker(plan.role))
        } catch {
            network.rollBack()
            for path in created.reversed() { unlink(path) }
            for role in ApplianceRole.allCases { unlink(paths.roleMarker(role)) }
            unlink(paths.roleFile)
            throw error as? ConfigError ?? ConfigError(field: "", message: "\(error)")
        }
        try? paths.write(ApplianceBanner.render(ApplianceBanner.gather(paths: paths)), to: paths.issue)
        return plan
    }
}

// MARK: - exec

struct ApplianceExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run the role's daemon (`starling controller` or `starling se`) from the persisted configuration."
    )

    @Argument(help: "controller or se")
    var role: String

    @Option(name: .long, help: ArgumentHelp("Root of the appliance's file system (tests).", visibility: .hidden))
    var root: String = "/"

    @Flag(name: .long, help: "Print the command line instead of running it.")
    var dryRun = false

    func validate() throws {
        guard ApplianceRole(rawValue: role) != nil else {
            throw ValidationError("'\(role)' is not a role (controller or se)")
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

// MARK: - check

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

// MARK: - banner

struct ApplianceBannerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "banner",
        abstract: "Rewrite the login banner (/run/starling/issue) with role, addresses and live state."
    )

    @Flag(name: .long, help: "Print the banner instead of writing it.")
    var print = false

    @Option(name: .long, help: ArgumentHelp("Root of the appliance's file system (tests).", visibility: .hidden))
    var root: String = "/"

    func run() async throws {
        let paths = AppliancePaths(root: root)
        var facts = ApplianceBanner.gather(paths: paths)
        facts.state = await ApplianceBanner.liveState(facts)
        let text = ApplianceBanner.render(facts)
        if print {
            Swift.print(text, terminator: "")
        } else {
            try paths.write(text, to: paths.issue)
        }
    }
}

/// The login banner: what an operator at the console wants to see first.
enum ApplianceBanner {
    struct Facts {
        var role: ApplianceRole?
        var hostname: String
        var failure: String?
        var source: String?
        var interfaces: [(name: String, mac: String, addresses: [String], up: Bool)] = []
        var plan: AppliancePlan?
        var state: [String] = []
    }

    static func gather(paths: AppliancePaths) -> Facts {
        let role = (try? String(contentsOfFile: paths.roleFile, encoding: .utf8)).flatMap {
            ApplianceRole(rawValue: $0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let plan = (try? String(contentsOfFile: paths.persisted, encoding: .utf8)).flatMap {
            try? ApplianceConfigLoader.parse($0, cmdlineRole: paths.kernelRole())
        }
        var facts = Facts(
            role: role,
            hostname: plan?.hostname ?? ProcessInfo.processInfo.hostName,
            failure: (try? String(contentsOfFile: paths.failureFile, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines),
            source: (try? String(contentsOfFile: paths.sourceFile, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines),
            plan: plan)
        if let socket = try? NetlinkSocket(), let links = try? socket.links(), let addresses = try? socket.addresses() {
            for link in links where !link.flags.contains(.loopback) {
                let own = addresses.filter { $0.interfaceIndex == link.index && $0.scope == .universe }
                facts.interfaces.append(
                    (link.name, link.macAddress ?? "-", own.map { "\($0.address)/\($0.prefixLength)" }, link.isUp))
            }
        }
        return facts
    }

    /// One line per fact of the running role, asked from its local API.
    static func liveState(_ facts: Facts) async -> [String] {
        guard let plan = facts.plan, facts.role != nil else { return [] }
        switch plan.settings {
        case .controller(let listen, _):
            guard let address = HostPort(listen) else { return [] }
            let local = address.host == "0.0.0.0" || address.host == "::" ? "127.0.0.1" : address.host
            let url = "http://\(local.contains(":") ? "[\(local)]" : local):\(address.port)"
            guard let client = try? HTTPClient(baseURL: url) else { return [] }
            let answer: [String]
            do {
                _ = try await client.request("GET", "/api/initial-data", timeout: .seconds(2))
                answer = ["starling-controller: API answering on \(listen)"]
            } catch {
                answer = ["starling-controller: API not answering on \(listen) (\(error))"]
            }
            await client.shutdown()
            return answer
        case .se:
            guard let client = try? HTTPClient(baseURL: "http://127.0.0.1:9180") else { return [] }
            let answer = await seState(client)
            await client.shutdown()
            return answer
        }
    }

    private static func seState(_ client: HTTPClient) async -> [String] {
        do {
            let reply = try await client.request("GET", "/status", timeout: .seconds(2))
            let status = try JSONDecoder().decode(SEStatus.self, from: Data(reply.body))
            let established = status.bgp_peers.filter { $0.state == "Established" }
            let peers = status.bgp_peers.map { "\($0.peer_ip) \($0.state)" }.joined(separator: ", ")
            let up = status.virtual_services.filter { $0.oper_state == "OPER_UP" }.count
            let advertised = status.virtual_services.filter(\.advertised).count
            return [
                "starling-se: running\(status.draining ? ", draining" : "")",
                "BGP: \(established.count)/\(status.bgp_peers.count) Established\(peers.isEmpty ? "" : " (\(peers))")",
                "virtual services: \(status.virtual_services.count), \(up) up, \(advertised) advertised",
            ]
        } catch {
            return ["starling-se: not answering on 127.0.0.1:9180 (\(error))"]
        }
    }

    static func render(_ facts: Facts) -> String {
        // agetty expands backslash escapes in /etc/issue: keep ours literal.
        func literal(_ text: String) -> String { text.replacingOccurrences(of: "\\", with: "\\\\") }
        var lines = [""]
        let roleName =
            switch facts.role {
            case .se: "Service Engine"
            case .controller: "Controller"
            case nil: "NOT CONFIGURED"
            }
        lines.append("  Starling appliance · \(roleName) · \(facts.hostname)")
        if let failure = facts.failure, facts.role == nil {
            lines.append("  configuration failed: \(failure)")
            lines.append("  (see: journalctl -u starling-appliance)")
        }
        if let source = facts.source { lines.append("  configured from: \(source)") }
        for interface in facts.interfaces {
            let addresses = interface.addresses.isEmpty ? "no address" : interface.addresses.joined(separator: " ")
            lines.append(
                "  \(interface.name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(interface.mac)  \(addresses)\(interface.up ? "" : "  (down)")"
            )
        }
        if let plan = facts.plan {
            switch plan.settings {
            case .controller(let listen, _): lines.append("  REST API: http://\(listen)/api/")
            case .se(let controller, _, let name, let data, _):
                lines.append("  SE \(name), data address \(data), controller \(controller)")
            }
        }
        for line in facts.state { lines.append("  \(line)") }
        let stamp = ISO8601DateFormatter().string(from: Date())
        lines.append("  (as of \(stamp))")
        lines.append("")
        lines.append("")
        return literal(lines.joined(separator: "\n"))
    }
}
