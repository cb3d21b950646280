/// Avi `pool`: the backend servers of a virtual service, how to spread load over them, and how to
/// check them.
public struct Pool: AviObject {
    public static let objectType = "pool"
    /// Avi `lb_algorithm`.
    public enum LBAlgorithm: String, AviEnum {
        case roundRobin = "LB_ALGORITHM_ROUND_ROBIN"
        case leastConnections = "LB_ALGORITHM_LEAST_CONNECTIONS"
        case consistentHash = "LB_ALGORITHM_CONSISTENT_HASH"
        case random = "LB_ALGORITHM_RANDOM"
        case fewestServers = "LB_ALGORITHM_FEWEST_SERVERS"
    }
    /// Avi `Server`.
    public struct Server: Codable, Sendable, Hashable {
        public var ip: IpAddr
        /// Defaults to the pool's `default_server_port`.
        public var port: Int?
        /// Relative weight 1–20 (Avi default 1).
        public var ratio: Int?
        /// Avi default true.
        public var enabled: Bool?
        public var hostname: String?

        public init(ip: IpAddr, port: Int? = nil, ratio: Int? = nil, enabled: Bool? = nil, hostname: String? = nil) {
            self.ip = ip
            self.port = port
            self.ratio = ratio
            self.enabled = enabled
            self.hostname = hostname
        }
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var servers: [Server]?
    /// Avi default 80.
    public var default_server_port: Int?
    /// Avi default `LB_ALGORITHM_LEAST_CONNECTIONS`.
    public var lb_algorithm: LBAlgorithm?
    public var health_monitor_refs: [String]?
    /// Avi default true.
    public var enabled: Bool?
    public var cloud_ref: String?
    public var vrf_ref: String?
    /// Re-encrypt: TLS from the SE to the servers with this SSL profile's versions and ciphers.
    public var ssl_profile_ref: String?
    /// Check the servers' certificates against this PKI profile's CAs (no profile: not checked, Avi's way).
    public var pki_profile_ref: String?
    /// Name sent in SNI to the servers, and the name their certificates are checked for with
    /// `host_check_enabled`.
    public var server_name: String?
    /// Send `server_name` as SNI (Avi default true).
    public var sni_enabled: Bool?
    /// Check that the servers' certificates are for `server_name` (Avi default false; needs
    /// `pki_profile_ref` and `server_name`).
    public var host_check_enabled: Bool?

    public init(
        name: String, uuid: String? = nil, servers: [Server]? = nil, default_server_port: Int? = nil,
        lb_algorithm: LBAlgorithm? = nil, health_monitor_refs: [String]? = nil, enabled: Bool? = nil
    ) {
        self.name = name
        self.uuid = uuid
        self.servers = servers
        self.default_server_port = default_server_port
        self.lb_algorithm = lb_algorithm
        self.health_monitor_refs = health_monitor_refs
        self.enabled = enabled
    }

    /// The port a server is reached on: its own, else the pool's `default_server_port` (default 80).
    public func port(of server: Server) -> Int { server.port ?? default_server_port ?? 80 }

    public func validate() throws(ModelError) {
        try validateName()
        try Check.port(default_server_port, "default_server_port")
        var seen = Set<String>()
        for (i, s) in (servers ?? []).enumerated() {
            let f = "servers[\(i)]"
            try s.ip.validate(field: "\(f).ip")
            try Check.port(s.port, "\(f).port")
            try Check.range(s.ratio, 1...20, "\(f).ratio")
            let key = "\(s.ip.addr)|\(port(of: s))"
            guard seen.insert(key).inserted else {
                throw ModelError(field: "\(f)", message: "duplicate server \(s.ip.addr):\(port(of: s))")
            }
        }
        try Check.refs(health_monitor_refs, "healthmonitor", "health_monitor_refs")
        try Check.ref(ssl_profile_ref, "sslprofile", "ssl_profile_ref")
        try Check.ref(pki_profile_ref, "pkiprofile", "pki_profile_ref")
        if pki_profile_ref != nil, ssl_profile_ref == nil {
            throw ModelError(
                field: "pki_profile_ref", message: "needs ssl_profile_ref (certificates are checked on TLS)")
        }
        if host_check_enabled == true, pki_profile_ref == nil || (server_name ?? "").isEmpty {
            throw ModelError(field: "host_check_enabled", message: "needs pki_profile_ref and server_name")
        }
        if let name = server_name, name.isEmpty || name.contains(where: { $0 == " " || $0 == "/" }) {
            throw ModelError(field: "server_name", message: "must be a host name")
        }
        try Check.ref(cloud_ref, "cloud", "cloud_ref")
        try Check.ref(vrf_ref, "vrfcontext", "vrf_ref")
    }
}
