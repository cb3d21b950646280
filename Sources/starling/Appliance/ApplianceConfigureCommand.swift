import ArgumentParser
import Foundation
import Glibc
import Netlink
import SE
import StarlingModel

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
        unlink(paths.etcdMarker)
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
        if case .controller(_, let password, _, _) = plan.settings, password == nil {
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
            if case .controller(_, let password?, _, _) = plan.settings {
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
            if case .controller(_, _, _, let cluster?) = plan.settings {
                // Every node holds the same secrets key: it opens the cluster CA's key in the store.
                try FileManager.default.createDirectory(
                    atPath: paths.controllerDataDir, withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700])
                let keyFile = paths.controllerDataDir + "/secrets.key"
                let existed = FileManager.default.fileExists(atPath: keyFile)
                guard
                    FileManager.default.createFile(
                        atPath: keyFile, contents: Data(cluster.secretsKey), attributes: [.posixPermissions: 0o600])
                else { throw ConfigError(field: "controller.cluster.secrets_key", message: "cannot write \(keyFile)") }
                if !existed { created.append(keyFile) }
                let files: [(path: String, text: String, mode: Int)]
                do {
                    files = try ApplianceLaunch.etcdTLSFiles(for: plan, cluster: cluster, paths: paths, now: Date())
                } catch {
                    throw ConfigError(
                        field: "controller.cluster", message: "cannot make the etcd member's certificate: \(error)")
                }
                // The folder holds a key that opens etcd: root only.
                let folder = (paths.etcdKeyFile as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                chmod(folder, 0o700)
                for file in files { try write(file.text, to: file.path, mode: file.mode) }
                try paths.write("", to: paths.etcdMarker)
                say(
                    "controller cluster node \(cluster.nodeName) of \(cluster.peers.map(\.name).joined(separator: ", ")); starting its etcd member"
                )
            }
            try paths.write(plan.role.rawValue + "\n", to: paths.roleFile)
            try paths.write("", to: paths.roleMarker(plan.role))
        } catch {
            network.rollBack()
            for path in created.reversed() { unlink(path) }
            for role in ApplianceRole.allCases { unlink(paths.roleMarker(role)) }
            unlink(paths.etcdMarker)
            unlink(paths.roleFile)
            throw error as? ConfigError ?? ConfigError(field: "", message: "\(error)")
        }
        try? paths.write(ApplianceBanner.render(ApplianceBanner.gather(paths: paths)), to: paths.issue)
        return plan
    }
}
