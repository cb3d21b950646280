import Foundation
import IPAddresses
import Netlink
import Yams

/// The appliance's first-boot configuration document (YAML or JSON), as a seed disk, qemu `-fw_cfg` or a
/// cloud's user data delivers it. See image/README.md.
///
/// ```yaml
/// role: se                        # controller | se (or kernel command line starling.role=)
/// hostname: se1
/// interfaces:                     # matched by MAC, renamed, set up
///   - {mac: "52:54:00:20:00:11", name: data0, addresses: ["10.20.0.11/24"], mtu: 1500}
/// routes:
///   - {to: default, via: 10.20.0.1}
/// se: {controller: "http://10.10.0.10:8443", token: "...", name: se1, data_address: 10.20.0.11}
/// controller: {listen: "0.0.0.0:8443", admin_password: "...", insecure_http: false}
/// ```
struct ApplianceDocument: Decodable, Equatable {
    struct Interface: Decodable, Equatable {
        var mac: String
        var name: String?
        var addresses: [String]?
        var mtu: UInt32?
    }
    struct RouteEntry: Decodable, Equatable {
        var to: String
        var via: String
    }
    struct SESettings: Decodable, Equatable {
        var controller: String
        var token: String
        var name: String?
        var data_address: String
        var vip_interface: String?
    }
    struct ControllerSettings: Decodable, Equatable {
        var listen: String?
        var admin_password: String?
        /// Serve the API over plain HTTP (labs only; the default is HTTPS from the cluster CA).
        var insecure_http: Bool?
        /// A node of a controller cluster on etcd (each node runs an etcd member beside its controller).
        var cluster: ClusterSettings?
    }
    struct ClusterSettings: Decodable, Equatable {
        /// This node's name among `peers` (default: the hostname).
        var node_name: String?
        /// Every node of the cluster, this one included (the same list on each).
        var peers: [Peer]
        /// The 32-byte secrets key, base64, the same on every node: it opens the cluster CA's key in the store.
        var secrets_key: String
    }
    struct Peer: Decodable, Equatable {
        var name: String
        var address: String
    }
    var role: String?
    var hostname: String?
    var interfaces: [Interface]?
    var routes: [RouteEntry]?
    var se: SESettings?
    var controller: ControllerSettings?

    static let keys: Set<String> = ["role", "hostname", "interfaces", "routes", "se", "controller"]
    static let interfaceKeys: Set<String> = ["mac", "name", "addresses", "mtu"]
    static let routeKeys: Set<String> = ["to", "via"]
    static let seKeys: Set<String> = ["controller", "token", "name", "data_address", "vip_interface"]
    static let controllerKeys: Set<String> = ["listen", "admin_password", "insecure_http", "cluster"]
    static let clusterKeys: Set<String> = ["node_name", "peers", "secrets_key"]
    static let peerKeys: Set<String> = ["name", "address"]
}

/// The role an appliance takes at first boot.
enum ApplianceRole: String, Equatable, Sendable, CaseIterable {
    case controller
    case se
}

/// A validated configuration: everything `starling appliance configure` applies and `exec` runs.
struct AppliancePlan: Equatable, Sendable {
    struct Interface: Equatable, Sendable {
        /// Lowercase, colon-separated.
        var mac: String
        var name: String?
        var addresses: [InterfaceAddressSpec]
        var mtu: UInt32?
    }
    struct StaticRoute: Equatable, Sendable {
        var destination: RoutePrefix
        var gateway: IPAddress
    }
    /// A controller node of a cluster: its etcd member and its place among the nodes.
    struct Cluster: Equatable, Sendable {
        var nodeName: String
        /// Every node, in the document's order (name, address).
        var peers: [(name: String, address: IPAddress)]
        /// The cluster's secrets key (32 bytes).
        var secretsKey: [UInt8]

        /// This node's address.
        var address: IPAddress { peers.first { $0.name == nodeName }!.address }

        static func == (a: Cluster, b: Cluster) -> Bool {
            a.nodeName == b.nodeName && a.secretsKey == b.secretsKey
                && a.peers.map { "\($0.name)=\($0.address)" } == b.peers.map { "\($0.name)=\($0.address)" }
        }
    }
    enum RoleSettings: Equatable, Sendable {
        case controller(listen: String, adminPassword: String?, insecureHTTP: Bool = false, cluster: Cluster? = nil)
        case se(controller: String, token: String, name: String, dataAddress: String, vipInterface: String)
    }
    var role: ApplianceRole
    var hostname: String
    var interfaces: [Interface]
    var routes: [StaticRoute]
    var settings: RoleSettings

    /// The default controller API address of an appliance.
    static let defaultControllerListen = "0.0.0.0:8443"
}

enum ApplianceConfigLoader {
    /// Parses and validates `text`. `cmdlineRole` is the `starling.role=` of the kernel command line, if any.
    /// A `#cloud-config` document may carry the configuration under a top-level `starling:` key.
    static func parse(_ text: String, cmdlineRole: String? = nil) throws(ConfigError) -> AppliancePlan {
        // Decoded from the composed node: a field declared as a string keeps the scalar's text (an unquoted
        // MAC or a password 0123 is not turned into a number first).
        guard var node = try ConfigDocument.document(text, limits: limits) else {
            throw ConfigError(field: "", message: "the configuration document is empty")
        }
        guard let top = node.mapping else {
            throw ConfigError(field: "", message: "the configuration document must be a mapping of settings")
        }
        if let inner = top["starling"] {
            let others = top.keys.compactMap(\.string).filter { $0 != "starling" }.sorted()
            guard others.isEmpty else {
                throw ConfigError(
                    field: others[0],
                    message: "unknown setting beside 'starling' (the appliance reads only the 'starling' key)")
            }
            guard inner.mapping != nil else {
                throw ConfigError(field: "starling", message: "must be a mapping of settings")
            }
            node = inner
        }
        try checkKeys(node)
        return try validate(ConfigDocument.decode(ApplianceDocument.self, from: node), cmdlineRole: cmdlineRole)
    }

    /// A first-boot document has a few dozen values.
    static let limits = ConfigDocument.Limits(bytes: 1 << 20, nodes: 10_000)

    static func checkKeys(_ document: Node) throws(ConfigError) {
        try ConfigDocument.checkKeys(document, allowed: ApplianceDocument.keys, path: "")
        guard let top = document.mapping else { return }
        for (i, node) in (top["interfaces"]?.sequence.map(Array.init) ?? []).enumerated() {
            try ConfigDocument.checkKeys(node, allowed: ApplianceDocument.interfaceKeys, path: "interfaces[\(i)]")
        }
        for (i, node) in (top["routes"]?.sequence.map(Array.init) ?? []).enumerated() {
            try ConfigDocument.checkKeys(node, allowed: ApplianceDocument.routeKeys, path: "routes[\(i)]")
        }
        try ConfigDocument.checkKeys(top["se"], allowed: ApplianceDocument.seKeys, path: "se")
        try ConfigDocument.checkKeys(top["controller"], allowed: ApplianceDocument.controllerKeys, path: "controller")
        let cluster = top["controller"]?.mapping?["cluster"]
        try ConfigDocument.checkKeys(cluster, allowed: ApplianceDocument.clusterKeys, path: "controller.cluster")
        for (i, node) in (cluster?.mapping?["peers"]?.sequence.map(Array.init) ?? []).enumerated() {
            try ConfigDocument.checkKeys(
                node, allowed: ApplianceDocument.peerKeys, path: "controller.cluster.peers[\(i)]")
        }
    }

    static func validate(_ doc: ApplianceDocument, cmdlineRole: String?) throws(ConfigError) -> AppliancePlan {
        // Role: the document, the kernel command line, or both when they agree.
        var roleText = doc.role
        if let cmdlineRole {
            guard ApplianceRole(rawValue: cmdlineRole) != nil else {
                throw ConfigError(
                    field: "starling.role (kernel command line)",
                    message: "'\(cmdlineRole)' is not a role (controller or se)")
            }
            if let documentRole = doc.role, documentRole != cmdlineRole {
                throw ConfigError(
                    field: "role",
                    message:
                        "'\(documentRole)' disagrees with starling.role=\(cmdlineRole) on the kernel command line")
            }
            roleText = cmdlineRole
        }
        guard let roleText else {
            throw ConfigError(field: "role", message: "is required (controller or se), here or as starling.role=")
        }
        guard let role = ApplianceRole(rawValue: roleText) else {
            throw ConfigError(field: "role", message: "'\(roleText)' is not a role (controller or se)")
        }

        let hostname = doc.hostname ?? "starling-\(role.rawValue)"
        guard isHostname(hostname) else {
            throw ConfigError(
                field: "hostname",
                message: "'\(hostname)' is not a host name (letters, digits, '-', '.'; at most 64 bytes)")
        }

        var interfaces: [AppliancePlan.Interface] = []
        var macs: Set<String> = []
        var names: Set<String> = []
        var allAddresses: [InterfaceAddressSpec] = []
        for (i, entry) in (doc.interfaces ?? []).enumerated() {
            let field = "interfaces[\(i)]"
            guard let mac = normalizeMAC(entry.mac) else {
                throw ConfigError(
                    field: "\(field).mac", message: "'\(entry.mac)' is not a MAC address (aa:bb:cc:dd:ee:ff)")
            }
            guard macs.insert(mac).inserted else {
                throw ConfigError(field: "\(field).mac", message: "\(mac) is listed twice")
            }
            if let name = entry.name {
                guard isInterfaceName(name) else {
                    throw ConfigError(
                        field: "\(field).name", message: "'\(name)' is not an interface name (1-15 of a-z 0-9 - _ .)")
                }
                guard name != "lo" else {
                    throw ConfigError(field: "\(field).name", message: "'lo' is the loopback interface")
                }
                guard names.insert(name).inserted else {
                    throw ConfigError(field: "\(field).name", message: "\(name) is used twice")
                }
            }
            var addresses: [InterfaceAddressSpec] = []
            for (j, text) in (entry.addresses ?? []).enumerated() {
                guard text.contains("/"), let spec = InterfaceAddressSpec(text) else {
                    throw ConfigError(
                        field: "\(field).addresses[\(j)]",
                        message: "'\(text)' is not an address with prefix length (e.g. 10.0.0.2/24)")
                }
                guard !allAddresses.contains(where: { $0.ipAddress == spec.ipAddress }) else {
                    throw ConfigError(field: "\(field).addresses[\(j)]", message: "\(spec.address) is used twice")
                }
                allAddresses.append(spec)
                addresses.append(spec)
            }
            if let mtu = entry.mtu, !(68...65535).contains(mtu) {
                throw ConfigError(field: "\(field).mtu", message: "must be between 68 and 65535")
            }
            interfaces.append(.init(mac: mac, name: entry.name, addresses: addresses, mtu: entry.mtu))
        }

        var routes: [AppliancePlan.StaticRoute] = []
        for (i, entry) in (doc.routes ?? []).enumerated() {
            let field = "routes[\(i)]"
            guard let via = IPAddress(entry.via) else {
                throw ConfigError(field: "\(field).via", message: "'\(entry.via)' is not an IP address")
            }
            let destination: RoutePrefix?
            if entry.to == "default" {
                destination = RoutePrefix(via.isIPv6 ? "::/0" : "0.0.0.0/0")
            } else {
                destination = entry.to.contains("/") ? RoutePrefix(entry.to) : nil
            }
            guard let destination else {
                throw ConfigError(
                    field: "\(field).to", message: "'\(entry.to)' is not a prefix (e.g. 10.0.0.0/8) or 'default'")
            }
            guard destination.family == IPFamily(of: via) else {
                throw ConfigError(field: "\(field).via", message: "\(entry.via) is not of the family of \(entry.to)")
            }
            guard
                allAddresses.contains(where: { IPPrefix(address: $0.ipAddress, length: $0.prefixLength).contains(via) })
            else {
                throw ConfigError(
                    field: "\(field).via",
                    message:
                        "\(entry.via) is on none of the interfaces' subnets (the gateway must be directly reachable)")
            }
            guard !routes.contains(where: { $0.destination == destination }) else {
                throw ConfigError(field: "\(field).to", message: "\(entry.to) is routed twice")
            }
            routes.append(.init(destination: destination, gateway: via))
        }

        let settings: AppliancePlan.RoleSettings
        switch role {
        case .controller:
            if doc.se != nil {
                throw ConfigError(field: "se", message: "is for role se; this appliance is a controller")
            }
            let c = doc.controller ?? .init()
            let listen = c.listen ?? AppliancePlan.defaultControllerListen
            guard let address = HostPort(listen), IPAddress(address.host) != nil else {
                throw ConfigError(
                    field: "controller.listen", message: "'\(listen)' is not ADDR:PORT (e.g. 0.0.0.0:8443)")
            }
            if let password = c.admin_password, password.isEmpty {
                throw ConfigError(field: "controller.admin_password", message: "must not be empty")
            }
            var cluster: AppliancePlan.Cluster?
            if let settings = c.cluster {
                cluster = try clusterPlan(settings, hostname: hostname, addresses: allAddresses)
            }
            settings = .controller(
                listen: listen, adminPassword: c.admin_password, insecureHTTP: c.insecure_http ?? false,
                cluster: cluster)
        case .se:
            if doc.controller != nil {
                throw ConfigError(field: "controller", message: "is for role controller; this appliance is an SE")
            }
            guard let s = doc.se else {
                throw ConfigError(field: "se", message: "is required for role se (controller, token, data_address)")
            }
            // One URL, or a cluster's node URLs separated by commas.
            for text in s.controller.split(separator: ",", omittingEmptySubsequences: false) {
                guard let url = URLComponents(string: String(text)), url.scheme == "http" || url.scheme == "https",
                    url.host?.isEmpty == false
                else {
                    throw ConfigError(
                        field: "se.controller", message: "'\(text)' is not an https:// or http:// URL")
                }
            }
            guard !s.token.isEmpty, !s.token.contains(where: \.isWhitespace) else {
                throw ConfigError(field: "se.token", message: "must be a join token (GET /api/securetoken-generate)")
            }
            let name = s.name ?? hostname
            guard !name.isEmpty, name.count <= 255, !name.contains(where: { $0.isWhitespace || $0 == "/" }) else {
                throw ConfigError(field: "se.name", message: "'\(name)' is not an SE name (no spaces or '/')")
            }
            guard let data = IPAddress(s.data_address) else {
                throw ConfigError(field: "se.data_address", message: "'\(s.data_address)' is not an IP address")
            }
            if !interfaces.isEmpty, !allAddresses.contains(where: { $0.ipAddress == data }) {
                throw ConfigError(
                    field: "se.data_address", message: "\(data) is not one of the interfaces' addresses")
            }
            let vip = s.vip_interface ?? "lo"
            guard isInterfaceName(vip) else {
                throw ConfigError(field: "se.vip_interface", message: "'\(vip)' is not an interface name")
            }
            settings = .se(
                controller: s.controller, token: s.token, name: name, dataAddress: data.description, vipInterface: vip)
        }
        return AppliancePlan(
            role: role, hostname: hostname, interfaces: interfaces, routes: routes, settings: settings)
    }

    /// A controller cluster's settings checked: names unique, addresses IPs, this node among them (and its
    /// address on one of the interfaces, when the document configures them), a 32-byte secrets key.
    static func clusterPlan(
        _ c: ApplianceDocument.ClusterSettings, hostname: String, addresses: [InterfaceAddressSpec]
    ) throws(ConfigError) -> AppliancePlan.Cluster {
        let name = c.node_name ?? hostname
        guard !c.peers.isEmpty, c.peers.count <= 7 else {
            throw ConfigError(field: "controller.cluster.peers", message: "must list 1-7 nodes (3 for a cluster)")
        }
        var peers: [(name: String, address: IPAddress)] = []
        for (i, peer) in c.peers.enumerated() {
            let field = "controller.cluster.peers[\(i)]"
            guard !peer.name.isEmpty, peer.name.count <= 63,
                peer.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
            else {
                throw ConfigError(field: "\(field).name", message: "'\(peer.name)' is not a node name (a-z, 0-9, -)")
            }
            guard let address = IPAddress(peer.address) else {
                throw ConfigError(field: "\(field).address", message: "'\(peer.address)' is not an IP address")
            }
            guard !peers.contains(where: { $0.name == peer.name || $0.address == address }) else {
                throw ConfigError(field: field, message: "\(peer.name) (\(address)) is listed twice")
            }
            peers.append((peer.name, address))
        }
        guard let mine = peers.first(where: { $0.name == name }) else {
            throw ConfigError(
                field: "controller.cluster.node_name", message: "'\(name)' is not among the peers (give node_name)")
        }
        if !addresses.isEmpty, !addresses.contains(where: { $0.ipAddress == mine.address }) {
            throw ConfigError(
                field: "controller.cluster.peers",
                message: "\(mine.address) (\(name)) is not one of the interfaces' addresses")
        }
        guard let key = Data(base64Encoded: c.secrets_key), key.count == 32 else {
            throw ConfigError(
                field: "controller.cluster.secrets_key",
                message: "must be 32 bytes in base64 (head -c 32 /dev/urandom | base64)")
        }
        return AppliancePlan.Cluster(nodeName: name, peers: peers, secretsKey: Array(key))
    }

    /// The value of `starling.role=` on a kernel command line, if present.
    static func role(fromKernelCommandLine line: String) -> String? {
        var found: String?
        for word in line.split(whereSeparator: \.isWhitespace) where word.hasPrefix("starling.role=") {
            found = String(word.dropFirst("starling.role=".count))
        }
        return found
    }

    static func normalizeMAC(_ text: String) -> String? {
        let parts = text.lowercased().split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && UInt8($0, radix: 16) != nil }) else { return nil }
        return parts.joined(separator: ":")
    }

    static func isInterfaceName(_ name: String) -> Bool {
        (1...15).contains(name.utf8.count)
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
            && name != "." && name != ".."
    }

    static func isHostname(_ name: String) -> Bool {
        // sethostname(2) takes at most 64 bytes (HOST_NAME_MAX).
        guard (1...64).contains(name.utf8.count) else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}
