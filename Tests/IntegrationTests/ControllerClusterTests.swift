import Foundation
import StarlingHTTP
import TestSupport
import XCTest

/// Three `starling controller` processes on a three-member etcd cluster, all on loopback (no root): a
/// write through one node is read through another; SIGKILL of the leader leaves the API writable on the
/// others at once and a new leader within the lease's time; two PUTs of one stale copy through two nodes:
/// one lands, the other gets 412; the killed node comes back as a follower; SIGKILL of an etcd member
/// leaves every node writing and reading (the client moves to another member, the watch follows).
final class ControllerClusterTests: XCTestCase {
    /// The controllers' lease on etcd: a dead leader is replaced within it plus the followers' 1 s retry.
    let leaseTTL = 5.0

    final class Processes: @unchecked Sendable {
        var all: [String: Process] = [:]
        func kill(_ name: String) {
            guard let p = all[name], p.isRunning else { return }
            Foundation.kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        deinit { for name in all.keys { kill(name) } }
    }

    func testThreeControllersOnThreeEtcdMembers() async throws {
        guard let etcdBinary = EtcdTestServer.binary else { throw XCTSkip("etcd is not installed") }
        let binary = try starlingBinary()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-cluster-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let processes = Processes()
        defer {
            for name in processes.all.keys { processes.kill(name) }
            try? FileManager.default.removeItem(atPath: directory)
        }
        func start(_ name: String, _ executable: String, _ arguments: [String], environment: [String: String] = [:])
            throws
        {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = arguments
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            FileManager.default.createFile(atPath: "\(directory)/\(name).log", contents: nil)
            let log = FileHandle(forWritingAtPath: "\(directory)/\(name).log")
            p.standardOutput = log
            p.standardError = log
            try p.run()
            processes.all[name] = p
        }

        // The etcd cluster.
        let clientPorts = (0..<3).map { _ in PortReservation() }
        let peerPorts = (0..<3).map { _ in PortReservation() }
        defer { withExtendedLifetime((clientPorts, peerPorts)) {} }
        let members = (0..<3).map { "e\($0)=http://127.0.0.1:\(peerPorts[$0].port)" }.joined(separator: ",")
        let endpoints = clientPorts.map { "http://127.0.0.1:\($0.port)" }
        for i in 0..<3 {
            try start(
                "etcd\(i)", etcdBinary,
                [
                    "--name", "e\(i)", "--data-dir", "\(directory)/etcd\(i)", "--listen-client-urls", endpoints[i],
                    "--advertise-client-urls", endpoints[i], "--listen-peer-urls",
                    "http://127.0.0.1:\(peerPorts[i].port)", "--initial-advertise-peer-urls",
                    "http://127.0.0.1:\(peerPorts[i].port)", "--initial-cluster", members,
                    "--initial-cluster-state", "new", "--max-txn-ops", "4096", "--log-level", "error",
                ])
        }

        // Three controller nodes, each trying its own etcd member first; every node gets the first node's
        // secrets key.
        let apiPorts = (0..<3).map { _ in PortReservation() }
        defer { withExtendedLifetime(apiPorts) {} }
        let apis = try apiPorts.map { try HTTPClient(baseURL: "http://127.0.0.1:\($0.port)") }
        func startController(_ i: Int) throws {
            let data = "\(directory)/ctl\(i)"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            if i > 0, !FileManager.default.fileExists(atPath: data + "/secrets.key") {
                try FileManager.default.copyItem(atPath: "\(directory)/ctl0/secrets.key", toPath: data + "/secrets.key")
            }
            let order = (0..<3).map { endpoints[($0 + i) % 3] }.joined(separator: ",")
            try start(
                "ctl\(i)", binary,
                [
                    "controller", "--listen", "127.0.0.1:\(apiPorts[i].port)", "--insecure-http", "--data-dir", data,
                    "--store", "etcd",
                    "--etcd-endpoints", order, "--node-name", "ctl\(i)", "--password-iterations", "1000",
                ], environment: ["STARLING_ADMIN_PASSWORD": "cluster-password-1"])
        }
        let auth = [("Authorization", "Basic " + Data("admin:cluster-password-1".utf8).base64EncodedString())]
        func call(_ node: Int, _ method: String, _ path: String, _ body: String? = nil) async throws -> HTTPResponse {
            try await apis[node].request(
                method, path, headers: auth + [("Content-Type", "application/json")],
                body: body.map { Array($0.utf8) }, timeout: .seconds(5))
        }
        func roles(_ node: Int) async -> [String: String] {
            guard let r = try? await call(node, "GET", "/api/cluster/runtime"), r.status == 200,
                let json = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any],
                let states = json["node_states"] as? [[String: Any]]
            else { return [:] }
            var out: [String: String] = [:]
            for s in states { out[s["name"] as? String ?? ""] = s["role"] as? String }
            return out
        }
        func eventually(_ what: String, within seconds: Double, _ check: () async throws -> Bool) async throws {
            let start = ContinuousClock.now
            while try await !check() {
                if ContinuousClock.now - start > .seconds(seconds) {
                    XCTFail("not within \(seconds) s: \(what)")
                    throw EtcdTestFailure(what)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        try startController(0)
        try await eventually("ctl0 answers", within: 30) {
            (try? await call(0, "GET", "/api/initial-data"))?.status == 200
        }
        try startController(1)
        try startController(2)
        try await eventually("three nodes, ctl0 leads", within: 30) {
            await roles(2) == ["ctl0": "CLUSTER_LEADER", "ctl1": "CLUSTER_FOLLOWER", "ctl2": "CLUSTER_FOLLOWER"]
        }

        // A write through one node is read through another.
        let created = try await call(0, "POST", "/api/pool", #"{"name": "p1"}"#)
        XCTAssertEqual(created.status, 201, created.text)
        let uuid = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(created.body)) as? [String: Any])?["uuid"] as? String)
        try await eventually("ctl2 reads ctl0's write", within: 5) {
            (try? await call(2, "GET", "/api/pool/\(uuid)"))?.status == 200
        }

        // What only the leader knows (runtime, inventories, analytics) a follower asks of it.
        let inventory = try await call(2, "GET", "/api/virtualservice-inventory")
        XCTAssertEqual(inventory.status, 200, inventory.text)
        XCTAssertEqual(inventory.header("X-Starling-Node"), "ctl0", "answered by the leader")
        let local = try await call(0, "GET", "/api/virtualservice-inventory")
        XCTAssertNil(local.header("X-Starling-Node"), "the leader answers itself")

        // SIGKILL of the leader: the others accept writes at once, and one of them leads within the lease.
        processes.kill("ctl0")
        let killed = ContinuousClock.now
        let write = try await call(1, "POST", "/api/pool", #"{"name": "p2"}"#)
        XCTAssertEqual(write.status, 201, "a follower accepts writes while the leader is dead: \(write.text)")
        try await eventually("a new leader", within: leaseTTL + 3) {
            let r = await roles(1)
            return r["ctl0"] == nil && r.values.filter { $0 == "CLUSTER_LEADER" }.count == 1
        }
        print("IntegrationTests: new controller leader \(ContinuousClock.now - killed) after SIGKILL of the leader")
        let leader = await roles(1).first { $0.value == "CLUSTER_LEADER" }?.key
        let follower = leader == "ctl1" ? 2 : 1
        let asked = try await call(follower, "GET", "/api/serviceengine-inventory")
        XCTAssertEqual(asked.status, 200, asked.text)
        XCTAssertEqual(asked.header("X-Starling-Node"), leader, "the new leader answers for the follower")

        // One stale copy PUT through two nodes at once: one lands, the other is refused with 412.
        let copy = try await call(1, "GET", "/api/pool/\(uuid)")
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(copy.body)) as? [String: Any])
        object["description"] = "changed"
        let stale = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        async let a = call(1, "PUT", "/api/pool/\(uuid)", stale)
        async let b = call(2, "PUT", "/api/pool/\(uuid)", stale)
        let statuses = try await [a.status, b.status].sorted()
        XCTAssertEqual(statuses, [200, 412])

        // The killed node comes back as a follower.
        try startController(0)
        try await eventually("ctl0 back as a follower", within: 30) {
            let r = await roles(0)
            return r["ctl0"] == "CLUSTER_FOLLOWER" && r.count == 3
        }

        // SIGKILL of an etcd member (ctl1's first): every node still writes and sees the others' writes.
        processes.kill("etcd1")
        for node in 0..<3 {
            try await eventually("ctl\(node) writes with an etcd member down", within: 10) {
                (try? await call(node, "POST", "/api/pool", #"{"name": "after-etcd-\#(node)"}"#))?.status == 201
            }
        }
        for node in 0..<3 {
            try await eventually("ctl\(node) reads every node's write", within: 10) {
                for other in 0..<3 {
                    let list = try? await call(node, "GET", "/api/pool?name=after-etcd-\(other)")
                    guard let list, list.status == 200, list.text.contains("\"count\":1") else { return false }
                }
                return true
            }
        }
        for api in apis { await api.shutdown() }
    }
}
