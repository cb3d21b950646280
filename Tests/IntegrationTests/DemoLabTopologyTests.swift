import Foundation
import Lab
import SE
import StarlingHTTP
import XCTest

/// The demo topology without the controller and the SE: namespaces and links, BIRD with ECMP (fed by three
/// `starling bgp` speakers standing in for the SEs, when the executable is built), pool servers answering the
/// client through the router, the HTTP client from inside a namespace, and teardown.
final class DemoLabTopologyTests: XCTestCase {
    private func skipUnlessPossible() throws {
        guard Lab.isRoot else {
            print("IntegrationTests: needs root for network namespaces; skipping DemoLab")
            throw XCTSkip("needs root (euid \(geteuid()))")
        }
        if let reason = Lab.namespaceSupport() {
            print("IntegrationTests: \(reason); skipping DemoLab")
            throw XCTSkip(reason)
        }
        let missing = Command.missing(BIRD.requiredPrograms + ["curl", "python3", "ip", "ss", "sysctl"])
        guard missing.isEmpty else {
            print("IntegrationTests: missing \(missing.joined(separator: ", ")); skipping DemoLab")
            throw XCTSkip("missing programs \(missing.joined(separator: ", "))")
        }
    }

    func testTopologyRouterServersAndTeardown() async throws {
        try skipUnlessPossible()
        let binary = StarlingBGP.locateBinary()
        let lab = try DemoLab.forTest(binary: binary ?? "starling")
        var tornDown = false
        defer { if !tornDown { lab.down() } }
        do {
            try await exercise(lab, binary: binary)
        } catch {
            print("IntegrationTests: DemoLab failed: \(error)\n\(lab.status())\n\(lab.report())")
            throw error
        }
        let namespaces = lab.state.namespaces
        let processes = Array(lab.state.processes.values)
        let directory = lab.directory
        lab.down()
        tornDown = true
        let left = Set(Namespace.all())
        XCTAssertTrue(namespaces.allSatisfy { !left.contains($0) }, "namespaces left: \(left)")
        for process in processes { XCTAssertFalse(process.isRunning, "\(process.name) still runs") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory))
        XCTAssertEqual(DemoLab.down(name: lab.name), [], "a second down finds nothing")
    }

    private func exercise(_ lab: DemoLab, binary: String?) async throws {
        try lab.buildTopology()
        let expected =
            ["router", "client", "ctrl"] + lab.seNames + lab.serverNames
        XCTAssertEqual(Set(lab.state.namespaces), Set(expected.map(lab.namespace)))
        XCTAssertTrue(Set(Namespace.all()).isSuperset(of: expected.map(lab.namespace)))
        let hashPolicy = try Command.check([
            "ip", "netns", "exec", lab.namespace("router"), "sysctl", "-n", "net.ipv4.fib_multipath_hash_policy",
        ])
        XCTAssertEqual(hashPolicy.trimmingCharacters(in: .whitespacesAndNewlines), "1", "L4 multipath hash")

        // A sweep by the generic lab (a later test run) leaves the demo namespaces alone.
        Lab.sweepStale()
        XCTAssertTrue(Set(Namespace.all()).isSuperset(of: expected.map(lab.namespace)))

        try lab.startRouter()
        XCTAssertEqual(Set(try lab.routerSessions().keys), Set((1...3).map(DemoLab.Address.seData)))
        try lab.startServers()

        // The client reaches both servers through the router; the servers see the client's own address.
        for (index, server) in lab.serverNames.enumerated() {
            let address = DemoLab.Address.server(index + 1)
            let answer = try lab.curlFromClient("http://\(address)/some/path")
            XCTAssertEqual(answer.status, 200, "\(server)")
            XCTAssertEqual(answer.body, "server=\(server) client=\(DemoLab.Address.client)\n")
            let health = try lab.curlFromClient("http://\(address)/health")
            XCTAssertEqual(health.status, 200)
            XCTAssertEqual(health.body, "ok\n")
        }
        // From an SE, a server sees the SE's data address (what the SE's proxy will use as source).
        let fromSE = try Command.check([
            "ip", "netns", "exec", lab.namespace("se2"), "curl", "-s", "--max-time", "5",
            "http://\(DemoLab.Address.server(1))/",
        ])
        XCTAssertEqual(fromSE, "server=srv1 client=\(DemoLab.Address.seData(2))\n")
        // The SEs reach the management segment (nothing listens yet: refused, not unreachable).
        let toCtrl = try Command.run([
            "ip", "netns", "exec", lab.namespace("se3"), "curl", "-s", "-o", "/dev/null", "--max-time", "3",
            "http://\(DemoLab.Address.controller):\(DemoLab.Address.controllerPort)/",
        ])
        XCTAssertEqual(toCtrl.status, 7, "curl exit 7 = connection refused: \(toCtrl)")

        // NamespaceHTTPClient from inside the client namespace, with keep-alive.
        let client = try NamespaceHTTPClient(
            baseURL: "http://\(DemoLab.Address.server(2))", networkNamespace: lab.namespace("client"))
        let first = try await client.request("GET", "/")
        let second = try await client.request("GET", "/again")
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.text, "server=srv2 client=\(DemoLab.Address.client)\n")
        XCTAssertEqual(second.text, first.text)
        await client.shutdown()
        do {
            let nowhere = try NamespaceHTTPClient(
                baseURL: "http://\(DemoLab.Address.controller):\(DemoLab.Address.controllerPort)",
                networkNamespace: lab.namespace("ctrl"))
            _ = try await nowhere.request("GET", "/", timeout: .seconds(2))
            XCTFail("no controller runs yet")
        } catch let error as HTTPClientError {
            XCTAssertEqual(error.kind, .connectFailed, "\(error)")
        }

        // A stopped server no longer answers; started again, it does.
        try lab.stopServer("srv1")
        XCTAssertEqual(try lab.curlFromClient("http://\(DemoLab.Address.server(1))/", timeout: 2).status, 0)
        try lab.startServer("srv1")
        XCTAssertEqual(try lab.curlFromClient("http://\(DemoLab.Address.server(1))/").status, 200)

        // Another process sees the lab through its state file.
        let attached = try DemoLab.attach(name: lab.name)
        XCTAssertEqual(Set(attached.state.processes.keys), ["bird-router", "srv1", "srv2"])
        XCTAssertTrue(attached.state.processes.values.allSatisfy(\.isRunning))
        XCTAssertTrue(attached.status().contains("bird-router: running"), attached.status())

        // Skipped, not passed, without the binary: in CI (every product built) a skip fails the run.
        guard let binary else { throw XCTSkip("the starling executable is not built: the ECMP part of DemoLab") }
        // Three BGP speakers in the SE namespaces announce the VIP: the router installs 3 ECMP next hops.
        var speakers: [DetachedProcess] = []
        for (offset, se) in lab.seNames.enumerated() {
            let address = DemoLab.Address.seData(offset + 1)
            let config = StarlingConfig(
                asn: DemoLab.seAS, routerID: address,
                peers: [
                    StarlingPeerConfig(
                        address: DemoLab.Address.routerData, asn: DemoLab.routerAS, localAddress: address,
                        holdTime: 9, passive: false, bfd: true)
                ], announce: ["\(DemoLab.Address.vip)/32"])
            let file = lab.path("\(se)-bgp.json")
            try config.json().write(toFile: file, atomically: true, encoding: .utf8)
            speakers.append(
                try DetachedProcess.spawn(
                    name: "bgp-\(se)", argv: [binary, "bgp", "--config", file], namespace: lab.namespace(se),
                    logPath: lab.path("bgp-\(se).log")))
        }
        defer { for speaker in speakers { speaker.stop(grace: 3) } }
        let hops = try await lab.waitForNextHops(count: 3, timeout: 30)
        XCTAssertEqual(Set(hops), Set((1...3).map(DemoLab.Address.seData)))
        XCTAssertEqual(Set(try lab.routerSessions().values), ["Established"])
        kill(speakers[1].pid, SIGKILL)
        let after = try await lab.waitForNextHops(count: 2, timeout: 15)
        XCTAssertEqual(Set(after), [DemoLab.Address.seData(1), DemoLab.Address.seData(3)])
        // A hung speaker (stopped, its TCP session still open, hold time 9 s) leaves the ECMP group by BFD:
        // the router runs it at 100 ms × 3 with every SE.
        try Wait.until("router BFD Up with the SE", timeout: 15) {
            try lab.birdc(["show", "bfd", "sessions"]).split(separator: "\n").contains {
                $0.hasPrefix(DemoLab.Address.seData(3) + " ") && $0.contains(" Up ")
            }
        }
        let stopped = Date()
        kill(speakers[2].pid, SIGSTOP)
        defer { kill(speakers[2].pid, SIGCONT) }
        let left = try await lab.waitForNextHops(count: 1, timeout: 5)
        let elapsed = Date().timeIntervalSince(stopped)
        print("IntegrationTests: DemoLab: a stopped speaker left the ECMP group after \(Int(elapsed * 1000)) ms")
        XCTAssertEqual(left, [DemoLab.Address.seData(1)])
        XCTAssertLessThan(elapsed, 9, "gone by BFD, before the 9 s hold timer (\(elapsed) s)")
    }

    func testDownRemovesAHalfBuiltLab() async throws {
        try skipUnlessPossible()
        let lab = try DemoLab.forTest(binary: "starling")
        defer { lab.down() }
        try lab.buildTopology()
        try lab.startServer("srv1")
        let server = try XCTUnwrap(lab.state.processes["srv1"])
        XCTAssertThrowsError(try DemoLab.forTest(binary: "starling"), "a second lab of the same name") { error in
            XCTAssertTrue("\(error)".contains("already exists"), "\(error)")
        }
        // Lost state file: down still finds the namespaces by prefix.
        try FileManager.default.removeItem(atPath: lab.path("state.json"))
        let removed = DemoLab.down(name: lab.name)
        XCTAssertEqual(removed.filter { $0.hasPrefix("namespace ") }.count, lab.state.namespaces.count, "\(removed)")
        XCTAssertTrue(Namespace.all().allSatisfy { !$0.hasPrefix(lab.id + "-") })
        XCTAssertFalse(server.isRunning, "the server died with its namespace")
        XCTAssertFalse(FileManager.default.fileExists(atPath: lab.directory))
    }
}
