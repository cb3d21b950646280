import XCTest

@testable import BGPSpeaker

/// Test helpers: attribute sets and peers.
enum RIBFixture {
    static let localAS: UInt32 = 65000

    static func attributes(
        path: [UInt32] = [65001], localPref: UInt32? = nil, med: UInt32? = nil, origin: Origin = .igp,
        nextHop: String = "198.18.0.1", communities: [Community] = []
    ) -> PathAttributes {
        PathAttributes(
            origin: origin,
            asPath: ASPath(segments: path.isEmpty ? [] : [ASPath.Segment(type: .asSequence, asns: path)]),
            nextHop: IPv4Address(nextHop)!, multiExitDisc: med, localPref: localPref, communities: communities)
    }

    static func info(
        as peerAS: UInt32, routerID: String, address: String = "198.18.0.1", internalPeer: Bool? = nil
    ) -> RIBPeerInfo {
        RIBPeerInfo(
            peerAS: peerAS, routerID: IPv4Address(routerID)!, address: IPAddress(address)!, internalPeer: internalPeer,
            localAS: localAS)
    }

    static func p4(_ s: String) -> IPv4Prefix { IPv4Prefix(s)! }
    static func p(_ s: String) -> IPPrefix { IPPrefix(s)! }

    static func announce(_ prefixes: [String], _ a: PathAttributes) -> UpdateMessage {
        UpdateMessage(attributes: a, nlri: prefixes.map { p4($0) })
    }
    static func withdraw(_ prefixes: [String]) -> UpdateMessage {
        UpdateMessage(withdrawnRoutes: prefixes.map { p4($0) })
    }
}

final class RIBTests: XCTestCase {
    typealias F = RIBFixture
    let a = PeerID(1)
    let b = PeerID(2)
    let c = PeerID(3)
    let net = "192.0.2.0/24"

    /// A RIB with eBGP peers a (AS 65001, id 10.0.0.1), b (AS 65002, id 10.0.0.2), c (AS 65003, id 10.0.0.3).
    func ebgpRIB() -> RIB {
        var rib = RIB()
        rib.setPeerInfo(a, F.info(as: 65001, routerID: "10.0.0.1", address: "198.18.0.1"))
        rib.setPeerInfo(b, F.info(as: 65002, routerID: "10.0.0.2", address: "198.18.0.2"))
        rib.setPeerInfo(c, F.info(as: 65003, routerID: "10.0.0.3", address: "198.18.0.3"))
        return rib
    }

    func best(_ rib: RIB, _ prefix: String) -> PeerID? { rib.bestRoute(for: F.p(prefix))?.peer }

    // MARK: - One peer

    func testAnnounceAndWithdrawOnePeer() {
        var rib = ebgpRIB()
        let ch = rib.apply(F.announce(["192.0.2.0/24", "198.51.100.0/24"], F.attributes()), from: a)
        XCTAssertEqual(ch.bestPathsChanged, 2)
        XCTAssertEqual(rib.prefixCount(of: a), 2)
        XCTAssertEqual(rib.locRIBCount, 2)
        let r = rib.bestRoute(for: F.p(net))
        XCTAssertEqual(r?.peer, a)
        XCTAssertEqual(r?.attributes, F.attributes())
        XCTAssertEqual(r?.best, true)

        XCTAssertEqual(rib.apply(F.withdraw(["192.0.2.0/24"]), from: a).bestPathsChanged, 1)
        XCTAssertEqual(rib.prefixCount(of: a), 1)
        XCTAssertEqual(rib.locRIBCount, 1)
        XCTAssertNil(rib.bestRoute(for: F.p(net)))
    }

    func testWithdrawOfUnknownPrefixIsIgnored() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes()), from: a)
        XCTAssertEqual(rib.apply(F.withdraw(["203.0.113.0/24"]), from: a).bestPathsChanged, 0)
        XCTAssertEqual(rib.apply(F.withdraw([net]), from: b).bestPathsChanged, 0, "b never announced it")
        XCTAssertEqual(rib.prefixCount(of: a), 1)
        XCTAssertEqual(rib.prefixCount(of: b), 0)
        XCTAssertEqual(best(rib, net), a)
    }

    func testWithdrawThenAnnounceInOneUpdate() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes()), from: a)
        // RFC 4271 §4.3: withdrawals are processed before NLRI, so the prefix stays.
        var u = F.announce([net], F.attributes(path: [65001, 3]))
        u.withdrawnRoutes = [F.p4(net)]
        rib.apply(u, from: a)
        XCTAssertEqual(rib.prefixCount(of: a), 1)
        XCTAssertEqual(rib.bestRoute(for: F.p(net))?.attributes.asPath?.pathLength, 2)
    }

    func testImplicitWithdrawReplacesAttributes() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes(med: 5)), from: a)
        XCTAssertEqual(rib.attributeSetCount, 1)
        let ch = rib.apply(F.announce([net], F.attributes(med: 7)), from: a)
        XCTAssertEqual(ch.bestPathsChanged, 1)
        XCTAssertEqual(rib.prefixCount(of: a), 1)
        XCTAssertEqual(rib.locRIBCount, 1)
        XCTAssertEqual(rib.bestRoute(for: F.p(net))?.attributes.multiExitDisc, 7)
        XCTAssertEqual(rib.attributeSetCount, 1, "the replaced set is freed")
        XCTAssertEqual(rib.routes(peer: a, limit: 10).count, 1)
    }

    func testDuplicateAnnouncementChangesNothing() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes()), from: a)
        XCTAssertTrue(rib.apply(F.announce([net], F.attributes()), from: a).isEmpty)
        XCTAssertEqual(rib.prefixCount(of: a), 1)
        rib.apply(F.withdraw([net]), from: a)
        XCTAssertEqual(rib.attributeSetCount, 0, "one reference per route, not per announcement")
    }

    // MARK: - Best path, one step at a time

    func testHighestLocalPrefWinsAmongInternalPeers() {
        var rib = RIB()
        rib.setPeerInfo(a, F.info(as: 65000, routerID: "10.0.0.1"))
        rib.setPeerInfo(b, F.info(as: 65000, routerID: "10.0.0.2"))
        rib.apply(F.announce([net], F.attributes(path: [65010], localPref: 100)), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65010, 65011, 65012], localPref: 200)), from: b)
        XCTAssertEqual(best(rib, net), b, "LOCAL_PREF is compared before AS_PATH length")
    }

    func testMissingLocalPrefCountsAs100() {
        var rib = RIB()
        rib.setPeerInfo(a, F.info(as: 65000, routerID: "10.0.0.2"))
        rib.setPeerInfo(b, F.info(as: 65000, routerID: "10.0.0.1"))
        rib.apply(F.announce([net], F.attributes(path: [65010], localPref: nil)), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65010], localPref: 99)), from: b)
        XCTAssertEqual(best(rib, net), a, "missing (100) beats 99 despite b's lower router id")
        rib.apply(F.announce([net], F.attributes(path: [65010], localPref: 101)), from: b)
        XCTAssertEqual(best(rib, net), b)
    }

    func testLocalPrefFromExternalPeerIsIgnored() {
        var rib = RIB()
        rib.setPeerInfo(a, F.info(as: 65001, routerID: "10.0.0.1"))
        rib.setPeerInfo(b, F.info(as: 65000, routerID: "10.0.0.2"))
        // RFC 4271 §5.1.5: LOCAL_PREF from an external peer MUST be ignored, so a's route ranks as 100.
        rib.apply(F.announce([net], F.attributes(path: [65001], localPref: 500)), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65009, 65001], localPref: 150)), from: b)
        XCTAssertEqual(best(rib, net), b)
    }

    func testShortestASPathWins() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes(path: [65001, 1, 2])), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65002, 1])), from: b)
        XCTAssertEqual(best(rib, net), b)
    }

    func testASSetCountsAsOne() {
        var rib = ebgpRIB()
        var withSet = F.attributes(path: [65001])
        withSet.asPath?.segments.append(ASPath.Segment(type: .asSet, asns: [1, 2, 3, 4]))
        rib.apply(F.announce([net], withSet), from: a)  // length 2
        rib.apply(F.announce([net], F.attributes(path: [65002, 1, 2])), from: b)  // length 3
        XCTAssertEqual(best(rib, net), a)
    }

    func testLowestOriginWins() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes(path: [65001], origin: .incomplete)), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65002], origin: .egp)), from: b)
        XCTAssertEqual(best(rib, net), b)
        rib.apply(F.announce([net], F.attributes(path: [65003], origin: .igp)), from: c)
        XCTAssertEqual(best(rib, net), c)
    }

    func testLowestMEDWinsAmongRoutesFromTheSameNeighbourAS() {
        var rib = RIB()
        // Two sessions to the same neighbouring AS.
        rib.setPeerInfo(a, F.info(as: 65001, routerID: "10.0.0.1", address: "198.18.0.1"))
        rib.setPeerInfo(b, F.info(as: 65001, routerID: "10.0.0.2", address: "198.18.0.2"))
        rib.apply(F.announce([net], F.attributes(path: [65001], med: 50)), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65001], med: 10)), from: b)
        XCTAssertEqual(best(rib, net), b, "lower MED beats lower router id")
        rib.apply(F.announce([net], F.attributes(path: [65001], med: nil)), from: a)
        XCTAssertEqual(best(rib, net), a, "a missing MED is 0, the best")
    }

    func testMEDNotComparedAcrossNeighbourASes() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes(path: [65001], med: 50)), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65002], med: 10)), from: b)
        XCTAssertEqual(best(rib, net), a, "different neighbour AS: falls through to the router id")
    }

    func testMEDEliminationIsPerNeighbourAS() {
        // a and b both from AS 65001 (b has the lower MED), c from AS 65003 with the highest router
        // id. The MED step removes a only; b then wins on router id over c.
        var rib = RIB()
        rib.setPeerInfo(a, F.info(as: 65001, routerID: "10.0.0.1", address: "198.18.0.1"))
        rib.setPeerInfo(b, F.info(as: 65001, routerID: "10.0.0.2", address: "198.18.0.2"))
        rib.setPeerInfo(c, F.info(as: 65003, routerID: "10.0.0.3", address: "198.18.0.3"))
        rib.apply(F.announce([net], F.attributes(path: [65001], med: 20)), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65001], med: 10)), from: b)
        rib.apply(F.announce([net], F.attributes(path: [65003], med: 0)), from: c)
        XCTAssertEqual(best(rib, net), b)
    }

    func testExternalBeatsInternal() {
        var rib = RIB()
        rib.setPeerInfo(a, F.info(as: 65000, routerID: "10.0.0.1"))
        rib.setPeerInfo(b, F.info(as: 65002, routerID: "10.0.0.2"))
        rib.apply(F.announce([net], F.attributes(path: [65002])), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65002])), from: b)
        XCTAssertEqual(best(rib, net), b)
    }

    func testLowestRouterIDWins() {
        var rib = RIB()
        rib.setPeerInfo(a, F.info(as: 65001, routerID: "10.0.0.9", address: "198.18.0.1"))
        rib.setPeerInfo(b, F.info(as: 65002, routerID: "10.0.0.3", address: "198.18.0.2"))
        rib.apply(F.announce([net], F.attributes(path: [65001])), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65002])), from: b)
        XCTAssertEqual(best(rib, net), b)
    }

    func testLowestPeerAddressWins() {
        var rib = RIB()
        rib.setPeerInfo(a, F.info(as: 65001, routerID: "10.0.0.1", address: "198.18.0.20"))
        rib.setPeerInfo(b, F.info(as: 65001, routerID: "10.0.0.1", address: "198.18.0.3"))
        rib.apply(F.announce([net], F.attributes(path: [65001])), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65001])), from: b)
        XCTAssertEqual(best(rib, net), b)
        XCTAssertEqual(rib.attributeSetCount, 1, "both routes share one set")
    }

    func testDecisionDoesNotDependOnArrivalOrder() {
        let routes: [(PeerID, PathAttributes)] = [
            (a, F.attributes(path: [65001, 7])), (b, F.attributes(path: [65002])), (c, F.attributes(path: [65003])),
        ]
        var winners: Set<PeerID> = []
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            var rib = ebgpRIB()
            for i in order { rib.apply(F.announce([net], routes[i].1), from: routes[i].0) }
            winners.insert(best(rib, net)!)
        }
        XCTAssertEqual(winners, [b])
    }

    // MARK: - Withdrawal and peers

    func testWithdrawRestoresNextBest() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes(path: [65001, 1, 2])), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65002, 1])), from: b)
        rib.apply(F.announce([net], F.attributes(path: [65003])), from: c)
        XCTAssertEqual(best(rib, net), c)
        XCTAssertEqual(rib.apply(F.withdraw([net]), from: c).bestPathsChanged, 1)
        XCTAssertEqual(best(rib, net), b)
        XCTAssertEqual(rib.apply(F.withdraw([net]), from: a).bestPathsChanged, 0, "a was not the best")
        XCTAssertEqual(best(rib, net), b)
        XCTAssertEqual(rib.locRIBCount, 1)
        XCTAssertEqual(rib.apply(F.withdraw([net]), from: b).bestPathsChanged, 1)
        XCTAssertNil(rib.bestRoute(for: F.p(net)))
        XCTAssertEqual(rib.locRIBCount, 0)
        XCTAssertEqual(rib.attributeSetCount, 0)
    }

    func testAnnouncementThatLosesChangesNothing() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes(path: [65001])), from: a)
        XCTAssertEqual(rib.apply(F.announce([net], F.attributes(path: [65002, 9])), from: b).bestPathsChanged, 0)
        XCTAssertEqual(rib.apply(F.announce([net], F.attributes(path: [65003])), from: c).bestPathsChanged, 0)
        XCTAssertEqual(best(rib, net), a)
        XCTAssertEqual(rib.locRIBCount, 1)
    }

    func testRemovePeer() {
        var rib = ebgpRIB()
        rib.apply(
            F.announce(["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"], F.attributes(path: [65001])), from: a)
        rib.apply(F.announce(["192.0.2.0/24", "10.0.0.0/8"], F.attributes(path: [65002, 1])), from: b)
        XCTAssertEqual(rib.locRIBCount, 4)
        let ch = rib.removePeer(a)
        // 198.51.100.0/24 and 203.0.113.0/24 vanish; 192.0.2.0/24 moves to b.
        XCTAssertEqual(ch.bestPathsChanged, 3)
        XCTAssertEqual(rib.prefixCount(of: a), 0)
        XCTAssertEqual(rib.prefixCount(of: b), 2)
        XCTAssertEqual(rib.locRIBCount, 2)
        XCTAssertEqual(best(rib, "192.0.2.0/24"), b)
        XCTAssertNil(rib.bestRoute(for: F.p("198.51.100.0/24")))
        XCTAssertEqual(rib.attributeSetCount, 1)
        XCTAssertTrue(rib.removePeer(a).isEmpty)
        XCTAssertEqual(rib.peerInfo(a)?.routerID, IPv4Address("10.0.0.1"), "peer info is kept")
        rib.removePeer(b)
        XCTAssertEqual(rib.locRIBCount, 0)
        XCTAssertEqual(rib.attributeSetCount, 0)
        XCTAssertTrue(rib.routes(limit: 100).isEmpty)
    }

    func testRemovePeerWithManyPrefixes() {
        // Large enough for the table to grow and for removals to shift entries across wrap-around.
        var rib = ebgpRIB()
        let prefixes = (0..<20_000).map {
            IPv4Prefix(address: IPv4Address(rawValue: UInt32(0x0A00_0000 + $0 * 256)), length: 24)
        }
        rib.apply(UpdateMessage(attributes: F.attributes(path: [65001]), nlri: prefixes), from: a)
        rib.apply(UpdateMessage(attributes: F.attributes(path: [65002]), nlri: Array(prefixes[..<5_000])), from: b)
        // c: a small peer whose removal takes the in-place path; half its prefixes are shared.
        let cPrefixes =
            Array(prefixes[10_000..<10_050])
            + (0..<50).map { IPv4Prefix(address: IPv4Address(rawValue: UInt32(0x0B00_0000 + $0 * 256)), length: 24) }
        rib.apply(UpdateMessage(attributes: F.attributes(path: [65003]), nlri: cPrefixes), from: c)
        XCTAssertEqual(rib.locRIBCount, 20_050)
        XCTAssertEqual(rib.removePeer(c).bestPathsChanged, 50, "the shared ones stay with a (lower router id)")
        XCTAssertEqual(rib.locRIBCount, 20_000)
        for p in cPrefixes[..<50] { XCTAssertEqual(rib.bestRoute(for: .v4(p))?.peer, a) }
        for p in cPrefixes[50...] { XCTAssertNil(rib.bestRoute(for: .v4(p))) }
        XCTAssertEqual(rib.removePeer(a).bestPathsChanged, 20_000)
        XCTAssertEqual(rib.locRIBCount, 5_000)
        XCTAssertEqual(rib.prefixCount(of: b), 5_000)
        for p in prefixes[..<5_000] { XCTAssertEqual(rib.bestRoute(for: .v4(p))?.peer, b) }
        for p in prefixes[5_000...] { XCTAssertNil(rib.bestRoute(for: .v4(p))) }
        XCTAssertEqual(rib.removePeer(b).bestPathsChanged, 5_000)
        XCTAssertEqual(rib.locRIBCount, 0)
    }

    func testManyPeersOnOnePrefix() {
        // Forty peers (a route server's view): the candidate list outgrows its block several
        // times. Peer i has router id 10.0.1.(100 - i), so the newest peer always wins the tie.
        var rib = RIB()
        let peers = (0..<40).map { PeerID(100 + $0) }
        for (i, p) in peers.enumerated() {
            rib.setPeerInfo(
                p, F.info(as: 65100 + UInt32(i), routerID: "10.0.1.\(100 - i)", address: "198.18.1.\(i + 1)"))
        }
        for (i, p) in peers.enumerated() {
            XCTAssertEqual(
                rib.apply(F.announce([net], F.attributes(path: [65100 + UInt32(i)])), from: p).bestPathsChanged, 1)
            XCTAssertEqual(best(rib, net), p)
        }
        XCTAssertEqual(rib.routes(prefix: F.p(net), limit: 100).count, 40)
        // Withdraw in an order that keeps removing the current best, then others.
        var remaining = peers
        var rng = SeededGenerator(seed: 9)
        while remaining.count > 1 {
            let victim = Bool.random(using: &rng) ? remaining.last! : remaining.randomElement(using: &rng)!
            let wasBest = best(rib, net) == victim
            XCTAssertEqual(rib.apply(F.withdraw([net]), from: victim).bestPathsChanged, wasBest ? 1 : 0)
            remaining.removeAll { $0 == victim }
            XCTAssertEqual(best(rib, net), remaining.last, "highest index = lowest router id")
            XCTAssertEqual(rib.locRIBCount, 1)
        }
        XCTAssertEqual(rib.routes(prefix: F.p(net), limit: 100).map(\.peer), remaining)
        // Grow again from a single route, then drop every peer.
        for p in peers where p != remaining[0] { rib.apply(F.announce([net], F.attributes(path: [1, 2, 3])), from: p) }
        XCTAssertEqual(best(rib, net), remaining[0], "shortest path")
        for p in peers { rib.removePeer(p) }
        XCTAssertEqual(rib.locRIBCount, 0)
        XCTAssertEqual(rib.attributeSetCount, 0)
    }

    // MARK: - Loops

    func testRouteWithOwnASIsNotEligible() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes(path: [65001, F.localAS, 7])), from: a)
        XCTAssertEqual(rib.prefixCount(of: a), 1, "kept in the Adj-RIB-In")
        XCTAssertEqual(rib.locRIBCount, 0)
        XCTAssertNil(rib.bestRoute(for: F.p(net)))
        XCTAssertEqual(rib.routes(peer: a, limit: 10).first?.eligible, false)
        // A longer loop-free path wins over the looped one.
        XCTAssertEqual(rib.apply(F.announce([net], F.attributes(path: [65002, 1, 2, 3])), from: b).bestPathsChanged, 1)
        XCTAssertEqual(best(rib, net), b)
        rib.apply(F.withdraw([net]), from: b)
        XCTAssertNil(rib.bestRoute(for: F.p(net)))
        XCTAssertEqual(rib.locRIBCount, 0)
    }

    func testLoopInASSetIsDetected() {
        var rib = ebgpRIB()
        var looped = F.attributes(path: [65001])
        looped.asPath?.segments.append(ASPath.Segment(type: .asSet, asns: [5, F.localAS]))
        rib.apply(F.announce([net], looped), from: a)
        XCTAssertEqual(rib.locRIBCount, 0)
    }

    func testPeerInfoSetLaterReevaluatesRoutes() {
        var rib = RIB()
        rib.apply(F.announce([net], F.attributes(path: [65001, F.localAS])), from: a)
        XCTAssertEqual(rib.locRIBCount, 1, "no local AS known yet")
        let ch = rib.setPeerInfo(a, F.info(as: 65001, routerID: "10.0.0.1"))
        XCTAssertEqual(ch.bestPathsChanged, 1)
        XCTAssertEqual(rib.locRIBCount, 0)
    }

    func testRouterIDChangeReordersCandidates() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes(path: [65001])), from: a)
        rib.apply(F.announce([net], F.attributes(path: [65002])), from: b)
        XCTAssertEqual(best(rib, net), a)
        rib.setPeerInfo(a, F.info(as: 65001, routerID: "10.0.0.200"))
        XCTAssertEqual(best(rib, net), b)
    }

    // MARK: - Interning

    func testEqualAttributesShareOneSet() {
        var rib = ebgpRIB()
        rib.apply(F.announce(["192.0.2.0/24"], F.attributes()), from: a)
        rib.apply(F.announce(["198.51.100.0/24"], F.attributes()), from: a)
        rib.apply(F.announce(["203.0.113.0/24"], F.attributes()), from: b)
        XCTAssertEqual(rib.attributeSetCount, 1)
        rib.apply(F.announce(["10.0.0.0/8"], F.attributes(med: 1)), from: a)
        XCTAssertEqual(rib.attributeSetCount, 2)
        rib.apply(F.withdraw(["192.0.2.0/24", "198.51.100.0/24"]), from: a)
        XCTAssertEqual(rib.attributeSetCount, 2, "b still uses the first set")
        rib.apply(F.withdraw(["203.0.113.0/24"]), from: b)
        XCTAssertEqual(rib.attributeSetCount, 1, "freed when its count drops to zero")
        rib.apply(F.withdraw(["10.0.0.0/8"]), from: a)
        XCTAssertEqual(rib.attributeSetCount, 0)
    }

    func testAttributeStoreRefcountsAndReusesIDs() {
        let store = AttributeStore()
        let x = store.intern(F.attributes(med: 1))
        let y = store.intern(F.attributes(med: 2))
        XCTAssertNotEqual(x, y)
        XCTAssertEqual(store.intern(F.attributes(med: 1)), x)
        store.retain(x, by: 2)
        store.retain(y)
        store.release(x)
        XCTAssertEqual(store.refcount(x), 1)
        XCTAssertEqual(store.count, 2)
        store.release(x)
        XCTAssertEqual(store.count, 1)
        XCTAssertEqual(store.attributes(x), PathAttributes(), "the freed set is dropped")
        let z = store.intern(F.attributes(med: 3))
        XCTAssertEqual(z, x, "a freed id is reused")
        XCTAssertEqual(store.intern(F.attributes(med: 2)), y)
        for i in 0..<1000 { store.retain(store.intern(F.attributes(med: UInt32(100 + i)))) }
        XCTAssertEqual(store.count, 1002)
        XCTAssertEqual(store.intern(F.attributes(med: 2)), y)
        XCTAssertEqual(store.intern(F.attributes(med: 3)), z)
    }

    func testAnnouncementWithNoNewRouteFreesTheNewSet() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes()), from: a)
        // Same prefix, different attributes, then withdrawn in the next message: nothing leaks.
        rib.apply(F.announce([net], F.attributes(med: 9)), from: a)
        rib.apply(F.withdraw([net]), from: a)
        XCTAssertEqual(rib.attributeSetCount, 0)
        rib.apply(UpdateMessage(attributes: F.attributes(med: 4)), from: a)
        XCTAssertEqual(rib.attributeSetCount, 0, "attributes without NLRI are not stored")
    }

    // MARK: - IPv6 / multiprotocol

    func mpReach(_ prefixes: [String], nextHop: String = "2001:db8::1", med: UInt32? = nil) -> UpdateMessage {
        var attrs = F.attributes(med: med)
        attrs.nextHop = nil
        attrs.mpReach = MPReach(
            family: .ipv6Unicast, nextHop: .ipv6(global: IPv6Address(nextHop)!, linkLocal: IPv6Address("fe80::1")),
            nlri: prefixes.map { F.p($0) })
        return UpdateMessage(attributes: attrs)
    }

    func testIPv6RoutesViaMPReachAndMPUnreach() {
        var rib = ebgpRIB()
        XCTAssertEqual(rib.apply(mpReach(["2001:db8:1::/48", "2001:db8:2::/48"]), from: a).bestPathsChanged, 2)
        rib.apply(mpReach(["2001:db8:3::/48"]), from: a)
        XCTAssertEqual(rib.prefixCount(of: a), 3)
        XCTAssertEqual(rib.attributeSetCount, 1, "same next hop, one set: MP_REACH is stored with empty NLRI")
        let r = rib.bestRoute(for: F.p("2001:db8:1::/48"))
        XCTAssertEqual(r?.peer, a)
        XCTAssertEqual(r?.attributes.mpReach?.nlri, [])
        XCTAssertEqual(
            r?.attributes.mpReach?.nextHop,
            .ipv6(global: IPv6Address("2001:db8::1")!, linkLocal: IPv6Address("fe80::1")))
        rib.apply(mpReach(["2001:db8:4::/48"], nextHop: "2001:db8::2"), from: a)
        XCTAssertEqual(rib.attributeSetCount, 2, "another next hop is another set")

        var unreach = UpdateMessage()
        unreach.attributes.mpUnreach = MPUnreach(
            family: .ipv6Unicast, withdrawn: [F.p("2001:db8:1::/48"), F.p("2001:db8:4::/48")])
        XCTAssertEqual(rib.apply(unreach, from: a).bestPathsChanged, 2)
        XCTAssertEqual(rib.prefixCount(of: a), 2)
        XCTAssertEqual(rib.attributeSetCount, 1)
        XCTAssertNil(rib.bestRoute(for: F.p("2001:db8:1::/48")))

        // End-of-RIB for IPv6 (empty MP_UNREACH) changes nothing.
        var eor = UpdateMessage()
        eor.attributes.mpUnreach = MPUnreach(family: .ipv6Unicast, withdrawn: [])
        XCTAssertTrue(rib.apply(eor, from: a).isEmpty)
        XCTAssertEqual(rib.removePeer(a).bestPathsChanged, 2)
        XCTAssertEqual(rib.attributeSetCount, 0)
    }

    func testIPv6BestPathAcrossPeers() {
        var rib = ebgpRIB()
        rib.apply(mpReach(["2001:db8:1::/48"], med: nil), from: b)
        var longer = mpReach(["2001:db8:1::/48"])
        longer.attributes.asPath = ASPath(segments: [ASPath.Segment(type: .asSequence, asns: [65001, 1])])
        rib.apply(longer, from: a)
        XCTAssertEqual(best(rib, "2001:db8:1::/48"), b)
        rib.removePeer(b)
        XCTAssertEqual(best(rib, "2001:db8:1::/48"), a)
    }

    func testUpdateWithNLRIAndMPReachStoresTwoSets() {
        var rib = ebgpRIB()
        var u = mpReach(["2001:db8:1::/48"])
        u.attributes.nextHop = IPv4Address("198.18.0.1")
        u.nlri = [F.p4(net)]
        rib.apply(u, from: a)
        XCTAssertEqual(rib.prefixCount(of: a), 2)
        XCTAssertEqual(rib.attributeSetCount, 2)
        XCTAssertNil(rib.bestRoute(for: F.p(net))?.attributes.mpReach, "IPv4 NLRI is stored without MP_REACH")
        XCTAssertNotNil(rib.bestRoute(for: F.p("2001:db8:1::/48"))?.attributes.mpReach)
    }

    func testMPUnreachCanWithdrawIPv4() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes()), from: a)
        var u = UpdateMessage()
        u.attributes.mpUnreach = MPUnreach(family: .ipv4Unicast, withdrawn: [F.p(net)])
        rib.apply(u, from: a)
        XCTAssertEqual(rib.prefixCount(of: a), 0)
    }

    func testNonUnicastMPRoutesAreIgnored() {
        var rib = ebgpRIB()
        var u = mpReach(["2001:db8:1::/48"])
        u.attributes.mpReach?.family = AddressFamily(afi: .ipv6, safi: .multicast)
        XCTAssertTrue(rib.apply(u, from: a).isEmpty)
        XCTAssertEqual(rib.prefixCount(of: a), 0)
        XCTAssertEqual(rib.attributeSetCount, 0)
    }

    func testTreatAsWithdrawDecodedUpdate() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes()), from: a)
        rib.apply(DecodedUpdate(update: F.withdraw([net]), treatAsWithdraw: true), from: a)
        XCTAssertEqual(rib.locRIBCount, 0)
    }

    // MARK: - Queries and changes

    func testChangedPrefixesAreRecordedWhenAsked() {
        var rib = ebgpRIB()
        XCTAssertEqual(rib.apply(F.announce([net], F.attributes()), from: a).changedPrefixes, [], "off by default")
        rib.recordsChangedPrefixes = true
        let ch = rib.apply(F.announce(["198.51.100.0/24", net], F.attributes(med: 3)), from: a)
        XCTAssertEqual(Set(ch.changedPrefixes), [F.p("198.51.100.0/24"), F.p(net)])
        XCTAssertEqual(rib.removePeer(a).changedPrefixes.count, 2)
    }

    func testRoutesQuery() {
        var rib = ebgpRIB()
        rib.apply(
            F.announce(["198.51.100.0/24", "192.0.2.0/24", "192.0.2.0/25"], F.attributes(path: [65001])), from: a)
        rib.apply(F.announce(["192.0.2.0/24"], F.attributes(path: [65002, 5])), from: b)
        rib.apply(mpReach(["2001:db8::/32"]), from: b)

        let all = rib.routes(limit: 100)
        XCTAssertEqual(
            all.map { "\($0.prefix) \($0.peer) \($0.best)" },
            [
                "192.0.2.0/24 peer-1 true", "192.0.2.0/24 peer-2 false", "192.0.2.0/25 peer-1 true",
                "198.51.100.0/24 peer-1 true", "2001:db8::/32 peer-2 true",
            ])
        XCTAssertEqual(rib.routes(limit: 2).count, 2)
        XCTAssertEqual(rib.routes(limit: 0).count, 0)
        XCTAssertEqual(rib.routes(peer: b, limit: 100).map(\.prefix), [F.p("192.0.2.0/24"), F.p("2001:db8::/32")])
        XCTAssertEqual(rib.routes(prefix: F.p("192.0.2.0/24"), limit: 100).map(\.peer), [a, b])
        XCTAssertEqual(rib.routes(peer: b, prefix: F.p("192.0.2.0/24"), limit: 100).map(\.best), [false])
        XCTAssertEqual(rib.routes(peer: b, prefix: F.p("192.0.2.0/25"), limit: 100).count, 0)
        XCTAssertEqual(rib.routes(peer: PeerID(99), limit: 100).count, 0)
        XCTAssertEqual(rib.peers, [a, b, c])
    }

    func testCopyOnWrite() {
        var rib = ebgpRIB()
        rib.apply(F.announce([net], F.attributes()), from: a)
        let snapshot = rib
        rib.apply(F.withdraw([net]), from: a)
        rib.apply(F.announce(["198.51.100.0/24"], F.attributes(med: 1)), from: b)
        XCTAssertEqual(snapshot.locRIBCount, 1)
        XCTAssertEqual(snapshot.bestRoute(for: F.p(net))?.peer, a)
        XCTAssertNil(snapshot.bestRoute(for: F.p("198.51.100.0/24")))
        XCTAssertEqual(snapshot.attributeSetCount, 1)
        XCTAssertEqual(rib.bestRoute(for: F.p("198.51.100.0/24"))?.peer, b)
        XCTAssertNil(rib.bestRoute(for: F.p(net)))
    }
}
