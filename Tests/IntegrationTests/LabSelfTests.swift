import Foundation
import Lab
import XCTest

/// Daemon-to-daemon sessions that check the lab itself (namespaces, configs, CLIs and their parsers) with
/// no Starling code involved: if these fail, the Starling tests cannot be trusted either.
final class LabSelfTests: XCTestCase {
    func testKernelRouteParser() {
        let multipath = """
            192.0.2.50 proto bird metric 32
            \tnexthop via 198.18.1.11 dev br0 weight 1
            \tnexthop via 198.18.1.12 dev br0 weight 1
            """
        XCTAssertEqual(KernelRoute.parseNextHops(multipath), ["198.18.1.11", "198.18.1.12"])
        XCTAssertEqual(
            KernelRoute.parseNextHops("192.0.2.50 via 198.18.1.13 dev br0 proto bird metric 32"), ["198.18.1.13"])
        XCTAssertEqual(KernelRoute.parseNextHops(""), [])
    }

    func testStateNames() {
        XCTAssertEqual(SessionStatus.rfcName("Establ"), "Established")
        XCTAssertEqual(SessionStatus.rfcName("BGP_FSM_OPENCONFIRM"), "OpenConfirm")
        XCTAssertEqual(SessionStatus.rfcName("opensent"), "OpenSent")
    }

    /// BIRD (active) and GoBGP (passive) exchange one IPv4 and one IPv6 prefix each way.
    /// BIRD prints its state-change time through its monotonic clock at each read, so one session can show
    /// 15:55:43.973 and then 15:55:43.974 (CI failed on this once); a real reset shows a later time.
    func testBIRDSessionMarkerToleratesDisplayJitter() {
        func status(_ time: String) -> SessionStatus {
            SessionStatus(
                neighbor: "198.18.1.2", state: "Established", establishedMarker: time,
                establishedTime: BIRD.parseTime(time))
        }
        let first = status("2026-12-07 15:55:43.973")
        XCTAssertNotNil(first.establishedTime)
        XCTAssertTrue(status("2026-12-07 15:55:43.974").isSameSession(as: first))
        XCTAssertFalse(status("2026-12-07 15:55:44.120").isSameSession(as: first))
        let frr = SessionStatus(neighbor: "198.18.1.2", state: "Established", establishedMarker: "established=1")
        XCTAssertFalse(
            SessionStatus(neighbor: "198.18.1.2", state: "Established", establishedMarker: "established=2")
                .isSameSession(as: frr))
        XCTAssertTrue(frr.isSameSession(as: frr))
    }

    func testBIRDWithGoBGP() throws {
        try exchange(active: .bird, passive: .gobgp)
    }

    /// BIRD (active) and FRR (passive) exchange one IPv4 and one IPv6 prefix each way.
    func testBIRDWithFRR() throws {
        try exchange(active: .bird, passive: .frr)
    }

    /// FRR (active) and BIRD (passive). With the two above, every daemon the Starling tests use as their
    /// (passive) peer has its routes, next hops and session-reset marker checked here.
    func testFRRWithBIRD() throws {
        try exchange(active: .frr, passive: .bird)
    }

    /// Three BIRD speakers announce one /32 to a BIRD router with `merge paths on`: the router's kernel route
    /// has three next hops; killing one speaker leaves two.
    func testBIRDRouterECMPWithBIRDSpeakers() throws {
        try withLab("self-ecmp", requires: BIRD.requiredPrograms) { lab in
            let segment = try Topology.segment(lab: lab, speakers: 3)
            let addresses = segment.speakerEnds.map(\.ipv4)
            let router = BIRD(
                lab: lab, name: "router", namespace: segment.router,
                spec: SpeakerSpec(
                    asn: 65000, routerID: segment.routerEnd.ipv4,
                    neighbors: addresses.map {
                        NeighborSpec(address: $0, asn: 65001, localAddress: segment.routerEnd.ipv4, passive: true)
                    }, export: .none, kernelECMP: true))
            try router.start()
            var speakers: [BIRD] = []
            for (index, ns) in segment.speakers.enumerated() {
                let speaker = BIRD(
                    lab: lab, name: "speaker\(index + 1)", namespace: ns,
                    spec: SpeakerSpec(
                        asn: 65001, routerID: addresses[index],
                        neighbors: [
                            NeighborSpec(
                                address: segment.routerEnd.ipv4, asn: 65000, localAddress: addresses[index],
                                passive: false, holdTime: 9)
                        ], originate: [Prefixes.vip]))
                try speaker.start()
                speakers.append(speaker)
            }
            let hops = try Wait.value("router has 3 next hops for \(Prefixes.vip)", timeout: 30) {
                let hops = try KernelRoute.nextHops(of: Prefixes.vip, in: segment.router)
                return hops.count == 3 ? hops : nil
            }
            XCTAssertEqual(Set(hops), Set(addresses))
            speakers[1].daemon?.send(SIGKILL)
            try Wait.until("router has 2 next hops after speaker2 died", timeout: 12) {
                Set(try KernelRoute.nextHops(of: Prefixes.vip, in: segment.router)) == [addresses[0], addresses[2]]
            }
        }
    }

    private func exchange(active: PeerDaemonKind, passive: PeerDaemonKind) throws {
        try withLab(
            "self-\(active.rawValue)-\(passive.rawValue)",
            requires: active.requiredPrograms + passive.requiredPrograms
        ) { lab in
            let pair = try Topology.pair(lab: lab, left: active.rawValue, right: passive.rawValue)
            let l = pair.leftEnd
            let r = pair.rightEnd
            let leftOriginates = ["192.0.2.10/32", "2001:db8::10/128"]
            let rightOriginates = [Prefixes.fromPeer(.ipv4), Prefixes.fromPeer(.ipv6)]
            let right = passive.make(
                lab: lab, name: "right", namespace: pair.right,
                spec: SpeakerSpec(
                    asn: 65000, routerID: r.ipv4,
                    neighbors: IPFamily.allCases.map {
                        NeighborSpec(address: l.address($0), asn: 65001, localAddress: r.address($0), passive: true)
                    }, originate: rightOriginates),
                apiPort: 50061)
            try right.start()
            let left = active.make(
                lab: lab, name: "left", namespace: pair.left,
                spec: SpeakerSpec(
                    asn: 65001, routerID: l.ipv4,
                    neighbors: IPFamily.allCases.map {
                        NeighborSpec(
                            address: r.address($0), asn: 65000, localAddress: l.address($0), passive: false,
                            holdTime: 30)
                    }, originate: leftOriginates),
                apiPort: 50062)
            try left.start()
            for family in IPFamily.allCases {
                try right.waitEstablished(l.address(family))
                try left.waitEstablished(r.address(family))
                let atRight = try right.waitForRoute(leftOriginates[family == .ipv4 ? 0 : 1], from: l.address(family))
                XCTAssertEqual(atRight.nextHop, l.address(family), "\(passive) next hop")
                XCTAssertEqual(atRight.asPath, [65001], "\(passive) AS path")
                let atLeft = try left.waitForRoute(Prefixes.fromPeer(family), from: r.address(family))
                XCTAssertEqual(atLeft.nextHop, r.address(family), "\(active) next hop")
                XCTAssertEqual(atLeft.asPath, [65000], "\(active) AS path")
            }
            // The "no session reset" check of the Starling tests relies on the marker: it must stay put while
            // the session stays up, and change when the session is reset.
            let marker = try right.session(l.ipv4)
            try Wait.holds("session stays up", for: 1) { try right.session(l.ipv4).isEstablished }
            let later = try right.session(l.ipv4)
            XCTAssertTrue(
                later.isSameSession(as: marker), "\(passive) marker moved without a reset: \(marker) -> \(later)")
            let resetAt = Date()
            try left.resetSession(r.ipv4)
            let renewed = try Wait.value("\(passive) session re-established with a new marker", timeout: 40) {
                let status = try right.session(l.ipv4)
                return status.isEstablished && !status.isSameSession(as: marker) ? status : nil
            }
            print(
                "IntegrationTests: \(passive) marker \(marker.establishedMarker) -> \(renewed.establishedMarker) after reset, "
                    + String(format: "%.1f s", Date().timeIntervalSince(resetAt)))
            left.stop()
            for (index, prefix) in leftOriginates.enumerated() {
                try right.waitForNoRoute(prefix, from: index == 0 ? l.ipv4 : l.ipv6)
            }
            XCTAssertFalse(try right.session(l.ipv4).isEstablished)
        }
    }
}
