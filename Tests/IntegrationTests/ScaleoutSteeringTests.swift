import Foundation
import Lab
import XCTest

/// Scale-out over several SEs on one segment, with the SEs' flow steering (issue 15): the tc program on each
/// SE's data interface, heartbeats between the SEs, native VIP ownership.
///
/// - Native (`scaleout_ecmp: false`, no BGP): one primary owns the VIP on the segment and spreads new flows
///   over the three SEs; its SIGKILL hands the VIP to a secondary within the heartbeats' dead interval; a
///   secondary's SIGTERM fails no request.
/// - ECMP (BGP to BIRD, L4 multipath hash): long-lived keep-alive connections survive scale-out 3→4,
///   scale-in 4→3 and the SIGTERM of an SE: packets of a connection that the router's new hash sends to
///   another SE are passed along the SEs to the one that holds it.
final class ScaleoutSteeringTests: XCTestCase {
    /// Heartbeat interval the SEs run with (ms); a member is gone after three missed.
    static let heartbeatMs = 100
    static let deadAfter = 3

    func testNativeScaleoutSpreadsFlowsAndSurvivesThePrimaryAndASecondary() throws {
        try withLab("native", requires: ["curl", "python3"]) { lab in
            let binary = try starlingBinary()
            let segment = try Topology.segment(lab: lab, speakers: 4)
            let seNS = Array(segment.speakers[0..<3])
            let seAddresses = segment.speakerEnds[0..<3].map(\.ipv4)
            let serverNS = segment.speakers[3]
            let serverAddress = segment.speakerEnds[3].ipv4
            // The VIP is on the segment's subnet: the router reaches it by its connected route and ARP.
            let vip = "198.18.1.100"
            let vip6 = "2001:db8:ffff:1::100"

            let server = try startPoolServer(lab, in: serverNS)

            let config = lab.path("se.json")
            try Self.nativeConfig(vip: vip, vip6: vip6, server: serverAddress).write(
                toFile: config, atomically: true, encoding: .utf8)
            let ses = try seNS.indices.map {
                try Self.startSE(
                    lab, binary: binary, config: config, index: $0, in: seNS[$0], members: seAddresses,
                    extra: ["--drain-timeout", "10"])
            }
            try Self.waitForOnePrimary(seNS)
            let primaryIndex = try seNS.map(Self.steering).firstIndex { $0.vips.first?.primaryHere == true }!
            let first = try Self.steering(seNS[primaryIndex])
            XCTAssertEqual(first.vips.first?.mode, "native")
            XCTAssertEqual(first.vips.first?.primary, seAddresses[primaryIndex])
            XCTAssertEqual(
                Set(first.vips.first?.secondaries ?? []), Set(seAddresses).subtracting([seAddresses[primaryIndex]]))
            // Only the primary holds the VIP on the segment; the others keep it on lo, silent to ARP.
            for (index, ns) in seNS.enumerated() {
                let onData = try ns.ip(["-4", "addr", "show", "dev", "eth0"]).contains("\(vip)/32")
                XCTAssertEqual(onData, index == primaryIndex, "VIP on eth0 of se\(index + 1)")
            }
            // Not advertised over BGP: the status says why.
            let vs = try Self.status(seNS[primaryIndex])["virtual_services"] as? [[String: Any]]
            XCTAssertTrue((vs?.first?["reason"] as? String ?? "").contains("native scale-out"), "\(vs ?? [])")

            // 150 fresh connections: the servers see the three SEs' addresses.
            let fresh = try Self.freshConnections(150, vip: vip, from: segment.router)
            print(
                "IntegrationTests: native scale-out, 150 new connections by SE: \(fresh.perSE), failed \(fresh.failed)")
            XCTAssertEqual(fresh.failed, 0)
            XCTAssertEqual(Set(fresh.perSE.keys), Set(seAddresses), "each SE serves some of the new flows")
            for (address, count) in fresh.perSE {
                XCTAssertGreaterThan(count, 150 / 10, "\(address) takes a fair share: \(fresh.perSE)")
            }
            // The IPv6 VIP the same way (the primary answers neighbour solicitations for it).
            let fresh6 = try Self.freshConnections(60, vip: vip6, from: segment.router)
            print(
                "IntegrationTests: native scale-out, 60 new IPv6 connections by SE: \(fresh6.perSE), failed \(fresh6.failed)"
            )
            XCTAssertEqual(fresh6.failed, 0)
            XCTAssertEqual(Set(fresh6.perSE.keys), Set(seAddresses), "each SE serves some of the new IPv6 flows")
            let afterSpread = try Self.steering(seNS[primaryIndex])
            XCTAssertGreaterThan(afterSpread.counters["forwarded_new_flow"] ?? 0, 0, "\(afterSpread.counters)")
            for member in afterSpread.members where !member.this {
                XCTAssertGreaterThan(member.packetsForwardedTo, 0, "packets to \(member.address)")
                XCTAssertGreaterThan(member.pinnedFlows, 0, "flows pinned to \(member.address)")
            }

            // SIGKILL of the primary under a probe (a new connection every 20 ms): a secondary owns the VIP
            // within the dead interval, the router's ARP entry follows its gratuitous ARP.
            let probe = try Self.startProbe(lab, name: "probe1", vip: vip, in: segment.router)
            Thread.sleep(forTimeInterval: 1)
            let killed = Date()
            ses[primaryIndex].send(SIGKILL)
            let survivors = (0..<3).filter { $0 != primaryIndex }
            let bound = Double(Self.heartbeatMs * (Self.deadAfter + 2)) / 1000 + 0.3
            let successor = try Wait.value("a secondary owns the VIP", timeout: bound, interval: 0.02) { () -> Int? in
                survivors.first { (try? Self.steering(seNS[$0]).vips.first?.primaryHere) == true }
            }
            let takeover = Date().timeIntervalSince(killed)
            print(
                "IntegrationTests: native scale-out, SIGKILL of the primary → VIP owned by a secondary in \(Int(takeover * 1000)) ms"
            )
            XCTAssertLessThan(takeover, 1.0, "a secondary owns the VIP within a second")
            let successorMAC = try seNS[successor].ip(["-j", "link", "show", "dev", "eth0"])
            try Wait.until("the router's ARP entry for the VIP moved to the new primary", timeout: 2) {
                let neigh = try segment.router.ip(["neigh", "show", vip])
                return Self.macs(in: successorMAC).contains { neigh.contains($0) }
            }
            try Wait.until("the router's neighbour entry for the IPv6 VIP moved to the new primary", timeout: 2) {
                let neigh = try segment.router.ip(["-6", "neigh", "show", vip6])
                return Self.macs(in: successorMAC).contains { neigh.contains($0) }
            }
            Thread.sleep(forTimeInterval: 2)
            let killProbe = try Self.stopProbe(probe, lab: lab, name: "probe1")
            print(
                "IntegrationTests: native scale-out, probes through the primary's SIGKILL at \(killed.timeIntervalSince1970): \(killProbe.failed) of \(killProbe.total) failed \(killProbe.errors)"
            )
            XCTAssertGreaterThan(killProbe.total, 50)
            XCTAssertLessThanOrEqual(Double(killProbe.failed), Double(killProbe.total) * 0.05, "\(killProbe.errors)")
            let epochAfter = try Self.steering(seNS[successor]).epoch
            XCTAssertGreaterThan(epochAfter, first.epoch, "the member change moved the epoch on")

            // SIGTERM of the remaining secondary: it leaves (no new flows), serves what it holds, exits 0;
            // not one probe fails.
            let secondary = survivors.first { $0 != successor }!
            let probe2 = try Self.startProbe(lab, name: "probe2", vip: vip, in: segment.router)
            Thread.sleep(forTimeInterval: 1)
            ses[secondary].send(SIGTERM)
            XCTAssertEqual(ses[secondary].waitForExit(timeout: 20), .exited(0), ses[secondary].logTail())
            XCTAssertTrue(ses[secondary].logTail(lines: 100).contains("leaving the scale-out group"))
            Thread.sleep(forTimeInterval: 1)
            let termProbe = try Self.stopProbe(probe2, lab: lab, name: "probe2")
            print(
                "IntegrationTests: native scale-out, probes through a secondary's SIGTERM: \(termProbe.failed) of \(termProbe.total) failed"
            )
            XCTAssertGreaterThan(termProbe.total, 50)
            XCTAssertEqual(termProbe.failed, 0, "\(termProbe.errors)")
            let last = try Self.freshConnections(20, vip: vip, from: segment.router)
            XCTAssertEqual(last.perSE, [seAddresses[successor]: 20], "the last SE serves alone")
            let last6 = try Self.freshConnections(20, vip: vip6, from: segment.router)
            XCTAssertEqual(last6.perSE, [seAddresses[successor]: 20], "the last SE serves alone over IPv6")
            _ = server.stop()
        }
    }

    /// `--native-return via-primary` (Avi's OpenStack mode): the secondaries' replies go to the primary's MAC,
    /// and the primary sends them on to the client; every request still succeeds, from all three SEs.
    func testNativeRepliesThroughThePrimary() throws {
        try withLab("native-via", requires: ["curl", "python3"]) { lab in
            let binary = try starlingBinary()
            let segment = try Topology.segment(lab: lab, speakers: 4)
            let seNS = Array(segment.speakers[0..<3])
            let seAddresses = segment.speakerEnds[0..<3].map(\.ipv4)
            let vip = "198.18.1.100"
            let vip6 = "2001:db8:ffff:1::100"
            let server = try startPoolServer(lab, in: segment.speakers[3])
            let config = lab.path("se.json")
            try Self.nativeConfig(vip: vip, vip6: vip6, server: segment.speakerEnds[3].ipv4).write(
                toFile: config, atomically: true, encoding: .utf8)
            for index in seNS.indices {
                _ = try Self.startSE(
                    lab, binary: binary, config: config, index: index, in: seNS[index], members: seAddresses,
                    extra: ["--native-return", "via-primary"])
            }
            try Self.waitForOnePrimary(seNS)
            let fresh = try Self.freshConnections(90, vip: vip, from: segment.router)
            let fresh6 = try Self.freshConnections(30, vip: vip6, from: segment.router)
            print(
                "IntegrationTests: native via the primary, new connections by SE: \(fresh.perSE), IPv6 \(fresh6.perSE)")
            XCTAssertEqual(fresh.failed + fresh6.failed, 0)
            XCTAssertEqual(Set(fresh.perSE.keys), Set(seAddresses), "all three SEs serve")
            let statuses = try seNS.map(Self.steering)
            let primary = statuses.first { $0.vips.first?.primaryHere == true }!
            XCTAssertGreaterThan(primary.counters["replies_relayed_for_secondaries"] ?? 0, 0, "\(primary.counters)")
            for status in statuses where status.vips.first?.primaryHere != true {
                XCTAssertGreaterThan(status.counters["replies_sent_to_primary"] ?? 0, 0, "\(status.counters)")
            }
            _ = server.stop()
        }
    }

    /// The SEs know each other by IPv6 addresses (data addresses, heartbeats, forwarding targets): the IPv6
    /// VIP's packets go to a secondary by `bpf_redirect_neigh` over IPv6, the IPv4 VIP's by MAC rewrite; each SE
    /// reaches the server from its own IPv6 address.
    func testNativeScaleoutBetweenIPv6Members() throws {
        try withLab("native6", requires: ["curl", "python3"]) { lab in
            let binary = try starlingBinary()
            let segment = try Topology.segment(lab: lab, speakers: 4)
            let seNS = Array(segment.speakers[0..<3])
            let seAddresses = segment.speakerEnds[0..<3].map(\.ipv6)
            let server = try startPoolServer(lab, in: segment.speakers[3])
            let config = lab.path("se.json")
            try Self.nativeConfig(
                vip: "198.18.1.100", vip6: "2001:db8:ffff:1::100", server: segment.speakerEnds[3].ipv6
            )
            .write(toFile: config, atomically: true, encoding: .utf8)
            for index in seNS.indices {
                _ = try Self.startSE(
                    lab, binary: binary, config: config, index: index, in: seNS[index], members: seAddresses, extra: [])
            }
            try Self.waitForOnePrimary(seNS)
            let fresh6 = try Self.freshConnections(90, vip: "2001:db8:ffff:1::100", from: segment.router)
            let fresh = try Self.freshConnections(90, vip: "198.18.1.100", from: segment.router)
            print(
                "IntegrationTests: native between IPv6 members, new connections by SE: IPv6 VIP \(fresh6.perSE), IPv4 VIP \(fresh.perSE)"
            )
            XCTAssertEqual(fresh6.failed + fresh.failed, 0)
            XCTAssertEqual(Set(fresh6.perSE.keys), Set(seAddresses), "all three SEs serve the IPv6 VIP")
            XCTAssertEqual(Set(fresh.perSE.keys), Set(seAddresses), "all three SEs serve the IPv4 VIP")
            let primary = try seNS.map(Self.steering).first { $0.vips.first?.primaryHere == true }
            XCTAssertEqual(Set(primary?.members.map(\.address) ?? []), Set(seAddresses))
            XCTAssertGreaterThan(primary?.counters["forwarded_new_flow"] ?? 0, 0)
            _ = server.stop()
        }
    }

    func testConnectionsSurviveScaleOutScaleInAndSIGTERMUnderECMP() throws {
        try withLab("ecmp-steer", requires: BIRD.requiredPrograms + ["curl", "python3"]) { lab in
            let binary = try starlingBinary()
            let segment = try Topology.segment(lab: lab, speakers: 5)
            let seNS = Array(segment.speakers[0..<4])
            let seAddresses = segment.speakerEnds[0..<4].map(\.ipv4)
            let serverNS = segment.speakers[4]
            let serverAddress = segment.speakerEnds[4].ipv4
            let routerAddress = segment.routerEnd.ipv4
            let vip = "192.0.2.62"
            // The router hashes flows on the 4-tuple (L4), as routers in front of load balancers do.
            _ = try segment.router.exec(["sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"])
            let router = BIRD(
                lab: lab, name: "router", namespace: segment.router,
                spec: SpeakerSpec(
                    asn: 65000, routerID: routerAddress,
                    neighbors: seAddresses.map {
                        NeighborSpec(address: $0, asn: 65001, localAddress: routerAddress, passive: true)
                    },
                    export: .none, kernelECMP: true))
            try router.start()

            let server = try startPoolServer(lab, in: serverNS)
            let config = lab.path("se.json")
            try Self.ecmpConfig(vip: vip, router: routerAddress, server: serverAddress).write(
                toFile: config, atomically: true, encoding: .utf8)
            func startSE(_ index: Int) throws -> Daemon {
                try Self.startSE(
                    lab, binary: binary, config: config, index: index, in: seNS[index], members: seAddresses,
                    extra: ["--drain-timeout", "15"])
            }
            func nextHops() throws -> Set<String> { Set(try KernelRoute.nextHops(of: "\(vip)/32", in: segment.router)) }
            var ses = try (0..<3).map(startSE)
            try Wait.until("router has \(vip) via three SEs", timeout: 20) { try nextHops() == Set(seAddresses[0..<3]) }

            // 500 keep-alive connections, a request every 100 ms each; each connection is replaced after 50
            // requests (about 5 s), so new connections keep arriving beside the long-lived ones.
            let load = lab.path("keepalive.py")
            try KeepAliveLoad.script.write(toFile: load, atomically: true, encoding: .utf8)
            let stopFile = lab.path("load.stop")
            let results = lab.path("load.json")
            let client = try lab.start(
                "load", ["python3", "-u", load, "http://\(vip)/", "500", "0.1", stopFile, results, "50"],
                in: segment.router)
            Thread.sleep(forTimeInterval: 4)

            // Scale out 3 → 4: the router's new hash moves some flows of the three to the fourth.
            ses.append(try startSE(3))
            try Wait.until("router has \(vip) via four SEs", timeout: 20) { try nextHops() == Set(seAddresses) }
            Thread.sleep(forTimeInterval: 5)
            let fourth = try Self.steering(seNS[3])
            XCTAssertEqual(fourth.vips.first?.mode, "ecmp")

            // Scale in 4 → 3: the fourth withdraws, the router hashes its flows back over the three, which pass
            // them on to it until they end.
            ses[3].send(SIGTERM)
            try Wait.until("router has \(vip) via three SEs again", timeout: 10) {
                try nextHops() == Set(seAddresses[0..<3])
            }
            XCTAssertEqual(ses[3].waitForExit(timeout: 30), .exited(0), ses[3].logTail())
            Thread.sleep(forTimeInterval: 3)
            let chained = try (0..<3).reduce(0) { sum, index in
                sum + (try Self.steering(seNS[index]).counters["forwarded_not_held_here"] ?? 0)
            }

            // SIGTERM of one of the three.
            ses[0].send(SIGTERM)
            try Wait.until("router has \(vip) via two SEs", timeout: 10) { try nextHops() == Set(seAddresses[1..<3]) }
            XCTAssertEqual(ses[0].waitForExit(timeout: 30), .exited(0), ses[0].logTail())
            Thread.sleep(forTimeInterval: 3)

            XCTAssertTrue(FileManager.default.createFile(atPath: stopFile, contents: nil))
            XCTAssertEqual(client.waitForExit(timeout: 20), .exited(0), client.logTail())
            let figures =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: results)))
                as? [String: Any] ?? [:]
            let perSE = figures["per_se"] as? [String: Int] ?? [:]
            print("IntegrationTests: ECMP scale-out/in/SIGTERM under 500 keep-alive connections: \(figures)")
            print("IntegrationTests: packets passed along to the SE holding the connection: \(chained)")
            XCTAssertGreaterThan(figures["total"] as? Int ?? 0, 20_000, "the load ran throughout")
            XCTAssertEqual(figures["resets"] as? Int, 0, "no connection reset: \(figures["errors"] ?? [])")
            XCTAssertEqual(figures["failed"] as? Int, 0, "no request failed: \(figures["errors"] ?? [])")
            XCTAssertEqual(figures["moved"] as? Int, 0, "a connection stays on its SE")
            XCTAssertEqual(Set(perSE.keys), Set(seAddresses), "all four SEs served: \(perSE)")
            XCTAssertGreaterThan(chained, 0, "the router moved flows and the SEs passed them along")
            _ = server.stop()
        }
    }

    // MARK: - Helpers

    /// Starts `starling se` number `index` (0-based) of a scale-out group from `config`, heart-beating every
    /// ``heartbeatMs``.
    static func startSE(
        _ lab: Lab, binary: String, config: String, index: Int, in ns: Namespace, members: [String], extra: [String]
    ) throws -> Daemon {
        try lab.start(
            "se\(index + 1)",
            [
                binary, "se", "--config", config, "--data-address", members[index],
                "--scaleout-members", members.joined(separator: ","), "--heartbeat-interval", "\(heartbeatMs)",
            ] + extra, in: ns)
    }

    /// Waits until every SE in `namespaces` sees all of them live and exactly one is the native primary.
    static func waitForOnePrimary(_ namespaces: [Namespace]) throws {
        try Wait.until("every SE sees all \(namespaces.count) members live and one primary", timeout: 15) {
            let statuses = try namespaces.map(steering)
            return statuses.allSatisfy { $0.members.filter(\.live).count == namespaces.count }
                && statuses.filter { $0.vips.first?.primaryHere == true }.count == 1
        }
    }

    struct Steering {
        struct Member {
            var address: String
            var this: Bool
            var live: Bool
            var packetsForwardedTo: Int
            var pinnedFlows: Int
        }
        struct VIP {
            var mode: String
            var primary: String?
            var secondaries: [String]
            var primaryHere: Bool
        }
        var epoch: Int
        var members: [Member]
        var vips: [VIP]
        var counters: [String: Int]
    }

    static func status(_ ns: Namespace) throws -> [String: Any] {
        let text = try ns.exec(["curl", "-sS", "-m", "2", "http://127.0.0.1:9180/status"])
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    /// The steering part of an SE's `/status`.
    static func steering(_ ns: Namespace) throws -> Steering {
        guard let s = try status(ns)["steering"] as? [String: Any] else {
            throw LabError(.parse, "no steering in /status")
        }
        let members = (s["members"] as? [[String: Any]] ?? []).map { m in
            Steering.Member(
                address: m["address"] as? String ?? "", this: m["this"] as? Bool ?? false,
                live: m["live"] as? Bool ?? false, packetsForwardedTo: m["packets_forwarded_to"] as? Int ?? 0,
                pinnedFlows: m["pinned_flows"] as? Int ?? 0)
        }
        let vips = (s["vips"] as? [[String: Any]] ?? []).map { v in
            Steering.VIP(
                mode: v["mode"] as? String ?? "", primary: v["primary"] as? String,
                secondaries: v["secondaries"] as? [String] ?? [], primaryHere: v["primary_here"] as? Bool ?? false)
        }
        return Steering(
            epoch: s["epoch"] as? Int ?? 0, members: members, vips: vips,
            counters: s["counters"] as? [String: Int] ?? [:])
    }

    static func macs(in linkJSON: String) -> [String] {
        let objects = (try? JSONSerialization.jsonObject(with: Data(linkJSON.utf8))) as? [[String: Any]] ?? []
        return objects.compactMap { $0["address"] as? String }
    }

    /// `count` requests, each on a new connection, from `ns`: responses by SE (the pool server's `client=`).
    static func freshConnections(_ count: Int, vip: String, from ns: Namespace) throws -> (
        perSE: [String: Int], failed: Int
    ) {
        let code = """
            import http.client, json
            per, failed, error = {}, 0, None
            for i in range(\(count)):
                try:
                    c = http.client.HTTPConnection("\(vip)", 80, timeout=2)
                    c.request("GET", "/")
                    body = c.getresponse().read().decode()
                    c.close()
                    se = body.split("client=")[-1].strip()
                    per[se] = per.get(se, 0) + 1
                except Exception as e:
                    failed += 1
                    error = repr(e)
            print(json.dumps({"per_se": per, "failed": failed, "error": error}))
            """
        let text = try ns.exec(["python3", "-c", code], timeout: 120)
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
        if let error = object["error"] as? String { print("IntegrationTests: a request to \(vip) failed: \(error)") }
        return (object["per_se"] as? [String: Int] ?? [:], object["failed"] as? Int ?? -1)
    }

    /// A probe: a new connection with one GET every 20 ms (1 s timeout) until its stop file appears.
    static func startProbe(_ lab: Lab, name: String, vip: String, in ns: Namespace) throws -> Daemon {
        let code = """
            import http.client, json, os, sys, time
            stop, out = sys.argv[1], sys.argv[2]
            total, failed, errors = 0, 0, []
            while not os.path.exists(stop):
                total += 1
                try:
                    c = http.client.HTTPConnection("\(vip)", 80, timeout=1)
                    c.request("GET", "/")
                    r = c.getresponse()
                    body = r.read()
                    c.close()
                    if r.status != 200 or not body.startswith(b"server="):
                        raise Exception("status %d" % r.status)
                except Exception as e:
                    failed += 1
                    errors.append("%.3f %r" % (time.time(), e))
                time.sleep(0.02)
            json.dump({"total": total, "failed": failed, "errors": errors[:20]}, open(out, "w"))
            """
        return try lab.start(
            name, ["python3", "-u", "-c", code, lab.path("\(name).stop"), lab.path("\(name).json")], in: ns)
    }

    static func stopProbe(_ probe: Daemon, lab: Lab, name: String) throws -> (total: Int, failed: Int, errors: [String])
    {
        _ = FileManager.default.createFile(atPath: lab.path("\(name).stop"), contents: nil)
        XCTAssertEqual(probe.waitForExit(timeout: 10), .exited(0), probe.logTail())
        let object =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: lab.path("\(name).json"))))
            as? [String: Any] ?? [:]
        return (object["total"] as? Int ?? 0, object["failed"] as? Int ?? -1, object["errors"] as? [String] ?? [])
    }

    static func nativeConfig(vip: String, vip6: String, server: String) -> String {
        """
        {
          "pool": [{"name": "p", "servers": [{"ip": {"addr": "\(server)", "type": "\(server.contains(":") ? "V6" : "V4")"},
            "port": 8080}]}],
          "vsvip": [{"name": "v", "vip": [{"vip_id": "0", "ip_address": {"addr": "\(vip)", "type": "V4"},
            "ip6_address": {"addr": "\(vip6)", "type": "V6"}}]}],
          "virtualservice": [{"name": "web", "vsvip_ref": "/api/vsvip/?name=v", "services": [{"port": 80}],
            "pool_ref": "/api/pool/?name=p", "scaleout_ecmp": false,
            "application_profile_ref": "/api/applicationprofile/?name=System-HTTP"}]
        }
        """
    }

    static func ecmpConfig(vip: String, router: String, server: String) -> String {
        """
        {
          "vrfcontext": [{"name": "global",
            "bgp_profile": {"local_as": 65001, "hold_time": 9,
            "peers": [{"peer_ip": {"addr": "\(router)", "type": "V4"}, "remote_as": 65000}]}}],
          "pool": [{"name": "p", "servers": [{"ip": {"addr": "\(server)", "type": "V4"}, "port": 8080}]}],
          "vsvip": [{"name": "v", "vip": [{"vip_id": "0", "ip_address": {"addr": "\(vip)", "type": "V4"}}]}],
          "virtualservice": [{"name": "web", "vsvip_ref": "/api/vsvip/?name=v", "services": [{"port": 80}],
            "pool_ref": "/api/pool/?name=p", "enable_rhi": true, "scaleout_ecmp": true,
            "application_profile_ref": "/api/applicationprofile/?name=System-HTTP"}]
        }
        """
    }
}
