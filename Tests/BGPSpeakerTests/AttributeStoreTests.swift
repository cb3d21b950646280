import XCTest

@testable import BGPSpeaker

/// The compact encoding of stored attribute sets and the interning store around it.
final class AttributeStoreTests: XCTestCase {
    /// A set with every field filled, in unusual shapes.
    static let everything = PathAttributes(
        origin: .egp,
        asPath: ASPath(segments: [
            ASPath.Segment(type: .confedSequence, asns: [64512]),
            ASPath.Segment(type: .asSequence, asns: Array(1...200).map { UInt32($0) * 100_003 }),
            ASPath.Segment(type: .asSet, asns: [7, 4_200_000_000]),
            ASPath.Segment(type: .asSequence, asns: []),
        ]),
        nextHop: IPv4Address("198.18.0.1"), multiExitDisc: 0, localPref: .max, atomicAggregate: true,
        aggregator: Aggregator(asn: 65001, address: IPv4Address("10.0.0.1")!),
        communities: [.noExport, Community(asn: 1, value: 2)],
        extendedCommunities: [ExtendedCommunity(rawValue: 0x0002_FDE8_0000_0001), ExtendedCommunity(rawValue: .max)],
        largeCommunities: [LargeCommunity(65001, 1, 2), LargeCommunity(0, 0, 0)],
        mpReach: MPReach(
            family: .ipv6Unicast,
            nextHop: .ipv6(global: IPv6Address("2001:db8::1")!, linkLocal: IPv6Address("fe80::1")),
            nlri: [IPPrefix("2001:db8::/32")!, IPPrefix("::/0")!, IPPrefix("192.0.2.0/24")!]),
        mpUnreach: MPUnreach(
            family: AddressFamily(afi: .ipv4, safi: .multicast), withdrawn: [IPPrefix("2001:db8:1::/48")!]),
        unknown: [
            RawAttribute(
                flags: [.optional, .transitive, .partial], type: AttributeType(rawValue: 99),
                value: Array(repeating: 0xAB, count: 300)),
            RawAttribute(flags: [.optional], type: AttributeType(rawValue: 200), value: []),
        ])

    func roundTrip(_ a: PathAttributes, mode: AttributeEncoding.MPMode = .asIs) -> PathAttributes {
        let size = AttributeEncoding.maximumSize(a, mode: mode)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        let length = AttributeEncoding.encode(a, mode: mode, into: buffer)
        XCTAssertLessThanOrEqual(length, size)
        return AttributeEncoding.decode(UnsafeRawBufferPointer(start: buffer, count: length))
    }

    func testEncodingRoundTrips() {
        XCTAssertEqual(roundTrip(PathAttributes()), PathAttributes())
        XCTAssertEqual(roundTrip(Self.everything), Self.everything)
        var raw = Self.everything
        raw.mpReach?.nextHop = .raw([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        XCTAssertEqual(roundTrip(raw), raw)
        raw.mpReach?.nextHop = .ipv4(IPv4Address("192.0.2.1")!)
        XCTAssertEqual(roundTrip(raw), raw)
        raw.mpReach?.nextHop = .ipv6(global: IPv6Address("2001:db8::2")!, linkLocal: nil)
        XCTAssertEqual(roundTrip(raw), raw)
        XCTAssertEqual(roundTrip(RIBFixture.attributes(med: 5)), RIBFixture.attributes(med: 5))
    }

    func testEncodingModes() {
        var omitted = Self.everything
        omitted.mpReach = nil
        omitted.mpUnreach = nil
        XCTAssertEqual(roundTrip(Self.everything, mode: .omit), omitted)
        var template = Self.everything
        template.mpReach?.nlri = []
        template.mpUnreach = nil
        XCTAssertEqual(roundTrip(Self.everything, mode: .reachTemplate), template)
    }

    func testDistinctSetsGetDistinctIDs() {
        // Sets that differ in one detail each, including ones a sloppy encoding would merge
        // (absent vs zero, empty list vs absent, segment boundaries).
        var variants: [PathAttributes] = [PathAttributes()]
        variants.append(PathAttributes(origin: .igp))
        variants.append(PathAttributes(multiExitDisc: 0))
        variants.append(PathAttributes(localPref: 0))
        variants.append(PathAttributes(asPath: ASPath()))
        variants.append(PathAttributes(asPath: ASPath(segments: [ASPath.Segment(type: .asSequence, asns: [])])))
        variants.append(PathAttributes(asPath: ASPath(segments: [ASPath.Segment(type: .asSequence, asns: [1, 2])])))
        variants.append(
            PathAttributes(
                asPath: ASPath(segments: [
                    ASPath.Segment(type: .asSequence, asns: [1]), ASPath.Segment(type: .asSequence, asns: [2]),
                ])))
        variants.append(PathAttributes(atomicAggregate: true))
        variants.append(PathAttributes(communities: [Community(rawValue: 0)]))
        variants.append(PathAttributes(mpUnreach: MPUnreach(family: .ipv6Unicast, withdrawn: [])))
        variants.append(PathAttributes(unknown: [RawAttribute(flags: [], type: AttributeType(rawValue: 0), value: [])]))
        let store = AttributeStore(seed: 1)
        let ids = variants.map { store.intern($0) }
        XCTAssertEqual(Set(ids).count, variants.count)
        for (id, a) in zip(ids, variants) {
            XCTAssertEqual(store.attributes(id), a)
            XCTAssertEqual(store.intern(a), id)
        }
    }

    func testArenaCompactionKeepsLiveSets() {
        let store = AttributeStore(seed: 2)
        let sets = (0..<20_000).map { RIBFixture.attributes(path: [65001, UInt32($0)], med: UInt32($0)) }
        let ids = sets.map { a -> UInt32 in
            let id = store.intern(a)
            store.retain(id)
            return id
        }
        let bytesBefore = store.arenaBytes
        // Free all but every tenth: more than half the arena dies, so it is compacted.
        for (i, id) in ids.enumerated() where i % 10 != 0 { store.release(id) }
        XCTAssertEqual(store.count, 2_000)
        XCTAssertLessThan(store.arenaBytes, bytesBefore / 2)
        for (i, id) in ids.enumerated() where i % 10 == 0 {
            XCTAssertEqual(store.attributes(id), sets[i])
            XCTAssertEqual(store.intern(sets[i]), id)
            XCTAssertEqual(store.decision(id).med, UInt32(i))
        }
        // Freed ids are reused for new sets.
        let fresh = store.intern(RIBFixture.attributes(path: [1, 2, 3]))
        XCTAssertTrue(ids.contains(fresh))
    }

    func testCopyIsIndependent() {
        let store = AttributeStore(seed: 3)
        let x = store.intern(RIBFixture.attributes(med: 1))
        store.retain(x)
        let copy = store.copy()
        store.release(x)
        XCTAssertEqual(store.count, 0)
        XCTAssertEqual(copy.count, 1)
        XCTAssertEqual(copy.attributes(x), RIBFixture.attributes(med: 1))
        XCTAssertEqual(copy.intern(RIBFixture.attributes(med: 1)), x)
    }

    /// The sizes the memory budget rests on (DESIGN.md §6).
    func testCompactLayouts() {
        XCTAssertEqual(MemoryLayout<RouteSlot>.stride, 8)
        XCTAssertEqual(MemoryLayout<PrefixTable<IPv4Key>.Bucket>.stride, 16)
        XCTAssertEqual(MemoryLayout<PrefixTable<IPv6Key>.Bucket>.stride, 32)
        XCTAssertEqual(MemoryLayout<AttributeStore.DecisionData>.stride, 16)
        XCTAssertLessThanOrEqual(AttributeEncoding.maximumSize(RIBFixture.attributes(), mode: .omit), 64)
    }

    func testDecisionData() {
        var a = RIBFixture.attributes(path: [65001, 2, 3], localPref: 150, med: 9, origin: .egp)
        a.asPath?.segments.append(ASPath.Segment(type: .asSet, asns: [4, 5, 6]))
        let d = AttributeStore.DecisionData(a)
        XCTAssertEqual(d.localPref, 150)
        XCTAssertEqual(d.asPathLength, 4)
        XCTAssertEqual(d.origin, Origin.egp.rawValue)
        XCTAssertEqual(d.med, 9)
        XCTAssertEqual(d.neighborAS, 65001)
        let empty = AttributeStore.DecisionData(PathAttributes())
        XCTAssertNil(empty.localPref)
        XCTAssertEqual(empty.origin, Origin.incomplete.rawValue)
        XCTAssertEqual(empty.med, 0)
        XCTAssertEqual(empty.neighborAS, 0)
    }
}
