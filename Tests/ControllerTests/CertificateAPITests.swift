import Crypto
import Foundation
import HummingbirdTesting
import StarlingModel
import X509
import XCTest

@testable import Controller

/// `sslkeyandcertificate` and `sslprofile` through the API: PEM import checked against the key, details
/// filled in, the key never returned and sealed in the store, self-signed creation, field-named errors.
/// Certificates come from the openssl command line, expired ones from swift-certificates.
final class CertificateAPITests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-certs-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// openssl output: (certificate PEM, key PEM).
    func openssl(cn: String, key: [String] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]) throws -> (
        String, String
    ) {
        let k = dir.appendingPathComponent("\(cn).key").path
        let c = dir.appendingPathComponent("\(cn).crt").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments =
            ["req", "-x509"] + key + [
                "-nodes", "-keyout", k, "-out", c, "-subj", "/CN=\(cn)/O=Starling Tests", "-addext",
                "subjectAltName=DNS:\(cn),DNS:alt.\(cn)", "-days", "90",
            ]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return (try String(contentsOfFile: c, encoding: .utf8), try String(contentsOfFile: k, encoding: .utf8))
    }

    /// `results[0]` of a list.
    static func first(_ list: JSONValue) -> JSONValue? {
        guard case .array(let a) = list["results"] ?? .null else { return nil }
        return a.first
    }

    static func body(_ name: String, cert: String, key: String?, extra: [String: JSONValue] = [:]) -> String {
        var m: [String: JSONValue] = ["name": .string(name), "certificate": .object(["certificate": .string(cert)])]
        if let key { m["key"] = .string(key) }
        for (k, v) in extra { m[k] = v }
        return JSONText.encode(JSONValue.object(m))
    }

    func testImportFillsInDetailsNeverReturnsTheKeyAndSealsItInTheStore() async throws {
        let path = temporaryDirectory()
        let controller = try await makeController(path)
        let (cert, key) = try openssl(cn: "www.example")
        try await withAPI(controller) { api in
            let created = try await api.call(.post, "/api/sslkeyandcertificate", Self.body("www", cert: cert, key: key))
            XCTAssertEqual(created.status, 201, created.text)
            XCTAssertNil(created.json["key"], "the key is not returned on create")
            let uuid = try XCTUnwrap(created.string("uuid"))
            let got = try await api.call(.get, "/api/sslkeyandcertificate/\(uuid)")
            XCTAssertNil(got.json["key"])
            let c = try XCTUnwrap(got.json["certificate"])
            XCTAssertEqual(c["subject"]?["common_name"]?.string, "www.example")
            XCTAssertEqual(c["subject"]?["organization"]?.string, "Starling Tests")
            XCTAssertEqual(c["subjectAltNames"], .array([.string("www.example"), .string("alt.www.example")]))
            XCTAssertEqual(c["self_signed"], .bool(true))
            XCTAssertEqual(c["expiry_status"]?.string, "SSL_CERTIFICATE_GOOD")
            XCTAssertTrue(c["fingerprint"]?.string?.hasPrefix("SHA256 Fingerprint=") ?? false)
            XCTAssertNotNil(
                c["not_after"]?.string?.range(of: #"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"#, options: .regularExpression))
            XCTAssertEqual(got.json["key_params"]?["algorithm"]?.string, "SSL_KEY_ALGORITHM_EC")
            XCTAssertEqual(got.json["key_params"]?["ec_params"]?["curve"]?.string, "SSL_KEY_EC_CURVE_SECP256R1")
            let list = try await api.call(.get, "/api/sslkeyandcertificate?name=www")
            XCTAssertNil(Self.first(list.json)?["key"], "nor in a list")
            let audit = try await api.call(.get, "/api/analytics/logs?type=2")
            XCTAssertFalse(audit.text.contains("PRIVATE KEY"), "nor in the audit trail")
        }
        // A copy of the SQLite files alone does not hold the key: only ciphertext under secrets.key.
        let keyBody = key.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        for file in ["controller.sqlite", "controller.sqlite-wal"] {
            if let data = FileManager.default.contents(atPath: path + "/" + file) {
                let text = String(decoding: data, as: UTF8.self)
                XCTAssertFalse(text.contains(String(keyBody.prefix(40))), "\(file) holds the key in clear")
                XCTAssertFalse(text.contains("PRIVATE KEY"), "\(file) holds a PEM key")
            }
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: path + "/secrets.key")
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual((attributes[.size] as? NSNumber)?.intValue, 32)
    }

    func testTheSEGetsTheKeyInClearAndAnUpdateWithoutKeyKeepsIt() async throws {
        let controller = try await makeController(temporaryDirectory())
        let (cert, key) = try openssl(cn: "www.example")
        try await withAPI(controller) { api in
            let created = try await api.call(.post, "/api/sslkeyandcertificate", Self.body("www", cert: cert, key: key))
            let uuid = try XCTUnwrap(created.string("uuid"))
            // PUT of what GET returned (no key) with a new description keeps the stored key.
            var got = try await api.call(.get, "/api/sslkeyandcertificate/\(uuid)").json
            got["description"] = .string("rotated later")
            let put = try await api.call(.put, "/api/sslkeyandcertificate/\(uuid)", JSONText.encode(got))
            XCTAssertEqual(put.status, 200, put.text)
            let patch = try await api.call(
                .patch, "/api/sslkeyandcertificate/\(uuid)", #"{"replace": {"description": "patched"}}"#)
            XCTAssertEqual(patch.status, 200, patch.text)
        }
        let stored = try await controller.objects.stored(
            ObjectKind["sslkeyandcertificate"]!, uuid: try await self.uuid(controller, "www"), scope: Scope())
        let sealed = try XCTUnwrap(stored.json["key"]?.string)
        XCTAssertTrue(SecretBox.isSealed(sealed))
        XCTAssertEqual(try CertificateImport.reveal(stored.json, box: controller.objects.secrets)["key"]?.string, key)
        XCTAssertEqual(stored.json["description"]?.string, "patched")
    }

    func uuid(_ controller: Controller, _ name: String) async throws -> String {
        try await controller.store.read { db in
            try db.object(type: "sslkeyandcertificate", tenant: "admin", name: name)!.uuid
        }
    }

    func testRefusalsNameTheField() async throws {
        let controller = try await makeController(temporaryDirectory())
        let (cert, key) = try openssl(cn: "a.example")
        let (_, otherKey) = try openssl(cn: "b.example")
        let (smallCert, smallKey) = try openssl(cn: "small.example", key: ["-newkey", "rsa:1024"])
        let encrypted = dir.appendingPathComponent("enc.key").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = [
            "pkey", "-in", dir.appendingPathComponent("a.example.key").path, "-aes256", "-passout", "pass:s3cret",
            "-out", encrypted,
        ]
        try p.run()
        p.waitUntilExit()
        let encryptedKey = try String(contentsOfFile: encrypted, encoding: .utf8)
        let expired = try Self.expiredCertificate()

        let cases: [(String, String)] = [
            (Self.body("x", cert: cert, key: otherKey), "key: does not match the certificate's public key"),
            (Self.body("x", cert: "not a certificate", key: key), "certificate.certificate: must be a PEM certificate"),
            (
                Self.body("x", cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key: key),
                "certificate.certificate: not a PEM certificate"
            ),
            (Self.body("x", cert: cert, key: nil), "key: required"),
            (
                Self.body("x", cert: cert, key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
                "key: not a PEM private key"
            ),
            (Self.body("x", cert: cert, key: encryptedKey), "key_passphrase: required: the key is encrypted"),
            (
                Self.body("x", cert: cert, key: encryptedKey, extra: ["key_passphrase": .string("wrong")]),
                "key_passphrase: does not decrypt the key"
            ),
            (
                Self.body("x", cert: smallCert, key: smallKey),
                "certificate.certificate: certificate 1 cannot be parsed: malformed, or a key other than RSA 2048-4096"
            ),
            (
                Self.body("x", cert: expired.0, key: expired.1),
                "certificate.certificate: expired on 2020-01-31 00:00:00 UTC"
            ),
            (Self.body("x", cert: key + cert, key: key), "certificate.certificate: holds a private key"),
            (
                #"{"name": "x", "certificate": {"self_signed": true}}"#,
                "certificate.subject.common_name: required to create a self-signed certificate"
            ),
        ]
        try await withAPI(controller) { api in
            for (body, message) in cases {
                let r = try await api.call(.post, "/api/sslkeyandcertificate", body)
                XCTAssertEqual(r.status, 400, message)
                XCTAssertTrue(r.string("error")?.hasPrefix(message) ?? false, "\(message) ≠ \(r.text)")
            }
            let ok = try await api.call(
                .post, "/api/sslkeyandcertificate",
                Self.body("enc", cert: cert, key: encryptedKey, extra: ["key_passphrase": .string("s3cret")]))
            XCTAssertEqual(ok.status, 201, "an encrypted key with its passphrase: \(ok.text)")
            XCTAssertNil(ok.json["key_passphrase"], "the passphrase is not returned")
            let count = try await api.call(.get, "/api/sslkeyandcertificate")
            XCTAssertEqual(count.json["count"], .int(1), "nothing stored by the refusals")
        }
    }

    /// A P-256 certificate valid in January 2020 only.
    static func expiredCertificate() throws -> (String, String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("old.example") }
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: Date(timeIntervalSince1970: 1_577_836_800),
            notValidAfter: Date(timeIntervalSince1970: 1_580_428_800), issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(), issuerPrivateKey: .init(key))
        return (try cert.serializeAsPEM().pemString, key.pemRepresentation)
    }

    func testSelfSignedCertificatesForLabs() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            for (name, params, algorithm) in [
                ("ec", "", "SSL_KEY_ALGORITHM_EC"),
                (
                    "rsa",
                    #", "key_params": {"algorithm": "SSL_KEY_ALGORITHM_RSA", "rsa_params": {"key_size": "SSL_KEY_2048_BITS"}}"#,
                    "SSL_KEY_ALGORITHM_RSA"
                ),
            ] {
                let r = try await api.call(
                    .post, "/api/sslkeyandcertificate",
                    #"{"name": "\#(name)", "certificate": {"self_signed": true, "subject": {"common_name": "lab.example"}, "subject_alt_names": ["www.lab.example", "192.0.2.10"], "days_until_expire": 29}\#(params)}"#
                )
                XCTAssertEqual(r.status, 201, r.text)
                let c = try XCTUnwrap(r.json["certificate"])
                XCTAssertTrue(c["certificate"]?.string?.hasPrefix("-----BEGIN CERTIFICATE-----") ?? false)
                XCTAssertEqual(c["self_signed"], .bool(true))
                XCTAssertEqual(
                    c["subjectAltNames"],
                    .array([.string("lab.example"), .string("www.lab.example"), .string("192.0.2.10")]))
                XCTAssertEqual(c["expiry_status"]?.string, "SSL_CERTIFICATE_EXPIRY_WARNING", "29 days left")
                XCTAssertEqual(r.json["key_params"]?["algorithm"]?.string, algorithm)
                XCTAssertNil(r.json["key"])
            }
        }
    }

    func testSSLProfiles() async throws {
        let controller = try await makeController(temporaryDirectory())
        let (cert, key) = try openssl(cn: "www.example")
        try await withAPI(controller) { api in
            for name in ["System-Standard", "System-Standard-PFS"] {
                let r = try await api.call(.get, "/api/sslprofile?name=\(name)")
                XCTAssertEqual(r.json["count"], .int(1), name)
                let versions = Self.first(r.json)?["accepted_versions"]
                XCTAssertEqual(
                    versions,
                    .array([
                        .object(["type": .string("SSL_VERSION_TLS1_2")]),
                        .object(["type": .string("SSL_VERSION_TLS1_3")]),
                    ]))
            }
            let refused: [(String, String)] = [
                (
                    #"{"name": "p", "accepted_versions": [{"type": "SSL_VERSION_TLS1"}, {"type": "SSL_VERSION_TLS1_2"}]}"#,
                    "accepted_versions: must be a contiguous range"
                ),
                (
                    #"{"name": "p", "accepted_versions": [{"type": "SSL_VERSION_SSLV3"}]}"#,
                    "accepted_versions: SSL_VERSION_SSLV3"
                ),
                (#"{"name": "p", "accepted_versions": []}"#, "accepted_versions: must name at least one version"),
                (
                    #"{"name": "p", "accepted_versions": [{"type": "SSL_VERSION_TLS1_2"}], "cipher_enums": ["TLS_NOPE"]}"#,
                    "cipher_enums[0]: unknown cipher"
                ),
                (
                    #"{"name": "p", "accepted_versions": [{"type": "SSL_VERSION_TLS1_2"}], "accepted_ciphers": "NOPE-CIPHER"}"#,
                    "accepted_ciphers: cipher 1 \"NOPE-CIPHER\" is not one of"
                ),
            ]
            for (body, message) in refused {
                let r = try await api.call(.post, "/api/sslprofile", body)
                XCTAssertEqual(r.status, 400, message)
                XCTAssertTrue(r.string("error")?.hasPrefix(message) ?? false, "\(message) ≠ \(r.text)")
            }
            let custom = try await api.call(
                .post, "/api/sslprofile",
                #"{"name": "modern", "accepted_versions": [{"type": "SSL_VERSION_TLS1_3"}], "cipher_enums": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]}"#
            )
            XCTAssertEqual(custom.status, 201, custom.text)
            // A TLS virtual service refers to its certificate and profile.
            _ = try await api.call(.post, "/api/sslkeyandcertificate", Self.body("www", cert: cert, key: key))
            _ = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
            _ = try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip)
            let vs = try await api.call(
                .post, "/api/virtualservice",
                #"{"name": "secure", "vsvip_ref": "/api/vsvip/?name=web-vip", "pool_ref": "/api/pool/?name=web-pool", "services": [{"port": 443, "enable_ssl": true}], "ssl_key_and_certificate_refs": ["/api/sslkeyandcertificate/?name=www"], "ssl_profile_ref": "/api/sslprofile/?name=modern"}"#
            )
            XCTAssertEqual(vs.status, 201, vs.text)
            let inUse = try await api.call(.delete, "/api/sslprofile/\(custom.string("uuid")!)")
            XCTAssertEqual(inUse.status, 409, "a profile in use stays")
            // HTTP/2 is offered with TLS only, and its profile limits are checked.
            let h2Plain = try await api.call(
                .post, "/api/virtualservice",
                #"{"name": "h2c", "vsvip_ref": "/api/vsvip/?name=web-vip", "services": [{"port": 8080, "enable_http2": true}]}"#
            )
            XCTAssertEqual(h2Plain.status, 400)
            XCTAssertTrue(
                h2Plain.string("error")?.hasPrefix("services[0].enable_http2: needs enable_ssl") ?? false, h2Plain.text)
            let badH2 = try await api.call(
                .post, "/api/applicationprofile",
                #"{"name": "h2", "type": "APPLICATION_PROFILE_TYPE_HTTP", "http_profile": {"http2_profile": {"max_http2_concurrent_streams_per_connection": 1000}}}"#
            )
            XCTAssertEqual(badH2.status, 400)
            XCTAssertTrue(
                badH2.string("error")?.hasPrefix(
                    "http_profile.http2_profile.max_http2_concurrent_streams_per_connection: must be 1-256") ?? false,
                badH2.text)
            let h2 = try await api.call(
                .put, "/api/virtualservice/\(vs.string("uuid")!)",
                #"{"name": "secure", "vsvip_ref": "/api/vsvip/?name=web-vip", "pool_ref": "/api/pool/?name=web-pool", "services": [{"port": 443, "enable_ssl": true, "enable_http2": true}], "ssl_key_and_certificate_refs": ["/api/sslkeyandcertificate/?name=www"]}"#
            )
            XCTAssertEqual(h2.status, 200, h2.text)
        }
    }

    func testPKIProfilesAndReEncryptingPools() async throws {
        let controller = try await makeController(temporaryDirectory())
        let (cert, _) = try openssl(cn: "backend-ca")
        try await withAPI(controller) { api in
            let refused: [(String, String)] = [
                (#"{"name": "cas", "ca_certs": []}"#, "ca_certs: must have at least one CA certificate"),
                (#"{"name": "cas", "ca_certs": [{"certificate": "hello"}]}"#, "ca_certs[0].certificate: not a PEM"),
                (
                    #"{"name": "cas", "ca_certs": [{"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}]}"#,
                    "ca_certs[0].certificate: not a PEM certificate"
                ),
            ]
            for (body, message) in refused {
                let r = try await api.call(.post, "/api/pkiprofile", body)
                XCTAssertEqual(r.status, 400, message)
                XCTAssertTrue(r.string("error")?.hasPrefix(message) ?? false, "\(message) ≠ \(r.text)")
            }
            let pki = try await api.call(
                .post, "/api/pkiprofile",
                String(
                    decoding: try JSONSerialization.data(withJSONObject: [
                        "name": "cas", "ca_certs": [["certificate": cert]],
                    ]), as: UTF8.self))
            XCTAssertEqual(pki.status, 201, pki.text)

            let noTLS = try await api.call(
                .post, "/api/pool",
                #"{"name": "p1", "pki_profile_ref": "/api/pkiprofile/?name=cas", "servers": []}"#)
            XCTAssertEqual(noTLS.status, 400)
            XCTAssertTrue(
                noTLS.string("error")?.hasPrefix("pki_profile_ref: needs ssl_profile_ref") ?? false, noTLS.text)
            let noName = try await api.call(
                .post, "/api/pool",
                #"{"name": "p1", "ssl_profile_ref": "/api/sslprofile/?name=System-Standard", "pki_profile_ref": "/api/pkiprofile/?name=cas", "host_check_enabled": true}"#
            )
            XCTAssertEqual(noName.status, 400)
            XCTAssertTrue(
                noName.string("error")?.hasPrefix("host_check_enabled: needs pki_profile_ref and server_name") ?? false,
                noName.text)
            let pool = try await api.call(
                .post, "/api/pool",
                #"{"name": "p1", "ssl_profile_ref": "/api/sslprofile/?name=System-Standard", "pki_profile_ref": "/api/pkiprofile/?name=cas", "server_name": "backend.example", "host_check_enabled": true, "servers": [{"ip": {"addr": "198.18.1.10", "type": "V4"}, "port": 443}]}"#
            )
            XCTAssertEqual(pool.status, 201, pool.text)
            let inUse = try await api.call(.delete, "/api/pkiprofile/\(pki.string("uuid")!)")
            XCTAssertEqual(inUse.status, 409, "a PKI profile a pool uses stays")

            // A CA certificate (no key) that a server certificate names in ca_certs.
            let ca = try await api.call(
                .post, "/api/sslkeyandcertificate",
                String(
                    decoding: try JSONSerialization.data(withJSONObject: [
                        "name": "backend-ca", "type": "SSL_CERTIFICATE_TYPE_CA", "certificate": ["certificate": cert],
                    ]), as: UTF8.self))
            XCTAssertEqual(ca.status, 201, ca.text)
            let badRef = try await api.call(
                .post, "/api/sslkeyandcertificate",
                #"{"name": "leaf", "certificate": {"self_signed": true, "subject": {"common_name": "leaf.example"}}, "ca_certs": [{"ca_ref": "/api/pool/?name=p1"}]}"#
            )
            XCTAssertEqual(badRef.status, 400)
            XCTAssertTrue(badRef.string("error")?.hasPrefix("ca_certs[0].ca_ref") ?? false, badRef.text)
            let leaf = try await api.call(
                .post, "/api/sslkeyandcertificate",
                #"{"name": "leaf", "certificate": {"self_signed": true, "subject": {"common_name": "leaf.example"}}, "ca_certs": [{"ca_ref": "/api/sslkeyandcertificate/?name=backend-ca"}]}"#
            )
            XCTAssertEqual(leaf.status, 201, leaf.text)
            let caInUse = try await api.call(.delete, "/api/sslkeyandcertificate/\(ca.string("uuid")!)")
            XCTAssertEqual(caInUse.status, 409, "a CA another certificate sends stays")
        }
    }

    func testASecretsKeyFileOfTheWrongSizeStopsTheController() async throws {
        let path = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path + "/secrets.key", contents: Data("short".utf8))
        do {
            _ = try await makeController(path)
            XCTFail("a 5-byte key file must be refused")
        } catch {
            XCTAssertTrue("\(error)".contains("must hold 32 bytes, not 5"), "\(error)")
        }
    }
}
