import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport
import XCTest

@testable import SE

/// HTTPS virtual services end to end on 127.0.0.1: TLS clients (swift-nio-ssl, and the openssl
/// command line) → DataPlane with TLS listeners → plain HTTP pool servers. Certificates come from the
/// openssl command line.
final class TLSTerminationTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var clientGroup: MultiThreadedEventLoopGroup!
    var dataPlane: DataPlane!
    var server: TestHTTPServer!
    var dir: URL!
    var metrics: RecordingMetrics!

    override func setUp() async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "test.tls")
        logger.logLevel = .warning
        metrics = RecordingMetrics()
        dataPlane = DataPlane(
            group: group, sourceAddresses: ["127.0.0.1"], logger: logger, metricsFactory: metrics)
        server = try TestHTTPServer(name: "s1", group: clientGroup)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        await dataPlane.shutdown()
        server.stop()
        try await group.shutdownGracefully()
        try await clientGroup.shutdownGracefully()
        try? FileManager.default.removeItem(at: dir)
    }

    func service(
        tlsPort: Int, plainPort: Int? = nil, certificates: [TestCertificate], minimum: TLSSettings.Version = .tls1_2,
        hsts: String? = nil, redirect: Bool = false, kind: ServiceConfig.Kind = .http
    ) -> ServiceConfig {
        var listeners = [ListenAddress(host: "127.0.0.1", port: tlsPort, tls: true)]
        if let plainPort { listeners.append(ListenAddress(host: "127.0.0.1", port: plainPort)) }
        return ServiceConfig(
            id: "vs-tls", name: "secure", listeners: listeners, kind: kind,
            pool: PoolConfig(name: "pool", servers: [ServerConfig(ip: "127.0.0.1", port: server.port)]),
            tls: TLSSettings(
                certificates: certificates.map(\.settings), minimumVersion: minimum,
                cipherString: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
                    + (minimum < .tls1_2 ? ":ECDHE-ECDSA-AES128-SHA" : ""), hsts: hsts),
            httpsRedirectPort: redirect ? tlsPort : nil)
    }

    func apply(_ s: ServiceConfig) async {
        let problems = await dataPlane.apply(DataPlaneConfig(services: [s]))
        XCTAssertEqual(problems, [])
    }

    func client(_ port: Int, sni: String?, configure: (inout TLSConfiguration) -> Void = { _ in }) async throws
        -> TLSTestClient
    {
        try await TLSTestClient(group: clientGroup, port: port, serverName: sni, configure: configure)
    }

    // MARK: termination

    func testHTTPSRequestsReachThePoolAsHTTPWithForwardedProtoAndHSTS() async throws {
        let cert = try TestCertificate.make(cn: "www-ec", sans: ["www.example"], dir: dir)
        let port = reservedPort()
        await apply(service(tlsPort: port, certificates: [cert], hsts: "max-age=31536000"))

        let c = try await client(port, sni: "www.example")
        let a = try await c.get("/a")
        XCTAssertEqual(a.status, 200)
        XCTAssertEqual(a.body, "s1 /a xff=127.0.0.1 xfp=https", "the server hears X-Forwarded-Proto: https")
        XCTAssertEqual(a.headers["strict-transport-security"], "max-age=31536000")
        let b = try await c.get("/b")
        XCTAssertEqual(b.body, "s1 /b xff=127.0.0.1 xfp=https", "keep-alive inside TLS")
        let version = try await c.tlsVersion()
        XCTAssertEqual(version, .tlsv13)
        let alpn = try await c.negotiatedALPN()
        XCTAssertEqual(alpn, "http/1.1")
        await c.close()

        XCTAssertTrue(
            waitUntil { self.metrics.value("starling_se_tls_handshakes_total", "vs=secure,version=TLSv1.3") == 1 },
            "handshake counted by version")
        let st = dataPlane.status().first
        XCTAssertEqual(st?.totals.requests, 2)
        XCTAssertEqual(st?.listening, [ListenAddress(host: "127.0.0.1", port: port, tls: true)])
    }

    func testTLS11IsRefusedAndCountedWhileTheSameClientWorksWhenTheProfileAllowsIt() async throws {
        let cert = try TestCertificate.make(cn: "www-ec", sans: ["www.example"], dir: dir)
        let port = reservedPort()
        await apply(service(tlsPort: port, certificates: [cert]))
        let old = try await client(port, sni: "www.example") {
            $0.minimumTLSVersion = .tlsv1
            $0.maximumTLSVersion = .tlsv11
        }
        do {
            try await old.handshake()
            XCTFail("a TLS 1.1 handshake must fail")
        } catch {}
        XCTAssertTrue(
            waitUntil {
                self.metrics.value("starling_se_tls_handshake_failures_total", "vs=secure,reason=protocol_version") == 1
            }, "refusal counted as protocol_version")

        // Control: the same client completes TLS 1.1 with a profile that accepts it, so the refusal above
        // is the SE's doing.
        await apply(service(tlsPort: port, certificates: [cert], minimum: .tls1))
        let allowed = try await client(port, sni: "www.example") {
            $0.minimumTLSVersion = .tlsv1
            $0.maximumTLSVersion = .tlsv11
            $0.cipherSuites = "ECDHE-ECDSA-AES128-SHA"
        }
        try await allowed.handshake()
        let version = try await allowed.tlsVersion()
        XCTAssertEqual(version, .tlsv11)
        await allowed.close()
    }

    // MARK: choosing the certificate

    func testSNIChoosesTheCertificateAndAnUnknownNameGetsTheFirst() async throws {
        let a = try TestCertificate.make(cn: "site-a", sans: ["a.example"], dir: dir)
        let b = try TestCertificate.make(cn: "site-b", sans: ["b.example", "*.b.example"], dir: dir)
        let port = reservedPort()
        await apply(service(tlsPort: port, certificates: [a, b]))
        for (sni, expected) in [
            ("a.example", "site-a"), ("b.example", "site-b"), ("www.b.example", "site-b"), ("B.EXAMPLE", "site-b"),
            ("other.example", "site-a"),
        ] {
            let c = try await client(port, sni: sni)
            let r = try await c.get("/")
            XCTAssertEqual(r.status, 200)
            let cn = try await c.peerCommonName()
            XCTAssertEqual(cn, expected, "SNI \(sni)")
            await c.close()
        }
        let none = try await client(port, sni: nil)
        try await none.handshake()
        let cn = try await none.peerCommonName()
        XCTAssertEqual(cn, "site-a", "no SNI: the first certificate")
        await none.close()
    }

    func testRSAAndECDSAOnOneServiceChosenByTheClientsSignatureAlgorithms() async throws {
        let rsa = try TestCertificate.make(cn: "www-rsa", sans: ["www.example"], key: "rsa", dir: dir)
        let ec = try TestCertificate.make(cn: "www-ec", sans: ["www.example"], dir: dir)
        let port = reservedPort()
        await apply(service(tlsPort: port, certificates: [rsa, ec]))

        let modern = try await client(port, sni: "www.example")
        try await modern.handshake()
        let modernCN = try await modern.peerCommonName()
        XCTAssertEqual(modernCN, "www-ec", "a client that verifies ECDSA gets the ECDSA certificate")
        await modern.close()

        for version in [TLSVersion.tlsv12, .tlsv13] {
            let rsaOnly = try await client(port, sni: "www.example") {
                $0.maximumTLSVersion = version
                $0.verifySignatureAlgorithms = [.rsaPssRsaeSha256, .rsaPkcs1Sha256]
            }
            let r = try await rsaOnly.get("/")
            XCTAssertEqual(r.status, 200)
            let cn = try await rsaOnly.peerCommonName()
            XCTAssertEqual(cn, "www-rsa", "an RSA-only client (\(version)) gets the RSA certificate")
            await rsaOnly.close()
        }
    }

    func testTheIntermediateCAFollowsTheCertificate() async throws {
        let root = try TestCertificate.make(cn: "Root CA", sans: ["root.example"], dir: dir)
        let intermediate = try TestCertificate.make(
            cn: "Intermediate CA", sans: ["intermediate.example"], signedBy: root, isCA: true, dir: dir)
        let leaf = try TestCertificate.make(cn: "www-leaf", sans: ["www.example"], signedBy: intermediate, dir: dir)
        let port = reservedPort()
        func verifying() async throws -> TLSTestClient {
            try await client(port, sni: "www.example") {
                $0.certificateVerification = .fullVerification
                $0.trustRoots = .certificates(try! NIOSSLCertificate.fromPEMBytes(Array(root.chainPEM.utf8)))
            }
        }
        // The leaf alone: a client that trusts only the root cannot build the chain.
        await apply(service(tlsPort: port, certificates: [leaf]))
        let alone = try await verifying()
        do {
            try await alone.handshake()
            XCTFail("the chain should not verify without the intermediate")
        } catch {}
        await alone.close()

        // With the intermediate after the leaf (what ca_certs adds), it does.
        var chained = leaf
        chained.chainPEM = leaf.chainPEM + intermediate.chainPEM
        await apply(service(tlsPort: port, certificates: [chained]))
        let ok = try await verifying()
        let r = try await ok.get("/chained", host: "www.example")
        XCTAssertEqual(r.status, 200)
        await ok.close()
    }

    // MARK: resumption, redirect, rotation, L4

    func testSessionsResumeWithOpenSSLsClient() async throws {
        let cert = try TestCertificate.make(cn: "www-ec", sans: ["www.example"], dir: dir)
        let port = reservedPort()
        await apply(service(tlsPort: port, certificates: [cert]))
        for version in ["-tls1_2", "-tls1_3"] {
            let session = dir.appendingPathComponent("session\(version)").path
            let request = "GET / HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n"
            let first = try runTool(
                "/usr/bin/openssl",
                [
                    "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "www.example", version, "-sess_out",
                    session,
                    "-ign_eof",
                ], stdin: request)
            XCTAssertTrue(first.output.contains("New, TLSv1."), "\(version) first: \(first.output.suffix(400))")
            XCTAssertTrue(first.output.contains("xfp=https"), "response through the proxy")
            let second = try runTool(
                "/usr/bin/openssl",
                [
                    "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "www.example", version, "-sess_in",
                    session,
                    "-ign_eof",
                ], stdin: request)
            XCTAssertTrue(second.output.contains("Reused, TLSv1."), "\(version) resumed: \(second.output.suffix(600))")
        }
    }

    func testPlainPortRedirectsToHTTPS() async throws {
        let cert = try TestCertificate.make(cn: "www-ec", sans: ["www.example"], dir: dir)
        let tlsPort = reservedPort()
        let plainPort = reservedPort()
        await apply(service(tlsPort: tlsPort, plainPort: plainPort, certificates: [cert], redirect: true))
        let plain = try RawClient(port: plainPort)
        plain.send("GET /path?q=1 HTTP/1.1\r\nHost: www.example:\(plainPort)\r\n\r\n")
        let r = plain.readResponse()
        XCTAssertEqual(r?.status, 301)
        XCTAssertEqual(r?.header("location"), "https://www.example:\(tlsPort)/path?q=1")
        let https = try await client(tlsPort, sni: "www.example")
        let ok = try await https.get("/path")
        XCTAssertEqual(ok.status, 200, "the HTTPS port proxies")
        await https.close()
    }

    func testRotatedCertificateServesNewHandshakesWhileOpenConnectionsContinue() async throws {
        let old = try TestCertificate.make(cn: "cert-old", sans: ["www.example"], dir: dir)
        let new = try TestCertificate.make(cn: "cert-new", sans: ["www.example"], dir: dir)
        let port = reservedPort()
        await apply(service(tlsPort: port, certificates: [old]))
        let open = try await client(port, sni: "www.example")
        let before = try await open.get("/before")
        XCTAssertEqual(before.status, 200)

        await apply(service(tlsPort: port, certificates: [new]))
        let after = try await open.get("/after")
        XCTAssertEqual(after.body, "s1 /after xff=127.0.0.1 xfp=https", "the open connection continues")
        let openCN = try await open.peerCommonName()
        XCTAssertEqual(openCN, "cert-old")
        let fresh = try await client(port, sni: "www.example")
        try await fresh.handshake()
        let freshCN = try await fresh.peerCommonName()
        XCTAssertEqual(freshCN, "cert-new", "a new handshake uses the new certificate")
        await fresh.close()
        await open.close()
    }

    func testSSLApplicationProfileTerminatesTLSAndProxiesTCP() async throws {
        let cert = try TestCertificate.make(cn: "www-ec", sans: ["www.example"], dir: dir)
        let port = reservedPort()
        await apply(service(tlsPort: port, certificates: [cert], kind: .l4))
        let c = try await client(port, sni: "www.example")
        let r = try await c.get("/l4")
        XCTAssertEqual(r.body, "s1 /l4 xff= xfp=", "bytes pass unchanged (no HTTP rewriting at L4)")
        await c.close()
    }

    func testAKeyThatDoesNotMatchIsAProblemAndNothingListens() async throws {
        let a = try TestCertificate.make(cn: "a", sans: ["a.example"], dir: dir)
        let b = try TestCertificate.make(cn: "b", sans: ["b.example"], dir: dir)
        var wrong = a
        wrong.keyPEM = b.keyPEM
        let port = reservedPort()
        let problems = await dataPlane.apply(DataPlaneConfig(services: [service(tlsPort: port, certificates: [wrong])]))
        XCTAssertEqual(problems.map(\.field), ["tls.certificates[0] (a)", "listeners[0]"], "\(problems)")
        XCTAssertThrowsError(try RawClient(port: port), "no listener without usable TLS settings") {
            XCTAssertEqual(($0 as? POSIXError)?.code, .ECONNREFUSED, "no listener without usable TLS settings")
        }
    }

    func testAnUnknownCipherIsAProblemNotATrap() async throws {
        let a = try TestCertificate.make(cn: "a", sans: ["a.example"], dir: dir)
        var s = service(tlsPort: reservedPort(), certificates: [a])
        s.tls?.cipherString = "HIGH:!aNULL:NO-SUCH-CIPHER"
        let problems = await dataPlane.apply(DataPlaneConfig(services: [s]))
        XCTAssertEqual(problems.map(\.field), ["tls.cipherString", "listeners[0]"], "\(problems)")
    }

    // MARK: ClientHello

    func testClientHelloParserOnRealHellos() async throws {
        // A hello from swift-nio-ssl, captured by a listener that only records bytes.
        let capture = try await HelloCapture.start(group: clientGroup)
        let c = try await client(capture.port, sni: "Capture.Example")
        let hello = try await capture.hello()
        await c.close()
        capture.stop()
        guard case .hello(let h) = TLSClientHello.parse(hello) else { return XCTFail("not parsed") }
        XCTAssertEqual(h.serverName, "capture.example")
        XCTAssertTrue(h.acceptsECDSA)
        // Split anywhere: incomplete until the last byte.
        for cut in [0, 3, 5, 9, hello.readableBytes - 1] {
            XCTAssertEqual(TLSClientHello.parse(hello.getSlice(at: hello.readerIndex, length: cut)!), .incomplete)
        }
        XCTAssertEqual(TLSClientHello.parse(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n")), .notHello)
        // Truncated lengths inside a complete record are not a hello.
        var bytes = Array(hello.readableBytesView)
        bytes[5 + 4 + 2 + 32] = 0xff  // session id length past the end
        XCTAssertEqual(TLSClientHello.parse(ByteBuffer(bytes: bytes)), .notHello)
    }

    func testCertificateSelectorNames() {
        XCTAssertTrue(CertificateSelector.matches(pattern: "*.example.com", "www.example.com"))
        XCTAssertFalse(CertificateSelector.matches(pattern: "*.example.com", "example.com"))
        XCTAssertFalse(CertificateSelector.matches(pattern: "*.example.com", "a.b.example.com"))
        XCTAssertFalse(CertificateSelector.matches(pattern: "*.example.com", ".example.com"))
        let s = CertificateSelector(entries: [
            .init(names: ["a.example"], isECDSA: false), .init(names: ["a.example"], isECDSA: true),
            .init(names: ["b.example"], isECDSA: false),
        ])
        XCTAssertEqual(s.pick(TLSClientHello(serverName: "a.example", acceptsECDSA: true)), 1)
        XCTAssertEqual(s.pick(TLSClientHello(serverName: "a.example", acceptsECDSA: false)), 0)
        XCTAssertEqual(s.pick(TLSClientHello(serverName: "b.example", acceptsECDSA: true)), 2, "the only one for b")
        XCTAssertEqual(s.pick(TLSClientHello(serverName: "c.example", acceptsECDSA: true)), 1, "no match: any ECDSA")
        XCTAssertEqual(s.pick(nil), 0)
    }
}

/// A listener that records the first bytes a client sends (its ClientHello) and closes.
final class HelloCapture: @unchecked Sendable {
    let channel: any Channel
    let received: NIOLockedValueBox<ByteBuffer>
    var port: Int { channel.localAddress!.port! }

    private init(channel: any Channel, received: NIOLockedValueBox<ByteBuffer>) {
        self.channel = channel
        self.received = received
    }

    static func start(group: any EventLoopGroup) async throws -> HelloCapture {
        let box = NIOLockedValueBox(ByteBuffer())
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Recorder(box: box)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return HelloCapture(channel: channel, received: box)
    }

    final class Recorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let box: NIOLockedValueBox<ByteBuffer>
        init(box: NIOLockedValueBox<ByteBuffer>) { self.box = box }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            box.withLockedValue { _ = $0.writeBuffer(&b) }
        }
    }

    func hello() async throws -> ByteBuffer {
        for _ in 0..<500 {
            let b = received.withLockedValue { $0 }
            if case .hello = TLSClientHello.parse(b) { return b }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestToolError("no ClientHello captured")
    }

    func stop() { try? channel.close().wait() }
}
