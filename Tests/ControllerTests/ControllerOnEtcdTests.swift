import Foundation
import Hummingbird
import HummingbirdTesting
import StarlingModel
import TestSupport
import XCTest

@testable import Controller

/// A controller whose configuration lives in a real etcd (`--store etcd`): the API, SE registration and
/// placement work as on SQLite; a restarted node finds everything (objects, users, placement, desired
/// versions) in etcd, not in its data directory. Several nodes on one etcd form a cluster: every node serves
/// the API, the leader runs the reconciler and serves the SEs, and another node takes over when it goes.
final class ControllerOnEtcdTests: XCTestCase {
    func testTheWholeControllerRunsOnEtcdAndARestartedNodeFindsItsState() async throws {
        let etcd = try EtcdTestServer(self)
        defer { etcd.stop() }
        let (first, firstDirectory) = try await node("node-1", on: etcd)
        try await waitUntil("node-1 leads") { first.isLeader }
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

        // node-1 stops. A node with another secrets key is refused (certificate keys would not open on it).
        await first.close()
        do {
            _ = try await node("node-2", on: etcd)
            XCTFail("a node with another secrets key should be refused")
        } catch {
            XCTAssertTrue("\(error)".contains("secrets key"), "\(error)")
        }
        // node-2, with a copy of node-1's key file and an otherwise empty data directory, finds everything
        // in etcd.
        let (second, _) = try await node("node-2", on: etcd, keyFrom: firstDirectory)
        defer { Task { await second.close() } }
        try await waitUntil("node-2 leads") { second.isLeader }
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

    /// Two nodes on one etcd: both serve the API, a write through one is seen through the other and placed
    /// by the leader's reconciler; the follower sends SEs to the leader; two PUTs of one stale copy through
    /// the two nodes: one lands, the other gets 412; when the leader stops, the follower leads, with the
    /// placement and desired versions as they were.
    func testTwoNodesShareTheConfigurationAndTheFollowerTakesOver() async throws {
        let etcd = try EtcdTestServer(self)
        defer { etcd.stop() }
        let (first, firstDirectory) = try await node("node-1", on: etcd, address: "127.0.0.1:8443")
        try await waitUntil("node-1 leads") { first.isLeader }
        let (second, _) = try await node("node-2", on: etcd, keyFrom: firstDirectory, address: "127.0.0.2:8443")
        defer { Task { await second.close() } }
        try await Task.sleep(for: .milliseconds(1500))
        XCTAssertTrue(first.isLeader)
        XCTAssertFalse(second.isLeader, "one leader")

        // The SE registers with the leader; the follower sends it there.
        let token = try await withAPI(first) { api in try await AgentTests.token(api) }
        let refused = try await withAPI(second) { api in try await AgentTests.register(api, token, "se1") }
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertTrue(refused.text.contains("node-1 at 127.0.0.1:8443"), refused.text)
        let registered = try await withAPI(first) { api in try await AgentTests.register(api, token, "se1") }
        XCTAssertEqual(registered.status, 200, registered.text)
        let se = try XCTUnwrap(registered.string("se_uuid"))

        // The configuration is written through the follower; the leader places it.
        let vs = try await withAPI(second) { api in
            assertEqual(try await api.call(.post, "/api/pool", ObjectAPITests.pool).status, 201)
            assertEqual(try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip).status, 201)
            let vs = try await api.call(.post, "/api/virtualservice", ObjectAPITests.vs)
            XCTAssertEqual(vs.status, 201, vs.text)
            return try XCTUnwrap(vs.string("uuid"))
        }
        try await waitUntil("the leader places the VS made through the follower") {
            await first.reconciler.currentPlacement().serviceEngines(for: vs) == [se]
        }
        let seen = try await withAPI(first) { api in try await api.call(.get, "/api/virtualservice/\(vs)") }
        XCTAssertEqual(seen.status, 200, seen.text)

        // Both nodes show the same cluster: node-1 leads.
        for node in [first, second] {
            let runtime = try await withAPI(node) { api in try await api.call(.get, "/api/cluster/runtime") }
            XCTAssertEqual(runtime.status, 200, runtime.text)
            let roles = runtime.json["node_states"]?.array?.map {
                "\($0["name"]?.string ?? "") \($0["role"]?.string ?? "")"
            }
            XCTAssertEqual(roles, ["node-1 CLUSTER_LEADER", "node-2 CLUSTER_FOLLOWER"], runtime.text)
            let cluster = try await withAPI(node) { api in try await api.call(.get, "/api/cluster") }
            XCTAssertEqual(
                cluster.json["nodes"]?.array?.compactMap { $0["ip"]?["addr"]?.string }, ["127.0.0.1", "127.0.0.2"])
        }

        // One stale copy PUT through both nodes at once: one lands, the other is refused with 412.
        let copy = try await withAPI(first) { api in try await api.call(.get, "/api/virtualservice/\(vs)").json }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for (node, text) in [(first, "through node-1"), (second, "through node-2")] {
                var body = copy
                body["description"] = .string(text)
                let data = String(decoding: try JSONEncoder().encode(body), as: UTF8.self)
                let app = Application(responder: node.responder)
                group.addTask {
                    try await app.test(.router) { api in
                        try await api.call(.put, "/api/virtualservice/\(vs)", data).status
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }.sorted()
        }
        XCTAssertEqual(statuses, [200, 412])

        // The leader stops (once its pass has the winning PUT): the follower leads, with the placement and
        // version as they were.
        try await waitUntil("the leader's desired state has the PUT") {
            await first.reconciler.desiredState(se)?.virtual_services.first?.virtualservice.description != nil
        }
        let version = await first.reconciler.desiredState(se)?.version
        await first.close()
        try await waitUntil("node-2 leads", timeout: Double(EtcdStore.leaseTTL) + 3) { second.isLeader }
        let placed = await second.reconciler.currentPlacement().serviceEngines(for: vs)
        XCTAssertEqual(placed, [se], "no placement change without cause")
        let kept = await second.reconciler.desiredState(se)?.version
        XCTAssertEqual(kept, version)
        let accepted = try await withAPI(second) { api in
            try await api.call(
                .post, "/api/se-agent/register",
                #"{"token": "\#(token)", "name": "se1", "data_address": {"addr": "198.18.0.10", "type": "V4"}}"#,
                auth: nil)
        }
        XCTAssertEqual(accepted.status, 200, "the new leader serves the SEs: \(accepted.text)")
    }

    /// A controller node on `etcd` (prefix `/starling/`) with a fresh data directory, holding a copy of the
    /// secrets key in `keyFrom` when given (every node of a store needs the first node's); returns the node
    /// and its data directory.
    func node(_ name: String, on etcd: EtcdTestServer, keyFrom: String? = nil, address: String = "") async throws
        -> (Controller, String)
    {
        let directory = temporaryDirectory()
        if let keyFrom {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: keyFrom + "/secrets.key", toPath: directory + "/secrets.key")
        }
        let controller = try await makeController(directory) {
            $0.store = .etcd(endpoints: [etcd.endpoint], prefix: "/starling/")
            $0.nodeName = name
            $0.nodeAddress = address
        }
        return (controller, directory)
    }

    /// Polls `condition` every 20 ms until it holds, failing after `timeout` seconds.
    func waitUntil(_ what: String, timeout: Double = 5, _ condition: @Sendable () async throws -> Bool) async throws {
        let start = ContinuousClock.now
        while try await !condition() {
            if ContinuousClock.now - start > .seconds(timeout) {
                throw EtcdTestFailure("\(what): not within \(timeout) s")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
