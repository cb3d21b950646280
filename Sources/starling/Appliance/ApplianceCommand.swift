import ArgumentParser
import Controller
import Foundation
import Glibc
import IPAddresses
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
    /// A controller cluster node's etcd member.
    var etcdDataDir: String { path("var/lib/starling/etcd") }
    /// Present when this controller runs an etcd member (starling-etcd.service's condition).
    var etcdMarker: String { path("run/starling/etcd") }
    /// The etcd members' CA (derived from the secrets key), and this node's member certificate and key: the
    /// member serves and calls its peers with it, the controller calls etcd with it.
    var etcdCAFile: String { path("etc/starling/etcd-tls/ca.pem") }
    var etcdCertFile: String { path("etc/starling/etcd-tls/member.pem") }
    var etcdKeyFile: String { path("etc/starling/etcd-tls/member.key") }
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
    /// `etcdTLSFiles`: false leaves out the etcd certificate files, which `configure` makes after checking the
    /// document (``check(_:paths:)`` must not find them missing).
    static func arguments(for plan: AppliancePlan, paths: AppliancePaths, etcdTLSFiles: Bool = true) -> [String] {
        switch plan.settings {
        case .controller(let listen, _, let insecureHTTP, let cluster):
            var arguments = ["controller", "--listen", listen, "--data-dir", paths.controllerDataDir]
            if let cluster {
                // The other nodes reach this one at its own address; the local etcd member first.
                let port = HostPort(listen)?.port ?? 8443
                arguments[2] = HostPort.text(cluster.address, port: port)
                let others = cluster.peers.filter { $0.name != cluster.nodeName }.map {
                    ApplianceLaunch.etcdURL($0.address, 2379)
                }
                arguments += [
                    "--store", "etcd", "--etcd-endpoints", (["https://127.0.0.1:2379"] + others).joined(separator: ","),
                    "--node-name", cluster.nodeName,
                ]
                if etcdTLSFiles {
                    arguments += [
                        "--etcd-cacert", paths.etcdCAFile, "--etcd-cert", paths.etcdCertFile, "--etcd-key",
                        paths.etcdKeyFile,
                    ]
                }
            }
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

    /// `https://ADDRESS:PORT` (brackets around IPv6).
    static func etcdURL(_ address: IPAddress, _ port: Int) -> String { "https://\(HostPort.text(address, port: port))" }

    /// The etcd member of a controller cluster node (`starling appliance exec etcd`): named after the node,
    /// data in /var/lib/starling/etcd, clients on its address and on 127.0.0.1, peers on its address; TLS on
    /// both with the member's certificate, and clients and peers must present one from the same CA.
    static func etcdArguments(for cluster: AppliancePlan.Cluster, paths: AppliancePaths) -> [String] {
        let own = cluster.address
        let members = cluster.peers.map { "\($0.name)=\(etcdURL($0.address, 2380))" }.joined(separator: ",")
        return [
            "--name", cluster.nodeName, "--data-dir", paths.etcdDataDir,
            "--listen-client-urls", "\(etcdURL(own, 2379)),https://127.0.0.1:2379",
            "--advertise-client-urls", etcdURL(own, 2379), "--listen-peer-urls", etcdURL(own, 2380),
            "--initial-advertise-peer-urls", etcdURL(own, 2380), "--initial-cluster", members,
            "--initial-cluster-state", "new", "--initial-cluster-token", "starling", "--max-txn-ops", "4096",
            "--cert-file", paths.etcdCertFile, "--key-file", paths.etcdKeyFile, "--trusted-ca-file", paths.etcdCAFile,
            "--client-cert-auth", "--peer-cert-file", paths.etcdCertFile, "--peer-key-file", paths.etcdKeyFile,
            "--peer-trusted-ca-file", paths.etcdCAFile, "--peer-client-cert-auth",
        ]
    }

    /// The etcd TLS files of a cluster node (path, text, mode): the members' CA, derived from the secrets key
    /// (every node derives the same), and a fresh member certificate from it, good for server and client use,
    /// for every address of the node's interfaces (etcd checks a peer's source address against its
    /// certificate, and a multi-homed node may reach a peer from any of them), 127.0.0.1, ::1, localhost and
    /// its name. Valid from the CA's own start, so a node whose clock is behind at boot is not refused.
    static func etcdTLSFiles(
        for plan: AppliancePlan, cluster: AppliancePlan.Cluster, paths: AppliancePaths, now: Date
    ) throws -> [(path: String, text: String, mode: Int)] {
        let ca = try ClusterCA.derived(
            fromSecret: cluster.secretsKey, purpose: "etcd members", commonName: "Starling etcd CA")
        let addresses = plan.interfaces.flatMap { $0.addresses.map(\.ipAddress.description) }
        let member = try ca.nodeIdentityPEM(
            node: cluster.nodeName,
            hosts: [cluster.address.description] + addresses + ["127.0.0.1", "::1", "localhost", cluster.nodeName],
            days: 3650, validFrom: ca.certificate.notValidBefore, now: now)
        return [
            (paths.etcdCAFile, ca.pem, 0o644), (paths.etcdKeyFile, member.key, 0o600),
            (paths.etcdCertFile, member.certificate, 0o644),
        ]
    }

    /// Checks the command line with the daemon's own parser, so that a configuration `configure` accepts is
    /// one `starling controller|se` starts with (not a unit restarting for ever on a usage error).
    static func check(_ plan: AppliancePlan, paths: AppliancePaths) throws(ConfigError) {
        let arguments = Array(Self.arguments(for: plan, paths: paths, etcdTLSFiles: false).dropFirst())
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
