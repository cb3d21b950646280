import Foundation

/// The demo and end-to-end topology of DESIGN §5, built from network namespaces:
///
/// ```
///  client ──198.18.2.0/24── router (BIRD, AS 65000, ECMP, L4 hash) ── br-data 198.18.1.0/24 ──┬── se1..seN (.11..)
///  198.18.2.2                198.18.2.1 / 198.18.1.1                                           └── srv1..srvM (.21..)
///  ctrl: br-mgmt 198.18.3.1/24 (controller :8443) ── mgmt0 of se1..seN (198.18.3.11..)
/// ```
///
/// With `controllers: 3` the ctrl namespace holds a controller cluster instead: three etcd members and three
/// controller nodes, node N on 198.18.3.N (API :8443, etcd :2379/:2380 over TLS with client certificates), and
/// the SEs get every node's URL.
///
/// VIPs come from 192.0.2.0/24; the SEs (AS 65001) peer with the router over eBGP from their data address.
/// Everything started here is a ``DetachedProcess`` recorded in `state.json` in the lab directory, so the lab
/// outlives the program that built it (`starling lab up` exits, `starling lab down` later tears it down) and a
/// half-built lab can always be removed. Namespaces are named `stdemo-<name>-<role>`, which ``Lab``'s sweeper
/// never touches; test labs (`DemoLab.forTest`) are named after their process id and swept once it is dead.
///
/// Each step is a method, so tests can run variants (another VIP, a server down, an SE killed).
public final class DemoLab {
    /// Prefix of every demo namespace and directory.
    public static let prefix = "stdemo-"
    /// Parent of the lab directories (shared with ``Lab``).
    public static let root = Lab.root

    /// Fixed addresses of the topology.
    public enum Address {
        /// The router on the data segment (the SEs' BGP peer and default gateway).
        public static let routerData = "198.18.1.1"
        /// The router toward the client.
        public static let routerClient = "198.18.2.1"
        /// The client.
        public static let client = "198.18.2.2"
        /// The controller on the management segment.
        public static let controller = "198.18.3.1"
        /// The controller's API port.
        public static let controllerPort = 8443
        /// Controller node `index` (1-based) of a cluster lab (node 1 is ``controller``).
        public static func controllerNode(_ index: Int) -> String { "198.18.3.\(index)" }
        /// The demo VIP.
        public static let vip = "192.0.2.10"
        /// The native scale-out demo's VIP (`lab up --native`): on the data segment's subnet, reached by the
        /// router's connected route and ARP, no BGP.
        public static let nativeVIP = "198.18.1.100"
        /// SE `index` (1-based) on the data segment.
        public static func seData(_ index: Int) -> String { "198.18.1.\(10 + index)" }
        /// SE `index` (1-based) on the management segment.
        public static func seManagement(_ index: Int) -> String { "198.18.3.\(10 + index)" }
        /// Pool server `index` (1-based).
        public static func server(_ index: Int) -> String { "198.18.1.\(20 + index)" }
    }

    /// The router's AS.
    public static let routerAS: UInt32 = 65000
    /// The SEs' AS.
    public static let seAS: UInt32 = 65001

    /// What a lab is, persisted in `state.json`.
    public struct State: Codable, Sendable {
        /// `stdemo-<name>`.
        public var id: String
        /// The `starling` executable.
        public var binary: String
        /// Number of SEs and pool servers.
        public var seCount: Int
        public var serverCount: Int
        /// The controller's admin password.
        public var adminPassword: String
        /// Whether BIRD keeps the routes of a restarting SE (Graceful Restart helper, RFC 4724) while its
        /// successor process takes over (``reloadSE(_:timeout:)``). With BFD on every SE session, a crashed
        /// SE is withdrawn at once all the same.
        public var gracefulRestart: Bool
        /// Whether the native scale-out demo (`demo-native` on ``Address/nativeVIP``) is configured.
        public var native: Bool?
        /// Controller nodes: nil or 1 for one controller on SQLite, 3 for a cluster on etcd.
        public var controllers: Int?
        /// The Admin Console's address on this machine's loopback (forwarded to the controller), once
        /// ``forwardConsole(port:)`` ran.
        public var consoleURL: String?
        /// Namespaces created, in order.
        public var namespaces: [String] = []
        /// Processes started and not stopped on purpose, by name.
        public var processes: [String: DetachedProcess] = [:]
    }

    /// The lab's name (`demo` for `starling lab up`).
    public let name: String
    /// `stdemo-<name>`.
    public let id: String
    /// The lab directory (state, configs, logs, controller data).
    public let directory: String
    /// The persisted state.
    public private(set) var state: State
    /// The controller session, once ``startController()`` succeeded.
    public private(set) var api: DemoAPI?

    /// The names of the SEs (`se1`...).
    public var seNames: [String] { (1...state.seCount).map { "se\($0)" } }
    /// The names of the pool servers (`srv1`...).
    public var serverNames: [String] { (1...state.serverCount).map { "srv\($0)" } }
    /// The controller URL as the SEs see it (node 1's in a cluster).
    public var controllerURL: String { "https://\(Address.controller):\(Address.controllerPort)" }
    /// The cluster CA the controller writes to its data directory (node 1's in a cluster): what the lab, its
    /// SEs' tokens and `ctl --ca-file` trust.
    public var controllerCAFile: String { path(controllerCount > 1 ? "ctrl1/cluster-ca.pem" : "ctrl/cluster-ca.pem") }
    /// Controller nodes (1, or 3 for a cluster on etcd).
    public var controllerCount: Int { state.controllers ?? 1 }
    /// The URL of controller node `index` (1-based).
    public func controllerURL(node index: Int) -> String {
        "https://\(Address.controllerNode(index)):\(Address.controllerPort)"
    }

    /// Prepares a new lab `name` (nothing is created yet; ``up()`` or the single steps build it). Throws when
    /// not root, or when a lab of that name exists (run ``down()`` first).
    public init(
        name: String = "demo", binary: String, seCount: Int = 3, serverCount: Int = 2, adminPassword: String? = nil,
        gracefulRestart: Bool = true, controllers: Int = 1
    ) throws {
        precondition((1...9).contains(seCount) && (1...9).contains(serverCount), "1...9 SEs and servers")
        precondition(controllers == 1 || controllers == 3, "one controller or a cluster of three")
        try Self.checkHost()
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }), !name.isEmpty, name.count <= 16 else {
            throw LabError(.unavailable, "lab name '\(name)': 1-16 letters and digits")
        }
        self.name = name
        id = Self.prefix + name
        directory = "\(Self.root)/\(id)"
        let leftovers = Self.namespaces(of: id)
        if FileManager.default.fileExists(atPath: "\(directory)/state.json") || !leftovers.isEmpty {
            throw LabError(
                .unavailable,
                "lab \(id) already exists (\(leftovers.count) namespaces, \(directory)): run `starling lab down` first")
        }
        let password = adminPassword ?? Self.generatePassword()
        state = State(
            id: id, binary: binary, seCount: seCount, serverCount: serverCount, adminPassword: password,
            gracefulRestart: gracefulRestart)
        if controllers > 1 { state.controllers = controllers }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(Self.root, 0o755)
        chmod(directory, 0o755)
        try save()
        let passwordFile = path("admin-password")
        guard
            FileManager.default.createFile(
                atPath: passwordFile, contents: Data((password + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw LabError(.unavailable, "cannot write \(passwordFile)")
        }
    }

    /// A lab for a test run: named after this process (`t<pid>`), after removing the test labs of dead
    /// processes.
    public static func forTest(
        binary: String, seCount: Int = 3, serverCount: Int = 2, gracefulRestart: Bool = true, controllers: Int = 1
    ) throws -> DemoLab {
        try checkHost()
        sweepStaleTestLabs()
        return try DemoLab(
            name: "t\(getpid())", binary: binary, seCount: seCount, serverCount: serverCount,
            gracefulRestart: gracefulRestart, controllers: controllers)
    }

    /// The lab `name` as recorded in its state file (for `lab status` and `lab down` from another process).
    public static func attach(name: String = "demo") throws -> DemoLab {
        try checkHost()
        let id = prefix + name
        let file = "\(root)/\(id)/state.json"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw LabError(.unavailable, "no lab \(id) (\(file) not found)")
        }
        do {
            return DemoLab(name: name, state: try JSONDecoder().decode(State.self, from: data))
        } catch {
            throw LabError(.parse, "\(file): \(error)")
        }
    }

    private init(name: String, state: State) {
        self.name = name
        self.id = state.id
        self.directory = "\(Self.root)/\(state.id)"
        self.state = state
    }

    private static func checkHost() throws {
        guard Lab.isRoot else { throw LabError(.unavailable, "network namespaces need root (euid \(geteuid()))") }
        let missing = Command.missing(["ip", "sysctl"])
        guard missing.isEmpty else {
            throw LabError(.unavailable, "programs not found: \(missing.joined(separator: ", ")) (iproute2, procps)")
        }
    }

    private static func generatePassword() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return String((0..<20).map { _ in alphabet.randomElement()! })
    }

    /// The path of `file` in the lab directory.
    public func path(_ file: String) -> String { "\(directory)/\(file)" }

    /// The namespace name for `role` (`router`, `client`, `ctrl`, `se1`, `srv1`).
    public func namespace(_ role: String) -> String { "\(id)-\(role)" }

    /// Writes `state.json` (after every change, so a half-built lab can be torn down).
    private func save() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(state).write(to: URL(fileURLWithPath: path("state.json")), options: .atomic)
    }

    private func record(_ process: DetachedProcess) throws {
        state.processes[process.name] = process
        try save()
    }

    // MARK: Topology

    /// Creates the namespaces, links, addresses, routes and sysctls.
    public func buildTopology() throws {
        let router = try makeNamespace("router")
        try router.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        try router.exec(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
        // L4 (5-tuple) multipath hash, so flows from one client spread over the SEs.
        try router.exec(["sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"])
        _ = try? router.run(["sysctl", "-qw", "net.ipv6.fib_multipath_hash_policy=1"])
        try router.addBridge("br-data")
        try router.addAddress("\(Address.routerData)/24", device: "br-data")
        try router.addAddress("2001:db8:ffff:1::1/64", device: "br-data")

        let client = try makeNamespace("client")
        try router.connect("client", to: client, as: "eth0")
        try router.addAddress("\(Address.routerClient)/24", device: "client")
        try router.addAddress("2001:db8:ffff:2::1/64", device: "client")
        try client.addAddress("\(Address.client)/24", device: "eth0")
        try client.addAddress("2001:db8:ffff:2::2/64", device: "eth0")
        try client.ip(["route", "add", "default", "via", Address.routerClient])
        try client.ip(["-6", "route", "add", "default", "via", "2001:db8:ffff:2::1"])

        let ctrl = try makeNamespace("ctrl")
        try ctrl.addBridge("br-mgmt")
        try ctrl.addAddress("\(Address.controller)/24", device: "br-mgmt")
        for index in stride(from: 2, through: controllerCount, by: 1) {
            try ctrl.addAddress("\(Address.controllerNode(index))/24", device: "br-mgmt")
        }

        for (offset, se) in seNames.enumerated() {
            let index = offset + 1
            let ns = try makeNamespace(se)
            try ns.connect("eth0", to: router, as: se)
            try router.attach(se, toBridge: "br-data")
            try ns.addAddress("\(Address.seData(index))/24", device: "eth0")
            try ns.addAddress("2001:db8:ffff:1::\(10 + index)/64", device: "eth0")
            try ns.ip(["route", "add", "default", "via", Address.routerData])
            try ns.ip(["-6", "route", "add", "default", "via", "2001:db8:ffff:1::1"])
            try ns.connect("mgmt0", to: ctrl, as: se)
            try ctrl.attach(se, toBridge: "br-mgmt")
            try ns.addAddress("\(Address.seManagement(index))/24", device: "mgmt0")
        }
        for (offset, server) in serverNames.enumerated() {
            let index = offset + 1
            let ns = try makeNamespace(server)
            try ns.connect("eth0", to: router, as: server)
            try router.attach(server, toBridge: "br-data")
            try ns.addAddress("\(Address.server(index))/24", device: "eth0")
            try ns.addAddress("2001:db8:ffff:1::\(20 + index)/64", device: "eth0")
            try ns.ip(["route", "add", "default", "via", Address.routerData])
            try ns.ip(["-6", "route", "add", "default", "via", "2001:db8:ffff:1::1"])
        }
    }

    private func makeNamespace(_ role: String) throws -> Namespace {
        let ns = try Namespace(creating: namespace(role), role: role)
        state.namespaces.append(ns.name)
        try save()
        return ns
    }

    // MARK: Router

    /// BIRD's configuration for the router: one passive eBGP session per SE data address with BFD at
    /// 100 ms × 3 (a hung SE leaves the ECMP group in 300 ms), BGP routes merged into ECMP kernel routes.
    public func routerConfiguration() -> String {
        let spec = SpeakerSpec(
            asn: Self.routerAS, routerID: Address.routerData,
            neighbors: (1...state.seCount).map {
                NeighborSpec(
                    address: Address.seData($0), asn: Self.seAS, localAddress: Address.routerData, passive: true,
                    bfd: true)
            }, export: .none, kernelECMP: true, gracefulRestart: state.gracefulRestart)
        return BIRD.configuration(spec: spec, name: "router", namespace: namespace("router"))
    }

    /// Starts BIRD in the router namespace and waits until it answers and listens on port 179.
    public func startRouter() throws {
        let config = path("router.bird.conf")
        try routerConfiguration().write(toFile: config, atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: path("router.bird.ctl"))
        let process = try DetachedProcess.spawn(
            name: "bird-router",
            argv: ["bird", "-f", "-c", config, "-s", path("router.bird.ctl"), "-P", path("router.bird.pid")],
            namespace: namespace("router"), logPath: path("bird-router.log"))
        try record(process)
        try Wait.until("BIRD answers on \(path("router.bird.ctl"))", timeout: 20) {
            try alive(process)
            return try Command.run(["birdc", "-s", path("router.bird.ctl"), "show", "status"], timeout: 5).succeeded
        }
        try Wait.until("BIRD listens on port 179", timeout: 10) {
            try alive(process)
            return try Command.run(["ip", "netns", "exec", namespace("router"), "ss", "-Hltn", "sport = :179"])
                .stdout.contains("179")
        }
    }

    /// `birdc -s SOCKET args...` on the router.
    @discardableResult
    public func birdc(_ args: [String]) throws -> String {
        try Command.check(["birdc", "-s", path("router.bird.ctl")] + args, timeout: 10)
    }

    /// The router's BGP session state per SE data address (RFC 4271 names).
    public func routerSessions() throws -> [String: String] {
        var sessions: [String: String] = [:]
        for index in 1...state.seCount {
            let out = try birdc(["show", "protocols", "all", BIRD.protocolName(Address.seData(index))])
            let line = out.split(separator: "\n").first { $0.contains("BGP state:") }
            let raw = line.map {
                String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces)
            }
            sessions[Address.seData(index)] = raw.map(SessionStatus.rfcName) ?? "unknown"
        }
        return sessions
    }

    /// The next hops of `prefix` (e.g. `192.0.2.10`) in the router's kernel table.
    public func routerNextHops(_ prefix: String = Address.vip) throws -> [String] {
        let family = prefix.contains(":") ? "-6" : "-4"
        let out = try Command.check(["ip", "-n", namespace("router"), family, "route", "show", prefix])
        return KernelRoute.parseNextHops(out)
    }

    /// Waits until the router's route for `prefix` has exactly `count` next hops; returns them.
    @discardableResult
    public func waitForNextHops(_ prefix: String = Address.vip, count: Int, timeout: Double = 60) async throws
        -> [String]
    {
        try await Self.wait("router route \(prefix) has \(count) next hops", timeout: timeout) {
            let hops = try self.routerNextHops(prefix)
            return hops.count == count ? hops : nil
        }
    }

    // MARK: Pool servers

    /// Starts every pool server.
    public func startServers() throws {
        for server in serverNames { try startServer(server) }
    }

    /// Starts pool server `name` (`srv1`...) on port 80 and waits until it listens.
    public func startServer(_ name: String) throws {
        guard serverNames.contains(name) else { throw LabError(.unavailable, "no pool server \(name)") }
        let script = path("pool-server.py")
        try PoolServer.script.write(toFile: script, atomically: true, encoding: .utf8)
        let python = Command.which("/usr/bin/python3") ?? Command.which("python3") ?? "python3"
        let process = try DetachedProcess.spawn(
            name: name, argv: [python, "-u", script, name, "80"], namespace: namespace(name),
            logPath: path("\(name).log"))
        try record(process)
        try Wait.until("\(name) listens on port 80", timeout: 15) {
            try alive(process)
            return try Command.run(["ip", "netns", "exec", namespace(name), "ss", "-Hltn", "sport = :80"])
                .stdout.contains(":80")
        }
    }

    /// Stops pool server `name` (SIGTERM).
    public func stopServer(_ name: String) throws {
        try stopProcess(name)
    }

    // MARK: Controller

    /// Starts `starling controller` in the ctrl namespace, waits until `POST /login` works, and keeps the
    /// session in ``api``. In a cluster lab: the three etcd members, then the three nodes.
    public func startController(timeout: Double = 60) async throws {
        if controllerCount > 1 {
            try startEtcd()
            for index in 1...controllerCount { try await startControllerNode(index, timeout: timeout) }
            api = try await login(controllerURL)
            return
        }
        let dataDir = path("ctrl")
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let process = try DetachedProcess.spawn(
            name: "controller",
            argv: [
                state.binary, "controller", "--listen", "\(Address.controller):\(Address.controllerPort)",
                "--data-dir", dataDir,
            ],
            namespace: namespace("ctrl"), logPath: path("controller.log"),
            environment: ["STARLING_ADMIN_PASSWORD": state.adminPassword])
        try record(process)
        api = try await Self.wait("the controller accepts POST /login", timeout: timeout, interval: 0.25) {
            try self.alive(process)
            return try await self.login(self.controllerURL, timeout: .seconds(3))
        }
    }

    /// Stops the controller (SIGTERM, then SIGKILL); in a cluster lab every node.
    public func stopController() throws {
        api = nil
        if controllerCount > 1 {
            for index in 1...controllerCount { try stopProcess("controller\(index)") }
        } else {
            try stopProcess("controller")
        }
    }

    // MARK: Controller cluster

    /// The etcd client URL of member `index` (1-based).
    public func etcdEndpoint(_ index: Int) -> String { "https://\(Address.controllerNode(index)):2379" }

    /// The etcd members' CA (made by ``startEtcd()``).
    var etcdCAFile: String { EtcdPKI.caFile(in: path("etcd-pki")) }
    /// Member `index`'s certificate and key, for its server and client sides; its controller node calls
    /// etcd with it too.
    func etcdIdentity(_ index: Int) -> (certificate: String, key: String) {
        EtcdPKI.files(in: path("etcd-pki"), name: "e\(index)")
    }

    /// Starts the three etcd members of a cluster lab (`etcd1`...) and waits until each answers. They talk
    /// TLS with client certificates to each other and to the controllers, from a CA made for this lab.
    public func startEtcd() throws {
        let binary = Command.which("etcd") ?? "/usr/bin/etcd"
        let pki = try EtcdPKI(directory: path("etcd-pki"))
        // The members share one namespace: a connection between two of them may come from any of the three
        // addresses, and etcd checks a peer's address against its certificate.
        let addresses = (1...controllerCount).map { Address.controllerNode($0) } + ["127.0.0.1"]
        for index in 1...controllerCount { _ = try pki.issue("e\(index)", addresses: addresses) }
        let members = (1...controllerCount).map { "e\($0)=https://\(Address.controllerNode($0)):2380" }
            .joined(separator: ",")
        for index in 1...controllerCount {
            let peer = "https://\(Address.controllerNode(index)):2380"
            let (certificate, key) = etcdIdentity(index)
            let process = try DetachedProcess.spawn(
                name: "etcd\(index)",
                argv: [
                    binary, "--name", "e\(index)", "--data-dir", path("etcd\(index)"), "--listen-client-urls",
                    etcdEndpoint(index), "--advertise-client-urls", etcdEndpoint(index), "--listen-peer-urls", peer,
                    "--initial-advertise-peer-urls", peer, "--initial-cluster", members, "--initial-cluster-token",
                    id, "--initial-cluster-state", "new", "--max-txn-ops", "4096", "--log-level", "error",
                    "--cert-file", certificate, "--key-file", key, "--trusted-ca-file", etcdCAFile,
                    "--client-cert-auth", "--peer-cert-file", certificate, "--peer-key-file", key,
                    "--peer-trusted-ca-file", etcdCAFile, "--peer-client-cert-auth",
                ],
                namespace: namespace("ctrl"), logPath: path("etcd\(index).log"))
            try record(process)
        }
        for index in 1...controllerCount {
            try Wait.until("etcd member \(index) answers", timeout: 30, interval: 0.2) {
                try alive(state.processes["etcd\(index)"]!)
                return try Command.run(
                    ["ip", "netns", "exec", namespace("ctrl"), "curl", "-s", "-m", "2"]
                        + pki.curlArguments(etcdIdentity(index)) + [etcdEndpoint(index) + "/health"]
                ).stdout.contains("true")
            }
        }
    }

    /// Starts controller node `index` (1-based) of a cluster lab on its etcd member first, with node 1's
    /// secrets key, and waits until it accepts `POST /login`. Also restarts a node that was killed.
    public func startControllerNode(_ index: Int, timeout: Double = 60) async throws {
        let dataDir = path("ctrl\(index)")
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        if index > 1, !FileManager.default.fileExists(atPath: dataDir + "/secrets.key") {
            try FileManager.default.copyItem(atPath: path("ctrl1/secrets.key"), toPath: dataDir + "/secrets.key")
        }
        let endpoints = (0..<controllerCount).map { etcdEndpoint(($0 + index - 1) % controllerCount + 1) }
        let process = try DetachedProcess.spawn(
            name: "controller\(index)",
            argv: [
                state.binary, "controller", "--listen", "\(Address.controllerNode(index)):\(Address.controllerPort)",
                "--data-dir", dataDir, "--store", "etcd", "--etcd-endpoints",
                endpoints.joined(separator: ","), "--node-name", "ctrl\(index)", "--etcd-cacert", etcdCAFile,
                "--etcd-cert", etcdIdentity(index).certificate, "--etcd-key", etcdIdentity(index).key,
            ],
            namespace: namespace("ctrl"), logPath: path("controller\(index).log"),
            environment: ["STARLING_ADMIN_PASSWORD": state.adminPassword])
        try record(process)
        _ = try await Self.wait("controller node \(index) accepts POST /login", timeout: timeout, interval: 0.25) {
            try self.alive(process)
            return try await self.login(self.controllerURL(node: index), timeout: .seconds(3))
        }
    }

    /// SIGKILLs controller node `index` (a crash: its etcd lease runs out, another node takes the lead).
    public func killControllerNode(_ index: Int) throws {
        guard let process = state.processes["controller\(index)"] else {
            throw LabError(.unavailable, "controller node \(index) was not started")
        }
        kill(process.pid, SIGKILL)
        process.waitForExit(timeout: 5)
        state.processes["controller\(index)"] = nil
        try save()
    }

    /// A new session with controller node `index`.
    public func session(node index: Int, timeout: Duration = .seconds(10)) async throws -> DemoAPI {
        try await login(controllerURL(node: index), timeout: timeout)
    }

    /// Logs in as admin to the controller node at `url` from the ctrl namespace, verifying it against the
    /// cluster CA.
    private func login(_ url: String, timeout: Duration = .seconds(10)) async throws -> DemoAPI {
        let ca = try? String(contentsOfFile: controllerCAFile, encoding: .utf8)
        return try await DemoAPI.login(
            controllerURL: url, namespace: namespace("ctrl"), password: state.adminPassword, trustedPEM: ca,
            timeout: timeout)
    }

    /// Stops and starts the controller (same data directory), then logs in again.
    public func restartController() async throws {
        try stopController()
        try await startController()
    }

    /// A session with the controller (logging in again when this process has none yet, e.g. after
    /// ``attach(name:)``).
    public func session() async throws -> DemoAPI {
        if let api { return api }
        let fresh = try await login(controllerURL)
        api = fresh
        return fresh
    }

    // MARK: Configuration through the API

    /// Sets the `global` vrfcontext's BGP profile: AS 65001, one eBGP peer (the router), with BFD at the
    /// router's 100 ms × 3.
    public func configureBGP() async throws {
        try await session().replace(
            "vrfcontext", named: "global",
            [
                "bfd_profile": [
                    "mintx": NeighborSpec.bfdIntervalMilliseconds, "minrx": NeighborSpec.bfdIntervalMilliseconds,
                    "multi": NeighborSpec.bfdMultiplier,
                ],
                "bgp_profile": [
                    "local_as": Int(Self.seAS), "ibgp": false,
                    "peers": [
                        [
                            "peer_ip": ["addr": Address.routerData, "type": "V4"], "remote_as": Int(Self.routerAS),
                            "bfd": true,
                        ] as [String: Any]
                    ],
                ] as [String: Any],
            ])
    }

    /// Makes `Default-Group` place every virtual service on `scaleout` SEs (all of them by default).
    public func configureSEGroup(scaleout: Int? = nil) async throws {
        let count = scaleout ?? state.seCount
        try await session().replace(
            "serviceenginegroup", named: "Default-Group",
            [
                "min_scaleout_per_vs": count, "max_scaleout_per_vs": count, "buffer_se": 0,
                "algo": "PLACEMENT_ALGO_DISTRIBUTED",
            ])
    }

    /// Creates an HTTP health monitor checking `GET /health` every second.
    public func createHealthMonitor(name: String = "demo-http") async throws {
        try await session().create(
            "healthmonitor",
            [
                "name": name, "type": "HEALTH_MONITOR_HTTP", "send_interval": 2, "receive_timeout": 1,
                "successful_checks": 1, "failed_checks": 2,
                "http_monitor": ["http_request": "GET /health HTTP/1.0", "http_response_code": ["HTTP_2XX"]],
            ])
    }

    /// Creates a pool of `servers` (default: every pool server) on `port`, checked by `monitor`.
    public func createPool(
        name: String = "demo-pool", servers: [String]? = nil, port: Int = 80, monitor: String? = "demo-http"
    )
        async throws
    {
        let members = try (servers ?? serverNames).map { server -> [String: Any] in
            guard let index = serverNames.firstIndex(of: server) else {
                throw LabError(.unavailable, "no pool server \(server)")
            }
            return ["ip": ["addr": Address.server(index + 1), "type": "V4"], "port": port, "enabled": true]
        }
        var body: [String: Any] = ["name": name, "servers": members, "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN"]
        if let monitor { body["health_monitor_refs"] = ["/api/healthmonitor/?name=\(monitor)"] }
        try await session().create("pool", body)
    }

    /// Creates a vsvip `name` with one VIP.
    public func createVSVip(name: String = "demo-vip", vip: String = Address.vip) async throws {
        try await session().create(
            "vsvip",
            [
                "name": name,
                "vip": [["vip_id": "0", "ip_address": ["addr": vip, "type": vip.contains(":") ? "V6" : "V4"]]],
            ])
    }

    /// Creates a self-signed certificate `name` through the API (`certificate.self_signed`, ECDSA P-256)
    /// for `demo.example` and the VIP.
    public func createSelfSignedCertificate(name: String = "demo-cert", vip: String = Address.vip) async throws {
        try await session().create(
            "sslkeyandcertificate",
            [
                "name": name, "type": "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE",
                "certificate": [
                    "self_signed": true, "subject": ["common_name": "demo.example", "organization": "Starling demo"],
                    "subject_alt_names": [vip], "days_until_expire": 365,
                ],
            ])
    }

    /// Creates a virtual service `name` on `vip` (a vsvip `vsvipName` is created for it unless it exists),
    /// port `port` (and HTTPS on `tlsPort` with `certificate`), application profile `profile`, pool `pool`,
    /// advertised with BGP (RHI) and ECMP scale-out.
    public func createVirtualService(
        name: String = "demo-vs", vip: String = Address.vip, port: Int = 80, profile: String = "System-HTTP",
        pool: String = "demo-pool", vsvipName: String? = nil, tlsPort: Int? = nil, certificate: String? = nil,
        native: Bool = false
    ) async throws {
        let vsvip = vsvipName ?? "\(name)-vip"
        if (try? await session().object("vsvip", named: vsvip)) == nil {
            try await createVSVip(name: vsvip, vip: vip)
        }
        var services: [[String: Any]] = [["port": port]]
        var body: [String: Any] = [
            "name": name, "vsvip_ref": "/api/vsvip/?name=\(vsvip)", "pool_ref": "/api/pool/?name=\(pool)",
            "application_profile_ref": "/api/applicationprofile/?name=\(profile)",
            "se_group_ref": "/api/serviceenginegroup/?name=Default-Group", "enabled": true, "enable_rhi": !native,
            "scaleout_ecmp": !native,
        ]
        if let tlsPort, let certificate {
            services.append(["port": tlsPort, "enable_ssl": true, "enable_http2": true])
            body["ssl_key_and_certificate_refs"] = ["/api/sslkeyandcertificate/?name=\(certificate)"]
        }
        body["services"] = services
        try await session().create("virtualservice", body)
    }

    /// The demo's configuration: BGP, SE group, monitor `demo-http`, pool `demo-pool`, vsvip `demo-vip`,
    /// self-signed certificate `demo-cert`, virtual service `demo-vs` on 192.0.2.10:80 and :443 (HTTPS).
    public func configureDemo() async throws {
        try await configureBGP()
        try await configureSEGroup()
        try await createHealthMonitor()
        try await createPool()
        try await createSelfSignedCertificate()
        try await createVirtualService(name: "demo-vs", vsvipName: "demo-vip", tlsPort: 443, certificate: "demo-cert")
    }

    /// The native scale-out demo: virtual service `demo-native` on ``Address/nativeVIP``:80 with
    /// `scaleout_ecmp: false`: one SE owns the VIP on the data segment and spreads new flows over all SEs.
    public func configureNative() async throws {
        try await createVirtualService(name: "demo-native", vip: Address.nativeVIP, native: true)
        state.native = true
        try save()
    }

    // MARK: SEs

    /// Starts every SE.
    public func startSEs() async throws {
        for se in seNames { try await startSE(se) }
    }

    /// Gets a join token and starts `starling se` for SE `name` (`se1`...) in its namespace.
    public func startSE(_ name: String) async throws {
        guard let offset = seNames.firstIndex(of: name) else { throw LabError(.unavailable, "no SE \(name)") }
        if let running = state.processes[name], running.isRunning {
            throw LabError(.daemon, "\(name) already runs (pid \(running.pid))")
        }
        let token = try await session().joinToken()
        let process = try DetachedProcess.spawn(
            name: name,
            argv: [
                state.binary, "se", "--controller",
                (1...controllerCount).map { controllerURL(node: $0) }.joined(separator: ","), "--token", token,
                "--name", name, "--state-dir", path("\(name).state"),
                // The SEs of Default-Group steer packets to each other (the controller gives them their
                // scale-out positions): connections survive ECMP changes, native VIPs spread at layer 2.
                "--data-address", Address.seData(offset + 1),
            ],
            namespace: namespace(name), logPath: path("\(name).log"))
        try record(process)
    }

    /// SIGKILLs SE `name` (a crash: its BGP session drops at once).
    public func killSE(_ name: String) throws {
        guard let process = state.processes[name] else { throw LabError(.unavailable, "SE \(name) was not started") }
        kill(process.pid, SIGKILL)
        process.waitForExit(timeout: 5)
        state.processes[name] = nil
        try save()
    }

    /// Hitless restart of SE `name` (what `systemctl reload starling-se` does on the appliance): SIGUSR2
    /// makes it start a successor from the same binary, which takes over; waits until the old process has
    /// finished its connections and exited, and records the successor in its place.
    public func reloadSE(_ name: String, timeout: Double = 60) throws {
        guard let old = state.processes[name], old.isRunning else {
            throw LabError(.unavailable, "SE \(name) does not run")
        }
        old.send(SIGUSR2)
        guard old.waitForExit(timeout: timeout) else {
            throw LabError(
                .daemon, "\(name) (pid \(old.pid)) did not hand off within \(timeout) s:\n\(old.logTail(lines: 15))")
        }
        let successors = Namespace.pids(in: namespace(name)).filter { pid in
            let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return pid != old.pid && cmdline.split(separator: "\0").dropFirst().first == "se"
        }
        guard successors.count == 1, let pid = successors.first else {
            throw LabError(.daemon, "\(name): no single successor process (\(successors)):\n\(old.logTail(lines: 15))")
        }
        state.processes[name] = DetachedProcess(
            name: name, pid: pid, startTime: DetachedProcess.startTime(of: pid) ?? 0, argv: old.argv,
            namespace: old.namespace, logPath: old.logPath)
        try save()
    }

    /// Stops SE `name` with SIGTERM (withdraw, drain, exit) and waits for it.
    public func stopSE(_ name: String, grace: Double = 15) throws {
        try stopProcess(name, grace: grace)
    }

    // MARK: Client

    /// `curl` from the client namespace: the status and body of `GET url`; status 0 when no answer, with
    /// curl's reason and the time it took in place of the body.
    /// `localPort` pins the source port (another port is another ECMP flow).
    /// `https://` URLs are fetched without certificate verification (the demo's certificate is self-signed).
    public func curlFromClient(_ url: String, timeout: Double = 5, localPort: Int? = nil) throws -> (
        status: Int, body: String
    ) {
        var argv = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", String(timeout)]
        if url.hasPrefix("https://") { argv.append("-k") }
        if let localPort { argv += ["--local-port", String(localPort)] }
        let started = ContinuousClock.now
        let result = try Command.run(["ip", "netns", "exec", namespace("client")] + argv + [url], timeout: timeout + 5)
        // Output: the body, a newline, the status code.
        guard let newline = result.stdout.lastIndex(of: "\n") else { return (0, "") }
        let status = Int(result.stdout[result.stdout.index(after: newline)...]) ?? 0
        guard status != 0 else {
            // No answer: curl's own reason (connect refused, reset, timed out) and when, for the test's message.
            let reason = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return (0, "no answer after \(ContinuousClock.now - started): \(reason) (curl exit \(result.status))")
        }
        return (status, String(result.stdout[..<newline]))
    }

    /// `curl --http2` from the client namespace: the status and the HTTP version the TLS handshake chose
    /// (`2` or `1.1`; status 0 when no answer).
    public func httpVersionFromClient(_ url: String, timeout: Double = 5) throws -> (status: Int, version: String) {
        let argv = [
            "curl", "-s", "-k", "--http2", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--max-time",
            String(timeout), url,
        ]
        let result = try Command.run(["ip", "netns", "exec", namespace("client")] + argv, timeout: timeout + 5)
        let parts = result.stdout.split(separator: " ")
        guard parts.count == 2 else { return (0, "") }
        return (Int(parts[0]) ?? 0, String(parts[1]))
    }

    // MARK: Whole lab

    /// Builds everything: topology, router, pool servers, controller, configuration, SEs. Does not wait for
    /// the VIP route (see ``waitForNextHops(_:count:timeout:)``).
    ///
    /// - Parameters:
    ///   - traffic: also start the steady client traffic (``startTraffic(rate:)``).
    ///   - consolePort: also forward this loopback port of the machine to the controller (the Admin
    ///     Console in a browser); 0 picks a free one.
    public func up(native: Bool = false, traffic: Bool = false, consolePort: Int? = nil) async throws {
        try buildTopology()
        try startRouter()
        try startServers()
        try await startController()
        try await configureDemo()
        if native { try await configureNative() }
        try await startSEs()
        if traffic { try startTraffic() }
        if let consolePort { try forwardConsole(port: consolePort) }
    }

    // MARK: Traffic and the console

    /// Starts the demo's steady client traffic (``DemoTraffic``, `rate` requests a second to the demo VIP)
    /// in the client namespace.
    public func startTraffic(rate: Double = 10) throws {
        let script = path("demo-traffic.py")
        try DemoTraffic.script.write(toFile: script, atomically: true, encoding: .utf8)
        let python = Command.which("/usr/bin/python3") ?? Command.which("python3") ?? "python3"
        let process = try DetachedProcess.spawn(
            name: "traffic", argv: [python, "-u", script, Address.vip, String(rate)], namespace: namespace("client"),
            logPath: path("traffic.log"))
        try record(process)
    }

    /// Makes the controller (in the ctrl namespace) reachable on `127.0.0.1:port` of this machine: socat
    /// listens there and joins each connection to the controller from inside the namespace. `port` 0 (or a
    /// port in use) picks a free one. Returns the console's URL.
    @discardableResult
    public func forwardConsole(port: Int) throws -> String {
        let chosen = try Lab.loopbackPort(preferring: port)
        let connect =
            "ip netns exec \(namespace("ctrl")) socat STDIO TCP\\:\(Address.controller)\\:\(Address.controllerPort)"
        let process = try DetachedProcess.spawn(
            name: "console-forward",
            argv: ["socat", "TCP-LISTEN:\(chosen),bind=127.0.0.1,reuseaddr,fork", "EXEC:\(connect)"],
            logPath: path("console-forward.log"))
        try record(process)
        // The controller's certificate names 127.0.0.1 too: the forwarded address verifies against the CA.
        let url = "https://127.0.0.1:\(chosen)/"
        try Wait.until("the console answers on \(url)", timeout: 10, interval: 0.2) {
            try alive(process)
            return try Command.run([
                "curl", "-s", "--cacert", controllerCAFile, "-o", "/dev/null", "-w", "%{http_code}", url,
            ]).stdout == "200"
        }
        state.consoleURL = url
        try save()
        return url
    }

    /// Stops every recorded process (reverse start order: traffic, console forwarding, SEs, controller,
    /// servers, router), deletes every namespace of this lab (also ones not recorded) and the lab directory
    /// (kept with `STARLING_LAB_KEEP=1`). Idempotent.
    public func down() {
        api = nil
        Self.remove(id: id, state: state)
    }

    /// Tears down the lab `name` whatever state it is in: recorded processes, namespaces with its prefix,
    /// its directory. Returns what was removed.
    @discardableResult
    public static func down(name: String = "demo") -> [String] {
        let id = prefix + name
        let file = "\(root)/\(id)/state.json"
        let state = FileManager.default.contents(atPath: file).flatMap {
            try? JSONDecoder().decode(State.self, from: $0)
        }
        return remove(id: id, state: state)
    }

    @discardableResult
    private static func remove(id: String, state: State?) -> [String] {
        var removed: [String] = []
        let order = ["traffic", "console", "se", "controller", "etcd", "srv", "bird"]
        let processes = (state?.processes.values.map { $0 } ?? []).sorted { a, b in
            let rank = { (p: DetachedProcess) in order.firstIndex { p.name.hasPrefix($0) } ?? order.count }
            return (rank(a), a.name) < (rank(b), b.name)
        }
        for process in processes where process.isRunning {
            process.stop(grace: process.name.hasPrefix("se") ? 10 : 5)
            removed.append("process \(process.name) (pid \(process.pid))")
        }
        let names = Set((state?.namespaces ?? []) + namespaces(of: id))
        for ns in names.sorted() where Namespace.all().contains(ns) {
            Namespace.destroy(ns)
            removed.append("namespace \(ns)")
        }
        let directory = "\(root)/\(id)"
        if ProcessInfo.processInfo.environment["STARLING_LAB_KEEP"] == nil {
            if FileManager.default.fileExists(atPath: directory) {
                try? FileManager.default.removeItem(atPath: directory)
                removed.append("directory \(directory)")
            }
        } else {
            try? FileManager.default.removeItem(atPath: "\(directory)/state.json")
        }
        return removed
    }

    /// Namespaces on the machine that belong to lab `id`.
    static func namespaces(of id: String) -> [String] {
        Namespace.all().filter { $0.hasPrefix(id + "-") }
    }

    /// Removes test labs (`stdemo-t<pid>`) whose process is dead.
    public static func sweepStaleTestLabs() {
        var ids = Set(
            Namespace.all().compactMap { ns -> String? in
                guard ns.hasPrefix(prefix + "t") else { return nil }
                return ns.split(separator: "-").prefix(2).joined(separator: "-")
            })
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        ids.formUnion(dirs.filter { $0.hasPrefix(prefix + "t") })
        for id in ids {
            guard let pid = Int32(id.dropFirst(prefix.count + 1)), !Lab.isAlive(pid) else { continue }
            down(name: String(id.dropFirst(prefix.count)))
        }
    }

    /// What runs and what the router sees: namespaces, processes, BGP sessions, the VIP route.
    public func status(vip: String = Address.vip) -> String {
        var lines = ["lab \(id) (\(directory))", "namespaces:"]
        let present = Set(Namespace.all())
        for ns in state.namespaces { lines.append("  \(ns)\(present.contains(ns) ? "" : " (missing)")") }
        lines.append("processes:")
        for process in state.processes.values.sorted(by: { $0.name < $1.name }) {
            let alive = process.isRunning ? "running" : "NOT RUNNING"
            lines.append(
                "  \(process.name): \(alive) (pid \(process.pid)\(process.namespace.map { ", netns \($0)" } ?? "")), log \(process.logPath)"
            )
        }
        if let sessions = try? routerSessions() {
            lines.append("router BGP sessions:")
            for (peer, state) in sessions.sorted(by: { $0.key < $1.key }) { lines.append("  \(peer): \(state)") }
        }
        let route = (try? Command.run(["ip", "-n", namespace("router"), "route", "show", vip]))?.stdout ?? ""
        lines.append("router route for \(vip):")
        lines.append(
            route.isEmpty ? "  (none)" : route.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        return lines.joined(separator: "\n")
    }

    /// The commands to try the demo.
    public func instructions() -> String {
        """
        Admin password: \(state.adminPassword) (also in \(path("admin-password")))
        \(consoleLine)Try:
          ip netns exec \(namespace("router")) ip route show \(Address.vip)
          ip netns exec \(namespace("client")) curl http://\(Address.vip)/
          ip netns exec \(namespace("client")) curl -k --http2 https://\(Address.vip)/
          birdc -s \(path("router.bird.ctl")) show bfd sessions      # BFD with each SE, 100 ms × 3
          kill -STOP <an SE's pid>; ip netns exec \(namespace("router")) ip route show \(Address.vip)   # its next hop leaves in ~300 ms (kill -CONT to resume)
          ip netns exec \(namespace("ctrl")) \(state.binary) ctl --controller \(controllerURL) --ca-file \(controllerCAFile) --password '\(state.adminPassword)' show vs demo-vs
          ip netns exec \(namespace("ctrl")) \(state.binary) ctl --controller \(controllerURL) --ca-file \(controllerCAFile) --password '\(state.adminPassword)' analytics vs demo-vs   # requests, errors, latency, bandwidth per 5 s
          ip netns exec \(namespace("ctrl")) \(state.binary) ctl --controller \(controllerURL) --ca-file \(controllerCAFile) --password '\(state.adminPassword)' logs demo-vs   # requests logged: errors, slow ones
          \(clusterInstructions)\(nativeInstructions)\(state.binary) lab status
          \(state.binary) lab down
        Logs: \(directory)/*.log
        """
    }

    /// The console's line of ``instructions()`` (with its line break), when it is forwarded.
    private var consoleLine: String {
        guard let url = state.consoleURL else { return "" }
        let traffic = state.processes["traffic"] != nil ? "; the demo traffic shows on its dashboard" : ""
        return
            "Admin Console: \(url) (user admin, the password above\(traffic); the browser warns once: the "
            + "certificate comes from the lab's own cluster CA, \(controllerCAFile))\n"
    }

    /// The `lab up --cluster` lines of ``instructions()``, each followed by the next line's indent.
    private var clusterInstructions: String {
        guard controllerCount > 1 else { return "" }
        let ctl =
            "ip netns exec \(namespace("ctrl")) \(state.binary) ctl --controller \(controllerURL(node: 3))"
            + " --ca-file \(controllerCAFile) --password '\(state.adminPassword)'"
        return """
            \(ctl) show cluster   # three nodes, one leader; every node serves the API
              kill -9 <the leader's pid>; \(ctl) show cluster   # another node leads within seconds, the SEs follow it

            """ + "  "
    }

    /// The `lab up --native` lines of ``instructions()``, each followed by the next line's indent.
    private var nativeInstructions: String {
        guard state.native == true else { return "" }
        let ctl =
            "ip netns exec \(namespace("ctrl")) \(state.binary) ctl --controller \(controllerURL)"
            + " --ca-file \(controllerCAFile) --password '\(state.adminPassword)'"
        let lines = [
            "ip netns exec \(namespace("router")) ip route get \(Address.nativeVIP)   # native: a connected route, no BGP",
            "for i in $(seq 9); do ip netns exec \(namespace("client")) curl -s http://\(Address.nativeVIP)/; done"
                + "   # client= each of the SEs",
            "\(ctl) show vs demo-native   # primary, secondaries, epoch, flows and packets forwarded per SE",
            "kill -9 <the primary's pid>; ip netns exec \(namespace("router")) ip neigh show \(Address.nativeVIP)"
                + "   # a secondary takes the VIP over",
        ]
        return lines.map { $0 + "\n  " }.joined()
    }

    /// The tail of every process's log, for a failure report.
    public func report(lines: Int = 20) -> String {
        var text = ""
        for process in state.processes.values.sorted(by: { $0.name < $1.name }) {
            let alive = process.isRunning ? "running" : "not running"
            text +=
                "---- \(process.name) [\(alive), pid \(process.pid)] \(process.logPath)\n\(process.logTail(lines: lines))\n"
        }
        return text
    }

    // MARK: Helpers

    private func stopProcess(_ name: String, grace: Double = 5) throws {
        guard let process = state.processes[name] else { return }
        process.stop(grace: grace)
        state.processes[name] = nil
        try save()
    }

    /// Throws a `.daemon` error (which ends a wait at once) when `process` has died.
    private func alive(_ process: DetachedProcess) throws {
        guard process.isRunning else {
            throw LabError(.daemon, "\(process.name) exited; log \(process.logPath):\n\(process.logTail(lines: 15))")
        }
    }

    /// Calls `probe` every `interval` seconds until it returns a value; errors count as "not yet" except a
    /// ``LabError`` of kind `.daemon`, which ends the wait at once.
    public static func wait<T>(
        _ what: String, timeout: Double, interval: Double = 0.2, _ probe: () async throws -> T?
    ) async throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        var lastError: (any Error)?
        while true {
            do {
                if let value = try await probe() { return value }
                lastError = nil
            } catch let error as LabError where error.kind == .daemon {
                throw LabError(.daemon, "\(what): \(error.message)")
            } catch {
                lastError = error
            }
            if Date() >= deadline { break }
            try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
        var message = "\(what): not true after \(timeout) s"
        if let lastError { message += " (last error: \(lastError))" }
        throw LabError(.timeout, message)
    }
}
