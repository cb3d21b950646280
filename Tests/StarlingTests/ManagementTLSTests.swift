import Controller
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import StarlingHTTP
import StarlingModel
import SwiftASN1
import TestSupport
import X509
import XCTest

@testable import SE

/// The management plane as an operator and an attacker on the management network see it (issue 12): a
/// controller serving HTTPS from its cluster CA on 127.0.0.1 (a port bound from port 0 and held), `starling
/// ctl` verifying it, and an SE that joins with its token alone, then proves itself with its client
/// certificate.
final class ManagementTLSTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 2) }
    override func tearDown() async throws { try await group.shutdownGracefully() }

    private let heartbeatInterval = 0.2
    private let admin = [("Authorization", "Basic " + Data("admin:admin-password".utf8).base64EncodedString())]

    private func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("mgmt-tls-\(UUID().uuidString)").path
    }

    /// A controller serving its API over HTTPS (its default) on 127.0.0.1:`port`, answering before this returns.
    private func startController(
        _ directory: String, port: Int, configure: (inout ControllerConfiguration) -> Void = { _ in }
    ) async throws -> (controller: Controller, stop: @Sendable () async -> Void) {
        var config = ControllerConfiguration(dataDirectory: directory, adminPassword: "admin-password")
        config.passwordIterations = 1000
        config.heartbeatInterval = heartbeatInterval
        config.nodeAddress = "127.0.0.1:\(port)"
        configure(&config)
        var logger = Logger(label: "test.controller")
        logger.logLevel = .critical
        let controller = try await Controller(configuration: config, logger: logger)
        let service = try controller.service(host: "127.0.0.1", port: port)
        let server = RunningServices([service], logger: logger)
        let api = try HTTPClient(baseURL: "https://127.0.0.1:\(port)", tls: .init(trustedPEM: controller.clusterCA.pem))
        await eventually("the API answers over HTTPS", within: .seconds(10)) {
            (try? await api.request("GET", "/api/initial-data", timeout: .seconds(1)).status) == 200
        }
        return (
            controller,
            {
                await server.stop()
                await controller.close()
            }
        )
    }

    private func eventually(
        _ what: String, within bound: Duration, file: StaticString = #filePath, line: UInt = #line,
        _ check: () async throws -> Bool
    ) async rethrows {
        let deadline = ContinuousClock.now + bound
        while ContinuousClock.now < deadline {
            if try await check() { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("not within \(bound): \(what)", file: file, line: line)
    }

    private func call(_ api: HTTPClient, _ method: String, _ path: String, _ body: String? = nil) async throws
        -> HTTPResponse
    {
        try await api.request(
            method, path, headers: admin + [("Content-Type", "application/json")], body: body.map { Array($0.utf8) })
    }

    /// A CA that is not the cluster's (`caName`) and a certificate from it for a fresh key, as PEM: the CA,
    /// the certificate and its key.
    private func outsideCertificate(
        caName: String, subject: DistinguishedName, usages: [ExtendedKeyUsage.Usage], names: [GeneralName] = []
    ) throws -> (caPEM: String, certificate: String, key: String) {
        let caKey = P256.Signing.PrivateKey()
        let issuer = try DistinguishedName { CommonName(caName) }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
            issuer: issuer, subject: issuer, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
            }, issuerPrivateKey: .init(caKey))
        let key = P256.Signing.PrivateKey()
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
            issuer: issuer, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                try ExtendedKeyUsage(usages)
                if !names.isEmpty { SubjectAlternativeNames(names) }
            }, issuerPrivateKey: .init(caKey))
        return (try ca.serializeAsPEM().pemString, try leaf.serializeAsPEM().pemString, key.pemRepresentation)
    }

    /// Someone else's CA and a certificate from it with the subject of SE `uuid`'s client certificate.
    private func foreignClientCertificate(uuid: String) throws -> (caPEM: String, certificate: String, key: String) {
        let subject = try DistinguishedName {
            OrganizationName("Starling")
            OrganizationalUnitName("service-engine")
            CommonName(uuid)
        }
        return try outsideCertificate(caName: "Mallory CA", subject: subject, usages: [.clientAuth])
    }

    private func makeAgent(urls: [String], token: String, name: String, stateDirectory: String) throws -> (
        SEAgent, CapturedLogs
    ) {
        let logs = CapturedLogs()
        var logger = Logger(label: "test.agent") { _ in CapturingLogHandler(logs) }
        logger.logLevel = .debug
        var quiet = Logger(label: "test.engine")
        quiet.logLevel = .critical
        let dataPlane = DataPlane(group: group, sourceAddresses: [], logger: quiet)
        let engine = SEEngine(
            options: SEEngine.Options(vipInterface: nil), dataPlane: dataPlane, eventLoop: group.next(), logger: quiet)
        var agent = SEAgent(
            clients: try urls.map { try HTTPClient(baseURL: $0) },
            identity: .init(
                token: token, name: name, dataAddress: IpAddr(addr: "198.18.0.10", type: .v4),
                stateDirectory: stateDirectory),
            engine: engine, logger: logger)
        agent.watchWait = 2
        return (agent, logs)
    }

    /// Whether the controller sees SE `uuid` up (its heartbeats arrive).
    private func isUp(_ api: HTTPClient, _ uuid: String) async -> Bool {
        guard let response = try? await call(api, "GET", "/api/serviceengine/\(uuid)/runtime"),
            let json = try? JSONValue.parse(response.body)
        else { return false }
        return json["oper_status"]?["state"]?.string == "OPER_UP"
    }

    // MARK: - Tests

    /// The API answers HTTPS only, with a certificate the cluster CA signed for the address it is reached at;
    /// a client that trusts another CA (or only the system's) refuses it; the CA is public and its SHA-256 is
    /// what join tokens carry; `starling ctl` verifies with --ca-file or --ca-fingerprint and refuses a wrong one.
    func testTheAPIIsHTTPSVerifiedByTheClusterCA() async throws {
        let reservation = PortReservation()
        defer { withExtendedLifetime(reservation) {} }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (controller, stop) = try await startController(directory, port: reservation.port)
        let url = "https://127.0.0.1:\(reservation.port)"
        let ca = controller.clusterCA

        // Plain HTTP on the API port gets no answer.
        let plain = try HTTPClient(baseURL: "http://127.0.0.1:\(reservation.port)")
        do {
            let answer = try await plain.request("GET", "/api/initial-data", timeout: .seconds(3))
            XCTFail("plain HTTP answered \(answer.status)")
        } catch let error as HTTPClientError {
            XCTAssertNotEqual(error.kind, .timeout, "\(error)")
        }
        // Verified against the cluster CA (not the system's roots), the name checked against 127.0.0.1.
        let verified = try HTTPClient(baseURL: url, tls: .init(trustedPEM: ca.pem, systemRoots: false))
        let answer = try await call(verified, "GET", "/api/cluster")
        XCTAssertEqual(answer.status, 200, answer.text)
        for (what, tls) in [
            ("the system's roots", HTTPClient.TLS()),
            (
                "another CA",
                HTTPClient.TLS(trustedPEM: try foreignClientCertificate(uuid: "x").caPEM, systemRoots: false)
            ),
        ] {
            do {
                _ = try await HTTPClient(baseURL: url, tls: tls).request("GET", "/api/initial-data")
                XCTFail("a client trusting \(what) accepted the controller")
            } catch let error as HTTPClientError {
                XCTAssertEqual(error.kind, .tls, "\(what): \(error)")
                XCTAssertTrue(error.description.contains("not trusted"), "\(error)")
            }
        }
        // The CA is public; the token's hash is its SHA-256; the node wrote it for local tools.
        let published = try await verified.request("GET", "/api/cluster/ca-certificate")
        XCTAssertEqual(published.status, 200)
        XCTAssertEqual(try ManagementTrust.fingerprint(pem: published.text), ca.fingerprint)
        let token = try JSONValue.parse(try await call(verified, "GET", "/api/securetoken-generate").body)
        XCTAssertEqual(ManagementTrust.caHash(inToken: token["auth_token"]?.string ?? ""), ca.fingerprint)

        // ctl: --ca-file, --ca-fingerprint (with colons, as openssl prints it), and a wrong fingerprint.
        let home = directory + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try ca.pem.write(toFile: directory + "/ca.pem", atomically: true, encoding: .utf8)
        let base = ["--controller", url, "--username", "admin", "--password", "admin-password"]
        var r = await runCtl(base + ["--ca-file", directory + "/ca.pem", "show", "cluster"], home: home)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("LEADER"), r.out)
        let colons = stride(from: 0, to: 64, by: 2).map {
            let start = ca.fingerprint.index(ca.fingerprint.startIndex, offsetBy: $0)
            return ca.fingerprint[start..<ca.fingerprint.index(start, offsetBy: 2)].uppercased()
        }.joined(separator: ":")
        r = await runCtl(base + ["--ca-fingerprint", colons, "get", "tenant"], home: home)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("admin"), r.out)
        r = await runCtl(base + ["--ca-fingerprint", String(repeating: "ab", count: 32), "get", "tenant"], home: home)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("not the abab"), r.err)
        r = await runCtl(base + ["get", "tenant"], home: home)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("not trusted") && r.err.contains("--ca-fingerprint"), r.err)
        // Login keeps the CA with the session: later commands need no flag.
        r = await runCtl(
            ["--controller", url, "--password", "admin-password", "--ca-file", directory + "/ca.pem", "login"],
            home: home)
        XCTAssertEqual(r.status, 0, r.err)
        r = await runCtl(["get", "tenant"], home: home)
        XCTAssertEqual(r.status, 0, r.err)
        await stop()
    }

    /// An SE given only the URL and its token trusts the cluster CA the token names, registers with a CSR and
    /// then works with mutual TLS: its heartbeats arrive; the used token registers nothing else; its secret
    /// without its certificate, or with a look-alike certificate from another CA, is refused; restarted, it
    /// carries on from its state directory; re-registered under a new token, its old certificate is revoked;
    /// deleted, its certificate opens nothing.
    func testAnSEJoinsWithItsTokenAloneAndAuthenticatesWithItsCertificate() async throws {
        let reservation = PortReservation()
        defer { withExtendedLifetime(reservation) {} }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (controller, stop) = try await startController(directory + "/controller", port: reservation.port)
        let url = "https://127.0.0.1:\(reservation.port)"
        let api = try HTTPClient(baseURL: url, tls: .init(trustedPEM: controller.clusterCA.pem))
        func newToken() async throws -> String {
            try JSONValue.parse(try await call(api, "GET", "/api/securetoken-generate").body)["auth_token"]?.string
                ?? ""
        }
        let token = try await newToken()
        let state = directory + "/se1"
        var (agent, logs) = try makeAgent(urls: [url], token: token, name: "se1", stateDirectory: state)
        var running = Task { [agent] in await agent.run() }
        await eventually("se1 registers and is up", within: .seconds(10)) {
            guard let uuid = agent.registration.current?.se_uuid else { return false }
            return await isUp(api, uuid)
        }
        XCTAssertTrue(logs.contains("trusting the cluster CA the join token names"), "\(logs.messages)")
        let registered = try XCTUnwrap(agent.registration.current)
        let saved = try XCTUnwrap(SEIdentityFiles(directory: state).load())
        let (key, certificate) = (try XCTUnwrap(saved.keyPEM), try XCTUnwrap(saved.certificatePEM))
        XCTAssertEqual(saved.registration?.se_uuid, registered.se_uuid)
        let mode = try FileManager.default.attributesOfItem(atPath: state + "/client.key")[.posixPermissions]
        XCTAssertEqual((mode as? NSNumber)?.intValue, 0o600)

        // The token is spent: with a valid CSR and another name it registers nothing.
        let csr = try ManagementTrust.keyAndCSR(name: "se2").csrPEM
        let reuse = SERegistration(
            token: token, name: "se2", data_address: IpAddr(addr: "198.18.0.11", type: .v4), csr: csr)
        let refused = try await api.request(
            "POST", "/api/se-agent/register", headers: [("Content-Type", "application/json")],
            body: Array(try JSONEncoder().encode(reuse)))
        XCTAssertEqual(refused.status, 401, refused.text)
        XCTAssertTrue(refused.text.contains("used already"), refused.text)
        // Without a CSR over HTTPS: 400.
        var noCSR = reuse
        noCSR.csr = nil
        noCSR.token = try await newToken()
        let missing = try await api.request(
            "POST", "/api/se-agent/register", headers: [("Content-Type", "application/json")],
            body: Array(try JSONEncoder().encode(noCSR)))
        XCTAssertEqual(missing.status, 400, missing.text)

        // The secret alone, or with a certificate of the same subject from another CA, opens nothing.
        let desired = "/api/se-agent/\(registered.se_uuid)/desired"
        let bearer = [("Authorization", "Bearer \(registered.se_secret)")]
        let secretOnly = try await api.request("GET", desired, headers: bearer)
        XCTAssertEqual(secretOnly.status, 401, secretOnly.text)
        XCTAssertTrue(secretOnly.text.contains("client certificate"), secretOnly.text)
        let forged = try foreignClientCertificate(uuid: registered.se_uuid)
        let mallory = try HTTPClient(
            baseURL: url,
            tls: .init(
                trustedPEM: controller.clusterCA.pem, clientCertificatePEM: forged.certificate,
                clientKeyPEM: forged.key))
        do {
            let answer = try await mallory.request("GET", desired, headers: bearer)
            XCTFail("a certificate from another CA got \(answer.status)")
        } catch let error as HTTPClientError {
            XCTAssertTrue([.tls, .connectionClosed, .badResponse].contains(error.kind), "\(error)")
        }
        let genuine = try HTTPClient(
            baseURL: url,
            tls: .init(trustedPEM: controller.clusterCA.pem, clientCertificatePEM: certificate, clientKeyPEM: key))
        let ok = try await genuine.request("GET", desired, headers: bearer)
        XCTAssertEqual(ok.status, 200, ok.text)

        // Restarted with the same (spent) token, the SE carries on from its state directory.
        running.cancel()
        await running.value
        (agent, logs) = try makeAgent(urls: [url], token: token, name: "se1", stateDirectory: state)
        running = Task { [agent] in await agent.run() }
        await eventually("se1 carries on after its restart", within: .seconds(10)) {
            // A new engine (version 0) got its desired state over mutual TLS.
            guard agent.registration.current?.se_uuid == registered.se_uuid else { return false }
            return await agent.engine.version > 0
        }
        XCTAssertTrue(logs.contains("using the registration kept in the state directory"), "\(logs.messages)")
        XCTAssertFalse(logs.contains("registration failed"), "\(logs.messages)")
        running.cancel()
        await running.value

        // Down, then replaced under a new token (a re-installed host): same uuid, and the old certificate is
        // revoked.
        await eventually("se1 is down", within: .seconds(heartbeatInterval * 3 + 5)) {
            await !isUp(api, registered.se_uuid)
        }
        (agent, logs) = try makeAgent(
            urls: [url], token: try await newToken(), name: "se1", stateDirectory: directory + "/se1-reinstalled")
        running = Task { [agent] in await agent.run() }
        await eventually("the re-installed se1 is up", within: .seconds(10)) {
            guard agent.registration.current != nil else { return false }
            return await isUp(api, registered.se_uuid)
        }
        XCTAssertEqual(agent.registration.current?.se_uuid, registered.se_uuid)
        let revoked = try await genuine.request(
            "GET", desired, headers: [("Authorization", "Bearer \(agent.registration.current?.se_secret ?? "")")])
        XCTAssertEqual(revoked.status, 401, revoked.text)
        XCTAssertTrue(revoked.text.contains("revoked"), revoked.text)
        running.cancel()
        await running.value

        // Deleted, the SE's certificate and secret open nothing.
        let newest = try XCTUnwrap(SEIdentityFiles(directory: directory + "/se1-reinstalled").load())
        await eventually("se1 is down again", within: .seconds(heartbeatInterval * 3 + 5)) {
            await !isUp(api, registered.se_uuid)
        }
        let deleted = try await call(api, "DELETE", "/api/serviceengine/\(registered.se_uuid)")
        XCTAssertTrue((200..<300).contains(deleted.status), deleted.text)
        let afterDelete = try await HTTPClient(
            baseURL: url,
            tls: .init(
                trustedPEM: controller.clusterCA.pem, clientCertificatePEM: newest.certificatePEM,
                clientKeyPEM: newest.keyPEM)
        ).request("GET", desired, headers: [("Authorization", "Bearer \(newest.registration?.se_secret ?? "")")])
        XCTAssertEqual(afterDelete.status, 404, afterDelete.text)
        await stop()
    }

    /// A token naming another CA (an attacker's controller, or a mistyped URL): the SE does not register and
    /// says why.
    func testAnSERefusesAControllerWhoseCAIsNotTheTokens() async throws {
        let reservation = PortReservation()
        defer { withExtendedLifetime(reservation) {} }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (controller, stop) = try await startController(directory + "/controller", port: reservation.port)
        let url = "https://127.0.0.1:\(reservation.port)"
        let api = try HTTPClient(baseURL: url, tls: .init(trustedPEM: controller.clusterCA.pem))
        let token =
            try JSONValue.parse(try await call(api, "GET", "/api/securetoken-generate").body)["auth_token"]?
            .string ?? ""
        let secret = String(token.prefix(while: { $0 != "." }))
        let (agent, logs) = try makeAgent(
            urls: [url], token: secret + "." + String(repeating: "0", count: 64), name: "se1",
            stateDirectory: directory + "/se1")
        let running = Task { [agent] in await agent.run() }
        await eventually("the SE says why it does not trust the controller", within: .seconds(5)) {
            logs.contains("not the 0000")
        }
        running.cancel()
        await running.value
        XCTAssertNil(agent.registration.current)
        let ses = try JSONValue.parse(try await call(api, "GET", "/api/serviceengine").body)
        XCTAssertEqual(ses["count"], .int(0), "\(ses)")
        await stop()
    }

    /// Two nodes on an etcd that wants client certificates: they share one cluster CA through the store, serve
    /// HTTPS from it, and the follower forwards what only the leader knows over TLS with its own certificate;
    /// an SE given both nodes, the follower first, joins the leader with its token.
    func testClusterNodesShareTheCAAndTalkTLSToEtcdAndToEachOther() async throws {
        guard EtcdTestServer.binary != nil else { throw XCTSkip("etcd is not installed (apt-get install etcd-server)") }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let etcd = try EtcdTestServer(directory: directory + "/etcd", tls: true)
        defer { etcd.stop() }
        let (port1, port2) = (PortReservation(), PortReservation())
        defer { withExtendedLifetime((port1, port2)) {} }
        func node(_ name: String) -> (inout ControllerConfiguration) -> Void {
            { config in
                config.store = .etcd(endpoints: [etcd.endpoint], prefix: "/starling/")
                config.etcdCAFile = etcd.caFile
                config.etcdCertFile = etcd.clientCertFile
                config.etcdKeyFile = etcd.clientKeyFile
                config.nodeName = name
            }
        }
        let (leader, stopLeader) = try await startController(
            directory + "/node-1", port: port1.port, configure: node("node-1"))
        await eventually("node-1 leads", within: .seconds(5)) { leader.isLeader }
        try FileManager.default.createDirectory(atPath: directory + "/node-2", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: directory + "/node-1/secrets.key", toPath: directory + "/node-2/secrets.key")
        let (follower, stopFollower) = try await startController(
            directory + "/node-2", port: port2.port, configure: node("node-2"))
        XCTAssertEqual(follower.clusterCA.fingerprint, leader.clusterCA.fingerprint)
        XCTAssertFalse(follower.isLeader)

        let url1 = "https://127.0.0.1:\(port1.port)"
        let url2 = "https://127.0.0.1:\(port2.port)"
        let api2 = try HTTPClient(baseURL: url2, tls: .init(trustedPEM: follower.clusterCA.pem, systemRoots: false))
        let forwarded = try await call(api2, "GET", "/api/serviceengine-inventory")
        XCTAssertEqual(forwarded.status, 200, forwarded.text)
        XCTAssertEqual(forwarded.header("X-Starling-Node"), "node-1", "answered by the leader over TLS")

        let token =
            try JSONValue.parse(try await call(api2, "GET", "/api/securetoken-generate").body)["auth_token"]?
            .string ?? ""
        let (agent, _) = try makeAgent(
            urls: [url2, url1], token: token, name: "se1", stateDirectory: directory + "/se1")
        let running = Task { [agent] in await agent.run() }
        await eventually("se1 joins the leader through the follower's list", within: .seconds(10)) {
            guard let uuid = agent.registration.current?.se_uuid else { return false }
            return await isUp(api2, uuid)
        }
        // The leader's answer names the node the client asked, over HTTPS (Avi's refs are https URLs).
        let inventory = try JSONValue.parse(try await call(api2, "GET", "/api/serviceengine-inventory").body)
        let seURL = inventory["results"]?.array?.first?["config"]?["url"]?.string ?? ""
        XCTAssertTrue(seURL.hasPrefix(url2 + "/api/serviceengine/"), seURL)
        running.cancel()
        await running.value
        await stopFollower()
        await stopLeader()
    }

    /// The etcd members' CA of an appliance cluster: every node derives the same one from the secrets key
    /// (same subject, key and serial; only the randomised signature differs), another key gives another CA.
    func testADerivedCAIsTheSameOnEveryNodeWithTheSecret() throws {
        let secret = Array(repeating: UInt8(7), count: 32)
        let one = try ClusterCA.derived(fromSecret: secret, purpose: "etcd members", commonName: "Starling etcd CA")
        let two = try ClusterCA.derived(fromSecret: secret, purpose: "etcd members", commonName: "Starling etcd CA")
        XCTAssertEqual(one.certificate.publicKey, two.certificate.publicKey)
        XCTAssertEqual(one.certificate.subject, two.certificate.subject)
        XCTAssertEqual(one.certificate.serialNumber, two.certificate.serialNumber)
        XCTAssertEqual(one.certificate.notValidAfter, two.certificate.notValidAfter)
        // The derivation is a format between nodes (of different versions during an upgrade): pinned.
        XCTAssertEqual(
            try one.certificate.extensions.subjectKeyIdentifier.map { Data($0.keyIdentifier).base64EncodedString() },
            "Roe/oSJb81chlc2hr6moO+Aimkc=")
        let otherSecret = try ClusterCA.derived(
            fromSecret: Array(repeating: 8, count: 32), purpose: "etcd members", commonName: "Starling etcd CA")
        XCTAssertNotEqual(one.certificate.publicKey, otherSecret.certificate.publicKey)
        let otherPurpose = try ClusterCA.derived(fromSecret: secret, purpose: "something else", commonName: "X")
        XCTAssertNotEqual(one.certificate.publicKey, otherPurpose.certificate.publicKey)
        // A member certificate from one build is signed by the key of the other.
        let member = try one.nodeIdentityPEM(
            node: "ctl1", hosts: ["198.51.100.21", "127.0.0.1"], days: 3650, now: Date())
        let leaf = try Certificate(pemEncoded: member.certificate)
        XCTAssertEqual(leaf.issuer, two.certificate.subject)
        XCTAssertTrue(two.certificate.publicKey.isValidSignature(leaf.signature, for: leaf))
    }

    /// `--tls-cert`/`--tls-key`: the API serves the operator's certificate (a client trusting its issuer gets
    /// in, one trusting only the cluster CA does not), and the cluster CA still issues the SEs' certificates.
    func testTheOperatorsOwnCertificate() async throws {
        let reservation = PortReservation()
        defer { withExtendedLifetime(reservation) {} }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // The operator's CA and a server certificate from it for 127.0.0.1.
        let (caPEM, certificate, key) = try outsideCertificate(
            caName: "Operator CA", subject: try DistinguishedName { CommonName("controller.example") },
            usages: [.serverAuth], names: [.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
        try (certificate + "\n").write(toFile: directory + "/api.pem", atomically: true, encoding: .utf8)
        try key.write(toFile: directory + "/api.key", atomically: true, encoding: .utf8)

        var config = ControllerConfiguration(dataDirectory: directory + "/data", adminPassword: "admin-password")
        config.passwordIterations = 1000
        config.apiTLS = .files(certificate: directory + "/api.pem", key: directory + "/api.key")
        var logger = Logger(label: "test.controller")
        logger.logLevel = .critical
        let controller = try await Controller(configuration: config, logger: logger)
        let service = try controller.service(host: "127.0.0.1", port: reservation.port)
        let server = RunningServices([service], logger: logger)
        let url = "https://127.0.0.1:\(reservation.port)"
        let operatorAPI = try HTTPClient(baseURL: url, tls: .init(trustedPEM: caPEM, systemRoots: false))
        await eventually("the API answers with the operator's certificate", within: .seconds(10)) {
            (try? await operatorAPI.request("GET", "/api/initial-data", timeout: .seconds(1)).status) == 200
        }
        do {
            _ = try await HTTPClient(baseURL: url, tls: .init(trustedPEM: controller.clusterCA.pem, systemRoots: false))
                .request("GET", "/api/initial-data")
            XCTFail("the cluster CA verified the operator's certificate")
        } catch let error as HTTPClientError {
            XCTAssertEqual(error.kind, .tls, "\(error)")
        }
        let token = try JSONValue.parse(try await call(operatorAPI, "GET", "/api/securetoken-generate").body)
        XCTAssertEqual(
            ManagementTrust.caHash(inToken: token["auth_token"]?.string ?? ""), controller.clusterCA.fingerprint)
        await server.stop()
        await controller.close()
    }
}
