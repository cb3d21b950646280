/// Avi `AnalyticsPolicy` of a virtual service: which requests the SEs log (issue 11).
///
/// Every request that is *significant* (a 4xx or 5xx response, one the SE answered itself, one cut off,
/// or one slower than ``significantLatencyMs``) is logged, at most `significant_log_throttle` a second
/// per SE; the others only with `full_client_logs.enabled`, at most `full_client_logs.throttle` a second
/// per SE. A throttle of 0 means no limit (Avi's meaning).
public struct AnalyticsPolicy: Codable, Sendable, Hashable {
    public struct FullClientLogs: Codable, Sendable, Hashable {
        /// Log requests that are not significant too (Avi default false).
        public var enabled: Bool?
        /// Most of them logged per second per SE (Avi default 10; 0: no limit).
        public var throttle: Int?

        public init(enabled: Bool? = nil, throttle: Int? = nil) {
            self.enabled = enabled
            self.throttle = throttle
        }
    }

    public var full_client_logs: FullClientLogs?
    /// Most significant requests logged per second per SE (Avi default 10; 0: no limit).
    public var significant_log_throttle: Int?

    public init(full_client_logs: FullClientLogs? = nil, significant_log_throttle: Int? = nil) {
        self.full_client_logs = full_client_logs
        self.significant_log_throttle = significant_log_throttle
    }

    /// A response slower than this (Avi's default apdex response threshold) makes a request significant.
    public static let significantLatencyMs = 500

    public static let defaultThrottle = 10

    /// Significant logs per second per SE; 0: no limit.
    public var significantPerSecond: Int { significant_log_throttle ?? Self.defaultThrottle }
    /// Other logs per second per SE (0: no limit), or nil when they are not logged.
    public var fullPerSecond: Int? {
        guard full_client_logs?.enabled == true else { return nil }
        return full_client_logs?.throttle ?? Self.defaultThrottle
    }

    public func validate(field: String) throws(ModelError) {
        if let t = significant_log_throttle, !(0...100_000).contains(t) {
            throw ModelError(field: "\(field).significant_log_throttle", message: "must be 0-100000 (0: no limit)")
        }
        if let t = full_client_logs?.throttle, !(0...100_000).contains(t) {
            throw ModelError(field: "\(field).full_client_logs.throttle", message: "must be 0-100000 (0: no limit)")
        }
    }
}

/// One request as an SE logged it (Avi's application log, `GET /api/analytics/logs?type=1`), shipped to the
/// controller in the heartbeats.
public struct RequestLog: Codable, Sendable, Hashable {
    /// When the request started, milliseconds since the epoch.
    public var timestamp_ms: Int64
    public var vs_uuid: String
    public var client_ip: String
    public var client_src_port: Int
    public var method: String
    public var uri_path: String
    public var uri_query: String
    public var host: String
    /// `HTTP/1.1`, `HTTP/2`.
    public var http_version: String
    /// The status sent to the client (0: none, the connection was cut).
    public var response_code: Int
    /// From the request's start to the end of the response, milliseconds.
    public var total_time_ms: Double
    public var request_length: Int
    public var response_length: Int
    /// The pool server that answered ("" when none did).
    public var server_ip: String
    public var server_port: Int
    public var significant: Bool
    /// Why it is significant ("" when it is not).
    public var significance: String

    public init(
        timestamp_ms: Int64, vs_uuid: String, client_ip: String, client_src_port: Int, method: String,
        uri_path: String, uri_query: String, host: String, http_version: String, response_code: Int,
        total_time_ms: Double, request_length: Int, response_length: Int, server_ip: String, server_port: Int,
        significant: Bool, significance: String
    ) {
        self.timestamp_ms = timestamp_ms
        self.vs_uuid = vs_uuid
        self.client_ip = client_ip
        self.client_src_port = client_src_port
        self.method = method
        self.uri_path = uri_path
        self.uri_query = uri_query
        self.host = host
        self.http_version = http_version
        self.response_code = response_code
        self.total_time_ms = total_time_ms
        self.request_length = request_length
        self.response_length = response_length
        self.server_ip = server_ip
        self.server_port = server_port
        self.significant = significant
        self.significance = significance
    }
}
