/// Avi `applicationprofile` (defaults `System-HTTP`, `System-Secure-HTTP`, `System-L4-Application`):
/// how a virtual service treats its traffic.
public struct ApplicationProfile: AviObject {
    public static let objectType = "applicationprofile"
    /// Avi `type`.
    public enum ProfileType: String, AviEnum {
        /// HTTP proxy (request by request).
        case http = "APPLICATION_PROFILE_TYPE_HTTP"
        /// TCP/UDP proxy.
        case l4 = "APPLICATION_PROFILE_TYPE_L4"
        /// TLS termination, then TCP proxy.
        case ssl = "APPLICATION_PROFILE_TYPE_SSL"
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var type: ProfileType
    /// HTTP options (HTTP profiles).
    public var http_profile: HTTPProfile?

    /// Avi `HTTPApplicationProfile` (the options Starling implements).
    public struct HTTPProfile: Codable, Sendable, Hashable {
        /// Answer requests on the virtual service's plain-HTTP ports with a 301 to its HTTPS port.
        public var http_to_https: Bool?
        /// Send `Strict-Transport-Security` on HTTPS responses.
        public var hsts_enabled: Bool?
        /// HSTS `max-age` in days (Avi's unit); default 365.
        public var hsts_max_age: Int?
        /// Add `includeSubDomains` to HSTS.
        public var hsts_subdomains_enabled: Bool?
        /// HTTP/2 limits (ports with `enable_http2`).
        public var http2_profile: HTTP2Profile?

        public init(
            http_to_https: Bool? = nil, hsts_enabled: Bool? = nil, hsts_max_age: Int? = nil,
            hsts_subdomains_enabled: Bool? = nil, http2_profile: HTTP2Profile? = nil
        ) {
            self.http_to_https = http_to_https
            self.hsts_enabled = hsts_enabled
            self.hsts_max_age = hsts_max_age
            self.hsts_subdomains_enabled = hsts_subdomains_enabled
            self.http2_profile = http2_profile
        }
    }

    /// Avi `HTTP2ApplicationProfile`: what one client HTTP/2 connection may use.
    public struct HTTP2Profile: Codable, Sendable, Hashable {
        /// Streams open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`); Avi default 128, 1-256.
        public var max_http2_concurrent_streams_per_connection: Int?
        /// Initial stream flow-control window in KB; Avi default 64, 64-32768.
        public var http2_initial_window_size: Int?
        /// PING, SETTINGS and PRIORITY frames a client may send per 30 s before the connection is closed
        /// (flood protection); Avi default 1000, 1-10000.
        public var max_http2_control_frames_per_connection: Int?
        /// Streams a client may reset per 30 s before the connection is closed (the rapid-reset attack,
        /// CVE-2023-44487); Starling's field, default 200, 1-10000.
        public var max_http2_stream_resets_per_connection: Int?

        public init(
            max_http2_concurrent_streams_per_connection: Int? = nil, http2_initial_window_size: Int? = nil,
            max_http2_control_frames_per_connection: Int? = nil, max_http2_stream_resets_per_connection: Int? = nil
        ) {
            self.max_http2_concurrent_streams_per_connection = max_http2_concurrent_streams_per_connection
            self.http2_initial_window_size = http2_initial_window_size
            self.max_http2_control_frames_per_connection = max_http2_control_frames_per_connection
            self.max_http2_stream_resets_per_connection = max_http2_stream_resets_per_connection
        }
    }

    public init(name: String, type: ProfileType, http_profile: HTTPProfile? = nil, uuid: String? = nil) {
        self.name = name
        self.type = type
        self.http_profile = http_profile
        self.uuid = uuid
    }

    public func validate() throws(ModelError) {
        try validateName()
        if http_profile != nil, type != .http {
            throw ModelError(field: "http_profile", message: "only an APPLICATION_PROFILE_TYPE_HTTP profile has one")
        }
        try Check.range(http_profile?.hsts_max_age, 0...3650, "http_profile.hsts_max_age")
        let h2 = http_profile?.http2_profile
        try Check.range(
            h2?.max_http2_concurrent_streams_per_connection, 1...256,
            "http_profile.http2_profile.max_http2_concurrent_streams_per_connection")
        try Check.range(
            h2?.http2_initial_window_size, 64...32768, "http_profile.http2_profile.http2_initial_window_size")
        try Check.range(
            h2?.max_http2_control_frames_per_connection, 1...10000,
            "http_profile.http2_profile.max_http2_control_frames_per_connection")
        try Check.range(
            h2?.max_http2_stream_resets_per_connection, 1...10000,
            "http_profile.http2_profile.max_http2_stream_resets_per_connection")
    }
}
