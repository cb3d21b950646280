import XCTest

@testable import BGPSpeaker

/// SplitMix64: a small seeded generator so that randomized tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The RIB checked against a naive model (dictionaries and a sort) under random UPDATEs.
final class RIBModelTests: XCTestCase {
    typealias F = RIBFixture

    func testPrefixTableMatchesDictionary() {
        var rng = SeededGenerator(seed: 7)
        let table = PrefixTable<IPv4Key>()
        var model: [UInt64: RouteSlot] = [:]
        // A small key space so that inserts, hits and removals mix, and clusters form.
        for step in 0..<60_000 {
            let key = IPv4Key(raw: UInt64.random(in: 0..<8_000, using: &rng) << 8 | 24)
            if Bool.random(using: &rng) || step < 5_000 {
                let (i, inserted) = table.findOrInsert(key)
                XCTAssertEqual(inserted, model[key.raw] == nil)
                let v = RouteSlot(peer: UInt32(step), attr: 1)
                table.buckets[i].value = v
                model[key.raw] = v
            } else if let i = table.find(key) {
                XCTAssertEqual(table.buckets[i].value, model[key.raw])
                table.remove(at: i)
                model[key.raw] = nil
            } else {
                XCTAssertNil(model[key.raw])
            }
        }
        XCTAssertEqual(table.count, model.count)
        for (k, v) in model { XCTAssertEqual(table.find(IPv4Key(raw: k)).map { table.buckets[$0].value }, v) }
        var seen = 0
        table.forEachIndex(removing: { i in
            seen += 1
            if table.buckets[i].value.peer % 2 == 0 {
                model[table.buckets[i].key.raw] = nil
                table.remove(at: i)
                return true
            }
            return false
        })
        XCTAssertEqual(table.count, model.count)
        XCTAssertGreaterThanOrEqual(seen, model.count)
        for (k, v) in model { XCTAssertEqual(table.find(IPv4Key(raw: k)).map { table.buckets[$0].value }, v) }
        let copy = table.copy()
        table.removeAll()
        XCTAssertEqual(copy.count, model.count)
        XCTAssertNil(table.find(IPv4Key(raw: model.keys.first!)))
    }

    struct ModelRoute: Equatable {
        var peer: PeerID
        var attributes: PathAttributes
    }

    func testRandomUpdatesAgainstModel() {
        var rng = SeededGenerator(seed: 42)
        let peerIDs = [PeerID(10), PeerID(20), PeerID(30)]
        let infos = [
            F.info(as: 65001, routerID: "10.0.0.3", address: "198.18.0.1"),
            F.info(as: 65000, routerID: "10.0.0.1", address: "198.18.0.2"),  // iBGP
            F.info(as: 65002, routerID: "10.0.0.2", address: "198.18.0.3"),
        ]
        // MED is left out: with it the decision is not a total order, which the model's sort needs.
        let pool: [PathAttributes] = [
            F.attributes(path: [65001]),
            F.attributes(path: [65001, 2, 3]),
            F.attributes(path: [65002], localPref: 200),
            F.attributes(path: [65002], localPref: 50),
            F.attributes(path: [65003], origin: .incomplete),
            F.attributes(path: [65004, F.localAS]),  // loop: never eligible
            F.attributes(path: [], localPref: 120),
        ]
        let v4 = (0..<3_000).map { _ in
            IPPrefix.v4(
                IPv4Prefix(
                    address: IPv4Address(rawValue: UInt32.random(in: 0...UInt32.max, using: &rng)),
                    length: UInt8.random(in: 8...32, using: &rng)))
        }
        let v6 = (0..<300).map { _ in
            IPPrefix.v6(
                IPv6Prefix(
                    address: IPv6Address(high: UInt64.random(in: 0...UInt64.max, using: &rng), low: 0),
                    length: UInt8.random(in: 16...64, using: &rng)))
        }
        let universe = Array(Set(v4 + v6))

        var rib = RIB()
        for (p, i) in zip(peerIDs, infos) { rib.setPeerInfo(p, i) }
        var model: [PeerID: [IPPrefix: PathAttributes]] = [:]

        func sortKey(_ r: ModelRoute) -> (UInt32, Int, UInt8, Int, UInt32) {
            let info = infos[peerIDs.firstIndex(of: r.peer)!]
            let lp = info.internalPeer ? (r.attributes.localPref ?? 100) : 100
            return (
                UInt32.max - lp, r.attributes.asPath?.pathLength ?? 0, r.attributes.origin!.rawValue,
                info.internalPeer ? 1 : 0, info.routerID.rawValue
            )
        }
        func modelBest(_ prefix: IPPrefix) -> ModelRoute? {
            var candidates: [ModelRoute] = []
            for p in peerIDs {
                if let a = model[p]?[prefix], RIBStorage.isEligible(a, localAS: F.localAS) {
                    candidates.append(ModelRoute(peer: p, attributes: a))
                }
            }
            return candidates.min { sortKey($0) < sortKey($1) }
        }
        func ribBest(_ prefix: IPPrefix) -> ModelRoute? {
            rib.bestRoute(for: prefix).map { ModelRoute(peer: $0.peer, attributes: $0.attributes) }
        }

        for step in 0..<400 {
            let peer = peerIDs.randomElement(using: &rng)!
            let touchedBefore: [IPPrefix: ModelRoute?]
            let changes: RIBChanges
            if step % 97 == 96 {
                touchedBefore = Dictionary(uniqueKeysWithValues: universe.map { ($0, modelBest($0)) })
                changes = rib.removePeer(peer)
                model[peer] = [:]
            } else {
                let withdrawn = (0..<Int.random(in: 0...40, using: &rng)).map { _ in
                    universe.randomElement(using: &rng)!
                }
                // Disjoint and without repeats: a prefix changed twice in one UPDATE counts twice.
                let announced = Array(
                    Set((0..<Int.random(in: 0...120, using: &rng)).map { _ in universe.randomElement(using: &rng)! })
                        .subtracting(withdrawn))
                var attributes = pool.randomElement(using: &rng)!
                var u = UpdateMessage(attributes: attributes)
                u.withdrawnRoutes = withdrawn.compactMap { if case .v4(let p) = $0 { p } else { nil } }
                let w6 = withdrawn.filter { $0.family == .ipv6Unicast }
                if !w6.isEmpty { u.attributes.mpUnreach = MPUnreach(family: .ipv6Unicast, withdrawn: w6) }
                u.nlri = announced.compactMap { if case .v4(let p) = $0 { p } else { nil } }
                let a6 = announced.filter { $0.family == .ipv6Unicast }
                if !a6.isEmpty {
                    u.attributes.mpReach = MPReach(
                        family: .ipv6Unicast, nextHop: .ipv6(global: IPv6Address("2001:db8::1")!, linkLocal: nil),
                        nlri: a6)
                }
                touchedBefore = Dictionary(
                    (withdrawn + announced).map { ($0, modelBest($0)) }, uniquingKeysWith: { x, _ in x })
                changes = rib.apply(u, from: peer)
                for p in withdrawn { model[peer]?[p] = nil }
                attributes.mpReach = nil
                attributes.mpUnreach = nil
                for p in u.nlri { model[peer, default: [:]][.v4(p)] = attributes }
                var mp = attributes
                mp.mpReach = MPReach(
                    family: .ipv6Unicast, nextHop: .ipv6(global: IPv6Address("2001:db8::1")!, linkLocal: nil), nlri: [])
                for p in a6 { model[peer, default: [:]][p] = mp }
            }
            let expectedChanges = touchedBefore.filter { $0.value != modelBest($0.key) }.count
            XCTAssertEqual(changes.bestPathsChanged, expectedChanges, "step \(step)")
            for p in peerIDs { XCTAssertEqual(rib.prefixCount(of: p), model[p]?.count ?? 0, "step \(step) \(p)") }
            for p in touchedBefore.keys { XCTAssertEqual(ribBest(p), modelBest(p), "step \(step) \(p)") }
            if step % 50 == 0 || step == 399 {
                XCTAssertEqual(rib.locRIBCount, universe.filter { modelBest($0) != nil }.count, "step \(step)")
                var distinct: Set<PathAttributes> = []
                for routes in model.values { distinct.formUnion(routes.values) }
                XCTAssertEqual(rib.attributeSetCount, distinct.count, "step \(step)")
                XCTAssertEqual(rib.routes(limit: .max).count, model.values.reduce(0) { $0 + $1.count })
            }
        }
        for p in peerIDs { rib.removePeer(p) }
        XCTAssertEqual(rib.locRIBCount, 0)
        XCTAssertEqual(rib.attributeSetCount, 0)
    }
}
