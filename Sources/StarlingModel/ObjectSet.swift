/// API objects grouped by type, as `starling se --config FILE` reads them and as the controller hands
/// them to the ``Resolver`` (DESIGN §3.1): `{"pool": [...], "vsvip": [...], "virtualservice": [...]}`.
public struct ObjectSet: Codable, Sendable, Hashable {
    public var tenant: [Tenant]?
    public var cloud: [Cloud]?
    public var vrfcontext: [VrfContext]?
    public var serviceenginegroup: [ServiceEngineGroup]?
    public var healthmonitor: [HealthMonitor]?
    public var pool: [Pool]?
    public var vsvip: [VsVip]?
    public var virtualservice: [VirtualService]?
    public var applicationprofile: [ApplicationProfile]?
    public var sslkeyandcertificate: [SSLKeyAndCertificate]?
    public var sslprofile: [SSLProfile]?
    public var pkiprofile: [PKIProfile]?

    public init(
        tenant: [Tenant]? = nil, cloud: [Cloud]? = nil, vrfcontext: [VrfContext]? = nil,
        serviceenginegroup: [ServiceEngineGroup]? = nil, healthmonitor: [HealthMonitor]? = nil,
        pool: [Pool]? = nil, vsvip: [VsVip]? = nil, virtualservice: [VirtualService]? = nil,
        applicationprofile: [ApplicationProfile]? = nil, sslkeyandcertificate: [SSLKeyAndCertificate]? = nil,
        sslprofile: [SSLProfile]? = nil, pkiprofile: [PKIProfile]? = nil
    ) {
        self.tenant = tenant
        self.cloud = cloud
        self.vrfcontext = vrfcontext
        self.serviceenginegroup = serviceenginegroup
        self.healthmonitor = healthmonitor
        self.pool = pool
        self.vsvip = vsvip
        self.virtualservice = virtualservice
        self.applicationprofile = applicationprofile
        self.sslkeyandcertificate = sslkeyandcertificate
        self.sslprofile = sslprofile
        self.pkiprofile = pkiprofile
    }

    /// Validates every object; the error names the type, the object and the field
    /// (`pool[web-pool].servers[0].port`).
    public func validate() throws(ModelError) {
        try Self.each(tenant)
        try Self.each(cloud)
        try Self.each(vrfcontext)
        try Self.each(serviceenginegroup)
        try Self.each(healthmonitor)
        try Self.each(pool)
        try Self.each(vsvip)
        try Self.each(virtualservice)
        try Self.each(applicationprofile)
        try Self.each(sslkeyandcertificate)
        try Self.each(sslprofile)
        try Self.each(pkiprofile)
    }

    private static func each<T: AviObject>(_ list: [T]?) throws(ModelError) {
        var names = Set<String>()
        for (i, o) in (list ?? []).enumerated() {
            let label = o.name.isEmpty ? "\(T.objectType)[\(i)]" : "\(T.objectType)[\(o.name)]"
            do {
                try o.validate()
            } catch {
                throw ModelError(field: "\(label).\(error.field)", message: error.message)
            }
            guard names.insert(o.name).inserted else {
                throw ModelError(field: "\(label).name", message: "duplicate \(T.objectType) name")
            }
        }
    }
}

/// The objects every controller creates on first start, and that the ``Resolver`` falls back to by name
/// when a set (a standalone SE's config file) refers to them without defining them.
public enum SystemDefaults {
    public static let applicationProfiles: [ApplicationProfile] = [
        ApplicationProfile(name: "System-HTTP", type: .http),
        ApplicationProfile(
            name: "System-Secure-HTTP", type: .http,
            http_profile: .init(http_to_https: true, hsts_enabled: true)),
        ApplicationProfile(name: "System-L4-Application", type: .l4),
        ApplicationProfile(name: "System-SSL-Application", type: .ssl),
    ]

    public static let healthMonitors: [HealthMonitor] = [
        HealthMonitor(
            name: "System-TCP", type: .tcp, send_interval: 10, receive_timeout: 4, successful_checks: 2,
            failed_checks: 2),
        HealthMonitor(
            name: "System-HTTP", type: .http, send_interval: 10, receive_timeout: 4, successful_checks: 3,
            failed_checks: 3,
            http_monitor: .init(http_request: "HEAD / HTTP/1.0", http_response_code: [.r2xx, .r3xx])),
        HealthMonitor(
            name: "System-Ping", type: .ping, send_interval: 10, receive_timeout: 4, successful_checks: 2,
            failed_checks: 2),
    ]

    /// TLS 1.2 suites of `System-Standard`: AEAD only, ECDSA before RSA, forward-secret first.
    public static let standardCiphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
        + "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
        + "AES128-GCM-SHA256:AES256-GCM-SHA384"
    /// `System-Standard-PFS`: the forward-secret (ECDHE) ones.
    public static let pfsCiphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
        + "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

    public static let sslProfiles: [SSLProfile] = {
        var standard = SSLProfile(
            name: "System-Standard", accepted_versions: [.tls1_2, .tls1_3], accepted_ciphers: standardCiphers)
        standard.type = .system
        standard.description = "TLS 1.2 and 1.3, AEAD ciphers"
        var pfs = SSLProfile(
            name: "System-Standard-PFS", accepted_versions: [.tls1_2, .tls1_3], accepted_ciphers: pfsCiphers)
        pfs.type = .system
        pfs.description = "TLS 1.2 and 1.3, AEAD ciphers with forward-secret key exchange only"
        return [standard, pfs]
    }()

    /// The SSL profile of a TLS virtual service without `ssl_profile_ref`.
    public static let defaultSSLProfile = "System-Standard"

    /// The default application profile of a virtual service without `application_profile_ref`.
    public static let defaultApplicationProfile = "System-HTTP"
    /// The default SE group of a virtual service without `se_group_ref`.
    public static let defaultSEGroup = "Default-Group"
    /// The vrfcontext whose `bgp_profile` SEs use.
    public static let globalVrf = "global"
}
