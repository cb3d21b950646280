import Foundation
import Lab
import XCTest

/// `starling bgp` against BIRD 2, FRR and GoBGP over IPv4 and IPv6 (DESIGN §3.1): session, announced
/// prefixes with Starling's next hop, routes received into `/rib`, SIGHUP re-announcement without a session
/// reset, and SIGTERM withdrawing everything with exit status 0.
final class StarlingPeerTests: XCTestCase {
    func testBIRDIPv4() throws { try scenario(.bird, .ipv4) }
    func testBIRDIPv6() throws { try scenario(.bird, .ipv6) }
    func testFRRIPv4() throws { try scenario(.frr, .ipv4) }
    func testFRRIPv6() throws { try scenario(.frr, .ipv6) }
    func testGoBGPIPv4() throws { try scenario(.gobgp, .ipv4) }
    func testGoBGPIPv6() throws { try scenario(.gobgp, .ipv6) }

    static let starlingASN: UInt32 = 65001
    static let peerASN: UInt32 = 65000

    private func scenario(_ kind: PeerDaemonKind, _ family: IPFamily) throws {
        let label = "starling-\(kind.rawValue)-\(family.rawValue)"
        try withLab(label, requires: kind.requiredPrograms + ["curl"]) { lab in
            let binary = try starlingBinary()
            let pair = try Topology.pair(lab: lab, left: "starling", right: kind.rawValue)
            let starlingAddress = pair.leftEnd.address(family)
            let peerAddress = pair.rightEnd.address(family)
            let fromPeer = Prefixes.fromPeer(family)
            let initial = Prefixes.initial(family)
            let reloaded = Prefixes.reloaded(family)
            let kept = initial[0]
            let removed = initial[1]
            let added = reloaded[1]

            // The peer daemon waits for Starling to connect and announces one prefix of its own.
            let peer = kind.make(
                lab: lab, name: kind.rawValue, namespace: pair.right,
                spec: SpeakerSpec(
                    asn: Self.peerASN, routerID: pair.rightEnd.ipv4,
                    neighbors: [
                        NeighborSpec(
                            address: starlingAddress, asn: Self.starlingASN, localAddress: peerAddress, passive: true)
                    ], originate: [fromPeer], export: .originated))
            try peer.start()

            let starling = StarlingBGP(
                lab: lab, name: "starling", namespace: pair.left,
                config: StarlingConfig(
                    asn: Self.starlingASN, routerID: pair.leftEnd.ipv4,
                    peers: [
                        StarlingPeerConfig(
                            address: peerAddress, asn: Self.peerASN, localAddress: starlingAddress, holdTime: 30,
                            passive: false)
                    ], announce: initial),
                binary: binary)
            try starling.start()

            // 1. Established on both sides.
            _ = try peer.waitEstablished(starlingAddress, timeout: 30)
            let status = try starling.waitEstablished(peerAddress, timeout: 10)
            XCTAssertEqual(status.asn, Self.peerASN, "/peers asn")
            XCTAssertEqual(status.holdTime, 30, "/peers negotiated hold time")

            // 2. The peer has Starling's prefixes, next hop = Starling's address, AS path = Starling's AS.
            for prefix in initial {
                let route = try peer.waitForRoute(prefix, from: starlingAddress)
                XCTAssertEqual(route.nextHop, starlingAddress, "\(kind.rawValue) next hop of \(prefix)")
                XCTAssertEqual(route.asPath, [Self.starlingASN], "\(kind.rawValue) AS path of \(prefix)")
            }

            // 3. The peer's route shows up in Starling's /rib with the peer's next hop and AS path.
            let received = try Wait.value("starling /rib has \(fromPeer) from \(peerAddress)", timeout: 15) {
                try starling.rib(peer: peerAddress).first { $0.address == peerAddress }?.routes
                    .first { $0.prefix == fromPeer }
            }
            XCTAssertEqual(received.nextHop, peerAddress, "/rib next_hop")
            XCTAssertEqual(received.asPath, [Self.peerASN], "/rib as_path")
            XCTAssertEqual(received.origin, "IGP", "/rib origin")
            let filtered = try starling.rib(peer: peerAddress, prefix: fromPeer)
            XCTAssertEqual(filtered.flatMap(\.routes).map(\.prefix), [fromPeer], "/rib?prefix= filter")
            let counted = try Wait.value("starling /peers counters", timeout: 10) {
                let peer = try starling.peer(peerAddress)
                return peer.prefixesReceived == 1 && peer.prefixesAdvertised == initial.count ? peer : nil
            }
            XCTAssertGreaterThan(counted.messagesReceived ?? 0, 0, "/peers messages_received")
            XCTAssertGreaterThan(counted.messagesSent ?? 0, 0, "/peers messages_sent")
            let stateChanges = counted.stateChanges

            // 4. SIGHUP with one prefix removed and one added: the peer's table follows, the session stays.
            // The marker is read now, not at establishment: BIRD moves its "since" time once more a few
            // milliseconds after Established (its channels coming up), which is not a reset.
            let beforeReload = try peer.session(starlingAddress)
            try starling.reload(announce: reloaded)
            try peer.waitForRoute(added, from: starlingAddress)
            try peer.waitForNoRoute(removed, from: starlingAddress)
            XCTAssertFalse(try peer.routes(for: kept).filter { $0.neighbor == starlingAddress }.isEmpty, "\(kept) kept")
            let after = try peer.session(starlingAddress)
            XCTAssertTrue(after.isEstablished, "\(kind.rawValue) session after SIGHUP: \(after)")
            XCTAssertTrue(
                after.isSameSession(as: beforeReload), "\(kind.rawValue) session was reset: \(beforeReload) -> \(after)"
            )
            let afterStatus = try starling.peer(peerAddress)
            XCTAssertEqual(afterStatus.state, "Established")
            XCTAssertEqual(afterStatus.stateChanges, stateChanges, "starling state_changes after SIGHUP")
            XCTAssertEqual(afterStatus.prefixesAdvertised, reloaded.count, "prefixes_advertised after SIGHUP")

            // 5. SIGTERM: everything is withdrawn and Starling exits 0.
            let termination = starling.terminate(timeout: 15)
            XCTAssertEqual(termination, .exited(0), "starling exit after SIGTERM")
            for prefix in reloaded {
                try peer.waitForNoRoute(prefix, from: starlingAddress, timeout: 10)
            }
        }
    }
}
