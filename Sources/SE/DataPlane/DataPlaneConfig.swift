import StarlingModel

/// The data plane's runtime configuration: plain values the SE agent builds from the Avi objects
/// (virtual service, vsvip, pool, health monitor, application profile). `DataPlane.apply(_:)` takes the
/// whole desired state every time (level-triggered).
public struct DataPlaneConfig: Sendable, Hashable {
    /// Every virtual service this SE serves.
    public var services: [ServiceConfig]

    /// A configuration with these services.
    public init(services: [ServiceConfig] = []) {
        self.services = services
    }
}

/// One address a virtual service listens on: a VIP (IPv4 or IPv6 literal) and a TCP port, with or
/// without TLS.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// IPv4 or IPv6 literal, e.g. `192.0.2.10` or `2001:db8::10`.
    public var host: String
    /// TCP port, 1...65535.
    public var port: Int
    /// Terminate TLS on this address (Avi `services[].enable_ssl`) with the service's `tls` settings.
    public var tls: Bool
    /// Offer HTTP/2 in the TLS handshake (ALPN `h2`, Avi `services[].enable_http2`); HTTP services only.
    public var http2: Bool

    /// An address to listen on.
    public init(host: String, port: Int, tls: Bool = false, http2: Bool = false) {
        self.host = host
        self.port = port
        self.tls = tls
        self.http2 = http2
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// TLS termination of a virtual service: its certificates and what its SSL profile accepts.
public struct TLSSettings: Sendable, Hashable {
    /// One certificate with its key (Avi `sslkeyandcertificate`).
    public struct Certificate: Sendable, Hashable {
        /// Object name (for problems and logs).
        public var name: String
        /// PEM chain, leaf first.
        public var chainPEM: String
        /// PEM private key.
        public var keyPEM: String
        /// Passphrase of an encrypted key.
        public var passphrase: String?

        public init(name: String, chainPEM: String, keyPEM: String, passphrase: String? = nil) {
            self.name = name
            self.chainPEM = chainPEM
            self.keyPEM = keyPEM
            self.passphrase = passphrase
        }
    }

    /// TLS protocol versions (an SSL profile's `accepted_versions` range).
    public enum Version: Int, Sendable, Hashable, Comparable {
        case tls1 = 10, tls1_1 = 11, tls1_2 = 12, tls1_3 = 13
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    /// In `ssl_key_and_certificate_refs` order; the first is the default (no SNI match).
    public var certificates: [Certificate]
    public var minimumVersion: Version
    public var maximumVersion: Version
    /// OpenSSL cipher list for TLS 1.2 and older.
    public var cipherString: String
    /// Session resumption with tickets (`enable_ssl_session_reuse`).
    public var sessionReuse: Bool
    /// Prefer the client's cipher order.
    public var preferClientCiphers: Bool
    /// `Strict-Transport-Security` value for HTTPS responses (HTTP services), nil for none.
    public var hsts: String?

    public init(
        certificates: [Certificate], minimumVersion: Version = .tls1_2, maximumVersion: Version = .tls1_3,
        cipherString: String, sessionReuse: Bool = true, preferClientCiphers: Bool = false, hsts: String? = nil
    ) {
        self.certificates = certificates
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.cipherString = cipherString
        self.sessionReuse = sessionReuse
        self.preferClientCiphers = preferClientCiphers
        self.hsts = hsts
    }
}

/// Limits and timeouts of the HTTP reverse proxy (Avi application profile `System-HTTP`).
public struct HTTPLimits: Sendable, Hashable {
    /// Largest request head (request line and header fields); more gets 431 and the connection is closed.
    public var maxHeaderBytes: Int
    /// Time a client has to send a complete request head once a connection is open; then 408 and close.
    public var requestHeaderTimeout: Duration
    /// Time a server has to start its response after the request was sent; then 504.
    public var serverResponseTimeout: Duration
    /// Time to establish a TCP connection to a server (HTTP and L4); then the next server is tried.
    public var connectTimeout: Duration
    /// HTTP/2 client connections.
    public var http2: HTTP2Limits

    /// Limits with the given values; the defaults are the `System-HTTP` ones.
    public init(
        maxHeaderBytes: Int = 32 * 1024,
        requestHeaderTimeout: Duration = .seconds(10),
        serverResponseTimeout: Duration = .seconds(30),
        connectTimeout: Duration = .seconds(5),
        http2: HTTP2Limits = HTTP2Limits()
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.requestHeaderTimeout = requestHeaderTimeout
        self.serverResponseTimeout = serverResponseTimeout
        self.connectTimeout = connectTimeout
        self.http2 = http2
    }
}

/// What one HTTP/2 client connection may use (Avi `http2_profile`). The header list is bounded by
/// `HTTPLimits.maxHeaderBytes` (`SETTINGS_MAX_HEADER_LIST_SIZE`).
public struct HTTP2Limits: Sendable, Hashable {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: more streams at once is a protocol error.
    public var maxConcurrentStreams: Int
    /// `SETTINGS_INITIAL_WINDOW_SIZE` and the window kept open per stream, in bytes.
    public var initialWindowSize: Int
    /// PING, SETTINGS and PRIORITY frames allowed per `window` (more: GOAWAY `ENHANCE_YOUR_CALM`).
    public var maxControlFrames: Int
    /// Stream resets by the client allowed per `window` (rapid reset, CVE-2023-44487).
    public var maxStreamResets: Int
    /// The window the two counts above are taken over.
    public var window: Duration

    /// Limits with the given values; the defaults are Avi's (`System-HTTP`).
    public init(
        maxConcurrentStreams: Int = 128, initialWindowSize: Int = 65535, maxControlFrames: Int = 1000,
        maxStreamResets: Int = 200, window: Duration = .seconds(30)
    ) {
        self.maxConcurrentStreams = maxConcurrentStreams
        self.initialWindowSize = initialWindowSize
        self.maxControlFrames = maxControlFrames
        self.maxStreamResets = maxStreamResets
        self.window = window
    }
}

/// One virtual service as the data plane runs it.
public struct ServiceConfig: Sendable, Hashable {
    /// How client connections are handled.
    public enum Kind: Sendable, Hashable {
        /// TCP proxy (`System-L4-Application`).
        case l4
        /// HTTP/1.1 reverse proxy (`System-HTTP`).
        case http
    }

    /// Virtual service uuid: the stable key across `apply` calls.
    public var id: String
    /// Name for logs and metric labels (`vs`).
    public var name: String
    /// VIP:port pairs to accept connections on.
    public var listeners: [ListenAddress]
    /// L4 or HTTP.
    public var kind: Kind
    /// Where connections go.
    public var pool: PoolConfig
    /// A connection with no traffic either way for this long is closed (L4), or a keep-alive client
    /// connection waiting this long for its next request is closed (HTTP).
    public var idleTimeout: Duration
    /// HTTP limits; `connectTimeout` also applies to L4.
    public var http: HTTPLimits
    /// Certificates and versions for the listeners with `tls`.
    public var tls: TLSSettings?
    /// HTTP services: answer requests on the plain listeners with a 301 to `https://<host>:<port>`
    /// (Avi `http_to_https`); nil: proxy them.
    public var httpsRedirectPort: Int?
    /// Which HTTP requests are logged for the controller (Avi `analytics_policy`).
    public var requestLogs: RequestLogPolicy

    /// A service; `idleTimeout` defaults to 600 s for L4 and 60 s for HTTP.
    public init(
        id: String, name: String, listeners: [ListenAddress], kind: Kind, pool: PoolConfig,
        idleTimeout: Duration? = nil, http: HTTPLimits = HTTPLimits(), tls: TLSSettings? = nil,
        httpsRedirectPort: Int? = nil, requestLogs: RequestLogPolicy = RequestLogPolicy()
    ) {
        self.requestLogs = requestLogs
        self.id = id
        self.name = name
        self.listeners = listeners
        self.kind = kind
        self.pool = pool
        self.idleTimeout = idleTimeout ?? (kind == .l4 ? .seconds(600) : .seconds(60))
        self.http = http
        self.tls = tls
        self.httpsRedirectPort = httpsRedirectPort
    }
}

/// Load-balancing algorithm of a pool (Avi `lb_algorithm`).
public enum LBAlgorithm: Sendable, Hashable {
    /// Smooth weighted round robin by `ratio` (`LB_ALGORITHM_ROUND_ROBIN`).
    case roundRobin
    /// Fewest active connections relative to `ratio`, ties in round-robin order
    /// (`LB_ALGORITHM_LEAST_CONNECTIONS`).
    case leastConnections
}

/// A pool server (Avi `pool.servers[]`).
public struct ServerConfig: Sendable, Hashable {
    /// IPv4 or IPv6 literal.
    public var ip: String
    /// TCP port.
    public var port: Int
    /// Weight, 1...20.
    public var ratio: Int
    /// A disabled server gets no new connections and is reported down ("disabled").
    public var enabled: Bool

    /// A server; `ratio` defaults to 1.
    public init(ip: String, port: Int, ratio: Int = 1, enabled: Bool = true) {
        self.ip = ip
        self.port = port
        self.ratio = ratio
        self.enabled = enabled
    }

    /// `ip:port` (brackets around IPv6): the server's identity inside its pool.
    public var key: String {
        ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// A pool: servers, the algorithm that picks one, and the monitors that decide which are up.
public struct PoolConfig: Sendable, Hashable {
    /// Pool name (metric label `pool`).
    public var name: String
    /// How a server is picked.
    public var algorithm: LBAlgorithm
    /// The servers.
    public var servers: [ServerConfig]
    /// Health monitors; a server is up when every one says so. None: enabled servers are up.
    public var monitors: [MonitorConfig]
    /// TLS to the servers (re-encryption), nil for plain TCP.
    public var tls: ServerTLSSettings?

    /// A pool.
    public init(
        name: String, algorithm: LBAlgorithm = .roundRobin, servers: [ServerConfig],
        monitors: [MonitorConfig] = [], tls: ServerTLSSettings? = nil
    ) {
        self.name = name
        self.algorithm = algorithm
        self.servers = servers
        self.monitors = monitors
        self.tls = tls
    }
}

/// TLS from the SE to a pool's servers (Avi `pool.ssl_profile_ref`, with `pki_profile_ref`,
/// `server_name`, `sni_enabled`, `host_check_enabled`).
public struct ServerTLSSettings: Sendable, Hashable {
    public var minimumVersion: TLSSettings.Version
    public var maximumVersion: TLSSettings.Version
    /// OpenSSL cipher list for TLS 1.2 and older.
    public var cipherString: String
    /// PEM CA certificates the servers' certificates must chain to; nil: not checked (Avi without a PKI
    /// profile).
    public var trustedCAsPEM: String?
    /// Sent as SNI; nil: no SNI.
    public var serverName: String?
    /// With `trustedCAsPEM`: the certificate must also be for `serverName`.
    public var checkHostname: Bool

    public init(
        minimumVersion: TLSSettings.Version = .tls1_2, maximumVersion: TLSSettings.Version = .tls1_3,
        cipherString: String, trustedCAsPEM: String? = nil, serverName: String? = nil, checkHostname: Bool = false
    ) {
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.cipherString = cipherString
        self.trustedCAsPEM = trustedCAsPEM
        self.serverName = serverName
        self.checkHostname = checkHostname
    }
}

/// A health monitor (Avi `healthmonitor`).
public struct MonitorConfig: Sendable, Hashable {
    /// What one check does.
    public enum Kind: Sendable, Hashable {
        /// `HEALTH_MONITOR_TCP`: the check passes when a TCP connection is established.
        case tcp
        /// `HEALTH_MONITOR_HTTP`: send `request` (Avi `http_request`, e.g. `GET /health HTTP/1.0`; the
        /// monitor adds `Host` and the final CRLF CRLF), pass when the status code is in `expectedCodes`
        /// (Avi `http_response_code`; empty means `HTTP_ANY`).
        case http(request: String, expectedCodes: [ExpectedCode])
        /// `HEALTH_MONITOR_HTTPS`: the same over TLS (TLS 1.2+, the server's certificate not checked;
        /// SNI: the pool's `server_name` when it has one).
        case https(request: String, expectedCodes: [ExpectedCode], serverName: String?)
    }

    /// Monitor name (shown in reasons).
    public var name: String
    /// TCP or HTTP.
    public var kind: Kind
    /// Time between the starts of two checks (`send_interval`).
    public var interval: Duration
    /// A check that has not finished after this long fails (`receive_timeout`).
    public var timeout: Duration
    /// Consecutive passes that bring a server up (`successful_checks`).
    public var successfulChecks: Int
    /// Consecutive failures that bring a server down (`failed_checks`).
    public var failedChecks: Int
    /// Port to check instead of the server's own (`monitor_port`); nil: the server's port.
    public var port: Int?

    /// A monitor; the defaults are Avi's `System-TCP` ones.
    public init(
        name: String, kind: Kind = .tcp, interval: Duration = .seconds(10), timeout: Duration = .seconds(4),
        successfulChecks: Int = 2, failedChecks: Int = 2, port: Int? = nil
    ) {
        self.port = port
        self.name = name
        self.kind = kind
        self.interval = interval
        self.timeout = timeout
        self.successfulChecks = successfulChecks
        self.failedChecks = failedChecks
    }
}

/// A range of HTTP status codes a monitor accepts (Avi `HTTP_ANY`, `HTTP_1XX` ... `HTTP_5XX`).
public struct ExpectedCode: Sendable, Hashable, CustomStringConvertible {
    /// Lowest accepted code.
    public var lower: Int
    /// Highest accepted code.
    public var upper: Int

    /// Codes `lower...upper`.
    public init(_ range: ClosedRange<Int>) {
        self.lower = range.lowerBound
        self.upper = range.upperBound
    }

    /// Any status code (`HTTP_ANY`).
    public static let any = ExpectedCode(100...599)
    /// `HTTP_1XX`.
    public static let http1xx = ExpectedCode(100...199)
    /// `HTTP_2XX`.
    public static let http2xx = ExpectedCode(200...299)
    /// `HTTP_3XX`.
    public static let http3xx = ExpectedCode(300...399)
    /// `HTTP_4XX`.
    public static let http4xx = ExpectedCode(400...499)
    /// `HTTP_5XX`.
    public static let http5xx = ExpectedCode(500...599)

    /// Parses an Avi name (`HTTP_ANY`, `HTTP_2XX`, ...); nil for anything else.
    public init?(avi: String) {
        switch avi.uppercased() {
        case "HTTP_ANY": self = .any
        case "HTTP_1XX": self = .http1xx
        case "HTTP_2XX": self = .http2xx
        case "HTTP_3XX": self = .http3xx
        case "HTTP_4XX": self = .http4xx
        case "HTTP_5XX": self = .http5xx
        default: return nil
        }
    }

    /// Whether `code` is in the range.
    public func matches(_ code: Int) -> Bool {
        code >= lower && code <= upper
    }

    /// The Avi name when there is one, else `lower-upper`.
    public var description: String {
        switch (lower, upper) {
        case (100, 599): "HTTP_ANY"
        case (let l, let u) where l % 100 == 0 && u == l + 99: "HTTP_\(l / 100)XX"
        default: "\(lower)-\(upper)"
        }
    }
}

extension Array where Element == ExpectedCode {
    /// Whether any range accepts `code`; an empty list accepts any code (`HTTP_ANY`).
    public func accepts(_ code: Int) -> Bool {
        isEmpty ? ExpectedCode.any.matches(code) : contains { $0.matches(code) }
    }
}

/// A problem with one service that `apply` could not fix (the other services are unaffected).
public struct ServiceProblem: Sendable, Hashable, CustomStringConvertible {
    /// The service's id.
    public var serviceID: String
    /// The field at fault, e.g. `listeners[0]` or `pool.servers[2].ip`.
    public var field: String
    /// What went wrong, e.g. `cannot bind 192.0.2.1:80: Address already in use`.
    public var reason: String

    /// A problem.
    public init(serviceID: String, field: String, reason: String) {
        self.serviceID = serviceID
        self.field = field
        self.reason = reason
    }

    /// `<id> <field>: <reason>`.
    public var description: String { "\(serviceID) \(field): \(reason)" }
}

/// Health and traffic of one pool server.
public struct ServerStatus: Sendable, Hashable {
    /// Server IP literal.
    public var ip: String
    /// Server port.
    public var port: Int
    /// Whether new connections may go to it.
    public var up: Bool
    /// Why, e.g. `2/2 checks ok`, `connect refused`, `HTTP 500 not in HTTP_2XX`, `disabled`,
    /// `no monitor: assumed up`.
    public var reason: String
    /// What the proxies sent it since the server was added.
    public var totals = ServerTotals()
}

/// Counters of one pool server since it was added to the service (summed over the loops).
public struct ServerTotals: Sendable, Hashable {
    /// Connections opened to it.
    public var connections = 0
    /// Attempts that failed: no connection, or no valid response.
    public var failures = 0
    /// Responses it answered to the end, the 5xx among them, and their summed latency (µs).
    public var responses = 0
    public var responses5xx = 0
    public var latencyMicros = 0

    public init() {}
}

/// Counters of one virtual service since it was first applied.
public struct ServiceTotals: Sendable, Hashable {
    /// Client connections accepted.
    public var connections: Int = 0
    /// HTTP requests received (HTTP services).
    public var requests: Int = 0
    /// Bytes received from clients.
    public var bytesIn: Int = 0
    /// Bytes sent to clients.
    public var bytesOut: Int = 0
    /// Responses sent to clients by class: index 0 = 1xx ... 4 = 5xx.
    public var responses: [Int] = [0, 0, 0, 0, 0]
    /// Responses a server answered to the end, and their summed latency in microseconds.
    public var timedResponses: Int = 0
    public var latencyMicros: Int = 0
    /// Timed responses per latency bucket (`VSCounters.latencyBoundsMs`, then the slower ones).
    public var latencyBuckets = [Int](repeating: 0, count: VSCounters.latencyBucketCount)

    /// Totals, all zero.
    public init() {}
}

/// What `DataPlane.status()` reports per virtual service.
public struct ServiceStatus: Sendable, Hashable {
    /// Service id.
    public var id: String
    /// Service name.
    public var name: String
    /// Addresses with an open listener.
    public var listening: [ListenAddress]
    /// Pool servers with their health.
    public var servers: [ServerStatus]
    /// Number of servers up.
    public var serversUp: Int
    /// Client connections open now.
    public var activeConnections: Int
    /// Counters.
    public var totals: ServiceTotals
    /// Whether the service is draining (listeners closed, connections finishing).
    public var draining: Bool
}
