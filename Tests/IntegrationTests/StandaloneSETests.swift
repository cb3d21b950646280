import Foundation
import Lab
import XCTest

/// A standalone SE (`starling se --config FILE`) on a segment with a BIRD router and one pool server:
/// the VIP is plumbed, served and advertised with next hop = `--data-address` while its pool has a server
/// up; withdrawn when the monitor finds the server dead and back when it returns; SIGTERM withdraws it
/// and exits 0. This is the SE half of DESIGN §1 without a controller. The `bgp_profile`'s export policy
/// (communities, a large community, AS-path prepending, the peer chosen by label) reaches the router.
final class StandaloneSETests: XCTestCase {
    static let vip = "192.0.2.60"

    func testHealthDrivenAdvertisementAndShutdown() throws {
        try withLab("standalone-se", requires: BIRD.requiredPrograms + ["curl", "python3"]) { lab in
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
                        NeighborSpec(address: seAddress, asn: 65001, localAddress: routerAddress, passive: true)
                    ],
                    export: .none, kernelECMP: true))
            try router.start()

            func startServer() throws -> Daemon { try startPoolServer(lab, in: serverNS) }
            var server = try startServer()

            let config = lab.path("se.json")
            try Self.config(router: routerAddress, server: serverAddress).write(
                toFile: config, atomically: true, encoding: .utf8)
            let se = try lab.start(
                "se1",
                [
                    binary, "se", "--config", config, "--data-address", seAddress, "--drain-timeout", "2",
                    "--graceful-shutdown-time", "\(Self.gracefulShutdownTime)",
                ],
                in: seNS)

            try router.waitEstablished(seAddress)
            try Wait.until("router has \(Self.vip) via the SE", timeout: 15) {
                try KernelRoute.nextHops(of: "\(Self.vip)/32", in: segment.router) == [seAddress]
            }
            // The bgp_profile's communities, and those of the VIP's ip_communities range, reach the router.
            let tagged = try router.birdc(["show", "route", "for", Self.vip, "all"])
            XCTAssertTrue(tagged.contains("(65001,100) (65001,200)"), tagged)
            XCTAssertTrue(tagged.contains("no_export") || tagged.contains("(65535,65281)"), tagged)
            // The rest of the export policy: a large community, the AS prepended twice more, and the peer
            // chosen by its label.
            XCTAssertTrue(tagged.contains("(65001, 7, 42)"), tagged)
            XCTAssertTrue(tagged.contains("BGP.as_path: 65001 65001 65001"), tagged)
            // The VIP is on the SE's lo and serves through the proxy; the server sees the SE's data address.
            let body = try segment.router.exec(["curl", "-sS", "-m", "5", "http://\(Self.vip)/"])
            XCTAssertEqual(body, "server=srv1 client=\(seAddress)\n")
            XCTAssertTrue(try seNS.ip(["-j", "addr", "show", "dev", "lo"]).contains(Self.vip), "VIP plumbed on lo")

            // Monitor: interval 2 s, timeout 1 s, failed_checks 2 → down within ~5 s; +2 s for BGP.
            _ = server.stop()
            let stopped = Date()
            try Wait.until("VIP withdrawn after the pool server stopped", timeout: 5 + 2) {
                try KernelRoute.nextHops(of: "\(Self.vip)/32", in: segment.router).isEmpty
            }
            print(
                "IntegrationTests: withdrawn \(String(format: "%.2f", Date().timeIntervalSince(stopped))) s after the server stopped"
            )
            server = try startServer()
            try Wait.until("VIP advertised again when the server is back", timeout: 5) {
                try KernelRoute.nextHops(of: "\(Self.vip)/32", in: segment.router) == [seAddress]
            }

            // SIGTERM: first the VIP is re-announced with GRACEFUL_SHUTDOWN (RFC 8326), which the lab router
            // honours with LOCAL_PREF 0, then withdrawn.
            se.send(SIGTERM)
            let shutdownRoute = try Wait.value(
                "router sees \(Self.vip) with GRACEFUL_SHUTDOWN", timeout: Double(Self.gracefulShutdownTime),
                interval: 0.05
            ) { () -> String? in
                let out = try router.birdc(["show", "route", "for", Self.vip, "all"])
                return out.contains("(65535,0)") ? out : nil
            }
            XCTAssertTrue(shutdownRoute.contains("BGP.local_pref: 0"), shutdownRoute)
            let exit = se.waitForExit(timeout: 10 + Double(Self.gracefulShutdownTime))
            XCTAssertEqual(exit, .exited(0), "SE exits 0 on SIGTERM")
            XCTAssertTrue(try KernelRoute.nextHops(of: "\(Self.vip)/32", in: segment.router).isEmpty)
            XCTAssertFalse(try seNS.ip(["-j", "addr", "show", "dev", "lo"]).contains(Self.vip), "VIP removed on exit")
            _ = server.stop()
        }
    }

    /// Seconds the SE keeps its VIPs advertised with GRACEFUL_SHUTDOWN on SIGTERM.
    static let gracefulShutdownTime = 3

    static func config(router: String, server: String) -> String {
        """
        {
          "vrfcontext": [{"name": "global", "bgp_profile": {"local_as": 65001, "hold_time": 9,
            "community": ["65001:100", "65001:7:42"], "ip_communities": [{"ip_begin": {"addr": "\(vip)", "type": "V4"},
              "community": ["65001:200", "no-export"]}], "num_as_path_prepend": 2,
            "peers": [{"peer_ip": {"addr": "\(router)", "type": "V4"}, "remote_as": 65000, "label": "site-a"}]}}],
          "healthmonitor": [{"name": "hm", "type": "HEALTH_MONITOR_HTTP", "send_interval": 2, "receive_timeout": 1,
            "successful_checks": 1, "failed_checks": 2,
            "http_monitor": {"http_request": "GET /health HTTP/1.0", "http_response_code": ["HTTP_2XX"]}}],
          "pool": [{"name": "p", "health_monitor_refs": ["/api/healthmonitor/?name=hm"],
            "servers": [{"ip": {"addr": "\(server)", "type": "V4"}, "port": 8080}]}],
          "vsvip": [{"name": "v", "vip": [{"vip_id": "0", "ip_address": {"addr": "\(vip)", "type": "V4"}}],
            "bgp_peer_labels": ["site-a"]}],
          "virtualservice": [{"name": "web", "vsvip_ref": "/api/vsvip/?name=v", "services": [{"port": 80}],
            "pool_ref": "/api/pool/?name=p", "enable_rhi": true,
            "application_profile_ref": "/api/applicationprofile/?name=System-HTTP"}]
        }
        """
    }
}
