/// Avi `healthmonitor` (defaults `System-TCP`, `System-HTTP`, `System-Ping`): how an SE checks pool
/// servers.
public struct HealthMonitor: AviObject {
    public static let objectType = "healthmonitor"
    /// Avi `type`.
    public enum MonitorType: String, AviEnum {
        case ping = "HEALTH_MONITOR_PING"
        case tcp = "HEALTH_MONITOR_TCP"
        case udp = "HEALTH_MONITOR_UDP"
        case http = "HEALTH_MONITOR_HTTP"
        case https = "HEALTH_MONITOR_HTTPS"
    }
    /// Avi `HealthMonitorHttp` (also used as `https_monitor`).
    public struct HTTPMonitor: Codable, Sendable, Hashable {
        /// The request line, e.g. `GET / HTTP/1.0` (Avi's default `HEAD / HTTP/1.0`).
        public var http_request: String?
        /// Accepted status classes: `HTTP_ANY`, `HTTP_1XX` ... `HTTP_5XX`.
        public var http_response_code: [ResponseCode]?
        /// A string the response body must contain.
        public var http_response: String?

        public init(
            http_request: String? = nil, http_response_code: [ResponseCode]? = nil, http_response: String? = nil
        ) {
            self.http_request = http_request
            self.http_response_code = http_response_code
            self.http_response = http_response
        }
    }
    /// Avi `HttpResponseCode`.
    public enum ResponseCode: String, AviEnum {
        case any = "HTTP_ANY"
        case r1xx = "HTTP_1XX"
        case r2xx = "HTTP_2XX"
        case r3xx = "HTTP_3XX"
        case r4xx = "HTTP_4XX"
        case r5xx = "HTTP_5XX"

        /// Whether an HTTP status code falls in this class.
        public func matches(_ status: Int) -> Bool {
            switch self {
            case .any: return true
            case .r1xx: return (100..<200).contains(status)
            case .r2xx: return (200..<300).contains(status)
            case .r3xx: return (300..<400).contains(status)
            case .r4xx: return (400..<500).contains(status)
            case .r5xx: return (500..<600).contains(status)
            }
        }
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var type: MonitorType
    /// Seconds between checks (Avi default 10).
    public var send_interval: Int?
    /// Seconds to wait for a response (Avi default 4); less than `send_interval`.
    public var receive_timeout: Int?
    /// Consecutive successes that mark a server up (Avi default 2).
    public var successful_checks: Int?
    /// Consecutive failures that mark a server down (Avi default 2).
    public var failed_checks: Int?
    /// Port to check instead of the server's.
    public var monitor_port: Int?
    public var http_monitor: HTTPMonitor?
    public var https_monitor: HTTPMonitor?

    public init(
        name: String, type: MonitorType, uuid: String? = nil, send_interval: Int? = nil,
        receive_timeout: Int? = nil, successful_checks: Int? = nil, failed_checks: Int? = nil,
        monitor_port: Int? = nil, http_monitor: HTTPMonitor? = nil, https_monitor: HTTPMonitor? = nil
    ) {
        self.name = name
        self.type = type
        self.uuid = uuid
        self.send_interval = send_interval
        self.receive_timeout = receive_timeout
        self.successful_checks = successful_checks
        self.failed_checks = failed_checks
        self.monitor_port = monitor_port
        self.http_monitor = http_monitor
        self.https_monitor = https_monitor
    }

    /// `send_interval` with Avi's default.
    public var effectiveSendInterval: Int { send_interval ?? 10 }
    /// `receive_timeout` with Avi's default (never at or above the send interval).
    public var effectiveReceiveTimeout: Int { min(receive_timeout ?? 4, max(1, effectiveSendInterval - 1)) }
    public var effectiveSuccessfulChecks: Int { successful_checks ?? 2 }
    public var effectiveFailedChecks: Int { failed_checks ?? 2 }

    public func validate() throws(ModelError) {
        try validateName()
        try Check.range(send_interval, 1...3600, "send_interval")
        try Check.range(receive_timeout, 1...2400, "receive_timeout")
        let interval = send_interval ?? 10
        if let t = receive_timeout, t >= interval {
            throw ModelError(field: "receive_timeout", message: "must be less than send_interval (\(interval))")
        }
        if receive_timeout == nil, send_interval != nil, interval <= 4 {
            throw ModelError(
                field: "send_interval", message: "must exceed receive_timeout (default 4) or set receive_timeout")
        }
        try Check.range(successful_checks, 1...50, "successful_checks")
        try Check.range(failed_checks, 1...50, "failed_checks")
        try Check.port(monitor_port, "monitor_port")
        for (label, m) in [("http_monitor", http_monitor), ("https_monitor", https_monitor)] {
            guard let m else { continue }
            if let r = m.http_request, r.isEmpty || r.contains("\r") || r.contains("\n") {
                throw ModelError(
                    field: "\(label).http_request", message: "must be one request line such as \"GET / HTTP/1.0\"")
            }
            if let codes = m.http_response_code, codes.isEmpty {
                throw ModelError(field: "\(label).http_response_code", message: "must not be empty")
            }
        }
        if type == .http, https_monitor != nil {
            throw ModelError(field: "https_monitor", message: "only for HEALTH_MONITOR_HTTPS")
        }
        if type == .https, http_monitor != nil {
            throw ModelError(field: "http_monitor", message: "only for HEALTH_MONITOR_HTTP")
        }
        if type != .http && type != .https, http_monitor != nil || https_monitor != nil {
            throw ModelError(
                field: http_monitor != nil ? "http_monitor" : "https_monitor",
                message: "only for HEALTH_MONITOR_HTTP/HEALTH_MONITOR_HTTPS")
        }
    }
}
