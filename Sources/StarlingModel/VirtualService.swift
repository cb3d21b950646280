/// Avi `virtualservice`: listeners on the VIPs of a `vsvip`, proxied to a `pool` according to an
/// `applicationprofile`, placed on SEs of an `se_group_ref` group.
public struct VirtualService: AviObject {
    public static let objectType = "virtualservice"
    /// Avi `Service`: one listening port (or range).
    public struct Service: Codable, Sendable, Hashable {
        public var port: Int
        /// Terminate TLS on this port (needs `ssl_key_and_certificate_refs`).
        public var enable_ssl: Bool?
        /// Last port of a range starting at `port`.
        public var port_range_end: Int?
        /// Offer HTTP/2 to clients on this port (ALPN `h2`; Starling serves HTTP/2 over TLS only, so the
        /// port needs `enable_ssl`).
        public var enable_http2: Bool?

        public init(port: Int, enable_ssl: Bool? = nil, port_range_end: Int? = nil, enable_http2: Bool? = nil) {
            self.port = port
            self.enable_ssl = enable_ssl
            self.port_range_end = port_range_end
            self.enable_http2 = enable_http2
        }
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var vsvip_ref: String?
    public var services: [Service]
    public var pool_ref: String?
    /// Default `Default-Group`.
    public var se_group_ref: String?
    /// Default `System-HTTP`.
    public var application_profile_ref: String?
    public var ssl_key_and_certificate_refs: [String]?
    /// Default `System-Standard`.
    public var ssl_profile_ref: String?
    /// Avi default true.
    public var enabled: Bool?
    /// Advertise the VIP with BGP (Avi default false; Starling SEs advertise when true).
    public var enable_rhi: Bool?
    /// Avi `scaleout_ecmp`: scale out over several SEs with ECMP.
    public var scaleout_ecmp: Bool?
    public var cloud_ref: String?
    public var vrf_context_ref: String?
    /// Which requests the SEs log (Avi `analytics_policy`).
    public var analytics_policy: AnalyticsPolicy?

    public init(
        name: String, services: [Service], uuid: String? = nil, vsvip_ref: String? = nil, pool_ref: String? = nil,
        se_group_ref: String? = nil, application_profile_ref: String? = nil,
        ssl_key_and_certificate_refs: [String]? = nil, enabled: Bool? = nil, enable_rhi: Bool? = nil,
        scaleout_ecmp: Bool? = nil
    ) {
        self.name = name
        self.services = services
        self.uuid = uuid
        self.vsvip_ref = vsvip_ref
        self.pool_ref = pool_ref
        self.se_group_ref = se_group_ref
        self.application_profile_ref = application_profile_ref
        self.ssl_key_and_certificate_refs = ssl_key_and_certificate_refs
        self.enabled = enabled
        self.enable_rhi = enable_rhi
        self.scaleout_ecmp = scaleout_ecmp
    }

    /// `enabled` with Avi's default (true).
    public var isEnabled: Bool { enabled ?? true }

    public func validate() throws(ModelError) {
        try validateName()
        guard vsvip_ref != nil else { throw ModelError(field: "vsvip_ref", message: "required") }
        try Check.ref(vsvip_ref, "vsvip", "vsvip_ref")
        guard !services.isEmpty else { throw ModelError(field: "services", message: "must have at least one service") }
        for (i, s) in services.enumerated() {
            try Check.port(s.port, "services[\(i)].port")
            if let end = s.port_range_end {
                guard (s.port...65535).contains(end) else {
                    throw ModelError(field: "services[\(i)].port_range_end", message: "must be \(s.port)-65535")
                }
            }
            if s.enable_ssl == true, (ssl_key_and_certificate_refs ?? []).isEmpty {
                throw ModelError(
                    field: "ssl_key_and_certificate_refs", message: "required when services[\(i)].enable_ssl is true")
            }
            if s.enable_http2 == true, s.enable_ssl != true {
                throw ModelError(
                    field: "services[\(i)].enable_http2",
                    message:
                        "needs enable_ssl on the same port (HTTP/2 is offered with TLS ALPN; cleartext h2c is not served)"
                )
            }
        }
        try Check.ref(pool_ref, "pool", "pool_ref")
        try Check.ref(se_group_ref, "serviceenginegroup", "se_group_ref")
        try Check.ref(application_profile_ref, "applicationprofile", "application_profile_ref")
        try Check.refs(ssl_key_and_certificate_refs, "sslkeyandcertificate", "ssl_key_and_certificate_refs")
        try Check.ref(ssl_profile_ref, "sslprofile", "ssl_profile_ref")
        try Check.ref(cloud_ref, "cloud", "cloud_ref")
        try Check.ref(vrf_context_ref, "vrfcontext", "vrf_context_ref")
        try analytics_policy?.validate(field: "analytics_policy")
    }
}
