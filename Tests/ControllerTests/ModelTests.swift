import Foundation
import StarlingModel
import XCTest

@testable import Controller

final class ModelTests: XCTestCase {
    func testObjectRefs() {
        XCTAssertEqual(ObjectRef("/api/pool/pool-1")?.key, .uuid("pool-1"))
        XCTAssertEqual(ObjectRef("https://ctl:9443/api/pool/pool-1#web")?.key, .uuid("pool-1"))
        XCTAssertEqual(ObjectRef("/api/pool/?name=web pool")?.key, .name("web pool"))
        XCTAssertEqual(ObjectRef("/api/pool?name=a%20b&tenant=blue")?.tenant, "blue")
        XCTAssertEqual(ObjectRef("/api/pool?name=a%20b")?.key, .name("a b"))
        XCTAssertNil(ObjectRef("pool-1"))
        XCTAssertNil(ObjectRef("/api/pool/"))
    }

    func testResolverByNameWithSystemDefaults() throws {
        let json = """
            {"pool": [{"name": "p", "servers": [{"ip": {"addr": "127.0.0.1", "type": "V4"}, "port": 9001}]}],
             "vsvip": [{"name": "v", "vip": [{"vip_id": "0", "ip_address": {"addr": "127.0.0.1", "type": "V4"}}]}],
             "virtualservice": [{"name": "web", "vsvip_ref": "/api/vsvip/?name=v", "services": [{"port": 8080}],
               "pool_ref": "/api/pool/?name=p", "application_profile_ref": "/api/applicationprofile/?name=System-HTTP"}]}
            """
        let set = try StrictJSON.decode(ObjectSet.self, from: Data(json.utf8))
        try set.validate()
        let resolved = try Resolver(set).resolveAll()
        XCTAssertEqual(resolved.first?.pool?.name, "p")
        XCTAssertEqual(resolved.first?.application_profile.type, .http)
        var broken = set
        broken.virtualservice![0].pool_ref = "/api/pool/?name=q"
        XCTAssertThrowsError(try Resolver(broken).resolveAll()) { e in
            XCTAssertEqual((e as? ResolveError)?.field, "virtualservice[web].pool_ref")
        }
    }

    func testResolverChainsCACertificatesAndRefusesOthers() throws {
        var set = ObjectSet(
            vsvip: [VsVip(name: "v", vip: [.init(vip_id: "0", ip_address: IpAddr(addr: "127.0.0.1", type: .v4))])],
            virtualservice: [
                VirtualService(
                    name: "web", services: [.init(port: 443, enable_ssl: true)], vsvip_ref: "/api/vsvip/?name=v",
                    ssl_key_and_certificate_refs: ["/api/sslkeyandcertificate/?name=www"])
            ])
        var inter = SSLKeyAndCertificate(name: "inter", certificate: .init(certificate: "INTER"), key: nil)
        inter.type = .ca
        var www = SSLKeyAndCertificate(name: "www", certificate: .init(certificate: "LEAF"), key: "KEY")
        www.ca_certs = [.init(ca_ref: "/api/sslkeyandcertificate/?name=inter")]
        set.sslkeyandcertificate = [www, inter]
        let resolved = try Resolver(set).resolveAll()
        XCTAssertEqual(resolved.first?.ssl_ca_chains, ["INTER"])

        set.sslkeyandcertificate![1].type = .virtualService
        XCTAssertThrowsError(try Resolver(set).resolveAll()) { e in
            XCTAssertEqual((e as? ResolveError)?.field, "sslkeyandcertificate[www].ca_certs[0].ca_ref")
        }
    }

    func testStrictDecodingNamesNestedUnknownFields() {
        let json = #"{"name": "p", "servers": [{"ip": {"addr": "10.0.0.1", "type": "V4", "mask": 8}}]}"#
        XCTAssertThrowsError(try StrictJSON.decode(Pool.self, from: Data(json.utf8))) { e in
            XCTAssertEqual((e as? ModelError)?.field, "servers[0].ip.mask")
        }
    }

    func testDigestAndPBKDF2Vectors() {
        // FIPS 180-2 SHA-256 "abc", through the SE-secret digest.
        XCTAssertEqual(Secrets.digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // RFC 7914 §11.
        XCTAssertEqual(
            Secrets.hex(
                PasswordHasher.derive(
                    password: Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1, length: 64)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                + "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
        XCTAssertEqual(
            Secrets.hex(
                PasswordHasher.derive(password: Array("password".utf8), salt: Array("salt".utf8), iterations: 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a")
        // A stored hash from before (Django's format; computed independently with Python's hashlib).
        let stored = "pbkdf2_sha256$1000$c2FsdHNhbHRzYWx0c2FsdA==$WvZkLIISziGPwb+iYiuU3DVgHU+L4BfuFzBPiwxCFPA="
        XCTAssertTrue(PasswordHasher.verify("s3cret!", against: stored))
        let h = PasswordHasher(iterations: 1000).hash("s3cret!")
        XCTAssertTrue(h.hasPrefix("pbkdf2_sha256$1000$"))
        XCTAssertTrue(PasswordHasher.verify("s3cret!", against: h))
        XCTAssertFalse(PasswordHasher.verify("s3cret?", against: h))
    }

    func testLivenessWithManualClock() {
        var l = SELiveness(downAfter: 3)
        l.seen("a", at: 10)
        XCTAssertEqual(l.state("a", now: 12.9).state, .up)
        XCTAssertEqual(l.state("a", now: 13.5).state, .down)
        l.seen("a", at: 14, draining: true)
        XCTAssertEqual(l.state("a", now: 14).state, .draining)
        l.grace(["b"], now: 20)
        XCTAssertEqual(l.state("b", now: 22).state, .up)
        XCTAssertEqual(l.state("b", now: 23.1).state, .down)
        XCTAssertEqual(l.state("c", now: 0).state, .down)
        l.grace(["d"], now: 30, period: 6)
        XCTAssertEqual(l.state("d", now: 35.9).state, .up)
        XCTAssertTrue(l.state("d", now: 35).reason.contains("controller restarted"))
        XCTAssertEqual(l.state("d", now: 36.1).state, .down)
        l.seen("d", at: 31)
        XCTAssertEqual(l.state("d", now: 34.5).state, .down, "once heard from, the usual down-after counts")
    }
}
