import NIOCore
import XCTest

@testable import BGPSpeaker

/// Golden vectors for each path attribute, both ways. Each vector is a whole UPDATE body with no
/// withdrawn routes and no NLRI: `00 00` (Withdrawn Routes Length), `00 LL` (Total Path Attribute
/// Length), then the attribute. Attribute bytes are written out from the RFC layouts:
/// flags, type code, length (1 octet, or 2 with Extended Length 0x10), value.
final class AttributeTests: XCTestCase {
    private func assertVector(
        _ attribute: [UInt8], _ expected: PathAttributes, context: WireContext = UpdateVectors.ebgp,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let body = UpdateVectors.body(attributes: attribute)
        guard let decoded = decodeUpdate(body, context: context, file: file, line: line) else { return }
        XCTAssertEqual(decoded.update.attributes, expected, "decode", file: file, line: line)
        XCTAssertEqual(decoded.errors, [], file: file, line: line)
        XCTAssertFalse(decoded.treatAsWithdraw, file: file, line: line)
        XCTAssertEqual(
            UpdateVectors.encode(UpdateMessage(attributes: expected), context), body, "encode", file: file, line: line)
    }

    /// MP_REACH_NLRI announces routes, so ORIGIN and AS_PATH must come with it (RFC 4271 §5;
    /// RFC 7606 §3 (d)): the MP vectors append ORIGIN IGP (40 01 01 00) and AS_PATH SEQ [65001]
    /// (40 02 06 02 01 00 00 FD E9) after the MP attribute, which is written first (RFC 7606 §5.1).
    private func assertMPReachVector(
        _ attribute: [UInt8], _ reach: MPReach, file: StaticString = #filePath, line: UInt = #line
    ) {
        var expected = PathAttributes(
            origin: .igp, asPath: ASPath(segments: [.init(type: .asSequence, asns: [65001])]))
        expected.mpReach = reach
        assertVector(
            attribute + [0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xFD, 0xE9], expected,
            file: file, line: line)
    }

    func testOrigin() {
        // Flags 0x40 (well-known, transitive), type 1, length 1, value 0 IGP / 1 EGP / 2 INCOMPLETE.
        assertVector([0x40, 0x01, 0x01, 0x00], PathAttributes(origin: .igp))
        assertVector([0x40, 0x01, 0x01, 0x01], PathAttributes(origin: .egp))
        assertVector([0x40, 0x01, 0x01, 0x02], PathAttributes(origin: .incomplete))
    }

    func testASPathFourOctet() {
        // AS_SEQUENCE (2) of 2 ASNs: 65001 = 00 00 FD E9, 4200000000 = FA 56 EA 00; value length 10.
        assertVector(
            [0x40, 0x02, 0x0A, 0x02, 0x02, 0x00, 0x00, 0xFD, 0xE9, 0xFA, 0x56, 0xEA, 0x00],
            PathAttributes(asPath: ASPath(segments: [.init(type: .asSequence, asns: [65001, 4_200_000_000])])))
        // AS_SEQUENCE [65001] then AS_SET (1) {64512 (FC 00), 65001}: 2+4 + 2+8 = 16 octets.
        assertVector(
            [
                0x40, 0x02, 0x10,
                0x02, 0x01, 0x00, 0x00, 0xFD, 0xE9,
                0x01, 0x02, 0x00, 0x00, 0xFC, 0x00, 0x00, 0x00, 0xFD, 0xE9,
            ],
            PathAttributes(
                asPath: ASPath(segments: [
                    .init(type: .asSequence, asns: [65001]), .init(type: .asSet, asns: [64512, 65001]),
                ])))
        // AS_CONFED_SEQUENCE (3) [64512] then AS_SEQUENCE [65001].
        assertVector(
            [0x40, 0x02, 0x0C, 0x03, 0x01, 0x00, 0x00, 0xFC, 0x00, 0x02, 0x01, 0x00, 0x00, 0xFD, 0xE9],
            PathAttributes(
                asPath: ASPath(segments: [
                    .init(type: .confedSequence, asns: [64512]), .init(type: .asSequence, asns: [65001]),
                ])))
        // An empty AS_PATH (iBGP-originated route) has length 0.
        assertVector([0x40, 0x02, 0x00], PathAttributes(asPath: ASPath()), context: UpdateVectors.ibgp)
    }

    func testASPathTwoOctet() {
        // Without the 4-octet capability: AS_SEQUENCE [65001, 64512] = 02 02 FD E9 FC 00.
        assertVector(
            [0x40, 0x02, 0x06, 0x02, 0x02, 0xFD, 0xE9, 0xFC, 0x00],
            PathAttributes(asPath: ASPath(segments: [.init(type: .asSequence, asns: [65001, 64512])])),
            context: UpdateVectors.twoOctet)
    }

    func testASPathLongSequenceIsSplitAt255() {
        // 300 ASNs of 65001 in one sequence: written as 255 + 45, i.e. 2+1020 + 2+180 = 1204 octets
        // (0x04B4), so Extended Length (flags 0x50) is used.
        let path = ASPath(segments: [.init(type: .asSequence, asns: Array(repeating: 65001, count: 300))])
        var expected: [UInt8] = [0x50, 0x02, 0x04, 0xB4, 0x02, 0xFF]
        expected += Array(repeating: [0x00, 0x00, 0xFD, 0xE9], count: 255).flatMap { $0 }
        expected += [0x02, 0x2D] + Array(repeating: [0x00, 0x00, 0xFD, 0xE9], count: 45).flatMap { $0 }
        let body = UpdateVectors.body(attributes: expected)
        XCTAssertEqual(UpdateVectors.encode(UpdateMessage(attributes: PathAttributes(asPath: path))), body)
        // Decoding gives two segments, 255 and 45 long.
        let decoded = decodeUpdate(body)?.update.attributes.asPath
        XCTAssertEqual(decoded?.segments.map(\.asns.count), [255, 45])
        XCTAssertEqual(decoded?.pathLength, 300)
    }

    func testNextHop() {
        // 192.0.2.1 = C0 00 02 01.
        assertVector([0x40, 0x03, 0x04, 0xC0, 0x00, 0x02, 0x01], PathAttributes(nextHop: IPv4Address(192, 0, 2, 1)))
    }

    func testMultiExitDisc() {
        // Flags 0x80 (optional, non-transitive), MED 100 = 00 00 00 64.
        assertVector([0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x64], PathAttributes(multiExitDisc: 100))
    }

    func testLocalPrefOnInternalSession() {
        // LOCAL_PREF 200 = 00 00 00 C8, well-known.
        assertVector(
            [0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0xC8], PathAttributes(localPref: 200), context: UpdateVectors.ibgp)
    }

    func testLocalPrefIsNotSentToExternalPeers() {
        // RFC 4271 §5.1.5: an eBGP UPDATE carries no LOCAL_PREF: 00 00 00 00.
        XCTAssertEqual(
            UpdateVectors.encode(UpdateMessage(attributes: PathAttributes(localPref: 200)), UpdateVectors.ebgp),
            [0x00, 0x00, 0x00, 0x00])
    }

    func testAtomicAggregate() {
        assertVector([0x40, 0x06, 0x00], PathAttributes(atomicAggregate: true))
    }

    func testAggregator() {
        // 4-octet: AS 65001 (00 00 FD E9), 192.0.2.254 (C0 00 02 FE); flags 0xC0 optional transitive.
        let aggregator = Aggregator(asn: 65001, address: IPv4Address(192, 0, 2, 254))
        assertVector(
            [0xC0, 0x07, 0x08, 0x00, 0x00, 0xFD, 0xE9, 0xC0, 0x00, 0x02, 0xFE], PathAttributes(aggregator: aggregator))
        // 2-octet: AS FD E9.
        assertVector(
            [0xC0, 0x07, 0x06, 0xFD, 0xE9, 0xC0, 0x00, 0x02, 0xFE], PathAttributes(aggregator: aggregator),
            context: UpdateVectors.twoOctet)
    }

    func testCommunities() {
        // 65001:100 = FD E9 00 64; NO_EXPORT = FF FF FF 01.
        assertVector(
            [0xC0, 0x08, 0x08, 0xFD, 0xE9, 0x00, 0x64, 0xFF, 0xFF, 0xFF, 0x01],
            PathAttributes(communities: [Community(asn: 65001, value: 100), .noExport]))
    }

    func testExtendedCommunities() {
        // Route Target, 2-octet AS specific (type 0x00, sub-type 0x02), 65001:100:
        // 00 02 FD E9 00 00 00 64 (RFC 4360 §3.1).
        assertVector(
            [0xC0, 0x10, 0x08, 0x00, 0x02, 0xFD, 0xE9, 0x00, 0x00, 0x00, 0x64],
            PathAttributes(extendedCommunities: [ExtendedCommunity(rawValue: 0x0002_FDE9_0000_0064)]))
    }

    func testLargeCommunities() {
        // 4200000000:1:2 = FA 56 EA 00 | 00 00 00 01 | 00 00 00 02; type 32 = 0x20.
        assertVector(
            [
                0xC0, 0x20, 0x0C, 0xFA, 0x56, 0xEA, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
            ],
            PathAttributes(largeCommunities: [LargeCommunity(4_200_000_000, 1, 2)]))
    }

    func testLargeCommunityDuplicatesAreRemoved() {
        // RFC 8092 §3: 65001:1:2 twice -> once; not an error.
        let c: [UInt8] = [0x00, 0x00, 0xFD, 0xE9, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02]
        let decoded = decodeUpdate(UpdateVectors.body(attributes: [0xC0, 0x20, 0x18] + c + c))
        XCTAssertEqual(decoded?.update.attributes.largeCommunities, [LargeCommunity(65001, 1, 2)])
        XCTAssertEqual(decoded?.errors, [])
        // And they are never sent twice.
        let twice = PathAttributes(largeCommunities: [LargeCommunity(65001, 1, 2), LargeCommunity(65001, 1, 2)])
        XCTAssertEqual(
            UpdateVectors.encode(UpdateMessage(attributes: twice)),
            UpdateVectors.body(attributes: [0xC0, 0x20, 0x0C] + c))
    }

    func testExtendedLengthOnlyAbove255Octets() {
        // 63 communities = 252 octets: 1-octet length FC.
        let c63 = (0..<63).map { Community(asn: 65001, value: UInt16($0)) }
        var short: [UInt8] = [0xC0, 0x08, 0xFC]
        for i in 0..<63 { short += [0xFD, 0xE9, 0x00, UInt8(i)] }
        assertVector(short, PathAttributes(communities: c63))
        // 64 communities = 256 octets: flags C0|10 = D0, 2-octet length 01 00.
        let c64 = (0..<64).map { Community(asn: 65001, value: UInt16($0)) }
        var long: [UInt8] = [0xD0, 0x08, 0x01, 0x00]
        for i in 0..<64 { long += [0xFD, 0xE9, 0x00, UInt8(i)] }
        assertVector(long, PathAttributes(communities: c64))
    }

    func testExtendedLengthBoundaryAt255() {
        // An unknown optional transitive attribute (type 99) of 255 octets keeps a 1-octet length
        // (E0 63 FF); 256 octets need Extended Length (F0 63 01 00).
        let raw255 = RawAttribute(
            flags: [.optional, .transitive], type: AttributeType(rawValue: 99), value: Array(repeating: 7, count: 255))
        XCTAssertEqual(
            UpdateVectors.encode(UpdateMessage(attributes: PathAttributes(unknown: [raw255]))),
            UpdateVectors.body(attributes: [0xE0, 0x63, 0xFF] + Array(repeating: 7, count: 255)))
        let raw256 = RawAttribute(
            flags: [.optional, .transitive], type: AttributeType(rawValue: 99), value: Array(repeating: 7, count: 256))
        XCTAssertEqual(
            UpdateVectors.encode(UpdateMessage(attributes: PathAttributes(unknown: [raw256]))),
            UpdateVectors.body(attributes: [0xF0, 0x63, 0x01, 0x00] + Array(repeating: 7, count: 256)))
    }

    func testExtendedLengthOnShortValueIsAccepted() {
        // ORIGIN sent with Extended Length: 50 01 00 01 00. Decodes; we re-encode it short.
        let decoded = decodeUpdate(UpdateVectors.body(attributes: [0x50, 0x01, 0x00, 0x01, 0x00]))
        XCTAssertEqual(decoded?.update.attributes, PathAttributes(origin: .igp))
        XCTAssertEqual(decoded?.errors, [])
    }

    func testMPReachIPv6WithLinkLocal() {
        // AFI 00 02, SAFI 01, next hop length 0x20 (32): 2001:db8::1 then fe80::1 (RFC 2545 §3),
        // reserved 00, NLRI 2001:db8:10::/48 (30 20 01 0D B8 00 10) and 2001:db8::10/128 (80 + 16 octets).
        // Value: 2+1+1+32+1 + 7 + 17 = 61 = 0x3D. Flags 0x80 (optional, non-transitive), type 14.
        let attribute: [UInt8] =
            [0x80, 0x0E, 0x3D, 0x00, 0x02, 0x01, 0x20]
            + [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]
            + [0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]
            + [0x00]
            + [0x30, 0x20, 0x01, 0x0D, 0xB8, 0x00, 0x10]
            + [0x80, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]
        let reach = MPReach(
            family: .ipv6Unicast,
            nextHop: .ipv6(global: IPv6Address("2001:db8::1")!, linkLocal: IPv6Address("fe80::1")!),
            nlri: [UpdateVectors.prefix("2001:db8:10::/48"), UpdateVectors.prefix("2001:db8::10/128")])
        assertMPReachVector(attribute, reach)
    }

    func testMPReachIPv6GlobalOnly() {
        // Next hop length 0x10, 2001:db8::1; NLRI ::/0 is the single octet 00. Value 2+1+1+16+1+1 = 22.
        let attribute: [UInt8] =
            [0x80, 0x0E, 0x16, 0x00, 0x02, 0x01, 0x10]
            + [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01] + [0x00, 0x00]
        let reach = MPReach(
            family: .ipv6Unicast, nextHop: .ipv6(global: IPv6Address("2001:db8::1")!, linkLocal: nil),
            nlri: [UpdateVectors.prefix("::/0")])
        assertMPReachVector(attribute, reach)
    }

    func testMPReachIPv4() {
        // AFI 00 01, SAFI 01, next hop 4 octets 192.0.2.1, reserved, 192.0.2.0/24 (18 C0 00 02). Value 13.
        let attribute: [UInt8] = [
            0x80, 0x0E, 0x0D, 0x00, 0x01, 0x01, 0x04, 0xC0, 0x00, 0x02, 0x01, 0x00, 0x18, 0xC0, 0x00, 0x02,
        ]
        let reach = MPReach(
            family: .ipv4Unicast, nextHop: .ipv4(IPv4Address(192, 0, 2, 1)),
            nlri: [UpdateVectors.prefix("192.0.2.0/24")])
        assertMPReachVector(attribute, reach)
    }

    func testMPUnreachIPv6() {
        // AFI 00 02, SAFI 01, withdrawn 2001:db8::10/128: value 3 + 17 = 20 = 0x14; type 15.
        let attribute: [UInt8] =
            [0x80, 0x0F, 0x14, 0x00, 0x02, 0x01]
            + [0x80, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]
        assertVector(
            attribute,
            PathAttributes(
                mpUnreach: MPUnreach(family: .ipv6Unicast, withdrawn: [UpdateVectors.prefix("2001:db8::10/128")])))
    }

    func testAS4PathAndAS4AggregatorAreWrittenForOldSpeakers() {
        // On a 2-octet session, AS_PATH SEQ [65001, 4200000000] is sent as
        //   AS_PATH  40 02 06 | 02 02 FD E9 5B A0            (AS_TRANS 23456 = 5B A0)
        //   AS4_PATH C0 11 0A | 02 02 00 00 FD E9 FA 56 EA 00 (type 17)
        // and AGGREGATOR AS 4200000000 as
        //   AGGREGATOR     C0 07 06 | 5B A0 C0 00 02 FE
        //   AS4_AGGREGATOR C0 12 08 | FA 56 EA 00 C0 00 02 FE (type 18)
        // in type-code order 2, 7, 17, 18.
        let attributes = PathAttributes(
            asPath: ASPath(segments: [.init(type: .asSequence, asns: [65001, 4_200_000_000])]),
            aggregator: Aggregator(asn: 4_200_000_000, address: IPv4Address(192, 0, 2, 254)))
        let wire: [UInt8] = [
            0x40, 0x02, 0x06, 0x02, 0x02, 0xFD, 0xE9, 0x5B, 0xA0,
            0xC0, 0x07, 0x06, 0x5B, 0xA0, 0xC0, 0x00, 0x02, 0xFE,
            0xC0, 0x11, 0x0A, 0x02, 0x02, 0x00, 0x00, 0xFD, 0xE9, 0xFA, 0x56, 0xEA, 0x00,
            0xC0, 0x12, 0x08, 0xFA, 0x56, 0xEA, 0x00, 0xC0, 0x00, 0x02, 0xFE,
        ]
        assertVector(wire, attributes, context: UpdateVectors.twoOctet)
    }

    func testAS4PathExcludesConfederationSegments() {
        // RFC 6793 §4.2.2: CONFED_SEQUENCE [64512] + SEQ [4200000000] to an OLD speaker:
        //   AS_PATH  40 02 08 | 03 01 FC 00 | 02 01 5B A0
        //   AS4_PATH C0 11 06 | 02 01 FA 56 EA 00
        let attributes = PathAttributes(
            asPath: ASPath(segments: [
                .init(type: .confedSequence, asns: [64512]), .init(type: .asSequence, asns: [4_200_000_000]),
            ]))
        let expected = UpdateVectors.body(attributes: [
            0x40, 0x02, 0x08, 0x03, 0x01, 0xFC, 0x00, 0x02, 0x01, 0x5B, 0xA0,
            0xC0, 0x11, 0x06, 0x02, 0x01, 0xFA, 0x56, 0xEA, 0x00,
        ])
        XCTAssertEqual(UpdateVectors.encode(UpdateMessage(attributes: attributes), UpdateVectors.twoOctet), expected)
    }

    func testNoAS4PathWhenEveryASNIsMappable() {
        // RFC 6793 §4.2.2: AS_PATH SEQ [65001] only: 40 02 04 02 01 FD E9.
        XCTAssertEqual(
            UpdateVectors.encode(
                UpdateMessage(
                    attributes: PathAttributes(asPath: ASPath(segments: [.init(type: .asSequence, asns: [65001])]))),
                UpdateVectors.twoOctet),
            UpdateVectors.body(attributes: [0x40, 0x02, 0x04, 0x02, 0x01, 0xFD, 0xE9]))
    }

    func testUnknownOptionalTransitiveIsKeptAndMarkedPartial() {
        // Type 99 (0x63), flags 0xC0, value AA BB CC. Re-encoded with Partial: flags 0xE0 (RFC 4271 §5).
        let decoded = decodeUpdate(UpdateVectors.body(attributes: [0xC0, 0x63, 0x03, 0xAA, 0xBB, 0xCC]))
        let raw = RawAttribute(
            flags: [.optional, .transitive], type: AttributeType(rawValue: 99), value: [0xAA, 0xBB, 0xCC])
        XCTAssertEqual(decoded?.update.attributes, PathAttributes(unknown: [raw]))
        XCTAssertEqual(
            UpdateVectors.encode(UpdateMessage(attributes: PathAttributes(unknown: [raw]))),
            UpdateVectors.body(attributes: [0xE0, 0x63, 0x03, 0xAA, 0xBB, 0xCC]))
    }

    func testUnknownAttributesAreWrittenInTypeCodeOrder() {
        // Unknown type 9 lands between COMMUNITIES (8) and EXTENDED_COMMUNITIES (16); type 40 after
        // LARGE_COMMUNITY (32).
        let attributes = PathAttributes(
            origin: .igp, communities: [Community(rawValue: 1)], extendedCommunities: [ExtendedCommunity(rawValue: 2)],
            largeCommunities: [LargeCommunity(3, 4, 5)],
            unknown: [
                RawAttribute(flags: [.optional, .transitive], type: AttributeType(rawValue: 40), value: [0x28]),
                RawAttribute(flags: [.optional, .transitive], type: AttributeType(rawValue: 9), value: [0x09]),
            ])
        let expected = UpdateVectors.body(attributes: [
            0x40, 0x01, 0x01, 0x00,
            0xC0, 0x08, 0x04, 0x00, 0x00, 0x00, 0x01,
            0xE0, 0x09, 0x01, 0x09,
            0xC0, 0x10, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x02,
            0xC0, 0x20, 0x0C, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5,
            0xE0, 0x28, 0x01, 0x28,
        ])
        XCTAssertEqual(UpdateVectors.encode(UpdateMessage(attributes: attributes)), expected)
    }
}
