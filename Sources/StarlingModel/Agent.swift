/// The controller ↔ SE protocol (DESIGN §3.4). The SE is the client:
///
/// ```
/// POST /api/se-agent/register                      SERegistration → 200 SERegistered | 401
/// GET  /api/se-agent/<se_uuid>/desired?version=N&wait=S   Authorization: Bearer <se_secret>
///                                                  → 200 SEDesiredState (version != N) | 304 after S s
///                                                    | 401 bad secret | 404 unknown SE (re-register)
/// POST /api/se-agent/<se_uuid>/heartbeat           SEStatus → 200 SEHeartbeatReply
/// ```
///
/// A join token (`GET /api/securetoken-generate`, valid 24 h) binds to the first SE name that registers
/// with it; the same name may register again with it (an SE restart) and gets the same `se_uuid` and a
/// new secret; another name with the same token gets 401.

/// `POST /api/se-agent/register` body.
public struct SERegistration: Codable, Sendable, Hashable {
    public var token: String
    public var name: String
    public var data_address: IpAddr
    /// The SE's metrics/management URL.
    public var mgmt_url: String?
    public var threads: Int?
    /// Over HTTPS: a PEM certificate signing request for the SE's own key; the controller answers with the
    /// client certificate every later call presents (mutual TLS).
    public var csr: String?

    public init(
        token: String, name: String, data_address: IpAddr, mgmt_url: String? = nil, threads: Int? = nil,
        csr: String? = nil
    ) {
        self.token = token
        self.name = name
        self.data_address = data_address
        self.mgmt_url = mgmt_url
        self.threads = threads
        self.csr = csr
    }
}

/// `POST /api/se-agent/register` 200 reply.
public struct SERegistered: Codable, Sendable, Hashable {
    public var se_uuid: String
    /// Sent back as `Authorization: Bearer <se_secret>`.
    public var se_secret: String
    /// Seconds between heartbeats (default 1.0).
    public var heartbeat_interval: Double
    /// Over HTTPS: the SE's client certificate (PEM, signed by the cluster CA) for the CSR it sent.
    public var client_certificate: String?

    public init(
        se_uuid: String, se_secret: String, heartbeat_interval: Double = 1.0, client_certificate: String? = nil
    ) {
        self.se_uuid = se_uuid
        self.se_secret = se_secret
        self.heartbeat_interval = heartbeat_interval
        self.client_certificate = client_certificate
    }
}

/// The versioned document an SE applies as a whole (level-triggered, STYLE "Desired state, level-triggered").
public struct SEDesiredState: Codable, Sendable, Hashable {
    /// Monotonic, also across controller restarts.
    public var version: Int
    public var se_uuid: String
    public var se_name: String
    /// The `global` vrfcontext, with its `bgp_profile`.
    public var vrfcontext: VrfContext?
    /// The virtual services placed on this SE, fully resolved.
    public var virtual_services: [ResolvedVirtualService]
    /// The SEs of this SE's group between which it steers packets (issue 15): set when this SE has a
    /// scale-out position.
    public var scaleout: ScaleoutGroup?

    public init(
        version: Int, se_uuid: String, se_name: String, vrfcontext: VrfContext?,
        virtual_services: [ResolvedVirtualService], scaleout: ScaleoutGroup? = nil
    ) {
        self.scaleout = scaleout
        self.version = version
        self.se_uuid = se_uuid
        self.se_name = se_name
        self.vrfcontext = vrfcontext
        self.virtual_services = virtual_services
    }
}

/// An SE group's scale-out members: every SE of the group with a data address, at a position (0–15) the
/// controller gives it when it joins and keeps while it stays (pinned flows and forwarding targets name
/// positions, so a position never moves to another SE while this one is a member).
public struct ScaleoutGroup: Codable, Sendable, Hashable {
    /// Positions an SE's steering program has (`bpf/steer.bpf.c` MAX_MEMBERS).
    public static let maxMembers = 16

    public struct Member: Codable, Sendable, Hashable {
        public var position: Int
        public var se_uuid: String
        public var se_name: String
        public var data_address: String

        public init(position: Int, se_uuid: String, se_name: String, data_address: String) {
            self.position = position
            self.se_uuid = se_uuid
            self.se_name = se_name
            self.data_address = data_address
        }
    }

    public var se_group_uuid: String
    /// Moves on whenever the controller changes the member list.
    public var epoch: Int
    /// By position.
    public var members: [Member]

    public init(se_group_uuid: String, epoch: Int, members: [Member]) {
        self.se_group_uuid = se_group_uuid
        self.epoch = epoch
        self.members = members
    }
}

/// A virtual service with every object it refers to, so an SE needs nothing else.
public struct ResolvedVirtualService: Codable, Sendable, Hashable {
    public var virtualservice: VirtualService
    public var vsvip: VsVip
    public var pool: Pool?
    /// The pool's monitors, in `health_monitor_refs` order.
    public var health_monitors: [HealthMonitor]
    public var application_profile: ApplicationProfile
    /// In `ssl_key_and_certificate_refs` order.
    public var ssl_key_and_certificates: [SSLKeyAndCertificate]
    /// For each of `ssl_key_and_certificates`: the PEM of its `ca_certs`, in order ("" for none).
    public var ssl_ca_chains: [String]?
    /// The virtual service's SSL profile (`System-Standard` by default) when it terminates TLS.
    public var ssl_profile: SSLProfile?
    /// The pool's SSL profile when it re-encrypts to its servers.
    public var pool_ssl_profile: SSLProfile?
    /// The pool's PKI profile (CAs its servers' certificates are checked against).
    public var pool_pki_profile: PKIProfile?
    /// Native scale-out (`scaleout_ecmp: false`): the data address of the SE the controller picks as the
    /// primary of the service's VIPs (the one that already is, else the first placed SE that is up). The SEs
    /// follow it while their heartbeats show it live; when it dies they elect another among themselves at
    /// once, before the controller notices.
    public var native_primary: String?

    public init(
        virtualservice: VirtualService, vsvip: VsVip, pool: Pool?, health_monitors: [HealthMonitor],
        application_profile: ApplicationProfile, ssl_key_and_certificates: [SSLKeyAndCertificate],
        ssl_profile: SSLProfile? = nil, pool_ssl_profile: SSLProfile? = nil, pool_pki_profile: PKIProfile? = nil,
        ssl_ca_chains: [String]? = nil
    ) {
        self.virtualservice = virtualservice
        self.vsvip = vsvip
        self.pool = pool
        self.health_monitors = health_monitors
        self.application_profile = application_profile
        self.ssl_key_and_certificates = ssl_key_and_certificates
        self.ssl_profile = ssl_profile
        self.pool_ssl_profile = pool_ssl_profile
        self.pool_pki_profile = pool_pki_profile
        self.ssl_ca_chains = ssl_ca_chains
    }
}

/// `POST /api/se-agent/<se_uuid>/heartbeat` body.
public struct SEStatus: Codable, Sendable, Hashable {
    public var se_uuid: String
    /// The `SEDesiredState.version` the SE runs now.
    public var applied_version: Int
    public var draining: Bool
    public var virtual_services: [VSStatus]
    public var bgp_peers: [BGPPeerStatus]
    /// Open client connections.
    public var connections: Int
    /// Flow steering between the SEs of a scale-out group, when on.
    public var steering: SteeringStatus?
    /// Requests logged since the last heartbeat that reached the controller (at most a batch; the rest
    /// follow in the next heartbeats).
    public var request_logs: [RequestLog]?
    /// Logs this SE dropped since it started because its queue was full (the controller unreachable for
    /// too long, or logging faster than the heartbeats carry).
    public var request_logs_dropped: Int?

    public init(
        se_uuid: String, applied_version: Int, draining: Bool = false, virtual_services: [VSStatus] = [],
        bgp_peers: [BGPPeerStatus] = [], connections: Int = 0, steering: SteeringStatus? = nil,
        request_logs: [RequestLog]? = nil, request_logs_dropped: Int? = nil
    ) {
        self.request_logs = request_logs
        self.request_logs_dropped = request_logs_dropped
        self.steering = steering
        self.se_uuid = se_uuid
        self.applied_version = applied_version
        self.draining = draining
        self.virtual_services = virtual_services
        self.bgp_peers = bgp_peers
        self.connections = connections
    }
}

/// `POST /api/se-agent/<se_uuid>/heartbeat` 200 reply.
public struct SEHeartbeatReply: Codable, Sendable, Hashable {
    /// The version the SE should run (when it differs from `applied_version`, the SE's watch fetches it).
    public var desired_version: Int
    public init(desired_version: Int) { self.desired_version = desired_version }
}

/// One virtual service as an SE runs it.
public struct VSStatus: Codable, Sendable, Hashable {
    public var uuid: String
    public var name: String
    /// `OPER_UP` or `OPER_DOWN`.
    public var oper_state: String
    public var reason: String
    /// Whether the SE advertises the VIP with BGP now.
    public var advertised: Bool
    public var advertise_reason: String
    public var servers: [ServerStatus]
    public var active_connections: Int
    public var requests: Int
    /// The service's counters on this SE since it started serving it (they only grow; an SE restart starts
    /// them again): the controller's analytics take the differences between heartbeats.
    public var counters: VSCounters?

    public init(
        uuid: String, name: String, oper_state: String, reason: String, advertised: Bool, advertise_reason: String,
        servers: [ServerStatus] = [], active_connections: Int = 0, requests: Int = 0, counters: VSCounters? = nil
    ) {
        self.counters = counters
        self.uuid = uuid
        self.name = name
        self.oper_state = oper_state
        self.reason = reason
        self.advertised = advertised
        self.advertise_reason = advertise_reason
        self.servers = servers
        self.active_connections = active_connections
        self.requests = requests
    }
}

/// A virtual service's cumulative counters on one SE (``VSStatus/counters``).
public struct VSCounters: Codable, Sendable, Hashable {
    /// Client connections accepted.
    public var connections: Int
    /// HTTP requests received.
    public var requests: Int
    /// Bytes from clients, bytes to clients.
    public var bytes_in: Int
    public var bytes_out: Int
    /// Responses to clients by class: 1xx, 2xx, 3xx, 4xx, 5xx.
    public var responses: [Int]
    /// Responses a server answered to the end, and their summed latency (request start to response end).
    public var timed_responses: Int
    public var latency_us: Int
    /// The timed responses by latency: one count per bucket of ``latencyBoundsMs`` (at most that many
    /// milliseconds), then one for the slower ones.
    public var latency_buckets: [Int]?

    /// Upper bounds of the latency buckets, in milliseconds.
    public static let latencyBoundsMs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    public static let latencyBucketCount = latencyBoundsMs.count + 1

    public init(
        connections: Int = 0, requests: Int = 0, bytes_in: Int = 0, bytes_out: Int = 0,
        responses: [Int] = [0, 0, 0, 0, 0], timed_responses: Int = 0, latency_us: Int = 0,
        latency_buckets: [Int]? = nil
    ) {
        self.latency_buckets = latency_buckets
        self.connections = connections
        self.requests = requests
        self.bytes_in = bytes_in
        self.bytes_out = bytes_out
        self.responses = responses
        self.timed_responses = timed_responses
        self.latency_us = latency_us
    }
}

/// A pool server's cumulative counters on one SE (``ServerStatus/counters``).
public struct ServerCounters: Codable, Sendable, Hashable {
    /// Connections opened to it.
    public var connections: Int
    /// Attempts that failed: no connection, or no valid response.
    public var failures: Int
    /// Responses it answered to the end, the 5xx among them, and their summed latency.
    public var responses: Int
    public var responses_5xx: Int
    public var latency_us: Int

    public init(
        connections: Int = 0, failures: Int = 0, responses: Int = 0, responses_5xx: Int = 0, latency_us: Int = 0
    ) {
        self.connections = connections
        self.failures = failures
        self.responses = responses
        self.responses_5xx = responses_5xx
        self.latency_us = latency_us
    }
}

/// One pool server as an SE's health monitors see it.
public struct ServerStatus: Codable, Sendable, Hashable {
    public var ip: IpAddr
    public var port: Int
    public var up: Bool
    public var reason: String
    /// What the SE's proxies sent this server since it was added (they only grow; the controller takes
    /// the differences).
    public var counters: ServerCounters?

    public init(ip: IpAddr, port: Int, up: Bool, reason: String, counters: ServerCounters? = nil) {
        self.counters = counters
        self.ip = ip
        self.port = port
        self.up = up
        self.reason = reason
    }
}

/// One BGP session of an SE.
public struct BGPPeerStatus: Codable, Sendable, Hashable {
    public var peer_ip: String
    /// RFC 4271 state name (`Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`, `Established`).
    public var state: String
    /// Seconds in Established, if established.
    public var uptime: Double?
    public var prefixes_advertised: Int

    public init(peer_ip: String, state: String, uptime: Double? = nil, prefixes_advertised: Int = 0) {
        self.peer_ip = peer_ip
        self.state = state
        self.uptime = uptime
        self.prefixes_advertised = prefixes_advertised
    }
}
