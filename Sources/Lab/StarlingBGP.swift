import Foundation

/// One peer in a `starling bgp` config file.
public struct StarlingPeerConfig: Sendable, Hashable {
    /// The neighbor's address.
    public var address: String
    /// The neighbor's AS number.
    public var asn: UInt32
    /// Starling's own address toward the neighbor (source of the session, next hop of its announcements).
    public var localAddress: String
    /// Hold time Starling proposes (seconds).
    public var holdTime: Int
    /// When true Starling waits for the neighbor to connect.
    public var passive: Bool
    /// The neighbor's TCP port; nil means 179.
    public var port: Int?
    /// Run BFD with the neighbor (`bfd: true`, 100 ms × 3).
    public var bfd: Bool
    /// TCP-MD5 password (`password`).
    public var password: String?
    /// GTSM (`ttl_security: true`).
    public var ttlSecurity: Bool

    /// Creates a peer entry.
    public init(
        address: String, asn: UInt32, localAddress: String, holdTime: Int = 30, passive: Bool = false,
        port: Int? = nil, bfd: Bool = false, password: String? = nil, ttlSecurity: Bool = false
    ) {
        self.address = address
        self.asn = asn
        self.localAddress = localAddress
        self.holdTime = holdTime
        self.passive = passive
        self.port = port
        self.bfd = bfd
        self.password = password
        self.ttlSecurity = ttlSecurity
    }
}

/// The contents of a `starling bgp --config FILE` file (DESIGN §3.1).
public struct StarlingConfig: Sendable, Hashable {
    /// Starling's AS number.
    public var asn: UInt32
    /// Starling's router id.
    public var routerID: String
    /// Its peers.
    public var peers: [StarlingPeerConfig]
    /// Prefixes it announces (192.0.2.0/24 and 2001:db8::/32 only).
    public var announce: [String]

    /// Creates a config.
    public init(asn: UInt32, routerID: String, peers: [StarlingPeerConfig], announce: [String]) {
        self.asn = asn
        self.routerID = routerID
        self.peers = peers
        self.announce = announce
    }

    /// The config as a JSON document (JSON is also valid YAML).
    public func json() throws -> String {
        let peers: [[String: Any]] = peers.map { peer in
            var entry: [String: Any] = [
                "address": peer.address, "asn": peer.asn, "local_address": peer.localAddress,
                "hold_time": peer.holdTime, "passive": peer.passive,
            ]
            if let port = peer.port { entry["port"] = port }
            if peer.bfd { entry["bfd"] = true }
            if let password = peer.password { entry["password"] = password }
            if peer.ttlSecurity { entry["ttl_security"] = true }
            return entry
        }
        let document: [String: Any] = ["asn": asn, "router_id": routerID, "peers": peers, "announce": announce]
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// One element of `GET /peers`.
public struct StarlingPeerStatus: Decodable, Sendable, Hashable {
    public var address: String
    public var asn: UInt32?
    /// RFC 4271 state name.
    public var state: String
    public var uptimeSeconds: Double?
    public var holdTime: Int?
    public var keepaliveTime: Int?
    public var capabilities: [String]?
    public var prefixesReceived: Int?
    public var prefixesAdvertised: Int?
    public var messagesReceived: Int?
    public var messagesSent: Int?
    public var stateChanges: Int?
    public var lastError: String?
    /// The BFD session's state, when the peer has BFD.
    public var bfd: String?
}

/// One route of `GET /rib`.
public struct StarlingRoute: Decodable, Sendable, Hashable {
    public var prefix: String
    public var nextHop: String?
    public var asPath: [UInt32]?
    public var origin: String?
    public var med: UInt32?
    public var localPref: UInt32?
    public var communities: [String]?
    public var largeCommunities: [String]?
    public var best: Bool?
}

/// One peer's routes in `GET /rib`.
public struct StarlingPeerRIB: Decodable, Sendable, Hashable {
    public var address: String
    public var routes: [StarlingRoute]
}

/// `starling bgp` running in a lab namespace with `--api 127.0.0.1:PORT`, queried with curl inside the
/// namespace. ``reload(announce:)`` rewrites the config file and sends SIGHUP.
public final class StarlingBGP {
    /// Instance name (used for file names).
    public let name: String
    /// The namespace it runs in.
    public let namespace: Namespace
    /// Its current configuration.
    public private(set) var config: StarlingConfig
    /// The API port on the namespace's loopback.
    public let apiPort: Int
    /// The `starling` executable.
    public let binary: String
    /// Path of the config file.
    public let configPath: String
    private let lab: Lab
    /// The running process.
    public private(set) var daemon: Daemon?

    /// Prepares an instance; call ``start()`` to run it.
    public init(
        lab: Lab, name: String, namespace: Namespace, config: StarlingConfig, binary: String, apiPort: Int = 8179
    ) {
        self.lab = lab
        self.name = name
        self.namespace = namespace
        self.config = config
        self.binary = binary
        self.apiPort = apiPort
        configPath = lab.path("\(name).starling.json")
    }

    /// Finds the `starling` executable: `$STARLING_BIN`, next to the running test bundle, or in the package's
    /// `.build/debug`. Returns nil when none exists.
    public static func locateBinary(packageFile: String = #filePath) -> String? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["STARLING_BIN"], !env.isEmpty { candidates.append(env) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(
                URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("starling").path)
        }
        // packageFile is <root>/Sources/Lab/StarlingBGP.swift.
        let root = URL(fileURLWithPath: packageFile).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/starling").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Writes the config file and starts `starling bgp`; waits until its API answers.
    public func start(timeout: Double = 30) throws {
        try config.json().write(toFile: configPath, atomically: true, encoding: .utf8)
        daemon = try lab.start(
            name, [binary, "bgp", "--config", configPath, "--api", "127.0.0.1:\(apiPort)"], in: namespace)
        try Wait.until("starling \(name) API on 127.0.0.1:\(apiPort)", timeout: timeout, interval: 0.1) {
            guard daemon?.isRunning == true else {
                throw LabError(
                    .daemon,
                    "starling \(name) exited (\(daemon?.termination.map { "\($0)" } ?? "?")): "
                        + (daemon?.logTail(lines: 15) ?? ""))
            }
            return try curl("/peers").succeeded
        }
    }

    private func curl(_ path: String, query: [(String, String)] = []) throws -> CommandResult {
        var argv = ["curl", "-sS", "-f", "--max-time", "5", "-G"]
        for (key, value) in query { argv += ["--data-urlencode", "\(key)=\(value)"] }
        argv.append("http://127.0.0.1:\(apiPort)\(path)")
        return try namespace.run(argv, timeout: 10)
    }

    /// GETs `path` (with `query`) from the API and returns the body; throws on an HTTP or transport error.
    public func get(_ path: String, query: [(String, String)] = []) throws -> String {
        let result = try curl(path, query: query)
        guard result.succeeded else { throw LabError(.commandFailed, "GET \(path): \(result)") }
        return result.stdout
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ body: String, what: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(type, from: Data(body.utf8))
        } catch {
            throw LabError(.parse, "\(what): \(error); body: \(body.prefix(500))")
        }
    }

    /// `GET /peers`.
    public func peers() throws -> [StarlingPeerStatus] {
        try Self.decode([StarlingPeerStatus].self, try get("/peers"), what: "GET /peers")
    }

    /// The `GET /peers` entry for `address`.
    public func peer(_ address: String) throws -> StarlingPeerStatus {
        guard let peer = try peers().first(where: { $0.address == address }) else {
            throw LabError(.parse, "GET /peers has no peer \(address)")
        }
        return peer
    }

    /// `GET /rib` with the optional filters.
    public func rib(peer: String? = nil, prefix: String? = nil, limit: Int? = nil) throws -> [StarlingPeerRIB] {
        struct Document: Decodable { var peers: [StarlingPeerRIB] }
        var query: [(String, String)] = []
        if let peer { query.append(("peer", peer)) }
        if let prefix { query.append(("prefix", prefix)) }
        if let limit { query.append(("limit", String(limit))) }
        return try Self.decode(Document.self, try get("/rib", query: query), what: "GET /rib").peers
    }

    /// Waits until the session with `address` is Established and returns its status.
    @discardableResult
    public func waitEstablished(_ address: String, timeout: Double = 30) throws -> StarlingPeerStatus {
        try Wait.value("starling \(name) session with \(address) Established", timeout: timeout) {
            let peer = try peer(address)
            return peer.state == "Established" ? peer : nil
        }
    }

    /// Rewrites the config file with a new announce list and sends SIGHUP.
    public func reload(announce: [String]) throws {
        config.announce = announce
        try config.json().write(toFile: configPath, atomically: true, encoding: .utf8)
        daemon?.send(SIGHUP)
    }

    /// Sends SIGTERM and waits at most `timeout` seconds for the exit; nil if it still runs.
    public func terminate(timeout: Double = 15) -> Termination? {
        daemon?.send(SIGTERM)
        return daemon?.waitForExit(timeout: timeout)
    }

    /// Kills it with SIGKILL (a crash, for failover tests) and waits for it to be gone.
    public func crash() {
        daemon?.send(SIGKILL)
        daemon?.waitForExit(timeout: 5)
    }
}
