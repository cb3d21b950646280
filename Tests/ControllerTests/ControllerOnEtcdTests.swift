import Foundation
import HummingbirdTesting
import StarlingModel
import XCTest

@testable import Controller

/// A controller whose configuration lives in a real etcd (`--store etcd`): the API, SE registration and
/// placement work as on SQLite; a restarted node finds everything (objects, users, placement, desired
/// versions) in etcd, not in its data directory; one node holds the store at a time.
final class ControllerOnEtcdTests: XCTestCase {
    func testTheWholeControllerRunsOnEtcdAndARestartedNodeFindsItsState() async throws {
        let etcd = try EtcdTestServer(self)
        defer { etcd.stop() }
        let store = ControllerConfiguration.StoreChoice.etcd(endpoints: [etcd.endpoint], prefix: "/starling/")
        let firstDirectory = temporaryDirectory()
        let first = try await makeController(firstDirectory) {
            $0.store = store
            $0.nodeName = "node-1"
        }
        let (se, vs, pool) = try await withAPI(first) { api in
            let r = try await AgentTests.register(api, try await AgentTests.token(api), "se1")
            let pool = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
            XCTAssertEqual(pool.status, 201, pool.text)
            _ = try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip)
            let vs = try await api.call(.post, "/api/virtualservice", ObjectAPITests.vs)
            XCTAssertEqual(vs.status, 201, vs.text)
            // A second VS of the same name is refused: the name check ran on the store's state.
            let again = try await api.call(.post, "/api/virtualservice", ObjectAPITests.vs)
            XCTAssertEqual(again.status, 409, again.text)
            assertEqual(try await api.call(.post, "/api/user", ObjectAPITests.ops).status, 201)
            return (r.string("se_uuid")!, vs.string("uuid")!, pool.string("uuid")!)
        }
        let placed = await first.reconciler.currentPlacement().serviceEngines(for: vs)
        XCTAssertEqual(placed, [se])
        let firstVersion = await first.reconciler.desiredState(se)?.version
        let version = try XCTUnwrap(firstVersion)

        // While node-1 holds the store, another node is refused with the holder's name.
        do {
            _ = try await makeController(temporaryDirectory()) {
                $0.store = store
                $0.nodeName = "node-2"
            }
            XCTFail("a second node should be refused")
        } catch {
            XCTAssertTrue("\(error)".contains("node-1"), "\(error)")
        }

        // node-1 stops. A node with another secrets key is refused (certificate keys would not open on it).
        await first.close()
        do {
            _ = try await makeController(temporaryDirectory()) {
                $0.store = store
                $0.nodeName = "node-2"
            }
            XCTFail("a node with another secrets key should be refused")
        } catch {
            XCTAssertTrue("\(error)".contains("secrets key"), "\(error)")
        }
        // node-2, with a copy of node-1's key file and an otherwise empty data directory, finds everything
        // in etcd.
        let secondDirectory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: secondDirectory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: firstDirectory + "/secrets.key", toPath: secondDirectory + "/secrets.key")
        let second = try await makeController(secondDirectory) {
            $0.store = store
            $0.nodeName = "node-2"
        }
        defer { Task { await second.close() } }
        let kept = await second.reconciler.desiredState(se)?.version
        XCTAssertEqual(kept, version, "same content, same version on the next node")
        let placedAgain = await second.reconciler.currentPlacement().serviceEngines(for: vs)
        XCTAssertEqual(placedAgain, [se])
        try await withAPI(second) { api in
            let p = try await api.call(.get, "/api/pool/\(pool)")
            XCTAssertEqual(p.status, 200, p.text)
            XCTAssertEqual(p.string("name"), "web-pool")
            // The user made through node-1 logs in on node-2 (credentials are in etcd too).
            assertEqual(try await api.call(.get, "/api/pool", auth: "ops:ops-secret-1").status, 200)
            // The audit trail of node-1's writes is there.
            let audit = try await api.call(.get, "/api/analytics/logs?type=2&obj_uuid=\(pool)")
            XCTAssertEqual(audit.status, 200, audit.text)
            XCTAssertEqual(audit.json["count"], .int(1), audit.text)
        }
    }
}
