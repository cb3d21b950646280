import Foundation
import Lab
import XCTest

/// The controller cluster in the demo topology (issue 12): three etcd members and three controller nodes
/// in the ctrl namespace, two SEs given every node's URL, BIRD with ECMP and two pool servers. A virtual
/// service created through node 1 is served and visible through node 3; the leader is SIGKILLed while a
/// client keeps requesting the VIP (new connections and kept-alive ones): the API answers and takes writes
/// on the others within 10 s, a new leader is shown, the SEs re-attach to it, and no request fails; the killed
/// node comes back as a follower.
final class ControllerClusterLabTests: XCTestCase {
    static let programs = ["etcd", "curl", "python3"] + BIRD.requiredPrograms

    func testTheClusterKeepsServingWhileItsLeaderIsKilled() async throws {
        guard Lab.isRoot else {
            print("ControllerClusterLabTests: needs root for network namespaces; skipping")
            throw XCTSkip("needs root (euid \(geteuid()))")
        }
        if let reason = Lab.namespaceSupport() {
            print("ControllerClusterLabTests: \(reason); skipping")
            throw XCTSkip(reason)
        }
        let missing = Command.missing(Self.programs)
        guard missing.isEmpty else {
            print("ControllerClusterLabTests: missing \(missing.joined(separator: ", ")) (scripts/install-deps.sh)")
            throw XCTSkip("missing programs \(missing.joined(separator: ", "))")
        }
        guard let binary = StarlingBGP.locateBinary() else {
            XCTFail("the starling executable is not built")
            return
        }
        let lab = try DemoLab.forTest(binary: binary, seCount: 2, serverCount: 2, controllers: 3)
        defer { lab.down() }
        do {
            try await run(lab)
        } catch {
            XCTFail("\(error)\n\(lab.report(lines: 30))")
        }
    }

    private func run(_ lab: DemoLab) async throws {
        try await lab.up()
        try await lab.waitForNextHops(count: 2, timeout: 90)

        // Made through node 1, seen through node 3 (the runtime from the leader, wherever it is).
        let node3 = try await lab.session(node: 3)
        let vs = try await node3.object("virtualservice", named: "demo-vs")
        let uuid = try XCTUnwrap(vs["uuid"] as? String)
        try await DemoLab.wait("demo-vs is up on both SEs through node 3", timeout: 30) {
            let runtime = try await node3.call("GET", "/api/virtualservice/\(uuid)/runtime") as? [String: Any]
            return (runtime?["oper_status"] as? [String: Any])?["state"] as? String == "OPER_UP" ? true : nil
        }

        // Who leads.
        let leader = try await DemoLab.wait("a leader is shown", timeout: 20) { try await self.leader(node3) }
        let killed = Int(leader.dropFirst("ctrl".count))!
        let survivors = (1...3).filter { $0 != killed }
        print("ControllerClusterLabTests: leader is \(leader)")

        // Client load through the VIP: new connections and kept-alive ones, until the stop file appears.
        let script = lab.path("load.py")
        try HTTPLoad.script.write(toFile: script, atomically: true, encoding: .utf8)
        let stopFile = lab.path("load.stop")
        let results = lab.path("load.json")
        let load = try DetachedProcess.spawn(
            name: "load", argv: ["python3", "-u", script, "http://\(DemoLab.Address.vip)/", stopFile, results],
            namespace: lab.namespace("client"), logPath: lab.path("load.log"))
        defer { load.stop() }
        try await Task.sleep(for: .seconds(2))

        // SIGKILL the leader; a surviving node takes writes and shows a new leader.
        let killedAt = ContinuousClock.now
        try lab.killControllerNode(killed)
        let other = survivors[0]
        let writable = try await DemoLab.wait("a surviving node takes a write", timeout: 10, interval: 0.1) {
            () async throws -> Duration? in
            guard let api = try? await lab.session(node: other, timeout: .seconds(2)) else { return nil }
            let created = try? await api.call(
                "POST", "/api/healthmonitor",
                json: ["name": "after-failover", "type": "HEALTH_MONITOR_TCP"] as [String: Any])
            return created == nil ? nil : ContinuousClock.now - killedAt
        }
        let survivor = try await lab.session(node: other)
        let newLeader = try await DemoLab.wait("a new leader is shown", timeout: 10, interval: 0.1) {
            () async throws -> String? in
            guard let name = try await self.leader(survivor), name != leader else { return nil }
            return name
        }
        let electedAfter = ContinuousClock.now - killedAt
        XCTAssertLessThan(electedAfter, .seconds(10))
        print(
            "ControllerClusterLabTests: \(leader) killed; writes through ctrl\(other) after \(writable), "
                + "new leader \(newLeader) after \(electedAfter)")

        // The SEs re-attach: each moves to another node (they talked to the leader) and the new leader has
        // both up for demo-vs.
        let reattached = try await DemoLab.wait("both SEs report to the new leader", timeout: 30) {
            () async throws -> Duration? in
            let moved = lab.seNames.allSatisfy {
                ((try? String(contentsOfFile: lab.path("\($0).log"), encoding: .utf8)) ?? "")
                    .contains("talking to another controller node")
            }
            let runtime = try await survivor.call("GET", "/api/virtualservice/\(uuid)/runtime") as? [String: Any]
            let reason = (runtime?["oper_status"] as? [String: Any])?["reason"] as? String ?? ""
            return moved && reason.hasPrefix("up on 2 of 2") ? ContinuousClock.now - killedAt : nil
        }
        print("ControllerClusterLabTests: SEs report to \(newLeader) \(reattached) after the kill")
        try await Task.sleep(for: .seconds(2))
        XCTAssertEqual(try lab.routerNextHops().count, 2, "the VIP stayed on both SEs")

        XCTAssertTrue(FileManager.default.createFile(atPath: stopFile, contents: nil))
        XCTAssertTrue(load.waitForExit(timeout: 20), load.logTail())
        let figures =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: results))) as? [String: Any]
        let total = figures?["total"] as? Int ?? 0
        let failed = figures?["failed"] as? Int ?? -1
        print("ControllerClusterLabTests: \(total) requests through the failover, \(failed) failed")
        XCTAssertGreaterThan(total, 100, "the load ran through the failover")
        XCTAssertEqual(failed, 0, "no request fails: \(figures?["errors"] ?? [])")

        // The killed node comes back as a follower.
        try await lab.startControllerNode(killed)
        let back = try await lab.session(node: killed)
        let roles = try await DemoLab.wait("ctrl\(killed) is a follower again", timeout: 20) {
            () async throws -> [String: String]? in
            let roles = try await self.roles(back)
            return roles["ctrl\(killed)"] == "CLUSTER_FOLLOWER" && roles[newLeader] == "CLUSTER_LEADER" ? roles : nil
        }
        print("ControllerClusterLabTests: roles after the restart: \(roles)")

        // Two PUTs of one object at once through two nodes, both from the same read: one wins, the other is
        // refused (412: its _last_modified is no longer the stored one), and the stored object is the winner's.
        let (a, b) = (try await lab.session(node: killed), survivor)
        var pool = try await a.object("pool", named: "demo-pool")
        let poolUUID = try XCTUnwrap(pool["uuid"] as? String)
        pool.removeValue(forKey: "url")
        var first = pool
        first["description"] = "through ctrl\(killed)"
        var second = pool
        second["description"] = "through ctrl\(other)"
        let (firstBody, secondBody) = (
            try JSONSerialization.data(withJSONObject: first), try JSONSerialization.data(withJSONObject: second)
        )
        async let one = a.request(
            "PUT", "/api/pool/\(poolUUID)", json: try JSONSerialization.jsonObject(with: firstBody))
        async let two = b.request(
            "PUT", "/api/pool/\(poolUUID)", json: try JSONSerialization.jsonObject(with: secondBody))
        let statuses = [try await one.status, try await two.status]
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 1, "one PUT wins: \(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 412 || $0 == 409 }.count, 1, "the other is refused: \(statuses)")
        let stored = try await b.object("pool", named: "demo-pool")
        let winner = statuses[0] == 200 ? "through ctrl\(killed)" : "through ctrl\(other)"
        XCTAssertEqual(stored["description"] as? String, winner, "the winner's write is the one kept")
        XCTAssertEqual((stored["servers"] as? [Any])?.count, 2, "nothing else lost")
    }

    /// Node name → role from `GET /api/cluster/runtime`.
    private func roles(_ api: DemoAPI) async throws -> [String: String] {
        let runtime = try await api.call("GET", "/api/cluster/runtime") as? [String: Any]
        var roles: [String: String] = [:]
        for state in runtime?["node_states"] as? [[String: Any]] ?? [] {
            if let name = state["name"] as? String { roles[name] = state["role"] as? String }
        }
        return roles
    }

    private func leader(_ api: DemoAPI) async throws -> String? {
        try await roles(api).first { $0.value == "CLUSTER_LEADER" }?.key
    }
}
