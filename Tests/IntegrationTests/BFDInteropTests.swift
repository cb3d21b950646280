import Foundation
import Lab
import XCTest

/// BFD between `starling bgp` and BIRD 2 (`protocol bfd`, `bfd on`) or FRR (bfdd, `neighbor … bfd`), at
/// 100 ms × 3 on both sides: the BFD session comes up, a frozen Starling (SIGSTOP: process stopped, TCP
/// still up, the 30 s hold timer far away) loses its route at the router within the detection time,
/// gets it back after SIGCONT, and a frozen router BFD takes Starling's session down the same way.
final class BFDInteropTests: XCTestCase {
    func testBIRDIPv4() throws { try scenario(.bird, .ipv4) }
    func testBIRDIPv6() throws { try scenario(.bird, .ipv6) }
    func testFRRIPv4() throws { try scenario(.frr, .ipv4) }

    static let starlingASN: UInt32 = 65001
    static let peerASN: UInt32 = 65000
    static let holdTime = 30
    /// What both sides configure: a failure is seen after 3 × 100 ms without packets.
    static let detectionTime = Double(NeighborSpec.bfdMultiplier * NeighborSpec.bfdIntervalMilliseconds) / 1000
    /// Allowance on top of the detection time for the BGP teardown, the route change and the polling
    /// of this test on a loaded CI machine. The benchmark (`Benchmarks/bfd/run.sh`) measures the real
    /// figure; this bound only has to tell BFD from the 30 s hold timer, with margin.
    static let allowance = 0.7

    private func scenario(_ kind: PeerDaemonKind, _ family: IPFamily) throws {
        let label = "bfd-\(kind.rawValue)-\(family.rawValue)"
        try withLab(label, requires: kind.requiredPrograms + ["curl"]) { lab in
            let binary = try starlingBinary()
            let pair = try Topology.pair(lab: lab, left: "starling", right: kind.rawValue)
            let starlingAddress = pair.leftEnd.address(family)
            let peerAddress = pair.rightEnd.address(family)
            let prefix = Prefixes.initial(family)[0]

            // The router: installs BGP routes into its kernel table (BIRD) and runs BFD with Starling.
            let peer = kind.make(
                lab: lab, name: kind.rawValue, namespace: pair.right,
                spec: SpeakerSpec(
                    asn: Self.peerASN, routerID: pair.rightEnd.ipv4,
                    neighbors: [
                        NeighborSpec(
                            address: starlingAddress, asn: Self.starlingASN, localAddress: peerAddress, passive: true,
                            bfd: true)
                    ], export: .none, kernelECMP: kind == .bird))
            try peer.start()
            let starling = StarlingBGP(
                lab: lab, name: "starling", namespace: pair.left,
                config: StarlingConfig(
                    asn: Self.starlingASN, routerID: pair.leftEnd.ipv4,
                    peers: [
                        StarlingPeerConfig(
                            address: peerAddress, asn: Self.peerASN, localAddress: starlingAddress,
                            holdTime: Self.holdTime, bfd: true)
                    ], announce: [prefix]),
                binary: binary)
            try starling.start()

            _ = try peer.waitEstablished(starlingAddress, timeout: 30)
            _ = try starling.waitEstablished(peerAddress, timeout: 10)
            try peer.waitForRoute(prefix, from: starlingAddress)
            // The BFD session comes up on Starling's side (three-way handshake at the 1 s slow rate)
            // and settles at the negotiated 100 ms.
            _ = try Wait.value("starling /bfd at 100 ms × 3 with \(peerAddress)", timeout: 15) {
                try self.bfdSessions(starling).first {
                    $0["peer"] as? String == peerAddress && $0["state"] as? String == "Up"
                        && $0["transmit_interval_ms"] as? Double == Double(NeighborSpec.bfdIntervalMilliseconds)
                        && $0["detection_time_ms"] as? Double == Self.detectionTime * 1000
                }
            }
            XCTAssertEqual(try starling.peer(peerAddress).bfd, "Up", "/peers bfd")
            try Wait.until("\(kind.rawValue) sees BFD Up", timeout: 10) {
                try self.routerBFDUp(peer, starlingAddress)
            }
            guard let starlingDaemon = starling.daemon else { return XCTFail("starling not running") }

            // 1. Starling frozen: the router's BFD expires and its BGP drops the route, long before the
            //    hold timer.
            let bound = Self.detectionTime + Self.allowance
            for attempt in 1...3 {
                let frozen = Date()
                starlingDaemon.send(SIGSTOP)
                let gone = Self.becomesFalse { try self.routerHasRoute(peer, kind, prefix, family, pair.right) }
                let elapsed = Date().timeIntervalSince(frozen)
                starlingDaemon.send(SIGCONT)
                XCTAssertTrue(gone, "attempt \(attempt): route still at \(kind.rawValue) 5 s after SIGSTOP")
                XCTAssertLessThanOrEqual(
                    elapsed, bound, "attempt \(attempt): route left \(kind.rawValue) after \(elapsed) s")
                print("BFDInteropTests: \(label) attempt \(attempt): route gone after \(Int(elapsed * 1000)) ms")
                // After SIGCONT: Starling hears the router's Down, drops its session too, and both come back.
                try Wait.until("route back at \(kind.rawValue) after SIGCONT", timeout: 30) {
                    try self.routerHasRoute(peer, kind, prefix, family, pair.right)
                }
                _ = try starling.waitEstablished(peerAddress, timeout: 10)
            }
            // (Starling's own last error here is the router's Cease, read after SIGCONT: BIRD sends subcode 0,
            // FRR subcode 10, BFD Down.)

            // 2. The router's BFD frozen (the whole BIRD; FRR's bfdd alone, its bgpd keeps the TCP session):
            //    Starling's BFD expires and takes its session down at once.
            let routerBFD: Daemon? = kind == .bird ? (peer as? BIRD)?.daemon : (peer as? FRR)?.bfdd
            guard let routerBFD else { return XCTFail("no router BFD process") }
            try Wait.until("BFD Up again", timeout: 15) { try starling.peer(peerAddress).bfd == "Up" }
            let frozen = Date()
            routerBFD.send(SIGSTOP)
            let down = Self.becomesFalse { try starling.peer(peerAddress).state == "Established" }
            let elapsed = Date().timeIntervalSince(frozen)
            routerBFD.send(SIGCONT)
            XCTAssertTrue(down, "starling still Established 5 s after the router's BFD froze")
            XCTAssertLessThanOrEqual(elapsed, bound, "starling dropped the session after \(elapsed) s")
            let status = try starling.peer(peerAddress)
            XCTAssertEqual(
                status.lastError, "BFD session down: control detection time expired", "\(status)")
            _ = try starling.waitEstablished(peerAddress, timeout: 30)
            try Wait.until("route back at \(kind.rawValue)", timeout: 30) {
                try self.routerHasRoute(peer, kind, prefix, family, pair.right)
            }

            // 3. SIGTERM: Starling's BFD says AdminDown after the Cease, and exits 0.
            XCTAssertEqual(starling.terminate(timeout: 15), .exited(0))
        }
    }

    /// Polls `condition` every 5 ms for at most 5 s; true when it turned false.
    private static func becomesFalse(_ condition: () throws -> Bool) -> Bool {
        (try? Wait.until("condition turns false", timeout: 5, interval: 0.005) { try !condition() }) != nil
    }

    private func bfdSessions(_ starling: StarlingBGP) throws -> [[String: Any]] {
        let text = try starling.get("/bfd")
        return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]) ?? []
    }

    /// The route as the router uses it: BIRD's kernel table (what forwarding sees), FRR's BGP table
    /// (the lab runs its bgpd without kernel installation).
    private func routerHasRoute(
        _ peer: any PeerDaemon, _ kind: PeerDaemonKind, _ prefix: String, _ family: IPFamily, _ namespace: Namespace
    ) throws -> Bool {
        switch kind {
        case .bird:
            return !(try namespace.ip([family == .ipv4 ? "-4" : "-6", "route", "show", prefix]))
                .trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        default:
            return try peer.routes(family).contains { $0.prefix == prefix }
        }
    }

    private func routerBFDUp(_ peer: any PeerDaemon, _ neighbor: String) throws -> Bool {
        if let bird = peer as? BIRD {
            return try bird.birdc(["show", "bfd", "sessions"]).split(separator: "\n").contains {
                $0.hasPrefix(neighbor + " ") && $0.contains(" Up ")
            }
        }
        if let frr = peer as? FRR {
            let out = try Command.check(
                ["vtysh", "--vty_socket", frr.directory, "-d", "bfdd", "-c", "show bfd peer \(neighbor) json"],
                timeout: 10)
            return out.contains("\"status\":\"up\"")
        }
        return false
    }
}
