import Foundation
import Lab
import SE
import XCTest

/// The whole appliance end to end (DESIGN §1, §5): a controller, three SEs registered with join tokens,
/// two pool servers, a BIRD router with ECMP and an L4 hash, and a client — all real processes in network
/// namespaces, configured only through the REST API. What is checked is what an operator would check:
/// the router's kernel route and requests from the client.
final class ApplianceE2ETests: XCTestCase {
    static let vip = DemoLab.Address.vip

    func testECMPScaleOutFailuresDrainAndControllerRestart() async throws {
        let lab = try makeLab()
        defer { lab.down() }
        do {
            try await run(lab)
        } catch {
            print("IntegrationTests: appliance e2e failed: \(error)\n\(lab.status())\n\(lab.report(lines: 40))")
            throw error
        }
    }

    private func run(_ lab: DemoLab) async throws {
        try await lab.up()
        // A VS with min_scaleout_per_vs 3 is advertised by 3 SEs; the router installs 3 next hops.
        let ses = (1...3).map(DemoLab.Address.seData)
        let hops = try await lab.waitForNextHops(Self.vip, count: 3, timeout: 60)
        XCTAssertEqual(Set(hops), Set(ses))

        // 150 fresh-connection requests all succeed, and every SE carried some (the pool server sees the
        // proxying SE's data address as the client).
        var carried: [String: Int] = [:]
        var unanswered = 0
        for attempt in 0..<150 {
            let (status, body) = try lab.curlFromClient("http://\(Self.vip)/", timeout: 3)
            XCTAssertEqual(status, 200, "request \(attempt): \(body)")
            if status == 0 { unanswered += 1 }
            if let client = body.split(separator: " ").first(where: { $0.hasPrefix("client=") }) {
                carried[String(client.dropFirst(7)).trimmingCharacters(in: .whitespacesAndNewlines), default: 0] += 1
            }
        }
        print("IntegrationTests: requests per SE \(carried.sorted { $0.key < $1.key })")
        if unanswered > 0 {
            // What the SEs and the router saw, to tell a lost SYN from a reset or a stalled proxy.
            print("IntegrationTests: \(unanswered) unanswered\n\(lab.status())\n\(lab.report(lines: 60))")
        }
        XCTAssertEqual(Set(carried.keys), Set(ses), "every SE carried some of the 150 requests")
        XCTAssertEqual(carried.values.reduce(0, +), 150)

        // The demo VS also serves HTTPS on 443 with the self-signed certificate made through the API, from
        // every SE (new connections spread by the router's ECMP).
        for _ in 0..<20 {
            let (status, body) = try lab.curlFromClient("https://\(Self.vip)/", timeout: 3)
            XCTAssertEqual(status, 200, "HTTPS through the SEs: \(body)")
        }
        // 443 has enable_http2: curl's ALPN offer gets HTTP/2.
        for _ in 0..<10 {
            let (status, version) = try lab.httpVersionFromClient("https://\(Self.vip)/", timeout: 3)
            XCTAssertEqual(status, 200)
            XCTAssertEqual(version, "2", "HTTP/2 through the SEs")
        }

        // The controller's analytics saw those requests, from the SEs' heartbeats: the 5-second samples of
        // demo-vs add up to at least the 180 requests sent (HTTP/2 ones included); a sample is stored once it
        // has ended, after the next heartbeat.
        let api = try await lab.session()
        let vsUUID = try await api.uuid("virtualservice", named: "demo-vs")
        var counted = 0.0
        let analyticsDeadline = Date().addingTimeInterval(15)
        while counted < 180, Date() < analyticsDeadline {
            let answer = try await api.call(
                "GET", "/api/analytics/metrics/virtualservice/\(vsUUID)?metric_id=l7_client.avg_total_requests&limit=60"
            )
            let series = (answer as? [String: Any])?["series"] as? [[String: Any]]
            let data = series?.first?["data"] as? [[String: Any]] ?? []
            counted = data.compactMap { $0["value"] as? Double }.reduce(0) { $0 + $1 * 5 }
            if counted < 180 { try await Task.sleep(for: .milliseconds(500)) }
        }
        print("IntegrationTests: requests of demo-vs in the controller's analytics: \(Int(counted))")
        XCTAssertGreaterThanOrEqual(counted, 180, "the analytics count every request sent")

        // Time from POST /api/virtualservice to the VIP in the router's table (SEs already registered).
        let secondVIP = "192.0.2.11"
        let posted = Date()
        try await lab.createVirtualService(name: "e2e-vs2", vip: secondVIP)
        try await lab.waitForNextHops(secondVIP, count: 3, timeout: 30)
        let postToRoute = Date().timeIntervalSince(posted)
        print("IntegrationTests: POST /api/virtualservice → 3 next hops in the router: \(ms(postToRoute)) ms")

        // SIGKILL of an SE: the router drops its next hop within 2 s; at most a few probes fail.
        let killed = Date()
        try lab.killSE("se2")
        try await lab.waitForNextHops(Self.vip, count: 2, timeout: 2)
        let killToWithdraw = Date().timeIntervalSince(killed)
        print("IntegrationTests: SIGKILL of se2 → its next hop gone: \(ms(killToWithdraw)) ms")
        var failed = 0
        for _ in 0..<40 where try lab.curlFromClient("http://\(Self.vip)/", timeout: 2).status != 200 { failed += 1 }
        XCTAssertLessThanOrEqual(failed, 3, "probe requests failing after the crash")
        XCTAssertEqual(Set(try lab.routerNextHops(Self.vip)), Set([ses[0], ses[2]]))
        // The SE comes back (same name, same join-token flow) and is placed again.
        try await lab.startSE("se2")
        try await lab.waitForNextHops(Self.vip, count: 3, timeout: 30)

        // All pool servers stopped: withdrawn within the monitor's detection time + 2 s; back when one returns.
        // demo-http: send_interval 2 s, receive_timeout 1 s, failed_checks 2 → ≤ 2×2 + 1 s.
        for server in lab.serverNames { try lab.stopServer(server) }
        let stopped = Date()
        try await lab.waitForNextHops(Self.vip, count: 0, timeout: 5 + 2)
        print("IntegrationTests: all pool servers down → VIP withdrawn: \(ms(Date().timeIntervalSince(stopped))) ms")
        // The controller learns it from the SEs' next heartbeats (1 s apart): allow two of them.
        var runtime = try await lab.session().runtime("virtualservice", named: "demo-vs")
        let heartbeatDeadline = Date().addingTimeInterval(2.5)
        while (runtime["oper_status"] as? [String: Any])?["state"] as? String != "OPER_DOWN",
            Date() < heartbeatDeadline
        {
            try await Task.sleep(for: .milliseconds(100))
            runtime = try await lab.session().runtime("virtualservice", named: "demo-vs")
        }
        XCTAssertEqual((runtime["oper_status"] as? [String: Any])?["state"] as? String, "OPER_DOWN", "\(runtime)")
        try lab.startServer("srv1")
        let restarted = Date()
        try await lab.waitForNextHops(Self.vip, count: 3, timeout: 2 + 2 + 2)
        print("IntegrationTests: a pool server back → VIP advertised: \(ms(Date().timeIntervalSince(restarted))) ms")
        try lab.startServer("srv2")

        // SIGTERM of an SE while a client keeps sending: no request fails.
        let (results, stop) = startProbing(lab)
        try await Task.sleep(for: .milliseconds(500))
        try lab.stopSE("se3", grace: 40)
        try await lab.waitForNextHops(Self.vip, count: 2, timeout: 5)
        try await Task.sleep(for: .milliseconds(500))
        let probes = stop()
        XCTAssertGreaterThan(probes.count, 10)
        XCTAssertEqual(probes.filter { $0 != 200 }.count, 0, "requests failing during SIGTERM: \(probes)")
        _ = results
        try await lab.startSE("se3")
        try await lab.waitForNextHops(Self.vip, count: 3, timeout: 30)

        // A hitless SE restart (`systemctl reload starling-se` on the appliance: SIGUSR2) while a client keeps
        // sending: no request fails, the router keeps all three next hops throughout (Graceful Restart and the
        // BFD session handed over), and the controller keeps the SE up under the same uuid.
        let se1UUID = try await lab.session().uuid("serviceengine", named: "se1")
        let hopsBefore = Set(try lab.routerNextHops(Self.vip))
        let (_, stopDuringReload) = startProbing(lab)
        try await Task.sleep(for: .milliseconds(500))
        let reloaded = Date()
        try lab.reloadSE("se1")
        print(
            "IntegrationTests: SIGUSR2 of se1 → old process handed off and exited: \(ms(Date().timeIntervalSince(reloaded))) ms"
        )
        try Wait.holds("next hops unchanged after the SE reload", for: 2, interval: 0.05) {
            Set(try lab.routerNextHops(Self.vip)) == hopsBefore
        }
        let duringReload = stopDuringReload()
        XCTAssertGreaterThan(duringReload.count, 10)
        XCTAssertEqual(
            duringReload.filter { $0 != 200 }.count, 0, "requests failing during the SE reload: \(duringReload)")
        let se1After = try await lab.session().uuid("serviceengine", named: "se1")
        XCTAssertEqual(se1After, se1UUID, "the same SE")
        let seLog = lab.state.processes["se1"]?.logTail(lines: 400) ?? ""
        XCTAssertTrue(seLog.contains("using the registration of the previous process"), seLog)
        XCTAssertTrue(seLog.contains("BFD session taken over Up"), seLog)
        // The successor's heartbeats keep the VS up on all three SEs (within two heartbeats).
        var reason = ""
        let upDeadline = Date().addingTimeInterval(2.5)
        repeat {
            let r = try await lab.session().runtime("virtualservice", named: "demo-vs")
            reason = (r["oper_status"] as? [String: Any])?["reason"] as? String ?? "\(r)"
            if reason.hasPrefix("up on 3 of 3") { break }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < upDeadline
        XCTAssertTrue(reason.hasPrefix("up on 3 of 3"), reason)

        // Restarting the controller changes nothing on the data plane.
        let before = Set(try lab.routerNextHops(Self.vip))
        let (_, stopDuringRestart) = startProbing(lab)
        try await lab.restartController()
        try Wait.holds("next hops unchanged after the controller restart", for: 5) {
            Set(try lab.routerNextHops(Self.vip)) == before
        }
        let duringRestart = stopDuringRestart()
        XCTAssertEqual(
            duringRestart.filter { $0 != 200 }.count, 0,
            "requests failing while the controller restarts: \(duringRestart)")

        // Deleting the VS withdraws it.
        try await lab.session().delete("virtualservice", named: "demo-vs")
        try await lab.waitForNextHops(Self.vip, count: 0, timeout: 5)
        XCTAssertEqual(try lab.routerNextHops(secondVIP).count, 3, "the other VS stays advertised")

        try recordFigures(postToRoute: postToRoute, killToWithdraw: killToWithdraw)
    }

    /// Sends fresh-connection requests from the client in a background thread until stopped; returns the
    /// HTTP status of each (0 when none).
    private func startProbing(_ lab: DemoLab) -> (ProbeResults, () -> [Int]) {
        let results = ProbeResults()
        let client = lab.namespace("client")
        let url = "http://\(Self.vip)/"
        let thread = Thread {
            while !results.stopped {
                results.append(Self.curlStatus(namespace: client, url: url))
            }
            results.finish()
        }
        thread.start()
        return (results, { results.stopAndWait() })
    }

    /// `curl` in `namespace`: the HTTP status, 0 when there was no answer. Runs the child with
    /// posix_spawn and a blocking waitpid: Foundation's `Process` can miss a child's exit when another
    /// thread spawns processes at the same time (seen as a hang in `waitUntilExit`).
    static func curlStatus(namespace: String, url: String) -> Int {
        let argv = [
            "/usr/sbin/ip", "netns", "exec", namespace, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
            "--max-time", "3", url,
        ]
        var pipe: [Int32] = [0, 0]
        // Close-on-exec from the start: a daemon that another thread spawns meanwhile must not inherit the write end (the read
        // would then wait for that daemon to exit); posix_spawn's dup2 onto fd 1 clears the flag for curl.
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pipe) == 0 else {
            return 0
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipe[0])
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        close(pipe[1])
        defer { close(pipe[0]) }
        guard rc == 0 else { return 0 }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = read(pipe[0], &buffer, buffer.count)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Int(String(decoding: output, as: UTF8.self)) ?? 0
    }

    /// `starling lab up --native`: the controller places `demo-native` (`scaleout_ecmp: false`) on the three
    /// SEs; one of them owns 198.18.1.100 on the data segment, where the router reaches it by its connected
    /// route (no BGP), and spreads new flows over the three; the VS runtime shows the primary, the
    /// secondaries and the packets forwarded, per SE.
    func testNativeScaleOutThroughTheController() async throws {
        let lab = try makeLab()
        defer { lab.down() }
        do {
            try await lab.up(native: true)
            let vip = DemoLab.Address.nativeVIP
            let ses = (1...3).map(DemoLab.Address.seData)
            try Wait.until("demo-native answers the client", timeout: 60) {
                (try? lab.curlFromClient("http://\(vip)/", timeout: 2).status) == 200
            }
            let route = try Command.check(["ip", "netns", "exec", lab.namespace("router"), "ip", "route", "get", vip])
            XCTAssertFalse(route.contains(" via "), "a connected route, no gateway: \(route)")
            let api = try await lab.session()
            func waitFor(_ what: String, _ condition: () async -> Bool) async throws {
                let deadline = ContinuousClock.now + .seconds(60)
                while await !condition() {
                    guard ContinuousClock.now < deadline else { throw LabError(.timeout, "timed out: \(what)") }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            // The VIP answers as soon as one SE holds it; the others join the spread once their heartbeats say
            // they serve it (a few heartbeat intervals later).
            try await waitFor("the three SEs agree on one primary and two secondaries for demo-native") {
                let runtime = try? await api.runtime("virtualservice", named: "demo-native")
                guard let placement = runtime?["placement"] as? [[String: Any]], placement.count == 3 else {
                    return false
                }
                var primaries: Set<String> = []
                for entry in placement {
                    let steering = entry["steering"] as? [String: Any]
                    let vip = (steering?["vips"] as? [[String: Any]])?.first
                    guard let primary = vip?["primary"] as? String, (vip?["secondaries"] as? [String])?.count == 2
                    else { return false }
                    primaries.insert(primary)
                }
                return primaries.count == 1
            }
            /// New connections each carried by which SE (the pool server sees the SE's address).
            func carriers(_ count: Int) throws -> [String: Int] {
                var carried: [String: Int] = [:]
                for _ in 0..<count {
                    let (status, body) = try lab.curlFromClient("http://\(vip)/", timeout: 3)
                    XCTAssertEqual(status, 200, body)
                    let client = body.split(separator: " ").first { $0.hasPrefix("client=") }
                    let address = String(client?.dropFirst(7) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                    carried[address, default: 0] += 1
                }
                return carried
            }
            let carried = try carriers(90)
            print(
                "IntegrationTests: native through the controller, requests per SE \(carried.sorted { $0.key < $1.key })"
            )
            XCTAssertEqual(Set(carried.keys), Set(ses), "every SE carried some of the 90 new connections")

            /// Packets the SEs forwarded to the other members, as the VS runtime shows them.
            func forwardedPackets(_ runtime: [String: Any]) -> Int {
                let placement = runtime["placement"] as? [[String: Any]] ?? []
                return placement.reduce(0) { sum, entry in
                    let members = (entry["steering"] as? [String: Any])?["members"] as? [[String: Any]] ?? []
                    return sum + members.reduce(0) { $0 + ($1["packets_forwarded_to"] as? Int ?? 0) }
                }
            }
            // The runtime comes with the SEs' heartbeats to the controller: it shows the traffic a heartbeat later.
            var runtime: [String: Any] = [:]
            try await waitFor("the VS runtime shows new flows forwarded by the primary to the secondaries") {
                runtime = (try? await api.runtime("virtualservice", named: "demo-native")) ?? [:]
                return forwardedPackets(runtime) > 0
            }
            let placement = runtime["placement"] as? [[String: Any]] ?? []
            XCTAssertEqual(placement.count, 3, "\(runtime)")
            var primaries: Set<String> = []
            for entry in placement {
                let steering = entry["steering"] as? [String: Any] ?? [:]
                let vips = steering["vips"] as? [[String: Any]] ?? []
                XCTAssertEqual(vips.first?["mode"] as? String, "native", "\(entry)")
                // No --scaleout-members in the lab: the members and their positions come from the controller.
                XCTAssertEqual(steering["members_from"] as? String, "controller", "\(entry)")
                XCTAssertNotNil(steering["group_epoch"] as? Int, "\(entry)")
                let members = steering["members"] as? [[String: Any]] ?? []
                XCTAssertEqual(Set(members.compactMap { $0["address"] as? String }), Set(ses), "\(entry)")
                if let primary = vips.first?["primary"] as? String { primaries.insert(primary) }
            }
            XCTAssertEqual(primaries.count, 1, "the three SEs agree on one primary: \(primaries)")
            XCTAssertTrue(ses.contains(primaries.first ?? ""))
            XCTAssertTrue(lab.instructions().contains("show vs demo-native"))

            // se3 moves to another SE group: the controller takes it out of the scale-out group, se1 and se2
            // follow the new member list, demo-native leaves se3. Then it comes back and takes its share again.
            func steeringMembers(_ se: String) async -> Int? {
                let runtime = try? await api.runtime("serviceengine", named: se)
                let steering = runtime?["steering"] as? [String: Any]
                guard steering?["members_from"] as? String == "controller" else { return nil }
                return (steering?["members"] as? [[String: Any]])?.count
            }
            /// Moves se3 to `group`; waits until `steering` SEs steer between `members` and demo-native runs on
            /// `placed` SEs.
            func moveSE3(to group: String, steering: [String], members: Int, placed: Int) async throws {
                try await api.replace(
                    "serviceengine", named: "se3", ["se_group_ref": "/api/serviceenginegroup/?name=\(group)"])
                try await waitFor("\(steering) steer between \(members) members") {
                    for se in steering {
                        if await steeringMembers(se) != members { return false }
                    }
                    return true
                }
                try await waitFor("demo-native on \(placed) SEs") {
                    let placement = (try? await api.runtime("virtualservice", named: "demo-native"))?["placement"]
                    return (placement as? [[String: Any]])?.count == placed
                }
            }
            try await api.create("serviceenginegroup", ["name": "elsewhere"])
            try await moveSE3(to: "elsewhere", steering: ["se1", "se2"], members: 2, placed: 2)
            let two = try carriers(40)
            XCTAssertEqual(Set(two.keys), Set(ses.prefix(2)), "se1 and se2 carry the new connections: \(two)")
            if Set(two.keys) != Set(ses.prefix(2)) { print("\(lab.status())\n\(lab.report(lines: 60))") }

            try await moveSE3(to: "Default-Group", steering: ["se1", "se2", "se3"], members: 3, placed: 3)
            // A moment for se3's first heartbeats (it serves the VIP once they say so).
            var back: [String: Int] = [:]
            try await waitFor("se3 carries new connections again") {
                back = (try? carriers(15)) ?? [:]
                return back[ses[2]] != nil
            }
            print(
                "IntegrationTests: native after se3 left and came back, requests per SE \(back.sorted { $0.key < $1.key })"
            )
        } catch {
            print("IntegrationTests: native e2e failed: \(error)\n\(lab.status())\n\(lab.report(lines: 40))")
            throw error
        }
    }

    private func makeLab() throws -> DemoLab {
        guard Lab.isRoot else {
            print("IntegrationTests: needs root for network namespaces; skipping the appliance e2e test")
            throw XCTSkip("needs root (euid \(geteuid()))")
        }
        if let reason = Lab.namespaceSupport() {
            print("IntegrationTests: \(reason); skipping the appliance e2e test")
            throw XCTSkip(reason)
        }
        let missing = Command.missing(BIRD.requiredPrograms + ["curl", "python3", "ip", "ss", "sysctl"])
        guard missing.isEmpty else {
            print("IntegrationTests: missing \(missing.joined(separator: ", ")); skipping the appliance e2e test")
            throw XCTSkip("missing programs \(missing.joined(separator: ", "))")
        }
        guard let binary = StarlingBGP.locateBinary() else {
            print("IntegrationTests: starling executable not found; skipping the appliance e2e test")
            throw XCTSkip("starling executable not found")
        }
        return try DemoLab.forTest(binary: binary)
    }

    private func ms(_ seconds: TimeInterval) -> String { String(format: "%.0f", seconds * 1000) }

    /// Appends the measured times to a file the benchmark notes quote (when STARLING_E2E_FIGURES is set).
    private func recordFigures(postToRoute: TimeInterval, killToWithdraw: TimeInterval) throws {
        guard let path = ProcessInfo.processInfo.environment["STARLING_E2E_FIGURES"] else { return }
        let line = "post_vs_to_route_ms=\(ms(postToRoute)) sigkill_to_withdraw_ms=\(ms(killToWithdraw))\n"
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(Data(line.utf8))
            try handle.close()
        } else {
            try line.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }
}

/// Statuses collected by a probing thread.
final class ProbeResults: @unchecked Sendable {
    private let lock = NSCondition()
    private var statuses: [Int] = []
    private var stopFlag = false
    private var done = false

    var stopped: Bool { lock.withLock { stopFlag } }

    func append(_ status: Int) { lock.withLock { statuses.append(status) } }

    func finish() {
        lock.withLock {
            done = true
            lock.broadcast()
        }
    }

    func stopAndWait() -> [Int] {
        lock.lock()
        defer { lock.unlock() }
        stopFlag = true
        while !done { lock.wait() }
        return statuses
    }
}
