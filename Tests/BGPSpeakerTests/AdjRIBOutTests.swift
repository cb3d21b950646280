import XCTest

@testable import BGPSpeaker

final class AdjRIBOutTests: XCTestCase {
    let nh4 = IPv4Address("198.18.0.10")!
    let nh6 = IPv6Address("2001:db8:ffff::10")!
    let ll6 = IPv6Address("fe80::10")!
    func p(_ s: String) -> IPPrefix { IPPrefix(s)! }

    func ebgp(v4: Bool = true, v6: Bool = true) -> AdjRIBOut {
        AdjRIBOut(
            localAS: 65000, peerAS: 65100, nextHopV4: v4 ? nh4 : nil, nextHopV6: v6 ? nh6 : nil,
            nextHopV6LinkLocal: v6 ? ll6 : nil)
    }

    func testFirstSetAnnouncesEverythingWithEBGPAttributes() {
        var out = ebgp()
        let diff = out.setDesired([
            p("192.0.2.10/32"): OriginatedRoute(), p("192.0.2.11/32"): OriginatedRoute(),
            p("2001:db8::10/128"): OriginatedRoute(med: 5),
        ])
        XCTAssertEqual(diff.withdrawn, [])
        XCTAssertEqual(diff.announced.count, 2)
        XCTAssertEqual(diff.announced[0].prefixes, [p("192.0.2.10/32"), p("192.0.2.11/32")])
        XCTAssertEqual(diff.announced[1].prefixes, [p("2001:db8::10/128")])
        let v4 = diff.announced[0].attributes
        XCTAssertEqual(
            v4,
            PathAttributes(
                origin: .igp, asPath: ASPath(segments: [ASPath.Segment(type: .asSequence, asns: [65000])]), nextHop: nh4
            ))
        let v6 = diff.announced[1].attributes
        XCTAssertEqual(
            v6,
            PathAttributes(
                origin: .igp, asPath: ASPath(segments: [ASPath.Segment(type: .asSequence, asns: [65000])]),
                multiExitDisc: 5,
                mpReach: MPReach(family: .ipv6Unicast, nextHop: .ipv6(global: nh6, linkLocal: ll6), nlri: [])))
        XCTAssertNil(v4.localPref, "RFC 4271 §5.1.5: no LOCAL_PREF to external peers")
        XCTAssertNil(v6.nextHop, "IPv6 uses the MP_REACH next hop only")
        XCTAssertEqual(out.advertisedCount, 3)
        XCTAssertEqual(diff.announcedCount, 3)
    }

    func testUnchangedSetGivesEmptyDiff() {
        var out = ebgp()
        let desired = [p("192.0.2.10/32"): OriginatedRoute(communities: [Community(asn: 65000, value: 1)])]
        XCTAssertFalse(out.setDesired(desired).isEmpty)
        XCTAssertTrue(out.setDesired(desired).isEmpty)
        XCTAssertEqual(out.advertisedCount, 1)
    }

    func testAttributeChangeReannouncesWithoutWithdraw() {
        var out = ebgp()
        _ = out.setDesired([p("192.0.2.10/32"): OriginatedRoute(), p("192.0.2.11/32"): OriginatedRoute()])
        let diff = out.setDesired([
            p("192.0.2.10/32"): OriginatedRoute(communities: [Community(asn: 65000, value: 7), .noExport]),
            p("192.0.2.11/32"): OriginatedRoute(),
        ])
        XCTAssertEqual(diff.withdrawn, [])
        XCTAssertEqual(diff.announced.count, 1)
        XCTAssertEqual(diff.announced[0].prefixes, [p("192.0.2.10/32")])
        XCTAssertEqual(diff.announced[0].attributes.communities, [Community(asn: 65000, value: 7), .noExport])
    }

    func testRemovalWithdraws() {
        var out = ebgp()
        _ = out.setDesired([p("192.0.2.10/32"): OriginatedRoute(), p("2001:db8::10/128"): OriginatedRoute()])
        let diff = out.setDesired([p("192.0.2.10/32"): OriginatedRoute()])
        XCTAssertEqual(diff.withdrawn, [p("2001:db8::10/128")])
        XCTAssertTrue(diff.announced.isEmpty)
        XCTAssertEqual(out.advertisedCount, 1)
        XCTAssertEqual(out.setDesired([:]).withdrawn, [p("192.0.2.10/32")])
        XCTAssertEqual(out.advertisedCount, 0)
    }

    func testIBGPAttributes() {
        var out = AdjRIBOut(localAS: 65000, peerAS: 65000, nextHopV4: nh4, nextHopV6: nil, nextHopV6LinkLocal: nil)
        XCTAssertTrue(out.isInternal)
        let diff = out.setDesired([
            p("192.0.2.10/32"): OriginatedRoute(), p("192.0.2.20/32"): OriginatedRoute(localPref: 300),
        ])
        XCTAssertEqual(diff.announced.count, 2)
        // RFC 4271 §5.1.2: empty AS_PATH to internal peers; §5.1.5: LOCAL_PREF included.
        XCTAssertEqual(diff.announced[0].attributes.asPath, ASPath())
        XCTAssertEqual(diff.announced[0].attributes.localPref, 100)
        XCTAssertEqual(diff.announced[1].attributes.localPref, 300)
        XCTAssertEqual(diff.announced[1].attributes.nextHop, nh4)
    }

    func testFamilyWithoutNextHopIsSkipped() {
        var out = ebgp(v4: true, v6: false)
        let diff = out.setDesired([p("192.0.2.10/32"): OriginatedRoute(), p("2001:db8::10/128"): OriginatedRoute()])
        XCTAssertEqual(diff.announced.flatMap(\.prefixes), [p("192.0.2.10/32")])
        XCTAssertEqual(out.advertisedCount, 1)

        var out6 = ebgp(v4: false, v6: true)
        let diff6 = out6.setDesired([p("192.0.2.10/32"): OriginatedRoute(), p("2001:db8::10/128"): OriginatedRoute()])
        XCTAssertEqual(diff6.announced.flatMap(\.prefixes), [p("2001:db8::10/128")])
    }

    func testLosingANextHopWithdrawsThatFamily() {
        var out = ebgp()
        let desired = [p("192.0.2.10/32"): OriginatedRoute(), p("2001:db8::10/128"): OriginatedRoute()]
        _ = out.setDesired(desired)
        out.nextHopV6 = nil
        let diff = out.setDesired(desired)
        XCTAssertEqual(diff.withdrawn, [p("2001:db8::10/128")])
        XCTAssertTrue(diff.announced.isEmpty)
        out.nextHopV4 = IPv4Address("198.18.0.11")
        XCTAssertEqual(out.setDesired(desired).announced.first?.attributes.nextHop, IPv4Address("198.18.0.11"))
    }

    func testGroupsShareEqualAttributesAndSortDeterministically() {
        var out = ebgp()
        let red = OriginatedRoute(communities: [Community(asn: 65000, value: 1)])
        let blue = OriginatedRoute(communities: [Community(asn: 65000, value: 2)])
        let diff = out.setDesired([
            p("192.0.2.30/32"): red, p("192.0.2.10/32"): blue, p("192.0.2.20/32"): red, p("192.0.2.40/32"): blue,
            p("192.0.2.50/32"): OriginatedRoute(communities: [
                Community(asn: 65000, value: 2), Community(asn: 65000, value: 2),
            ]),
        ])
        XCTAssertEqual(
            diff.announced.map(\.prefixes),
            [
                [p("192.0.2.10/32"), p("192.0.2.40/32"), p("192.0.2.50/32")],
                [p("192.0.2.20/32"), p("192.0.2.30/32")],
            ], "duplicate communities collapse, so .50 joins blue")
        XCTAssertEqual(
            diff.announced.map(\.attributes.communities),
            [[Community(asn: 65000, value: 2)], [Community(asn: 65000, value: 1)]])
    }

    func testCommunityOrderDoesNotMatter() {
        var out = ebgp()
        let x = Community(asn: 1, value: 1)
        let y = Community(asn: 2, value: 2)
        _ = out.setDesired([
            p("192.0.2.10/32"): OriginatedRoute(communities: [x, y], largeCommunities: [LargeCommunity(1, 2, 3)])
        ])
        XCTAssertTrue(
            out.setDesired([
                p("192.0.2.10/32"): OriginatedRoute(communities: [y, x], largeCommunities: [LargeCommunity(1, 2, 3)])
            ]).isEmpty)
    }

    func testResetAnnouncesEverythingAgain() {
        var out = ebgp()
        let desired = [p("192.0.2.10/32"): OriginatedRoute(), p("2001:db8::10/128"): OriginatedRoute()]
        _ = out.setDesired(desired)
        out.reset()
        XCTAssertEqual(out.advertisedCount, 0)
        let diff = out.setDesired(desired)
        XCTAssertEqual(diff.announcedCount, 2)
        XCTAssertEqual(diff.withdrawn, [])
    }
}
