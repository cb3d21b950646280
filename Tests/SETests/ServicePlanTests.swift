import BGPSpeaker
import SE
import StarlingModel
import XCTest

/// How the SE maps a resolved Avi virtual service onto its data plane (pure).
final class ServicePlanTests: XCTestCase {
    private func resolved(
        services: [VirtualService.Service] = [.init(port: 80)], profile: ApplicationProfile.ProfileType = .http,
        pool: Pool? = Pool(
            name: "p", servers: [.init(ip: IpAddr(addr: "198.18.1.21", type: .v4), ratio: 3)],
            default_server_port: 8080,
            lb_algorithm: .roundRobin),
        monitors: [HealthMonitor] = [],
        vips: [VsVip.Vip] = [.init(vip_id: "0", ip_address: IpAddr(addr: "192.0.2.10", type: .v4))],
        enableRHI: Bool? = true, enabled: Bool? = nil
    ) -> ResolvedVirtualService {
        ResolvedVirtualService(
            virtualservice: VirtualService(
                name: "web", services: services, uuid: "virtualservice-1", enabled: enabled, enable_rhi: enableRHI),
            vsvip: VsVip(name: "v", vip: vips), pool: pool, health_monitors: monitors,
            application_profile: ApplicationProfile(name: "prof", type: profile), ssl_key_and_certificates: [])
    }

    func testHTTPServiceListenersPoolAndDefaults() throws {
        let plan = ServicePlan(resolved(services: [.init(port: 80), .init(port: 8000, port_range_end: 8001)]))
        XCTAssertNil(plan.problem)
        XCTAssertEqual(plan.id, "virtualservice-1")
        XCTAssertTrue(plan.enableRHI)
        XCTAssertTrue(plan.enabled, "enabled defaults to true")
        XCTAssertEqual(plan.vips, [IPAddress("192.0.2.10")!])
        let config = try XCTUnwrap(plan.dataPlane)
        XCTAssertEqual(config.kind, .http)
        XCTAssertEqual(
            config.listeners.map(\.description).sorted(), ["192.0.2.10:80", "192.0.2.10:8000", "192.0.2.10:8001"])
        XCTAssertEqual(config.pool.algorithm, .roundRobin)
        XCTAssertEqual(config.pool.servers, [ServerConfig(ip: "198.18.1.21", port: 8080, ratio: 3, enabled: true)])
    }

    func testL4ProfileAndMonitors() throws {
        let monitors = [
            HealthMonitor(
                name: "h", type: .http, send_interval: 2, receive_timeout: 1, successful_checks: 1, failed_checks: 3,
                http_monitor: .init(http_request: "GET /health HTTP/1.0", http_response_code: [.r2xx])),
            HealthMonitor(name: "t", type: .tcp, monitor_port: 9999),
            HealthMonitor(name: "ping", type: .ping),
        ]
        let plan = ServicePlan(resolved(profile: .l4, monitors: monitors))
        let config = try XCTUnwrap(plan.dataPlane)
        XCTAssertEqual(config.kind, .l4)
        XCTAssertEqual(config.pool.monitors.map(\.name), ["h", "t"], "unsupported monitor types are left out")
        XCTAssertEqual(config.pool.monitors[0].interval, .seconds(2))
        XCTAssertEqual(config.pool.monitors[0].failedChecks, 3)
        XCTAssertEqual(
            config.pool.monitors[0].kind, .http(request: "GET /health HTTP/1.0", expectedCodes: [.http2xx]))
        XCTAssertEqual(config.pool.monitors[1].interval, .seconds(10), "Avi default send_interval")
        XCTAssertEqual(config.pool.monitors[1].port, 9999, "monitor_port")
        XCTAssertNil(config.pool.monitors[0].port)
        XCTAssertTrue(plan.notes.contains { $0.contains("HEALTH_MONITOR_PING") }, "\(plan.notes)")
    }

    func testWhatCannotRunSaysWhy() {
        XCTAssertEqual(ServicePlan(resolved(pool: nil)).problem, "no pool_ref: nothing to proxy to")
        XCTAssertEqual(
            ServicePlan(resolved(profile: .ssl)).problem,
            "application profile prof terminates TLS: no service has enable_ssl")
        XCTAssertEqual(
            ServicePlan(resolved(services: [.init(port: 443, enable_ssl: true)])).problem,
            "ssl_key_and_certificate_refs: no certificate with a key to terminate TLS with")
        let noVIP = ServicePlan(
            resolved(vips: [.init(vip_id: "0", ip_address: IpAddr(addr: "192.0.2.10", type: .v4), enabled: false)]))
        XCTAssertEqual(noVIP.problem, "vsvip v has no enabled IP address")
        XCTAssertNil(noVIP.dataPlane)
    }

    func testTLSServicesGetTheirCertificatesProfileRedirectAndHSTS() throws {
        var r = resolved(services: [.init(port: 80), .init(port: 443, enable_ssl: true)])
        r.ssl_key_and_certificates = [
            SSLKeyAndCertificate(name: "ca", certificate: .init(certificate: "CA PEM"), key: nil),
            SSLKeyAndCertificate(name: "www", certificate: .init(certificate: "PEM"), key: "KEY"),
        ]
        r.ssl_key_and_certificates[0].type = .ca
        r.application_profile = SystemDefaults.applicationProfiles.first { $0.name == "System-Secure-HTTP" }!
        let plan = ServicePlan(r)
        XCTAssertNil(plan.problem)
        let dp = try XCTUnwrap(plan.dataPlane)
        XCTAssertEqual(
            dp.listeners,
            [ListenAddress(host: "192.0.2.10", port: 80), ListenAddress(host: "192.0.2.10", port: 443, tls: true)])
        XCTAssertEqual(dp.httpsRedirectPort, 443, "System-Secure-HTTP redirects HTTP to HTTPS")
        let tls = try XCTUnwrap(dp.tls)
        XCTAssertEqual(tls.certificates.map(\.name), ["www"], "CA certificates are not served")
        XCTAssertEqual(tls.minimumVersion, .tls1_2, "System-Standard by default")
        XCTAssertEqual(tls.maximumVersion, .tls1_3)
        XCTAssertEqual(tls.cipherString, SystemDefaults.standardCiphers)
        XCTAssertEqual(tls.hsts, "max-age=31536000")

        var custom = SSLProfile(name: "old", accepted_versions: [.tls1, .tls1_1, .tls1_2])
        custom.cipher_enums = ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
        r.ssl_profile = custom
        r.application_profile = ApplicationProfile(name: "plain", type: .http)
        let old = try XCTUnwrap(ServicePlan(r).dataPlane)
        XCTAssertEqual(old.tls?.minimumVersion, .tls1)
        XCTAssertEqual(old.tls?.maximumVersion, .tls1_2)
        XCTAssertEqual(old.tls?.cipherString, "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256")
        XCTAssertNil(old.tls?.hsts)
        XCTAssertNil(old.httpsRedirectPort, "no http_to_https: the plain port proxies")
    }

    func testCACertificatesFollowTheirCertificate() throws {
        var r = resolved(services: [.init(port: 443, enable_ssl: true)])
        r.ssl_key_and_certificates = [
            SSLKeyAndCertificate(name: "a", certificate: .init(certificate: "LEAF-A\n"), key: "KEY"),
            SSLKeyAndCertificate(name: "b", certificate: .init(certificate: "LEAF-B"), key: "KEY"),
        ]
        r.ssl_ca_chains = ["INTERMEDIATE\nROOT", ""]
        let tls = try XCTUnwrap(ServicePlan(r).dataPlane?.tls)
        XCTAssertEqual(tls.certificates.map(\.chainPEM), ["LEAF-A\nINTERMEDIATE\nROOT", "LEAF-B"])
    }

    func testHTTP2PortsAndTheHTTP2ProfileLimits() throws {
        var r = resolved(services: [
            .init(port: 443, enable_ssl: true, enable_http2: true), .init(port: 8443, enable_ssl: true),
        ])
        r.ssl_key_and_certificates = [
            SSLKeyAndCertificate(name: "www", certificate: .init(certificate: "PEM"), key: "KEY")
        ]
        r.application_profile = ApplicationProfile(
            name: "h2", type: .http,
            http_profile: .init(
                http2_profile: .init(
                    max_http2_concurrent_streams_per_connection: 32, http2_initial_window_size: 256,
                    max_http2_control_frames_per_connection: 500, max_http2_stream_resets_per_connection: 50)))
        let dp = try XCTUnwrap(ServicePlan(r).dataPlane)
        XCTAssertEqual(
            dp.listeners,
            [
                ListenAddress(host: "192.0.2.10", port: 443, tls: true, http2: true),
                ListenAddress(host: "192.0.2.10", port: 8443, tls: true),
            ])
        XCTAssertEqual(
            dp.http.http2,
            HTTP2Limits(
                maxConcurrentStreams: 32, initialWindowSize: 256 * 1024, maxControlFrames: 500, maxStreamResets: 50))

        r.application_profile = ApplicationProfile(name: "plain", type: .http)
        XCTAssertEqual(try XCTUnwrap(ServicePlan(r).dataPlane).http.http2, HTTP2Limits(), "Avi's defaults")

        // An L4 (SSL) profile proxies bytes: no HTTP/2 to offer, and the note says so.
        r.application_profile = ApplicationProfile(name: "tcp-tls", type: .ssl)
        let l4 = ServicePlan(r)
        XCTAssertEqual(l4.dataPlane?.listeners.map(\.http2), [false, false])
        XCTAssertTrue(
            l4.notes.contains { $0.contains("enable_http2 needs an HTTP application profile") }, "\(l4.notes)")
    }

    func testAPoolWithAnSSLProfileReEncrypts() throws {
        var r = resolved()
        r.pool?.server_name = "backend.example"
        r.pool_ssl_profile = SystemDefaults.sslProfiles.first { $0.name == "System-Standard" }
        let plain = try XCTUnwrap(ServicePlan(r).dataPlane?.pool.tls)
        XCTAssertEqual(
            plain,
            ServerTLSSettings(
                minimumVersion: .tls1_2, maximumVersion: .tls1_3, cipherString: SystemDefaults.standardCiphers,
                trustedCAsPEM: nil, serverName: "backend.example", checkHostname: false),
            "no PKI profile: encrypted, not checked; SNI on by default")

        r.pool?.sni_enabled = false
        XCTAssertNil(ServicePlan(r).dataPlane?.pool.tls?.serverName, "sni_enabled false")
        r.pool?.host_check_enabled = true
        r.pool_pki_profile = PKIProfile(name: "cas", ca_certs: ["CA1", "CA2"])
        let plan = ServicePlan(r)
        let checked = try XCTUnwrap(plan.dataPlane?.pool.tls)
        XCTAssertEqual(checked.trustedCAsPEM, "CA1\nCA2")
        XCTAssertTrue(checked.checkHostname)
        XCTAssertEqual(checked.serverName, "backend.example", "the name checked is sent too")
        XCTAssertTrue(plan.notes.contains { $0.contains("crl_check is not done") }, "\(plan.notes)")

        var withMonitor = resolved(monitors: [
            HealthMonitor(name: "s", type: .https, https_monitor: .init(http_request: "GET /h HTTP/1.0"))
        ])
        withMonitor.pool?.server_name = "backend.example"
        XCTAssertEqual(
            ServicePlan(withMonitor).dataPlane?.pool.monitors.first?.kind,
            .https(request: "GET /h HTTP/1.0", expectedCodes: [.http2xx, .http3xx], serverName: "backend.example"))

        r.application_profile = ApplicationProfile(name: "tcp", type: .l4)
        XCTAssertEqual(
            ServicePlan(r).problem,
            "pool p re-encrypts (ssl_profile_ref): TLS to servers is done for HTTP application profiles only")
    }

    func testUnsupportedAlgorithmFallsBackWithANote() throws {
        let pool = Pool(
            name: "p", servers: [.init(ip: IpAddr(addr: "198.18.1.21", type: .v4), port: 80, enabled: false)],
            lb_algorithm: .consistentHash)
        let plan = ServicePlan(resolved(pool: pool))
        let config = try XCTUnwrap(plan.dataPlane)
        XCTAssertEqual(config.pool.algorithm, .leastConnections)
        XCTAssertEqual(config.pool.servers.first?.enabled, false)
        XCTAssertTrue(plan.notes.contains { $0.contains("LB_ALGORITHM_CONSISTENT_HASH") })
    }

    func testAdvertisementBlockedByAProblem() {
        let (routes, decisions) = VIPAdvertiser.desired(
            [
                .init(
                    name: "web", vips: [IPAddress("192.0.2.10")!], enabled: true, placedHere: true, enableRHI: true,
                    serversUp: 2, blocker: "listeners[0].host: address in use")
            ], draining: false)
        XCTAssertTrue(routes.isEmpty)
        XCTAssertEqual(decisions.first?.reason, "listeners[0].host: address in use")
    }
}
