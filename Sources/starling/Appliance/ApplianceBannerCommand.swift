import ArgumentParser
import Foundation
import Glibc
import Netlink
import SE
import StarlingHTTP
import StarlingModel

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
        /// The controller's cluster CA (PEM), which it writes to its data directory.
        var clusterCA: String?
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
        facts.clusterCA = try? String(contentsOfFile: paths.controllerDataDir + "/cluster-ca.pem", encoding: .utf8)
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
        case .controller(let listen, _, let insecureHTTP, let cluster):
            guard let address = HostPort(listen) else { return [] }
            // A cluster node listens on its own address only.
            let local =
                cluster.map { "\($0.address)" }
                ?? (address.host == "0.0.0.0" || address.host == "::" ? "127.0.0.1" : address.host)
            let scheme = insecureHTTP ? "http" : "https"
            let url = "\(scheme)://\(local.contains(":") ? "[\(local)]" : local):\(address.port)"
            guard let client = try? HTTPClient(baseURL: url, tls: .init(trustedPEM: facts.clusterCA ?? "")) else {
                return []
            }
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
            case .controller(let listen, _, let insecureHTTP, let cluster):
                let shown = cluster.map { HostPort.text($0.address, port: HostPort(listen)?.port ?? 8443) } ?? listen
                lines.append("  REST API: \(insecureHTTP ? "http" : "https")://\(shown)/api/")
                if let cluster {
                    lines.append(
                        "  cluster node \(cluster.nodeName) of \(cluster.peers.map(\.name).joined(separator: ", "))")
                }
                if !insecureHTTP, let ca = facts.clusterCA, let hash = try? ManagementTrust.fingerprint(pem: ca) {
                    lines.append("  cluster CA SHA-256: \(hash)")
                }
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
