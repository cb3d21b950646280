import BGPSpeaker
import StarlingModel

/// What the SE makes of one virtual service of its desired state: the data-plane configuration, the
/// VIPs to plumb and advertise, and the facts the advertisement decision needs. Pure (STYLE "Protocol logic is pure").
public struct ServicePlan: Sendable, Hashable {
    public var id: String
    public var name: String
    public var vips: [IPAddress]
    public var enabled: Bool
    public var enableRHI: Bool
    /// Its vsvip's `bgp_peer_labels`: the peers its VIPs go to (empty: every peer).
    public var bgpPeerLabels: [String]
    /// Avi `scaleout_ecmp: false`: scaled out natively (one primary owns the VIP at layer 2 and spreads
    /// flows to the other SEs), so not advertised over BGP.
    public var nativeScaleout: Bool
    /// The controller's pick of primary for the native VIPs (an SE's data address), when it gave one.
    public var nativePrimary: IPAddress?
    /// The TCP ports its VIPs listen on.
    public var ports: [Int]
    /// nil when the service cannot run here; `problem` says why.
    public var dataPlane: ServiceConfig?
    /// Why the service cannot run, or a caveat about how it runs (an unsupported option).
    public var problem: String?
    public var notes: [String]

    /// Maps one resolved Avi virtual service (DESIGN §3.3) onto the SE's data plane.
    public init(_ resolved: ResolvedVirtualService) {
        let vs = resolved.virtualservice
        id = vs.uuid ?? "virtualservice-\(vs.name)"
        name = vs.name
        enabled = vs.isEnabled
        nativeScaleout = vs.scaleout_ecmp == false
        nativePrimary = nativeScaleout ? resolved.native_primary.flatMap { IPAddress($0) } : nil
        enableRHI = (vs.enable_rhi ?? false) && !nativeScaleout
        ports = vs.services.flatMap { $0.port...max($0.port, $0.port_range_end ?? $0.port) }
        bgpPeerLabels = resolved.vsvip.bgp_peer_labels ?? []
        notes = nativeScaleout ? ["native scale-out: the VIP is owned at layer 2, not advertised over BGP"] : []
        problem = nil
        dataPlane = nil

        var vips: [IPAddress] = []
        for vip in resolved.vsvip.vip where vip.enabled ?? true {
            for a in vip.addresses {
                if let ip = IPAddress(a.addr) { vips.append(ip) }
            }
        }
        self.vips = vips
        guard !vips.isEmpty else {
            problem = "vsvip \(resolved.vsvip.name) has no enabled IP address"
            return
        }

        let profile = resolved.application_profile
        let kind: ServiceConfig.Kind
        switch profile.type {
        case .http: kind = .http
        case .l4: kind = .l4
        case .ssl:
            // System-SSL-Application: TLS terminated, then the bytes proxied as TCP.
            kind = .l4
            guard vs.services.contains(where: { $0.enable_ssl ?? false }) else {
                problem = "application profile \(profile.name) terminates TLS: no service has enable_ssl"
                return
            }
        }

        var listeners: [ListenAddress] = []
        for vip in vips {
            for service in vs.services {
                let last = max(service.port, service.port_range_end ?? service.port)
                for port in service.port...last {
                    listeners.append(
                        ListenAddress(
                            host: "\(vip)", port: port, tls: service.enable_ssl ?? false,
                            http2: kind == .http && (service.enable_http2 ?? false)))
                }
            }
        }

        var tls: TLSSettings?
        var redirectPort: Int?
        if let tlsPort = vs.services.first(where: { $0.enable_ssl ?? false })?.port {
            do {
                tls = try Self.tlsSettings(resolved, http: kind == .http)
            } catch {
                problem = error.description
                return
            }
            if kind == .http, profile.http_profile?.http_to_https == true {
                redirectPort = tlsPort
            }
        }
        guard let pool = resolved.pool else {
            problem = "no pool_ref: nothing to proxy to"
            return
        }
        let algorithm: LBAlgorithm
        switch pool.lb_algorithm ?? .leastConnections {
        case .roundRobin: algorithm = .roundRobin
        case .leastConnections: algorithm = .leastConnections
        case let other:
            algorithm = .leastConnections
            notes.append("\(other.rawValue) is not implemented by this SE: using LB_ALGORITHM_LEAST_CONNECTIONS")
        }
        var serverTLS: ServerTLSSettings?
        if let sp = resolved.pool_ssl_profile {
            guard kind == .http else {
                problem =
                    "pool \(pool.name) re-encrypts (ssl_profile_ref): TLS to servers is done for HTTP application "
                    + "profiles only"
                return
            }
            let range = sp.versionRange
            let pki = resolved.pool_pki_profile
            let sni = (pool.sni_enabled ?? true) || (pool.host_check_enabled ?? false)
            serverTLS = ServerTLSSettings(
                minimumVersion: Self.version(range.lowerBound), maximumVersion: Self.version(range.upperBound),
                cipherString: sp.cipherString, trustedCAsPEM: pki?.trustedPEM,
                serverName: sni ? pool.server_name.flatMap { $0.isEmpty ? nil : $0 } : nil,
                checkHostname: pool.host_check_enabled ?? false)
            if let pki, pki.crl_check ?? true {
                notes.append("pkiprofile \(pki.name): crl_check is not done by this SE (revocation is not checked)")
            }
        }
        let poolEnabled = pool.enabled ?? true
        let servers = (pool.servers ?? []).map { s in
            ServerConfig(
                ip: s.ip.addr, port: pool.port(of: s), ratio: s.ratio ?? 1, enabled: poolEnabled && (s.enabled ?? true))
        }
        var monitors: [MonitorConfig] = []
        for hm in resolved.health_monitors {
            let monitorKind: MonitorConfig.Kind
            switch hm.type {
            case .tcp: monitorKind = .tcp
            case .http, .https:
                let m = hm.type == .http ? hm.http_monitor : hm.https_monitor
                let request = m?.http_request ?? "GET / HTTP/1.0"
                let codes = (m?.http_response_code ?? [.r2xx, .r3xx]).compactMap { ExpectedCode(avi: $0.rawValue) }
                monitorKind =
                    hm.type == .http
                    ? .http(request: request, expectedCodes: codes)
                    : .https(request: request, expectedCodes: codes, serverName: pool.server_name)
            case let other:
                notes.append("health monitor \(hm.name): \(other.rawValue) is not supported by this SE; ignored")
                continue
            }
            let monitor = MonitorConfig(
                name: hm.name, kind: monitorKind, interval: .seconds(hm.send_interval ?? 10),
                timeout: .seconds(hm.receive_timeout ?? 4), successfulChecks: hm.successful_checks ?? 2,
                failedChecks: hm.failed_checks ?? 2, port: hm.monitor_port)
            monitors.append(monitor)
        }
        if profile.type != .http, vs.services.contains(where: { $0.enable_http2 ?? false }) {
            notes.append(
                "enable_http2 needs an HTTP application profile: \(profile.name) is not one; HTTP/2 not offered")
        }
        var http = HTTPLimits()
        if let h2 = profile.http_profile?.http2_profile {
            let defaults = HTTP2Limits()
            http.http2 = HTTP2Limits(
                maxConcurrentStreams: h2.max_http2_concurrent_streams_per_connection ?? defaults.maxConcurrentStreams,
                initialWindowSize: h2.http2_initial_window_size.map { min($0 * 1024, Int(Int32.max)) }
                    ?? defaults.initialWindowSize,
                maxControlFrames: h2.max_http2_control_frames_per_connection ?? defaults.maxControlFrames,
                maxStreamResets: h2.max_http2_stream_resets_per_connection ?? defaults.maxStreamResets)
        }
        dataPlane = ServiceConfig(
            id: id, name: name, listeners: listeners, kind: kind,
            pool: PoolConfig(
                name: pool.name, algorithm: algorithm, servers: servers, monitors: monitors, tls: serverTLS),
            http: http, tls: tls, httpsRedirectPort: redirectPort,
            requestLogs: RequestLogPolicy(resolved.virtualservice.analytics_policy))
    }

    /// An SSL profile's version as the data plane's (SSLv3 is refused by the API; TLS 1.0 is the floor).
    static func version(_ v: SSLProfile.VersionType) -> TLSSettings.Version {
        switch v {
        case .sslv3, .tls1: .tls1
        case .tls1_1: .tls1_1
        case .tls1_2: .tls1_2
        case .tls1_3: .tls1_3
        }
    }

    /// The certificates (CA-type ones left out) and the SSL profile's versions and ciphers.
    static func tlsSettings(_ resolved: ResolvedVirtualService, http: Bool) throws(ModelError) -> TLSSettings {
        var certificates: [TLSSettings.Certificate] = []
        for (i, c) in resolved.ssl_key_and_certificates.enumerated() where c.type != .ca {
            guard var chain = c.certificate.certificate, !chain.isEmpty else {
                throw ModelError(field: "sslkeyandcertificate[\(c.name)]", message: "has no certificate")
            }
            guard let key = c.key, !key.isEmpty else {
                throw ModelError(field: "sslkeyandcertificate[\(c.name)]", message: "has no private key")
            }
            if let cas = resolved.ssl_ca_chains, i < cas.count, !cas[i].isEmpty {
                // Its ca_certs follow the certificate in the handshake.
                chain += (chain.hasSuffix("\n") ? "" : "\n") + cas[i]
            }
            certificates.append(.init(name: c.name, chainPEM: chain, keyPEM: key, passphrase: c.key_passphrase))
        }
        guard !certificates.isEmpty else {
            throw ModelError(
                field: "ssl_key_and_certificate_refs", message: "no certificate with a key to terminate TLS with")
        }
        let profile =
            resolved.ssl_profile ?? SystemDefaults.sslProfiles.first { $0.name == SystemDefaults.defaultSSLProfile }!
        let range = profile.versionRange
        var hsts: String?
        if http, let hp = resolved.application_profile.http_profile, hp.hsts_enabled == true {
            hsts =
                "max-age=\((hp.hsts_max_age ?? 365) * 86400)"
                + (hp.hsts_subdomains_enabled == true ? "; includeSubDomains" : "")
        }
        return TLSSettings(
            certificates: certificates, minimumVersion: Self.version(range.lowerBound),
            maximumVersion: Self.version(range.upperBound), cipherString: profile.cipherString,
            sessionReuse: profile.enable_ssl_session_reuse ?? true,
            preferClientCiphers: profile.prefer_client_cipher_ordering ?? false, hsts: hsts)
    }
}
