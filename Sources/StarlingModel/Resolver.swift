/// A reference that does not lead to an object, naming where it was found
/// (`virtualservice[web].pool_ref: no pool "p"`).
public struct ResolveError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `<type>[<name>].<field>`.
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "\(field): \(message)" }
}

/// Turns virtual services and the objects they refer to into ``ResolvedVirtualService``s: what an SE
/// runs. Used by the controller (refs are uuid URLs) and by a standalone SE (refs by `?name=`).
/// Application profiles, health monitors and SSL profiles not in the set are looked up by name in
/// ``SystemDefaults``.
public struct Resolver: Sendable {
    private let set: ObjectSet
    private let pools: Index<Pool>
    private let vsvips: Index<VsVip>
    private let monitors: Index<HealthMonitor>
    private let profiles: Index<ApplicationProfile>
    private let certs: Index<SSLKeyAndCertificate>
    private let sslProfiles: Index<SSLProfile>
    private let vrfs: Index<VrfContext>
    private let pkiProfiles: Index<PKIProfile>

    public init(_ set: ObjectSet) {
        self.set = set
        pools = Index(set.pool ?? [])
        vsvips = Index(set.vsvip ?? [])
        monitors = Index(set.healthmonitor ?? [], fallback: SystemDefaults.healthMonitors)
        profiles = Index(set.applicationprofile ?? [], fallback: SystemDefaults.applicationProfiles)
        certs = Index(set.sslkeyandcertificate ?? [])
        sslProfiles = Index(set.sslprofile ?? [], fallback: SystemDefaults.sslProfiles)
        vrfs = Index(set.vrfcontext ?? [])
        pkiProfiles = Index(set.pkiprofile ?? [])
    }

    /// Every virtual service of the set, resolved, in set order.
    public func resolveAll() throws(ResolveError) -> [ResolvedVirtualService] {
        var out: [ResolvedVirtualService] = []
        for vs in set.virtualservice ?? [] { out.append(try resolve(vs)) }
        return out
    }

    /// The `global` vrfcontext (with the BGP profile SEs use), if the set has one.
    public var globalVrf: VrfContext? { vrfs.byName[SystemDefaults.globalVrf] }

    /// One virtual service with everything it refers to.
    public func resolve(_ vs: VirtualService) throws(ResolveError) -> ResolvedVirtualService {
        let at = "virtualservice[\(vs.name)]"
        guard let vipRef = vs.vsvip_ref else { throw ResolveError(field: "\(at).vsvip_ref", message: "required") }
        let vsvip = try vsvips.lookup(vipRef, field: "\(at).vsvip_ref")
        var pool: Pool?
        var hms: [HealthMonitor] = []
        var poolSSL: SSLProfile?
        var poolPKI: PKIProfile?
        if let p = vs.pool_ref {
            let found = try pools.lookup(p, field: "\(at).pool_ref")
            for (i, r) in (found.health_monitor_refs ?? []).enumerated() {
                hms.append(try monitors.lookup(r, field: "pool[\(found.name)].health_monitor_refs[\(i)]"))
            }
            if let r = found.ssl_profile_ref {
                poolSSL = try sslProfiles.lookup(r, field: "pool[\(found.name)].ssl_profile_ref")
            }
            if let r = found.pki_profile_ref {
                poolPKI = try pkiProfiles.lookup(r, field: "pool[\(found.name)].pki_profile_ref")
            }
            pool = found
        }
        let profile = try profiles.lookup(
            vs.application_profile_ref ?? "/api/applicationprofile/?name=\(SystemDefaults.defaultApplicationProfile)",
            field: "\(at).application_profile_ref")
        var cs: [SSLKeyAndCertificate] = []
        var chains: [String] = []
        for (i, r) in (vs.ssl_key_and_certificate_refs ?? []).enumerated() {
            let c = try certs.lookup(r, field: "\(at).ssl_key_and_certificate_refs[\(i)]")
            var pems: [String] = []
            for (j, ca) in (c.ca_certs ?? []).enumerated() {
                let field = "sslkeyandcertificate[\(c.name)].ca_certs[\(j)].ca_ref"
                let found = try certs.lookup(ca.ca_ref ?? "", field: field)
                guard found.type == .ca, let pem = found.certificate.certificate else {
                    throw ResolveError(
                        field: field, message: "\(found.name) is not a CA certificate (SSL_CERTIFICATE_TYPE_CA)")
                }
                pems.append(pem)
            }
            cs.append(c)
            chains.append(pems.joined(separator: "\n"))
        }
        var sslProfile: SSLProfile?
        if vs.services.contains(where: { $0.enable_ssl == true }) || vs.ssl_profile_ref != nil {
            sslProfile = try sslProfiles.lookup(
                vs.ssl_profile_ref ?? "/api/sslprofile/?name=\(SystemDefaults.defaultSSLProfile)",
                field: "\(at).ssl_profile_ref")
        }
        return ResolvedVirtualService(
            virtualservice: vs, vsvip: vsvip, pool: pool, health_monitors: hms, application_profile: profile,
            ssl_key_and_certificates: cs, ssl_profile: sslProfile, pool_ssl_profile: poolSSL, pool_pki_profile: poolPKI,
            ssl_ca_chains: chains.contains { !$0.isEmpty } ? chains : nil)
    }
}

/// Objects of one type by uuid and by name.
struct Index<T: AviObject>: Sendable {
    var byUUID: [String: T] = [:]
    var byName: [String: T] = [:]
    var fallbackByName: [String: T] = [:]

    init(_ objects: [T], fallback: [T] = []) {
        for o in objects {
            if let u = o.uuid { byUUID[u] = byUUID[u] ?? o }
            byName[o.name] = byName[o.name] ?? o
        }
        for o in fallback { fallbackByName[o.name] = o }
    }

    func lookup(_ ref: String, field: String) throws(ResolveError) -> T {
        guard let r = ObjectRef(ref) else {
            throw ResolveError(field: field, message: "\"\(ref)\" is not a reference")
        }
        guard r.type == T.objectType else {
            throw ResolveError(field: field, message: "\"\(ref)\" refers to a \(r.type), not a \(T.objectType)")
        }
        switch r.key {
        case .uuid(let u):
            if let o = byUUID[u] { return o }
            throw ResolveError(field: field, message: "no \(T.objectType) with uuid \(u)")
        case .name(let n):
            if let o = byName[n] ?? fallbackByName[n] { return o }
            throw ResolveError(field: field, message: "no \(T.objectType) named \"\(n)\"")
        }
    }
}
