import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport
import XCTest

@testable import SE

/// Re-encryption: the SE proxies to pool servers over TLS (Avi `pool.ssl_profile_ref`), checks their
/// certificates when a PKI profile gives CAs, sends `server_name` as SNI, and keeps the TLS connections
/// alive for the next requests. Real TLS servers (swift-nio-ssl) with certificates from openssl.
final class ReEncryptionTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var serverGroup: MultiThreadedEventLoopGroup!
    var dataPlane: DataPlane!
    var dir: URL!
    var ca: TestCertificate!
    var backendCert: TestCertificate!
    var server: TestHTTPServer!
    let sni = NIOLockedValueBox<[String?]>([])

    override func setUp() async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "test.reencrypt")
        logger.logLevel = .warning
        dataPlane = DataPlane(
            group: group, sourceAddresses: ["127.0.0.1"], logger: logger, metricsFactory: RecordingMetrics())
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-reenc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        ca = try TestCertificate.make(cn: "Test Root CA", sans: ["ca.example"], dir: dir)
        backendCert = try TestCertificate.make(cn: "backend", sans: ["backend.example"], signedBy: ca, dir: dir)
        let names = sni
        server = try TestHTTPServer(
            name: "tls1", group: serverGroup,
            tls: try backendCert.serverContext { name in names.withLockedValue { $0.append(name) } })
    }

    override func tearDown() async throws {
        await dataPlane.shutdown()
        server.stop()
        try await group.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
        try? FileManager.default.removeItem(at: dir)
    }

    /// A plain HTTP service on `port` whose pool is `server` over TLS with `tls`.
    func apply(port: Int, tls: ServerTLSSettings?) async -> [ServiceProblem] {
        let config = ServiceConfig(
            id: "vs-re", name: "reencrypt", listeners: [ListenAddress(host: "127.0.0.1", port: port)], kind: .http,
            pool: PoolConfig(name: "tls-pool", servers: [ServerConfig(ip: "127.0.0.1", port: server.port)], tls: tls))
        return await dataPlane.apply(DataPlaneConfig(services: [config]))
    }

    func get(_ port: Int, _ paths: [String]) throws -> [RawClient.Response] {
        let c = try RawClient(port: port)
        var out: [RawClient.Response] = []
        for p in paths {
            c.send("GET \(p) HTTP/1.1\r\nHost: www.example\r\n\r\n")
            out.append(try XCTUnwrap(c.readResponse()))
        }
        return out
    }

    func testRequestsGoToTheServerOverCheckedTLSOnKeptAliveConnections() async throws {
        let port = reservedPort()
        let problems = await apply(
            port: port,
            tls: ServerTLSSettings(
                cipherString: "ECDHE-ECDSA-AES128-GCM-SHA256", trustedCAsPEM: ca.chainPEM,
                serverName: "backend.example",
                checkHostname: true))
        XCTAssertEqual(problems, [])
        let responses = try get(port, ["/a", "/b", "/c"])
        XCTAssertEqual(responses.map(\.status), [200, 200, 200])
        XCTAssertEqual(responses[0].body, "tls1 /a xff=127.0.0.1 xfp=http")
        XCTAssertEqual(server.health.connections, 1, "one TLS connection to the server, kept alive for three requests")
        XCTAssertEqual(sni.withLockedValue { $0 }, ["backend.example"], "server_name sent as SNI")
    }

    func testAServerWhoseCertificateIsNotTrustedGets502() async throws {
        let port = reservedPort()
        let other = try TestCertificate.make(cn: "Other CA", sans: ["other.example"], dir: dir)
        _ = await apply(
            port: port,
            tls: ServerTLSSettings(cipherString: "ECDHE-ECDSA-AES128-GCM-SHA256", trustedCAsPEM: other.chainPEM))
        XCTAssertEqual(try get(port, ["/a"]).first?.status, 502, "a chain that does not lead to the PKI profile's CA")

        // The right CA, but the certificate is not for the name the pool checks.
        _ = await apply(
            port: port,
            tls: ServerTLSSettings(
                cipherString: "ECDHE-ECDSA-AES128-GCM-SHA256", trustedCAsPEM: ca.chainPEM, serverName: "www.example",
                checkHostname: true))
        XCTAssertEqual(try get(port, ["/b"]).first?.status, 502, "host check: backend.example is not www.example")
        XCTAssertEqual(server.health.requests, 0, "no request reached the server over an unchecked connection")

        // Without a PKI profile the certificate is not checked (Avi's default), and no SNI without a name.
        _ = await apply(port: port, tls: ServerTLSSettings(cipherString: "ECDHE-ECDSA-AES128-GCM-SHA256"))
        XCTAssertEqual(try get(port, ["/c"]).first?.status, 200)
        XCTAssertEqual(sni.withLockedValue { $0.last }, .some(nil))
    }

    func testAPlainServerBehindATLSPoolIsAnErrorNotPlainText() async throws {
        let plain = try TestHTTPServer(name: "plain", group: serverGroup)
        defer { plain.stop() }
        let port = reservedPort()
        let config = ServiceConfig(
            id: "vs-re", name: "reencrypt", listeners: [ListenAddress(host: "127.0.0.1", port: port)], kind: .http,
            pool: PoolConfig(
                name: "tls-pool", servers: [ServerConfig(ip: "127.0.0.1", port: plain.port)],
                tls: ServerTLSSettings(cipherString: "ECDHE-ECDSA-AES128-GCM-SHA256")))
        _ = await dataPlane.apply(DataPlaneConfig(services: [config]))
        XCTAssertEqual(try get(port, ["/a"]).first?.status, 502)
        XCTAssertEqual(plain.health.requests, 0, "the request never went out in clear")
    }

    func testHTTPSMonitorsCheckTLSServersWhereHTTPMonitorsCannot() async throws {
        let port = reservedPort()
        func apply(_ kind: MonitorConfig.Kind) async {
            let monitor = MonitorConfig(
                name: "hm", kind: kind, interval: .milliseconds(100), timeout: .milliseconds(500), successfulChecks: 1,
                failedChecks: 1)
            let config = ServiceConfig(
                id: "vs-re", name: "reencrypt", listeners: [ListenAddress(host: "127.0.0.1", port: port)], kind: .http,
                pool: PoolConfig(
                    name: "tls-pool", servers: [ServerConfig(ip: "127.0.0.1", port: server.port)], monitors: [monitor],
                    tls: ServerTLSSettings(cipherString: "ECDHE-ECDSA-AES128-GCM-SHA256", serverName: "backend.example")
                ))
            _ = await dataPlane.apply(DataPlaneConfig(services: [config]))
        }
        await apply(.https(request: "GET /health HTTP/1.0", expectedCodes: [.http2xx], serverName: "backend.example"))
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.servers.first?.up == true }, "HTTPS monitor: up")
        XCTAssertEqual(try get(port, ["/a"]).first?.status, 200)
        XCTAssertTrue(sni.withLockedValue { $0.contains("backend.example") })

        await apply(.http(request: "GET /health HTTP/1.0", expectedCodes: [.http2xx]))
        XCTAssertTrue(
            waitUntil { self.dataPlane.status().first?.servers.first?.up == false },
            "a plain HTTP monitor cannot check a TLS server")
    }

    func testBadPoolTLSSettingsAreAProblemAndNothingListens() async throws {
        let port = reservedPort()
        let problems = await apply(
            port: port,
            tls: ServerTLSSettings(cipherString: "ECDHE-ECDSA-AES128-GCM-SHA256", trustedCAsPEM: "not a PEM"))
        XCTAssertTrue(problems.contains { $0.field == "pool.tls.trustedCAs" }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.reason.contains("the pool's TLS settings cannot be used") }, "\(problems)")
        XCTAssertEqual(dataPlane.status().first?.listening, [])
    }
}
