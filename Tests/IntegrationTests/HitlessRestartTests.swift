import Foundation
import Lab
import XCTest

/// A hitless SE restart (issue 13): a standalone SE serves a VIP advertised to BIRD (Graceful Restart
/// helper, BFD 100 ms × 3); under load from the router's side (new connections and keep-alive), a
/// second `starling se` started with the same handoff socket takes over, then a third, started by the
/// second on SIGUSR2 (`systemctl reload`). The router never loses the route, no request fails, each
/// predecessor exits 0 once its connections are done, and the last successor serves, peers (Restart State
/// bit, End-of-RIB) and answers on the management port. Killed, it is withdrawn by BFD at once: Graceful
/// Restart with BFD keeps routes through a handoff, not through a crash.
final class HitlessRestartTests: XCTestCase {
    static let vip = "192.0.2.61"

    func testSuccessorTakesOverWithoutAFailedRequestOrAWithdrawal() throws {
        try withLab("hitless", requires: BIRD.requiredPrograms + ["curl", "python3"]) { lab in
            let binary = try starlingBinary()
            let segment = try Topology.segment(lab: lab, speakers: 2)
            let routerAddress = segment.routerEnd.ipv4
            let seNS = segment.speakers[0]
            let seAddress = segment.speakerEnds[0].ipv4
            let serverNS = segment.speakers[1]
            let serverAddress = segment.speakerEnds[1].ipv4
            let router = BIRD(
                lab: lab, name: "router", namespace: segment.router,
                spec: SpeakerSpec(
                    asn: 65000, routerID: routerAddress,
                    neighbors: [
                        NeighborSpec(
                            address: seAddress, asn: 65001, localAddress: routerAddress, passive: true, bfd: true)
                    ],
                    export: .none, kernelECMP: true, gracefulRestart: true))
            try router.start()

            let server = try startPoolServer(lab, in: serverNS)

            let config = lab.path("se.json")
            try Self.config(router: routerAddress, server: serverAddress).write(
                toFile: config, atomically: true, encoding: .utf8)
            let handoff = lab.path("se.handoff")
            let argv = [
                binary, "se", "--config", config, "--data-address", seAddress, "--drain-timeout", "10",
                "--handoff-socket", handoff, "--graceful-restart-time", "\(Self.restartTime)",
            ]
            let first = try lab.start("se-old", argv, in: seNS)
            try router.waitEstablished(seAddress)
            try Wait.until("router has \(Self.vip) via the SE", timeout: 15) {
                try KernelRoute.nextHops(of: "\(Self.vip)/32", in: segment.router) == [seAddress]
            }
            try Wait.until("BFD up at the router", timeout: 5) {
                try router.birdc(["show", "bfd", "sessions"]).contains("Up")
            }

            // Another SE (another file) on the same socket is refused; the running one goes on.
            let otherConfig = lab.path("other.json")
            try Self.config(router: routerAddress, server: serverAddress).write(
                toFile: otherConfig, atomically: true, encoding: .utf8)
            var impostorArgv = argv
            impostorArgv[3] = otherConfig
            let impostor = try lab.start("se-other", impostorArgv, in: seNS)
            XCTAssertEqual(impostor.waitForExit(timeout: 20), .exited(1), impostor.logTail())
            XCTAssertTrue(impostor.logTail().contains("refused: this socket belongs to another SE"), impostor.logTail())
            XCTAssertTrue(first.isRunning)

            // Load from the router's side, and a watch on the router's route every 20 ms.
            let load = lab.path("load.py")
            try HTTPLoad.script.write(toFile: load, atomically: true, encoding: .utf8)
            let stopFile = lab.path("load.stop")
            let results = lab.path("load.json")
            let client = try lab.start(
                "load", ["python3", "-u", load, "http://\(Self.vip)/", stopFile, results], in: segment.router)
            let watchLog = lab.path("route-gaps.txt")
            let watcher = try lab.start(
                "route-watch",
                [
                    "sh", "-c",
                    "while [ ! -f \(stopFile) ]; do ip -4 route show exact \(Self.vip)/32 | grep -q 'via \(seAddress) '"
                        + " || echo \"missing at $(date +%s.%N)\" >> \(watchLog); sleep 0.02; done",
                ], in: segment.router)
            Thread.sleep(forTimeInterval: 1)

            // The successor takes over.
            let second = try lab.start("se-new", argv, in: seNS)
            let exit = first.waitForExit(timeout: 30)
            XCTAssertEqual(exit, .exited(0), "the first process hands off and exits 0\n\(first.logTail())")
            let firstLog = first.logTail(lines: 200)
            XCTAssertTrue(firstLog.contains("handing off to the successor process"), firstLog)
            XCTAssertTrue(firstLog.contains("handed off: connections finished"), firstLog)
            XCTAssertFalse(firstLog.contains("VIP removed"), firstLog)
            // The successor's session with the Restart State bit, its End-of-RIB ends the restart: the
            // route stays, no longer stale.
            try router.waitEstablished(seAddress)
            try Wait.until("BFD up again at the router", timeout: 5) {
                try router.birdc(["show", "bfd", "sessions"]).contains("Up")
            }
            Thread.sleep(forTimeInterval: 1)

            // SIGUSR2 (`systemctl reload starling-se`): the successor starts a third process from the
            // binary on disk, which takes over the same way and listens for the next one.
            second.send(SIGUSR2)
            XCTAssertEqual(second.waitForExit(timeout: 30), .exited(0), second.logTail())
            let secondLog = second.logTail(lines: 200)
            XCTAssertTrue(secondLog.contains("successor process started"), secondLog)
            XCTAssertTrue(secondLog.contains("handed off: connections finished"), secondLog)
            try Wait.until("the router's session with the third process", timeout: 10) {
                try router.session(seAddress).state == "Established"
            }
            Thread.sleep(forTimeInterval: 2)
            XCTAssertTrue(FileManager.default.createFile(atPath: stopFile, contents: nil))
            XCTAssertEqual(client.waitForExit(timeout: 15), .exited(0), client.logTail())
            XCTAssertEqual(watcher.waitForExit(timeout: 5), .exited(0))

            let figures =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: results)))
                as? [String: Any]
            let total = figures?["total"] as? Int ?? 0
            let failed = figures?["failed"] as? Int ?? -1
            print("IntegrationTests: hitless restart: \(total) requests, \(failed) failed, \(figures?["errors"] ?? [])")
            XCTAssertGreaterThan(total, 100, "the load ran through the restart")
            XCTAssertEqual(failed, 0, "no request fails through the restart: \(figures?["errors"] ?? [])")
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: watchLog),
                "the router kept \(Self.vip) via the SE throughout: \((try? String(contentsOfFile: watchLog, encoding: .utf8)) ?? "")"
            )
            // BIRD kept the route by Graceful Restart, and the successor's End-of-RIB ended the restart.
            let birdLog = router.daemon?.logTail(lines: 400) ?? ""
            XCTAssertEqual(birdLog.components(separatedBy: "Neighbor graceful restart detected").count, 3, birdLog)
            XCTAssertEqual(birdLog.components(separatedBy: "Neighbor graceful restart done").count, 3, birdLog)
            XCTAssertFalse(birdLog.contains("BFD session down"), birdLog)
            let route = try router.birdc(["show", "route", "for", Self.vip, "all"])
            XCTAssertFalse(route.contains("stale"), route)
            let protocols = try router.birdc(["show", "protocols", "all"])
            XCTAssertTrue(protocols.contains("Established"), protocols)

            // The successor serves and answers on the management port; the VIP stayed plumbed.
            let body = try segment.router.exec(["curl", "-sS", "-m", "5", "http://\(Self.vip)/"])
            XCTAssertEqual(body, "server=srv1 client=\(seAddress)\n")
            let status = try seNS.exec(["curl", "-sS", "-m", "5", "http://127.0.0.1:9180/status"])
            XCTAssertTrue(status.contains("\"advertised\":true"), status)
            XCTAssertTrue(try seNS.ip(["-j", "addr", "show", "dev", "lo"]).contains(Self.vip), "VIP plumbed on lo")

            // A crash is no restart: the router (Graceful Restart helper) keeps the VIP after the TCP session
            // drops, but BFD (100 ms × 3) takes it away long before the 30 s restart time.
            let third = seNS.pids().filter { pid in
                let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                return cmdline.contains("\(handoff)")
            }
            XCTAssertEqual(third.count, 1, "one SE process left: \(third)")
            let killed = Date()
            for pid in third { kill(pid, SIGKILL) }
            try Wait.until("the VIP withdrawn after the crash", timeout: 2, interval: 0.02) {
                try KernelRoute.nextHops(of: "\(Self.vip)/32", in: segment.router).isEmpty
            }
            print(
                "IntegrationTests: SIGKILL of the SE → VIP withdrawn by BFD in \(Int(Date().timeIntervalSince(killed) * 1000)) ms"
            )
            XCTAssertTrue((router.daemon?.logTail(lines: 50) ?? "").contains("BFD session down"))
            _ = server.stop()
        }
    }

    /// Graceful Restart time the SE advertises (seconds the router keeps the VIP without a session).
    static let restartTime = 30

    static func config(router: String, server: String) -> String {
        """
        {
          "vrfcontext": [{"name": "global", "bfd_profile": {"mintx": 100, "minrx": 100, "multi": 3},
            "bgp_profile": {"local_as": 65001, "hold_time": 9,
            "peers": [{"peer_ip": {"addr": "\(router)", "type": "V4"}, "remote_as": 65000}]}}],
          "healthmonitor": [{"name": "hm", "type": "HEALTH_MONITOR_HTTP", "send_interval": 2, "receive_timeout": 1,
            "successful_checks": 2, "failed_checks": 2,
            "http_monitor": {"http_request": "GET /health HTTP/1.0", "http_response_code": ["HTTP_2XX"]}}],
          "pool": [{"name": "p", "health_monitor_refs": ["/api/healthmonitor/?name=hm"],
            "servers": [{"ip": {"addr": "\(server)", "type": "V4"}, "port": 8080}]}],
          "vsvip": [{"name": "v", "vip": [{"vip_id": "0", "ip_address": {"addr": "\(vip)", "type": "V4"}}]}],
          "virtualservice": [{"name": "web", "vsvip_ref": "/api/vsvip/?name=v", "services": [{"port": 80}],
            "pool_ref": "/api/pool/?name=p", "enable_rhi": true,
            "application_profile_ref": "/api/applicationprofile/?name=System-HTTP"}]
        }
        """
    }
}
