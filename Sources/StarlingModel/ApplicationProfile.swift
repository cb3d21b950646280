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

        public init(
            http_to_https: Bool? = nil, hsts_enabled: Bool? = nil, hsts_max_age: Int? = nil,
            hsts_subdomains_enabled: Bool? = nil
        ) {
            self.http_to_https = http_to_https
            self.hsts_enabled = hsts_enabled
            self.hsts_max_age = hsts_max_age
            self.hsts_subdomains_enabled = hsts_subdomains_enabled
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
    }
}
