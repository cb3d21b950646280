import Foundation
import HummingbirdTesting
import StarlingModel
import TestSupport
import XCTest

@testable import Controller

/// `GET /api/configuration/export` and `POST /api/configuration/import`: a SQLite controller's whole
/// configuration restored into a controller on etcd (the migration), where users log in with their
/// passwords, the SE's registration still holds and placement and versions are as they were.
final class ConfigurationBackupTests: XCTestCase {
    func testASQLiteBackupRestoresIntoEtcdWithUsersSERegistrationsAndPlacement() async throws {
        let etcd = try EtcdTestServer(self)
        defer { etcd.stop() }
        let sqliteDirectory = temporaryDirectory()
        let source = try await makeController(sqliteDirectory)
        let (backup, se, secret, vs, pool) = try await withAPI(source) { api in
            let registered = try await AgentTests.register(api, try await AgentTests.token(api), "se1")
            let pool = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
            _ = try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip)
            let vs = try await api.call(.post, "/api/virtualservice", ObjectAPITests.vs)
            assertEqual(try await api.call(.post, "/api/user", ObjectAPITests.ops).status, 201)
            let certificate = try await api.call(
                .post, "/api/sslkeyandcertificate",
                #"{"name": "lab", "certificate": {"self_signed": true, "subject": {"common_name": "lab.example"}}}"#)
            XCTAssertEqual(certificate.status, 201, certificate.text)
            // Only a System-Admin exports.
            assertEqual(try await api.call(.get, "/api/configuration/export", auth: "ops:ops-secret-1").status, 403)
            let export = try await api.call(.get, "/api/configuration/export")
            XCTAssertEqual(export.status, 200, export.text)
            XCTAssertFalse(export.text.contains("ops-secret-1"), "passwords are never in a backup, only hashes")
            return (
                export.json, registered.string("se_uuid")!, registered.string("se_secret")!, vs.string("uuid")!,
                pool.string("uuid")!
            )
        }
        XCTAssertEqual(backup["META"]?["format"], .string(ConfigurationBackup.format))
        XCTAssertEqual(backup["pool"]?.array?.count, 1)
        let placedBefore = await source.reconciler.currentPlacement().serviceEngines(for: vs)
        XCTAssertEqual(placedBefore, [se])
        let versionBefore = await source.reconciler.desiredState(se)?.version
        let body = String(
            decoding: try JSONEncoder().encode(JSONValue.object(["configuration": backup])), as: UTF8.self)

        // Another secrets key cannot open the certificate's key: refused, naming it, and nothing changes.
        let stranger = try await makeController(temporaryDirectory())
        try await withAPI(stranger) { api in
            let refused = try await api.call(.post, "/api/configuration/import", body)
            XCTAssertEqual(refused.status, 400, refused.text)
            XCTAssertTrue(refused.text.contains("sslkeyandcertificate lab"), refused.text)
            let bad = try await api.call(.post, "/api/configuration/import", #"{"configuration": {"pool": []}}"#)
            XCTAssertEqual(bad.status, 400)
            XCTAssertTrue(bad.text.contains("META.format"), bad.text)
            assertEqual(try await api.call(.get, "/api/pool/\(pool)").status, 404)
        }

        // Into etcd, with a copy of the key file.
        let etcdDirectory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: etcdDirectory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: sqliteDirectory + "/secrets.key", toPath: etcdDirectory + "/secrets.key")
        let target = try await makeController(etcdDirectory) {
            $0.store = .etcd(endpoints: [etcd.endpoint], prefix: "/starling/")
            $0.nodeName = "node-1"
        }
        defer { Task { await target.close() } }
        let started = ContinuousClock.now
        while !target.isLeader, ContinuousClock.now - started < .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await withAPI(target) { api in
            let restored = try await api.call(.post, "/api/configuration/import", body)
            XCTAssertEqual(restored.status, 200, restored.text)
            XCTAssertEqual(restored.json["serviceengines"], .int(1))
            let p = try await api.call(.get, "/api/pool/\(pool)")
            XCTAssertEqual(p.status, 200, p.text)
            XCTAssertEqual(p.string("name"), "web-pool")
            assertEqual(try await api.call(.get, "/api/pool", auth: "ops:ops-secret-1").status, 200)
            // The SE's registration holds: its heartbeat with the secret it was given by the SQLite controller.
            let beat = try await AgentTests.heartbeat(api, se, secret)
            XCTAssertEqual(beat.status, 200, beat.text)
            let audit = try await api.call(.get, "/api/analytics/logs?type=2&obj_uuid=admin")
            XCTAssertTrue(audit.text.contains("configuration restored"), audit.text)
        }
        let placedAfter = await target.reconciler.currentPlacement().serviceEngines(for: vs)
        XCTAssertEqual(placedAfter, [se], "the restore changed no placement")
        let versionAfter = await target.reconciler.desiredState(se)?.version

        XCTAssertEqual(versionAfter, versionBefore, "same content, same version")
    }
}
