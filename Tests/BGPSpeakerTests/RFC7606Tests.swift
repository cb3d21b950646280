import NIOCore
import XCTest

@testable import BGPSpeaker

/// One negative vector per error path of RFC 4271 §6.3 as revised by RFC 7606 (and RFC 4760 §7,
/// RFC 6793 §6, RFC 8092 §6), each named after its defect. Each asserts the NOTIFICATION code,
/// subcode and data, the action, and for "treat-as-withdraw" the transformed UPDATE.
final class RFC7606Tests: XCTestCase {
    // Well-formed pieces (RFC 4271 §4.3 layouts):
    let origin: [UInt8] = [0x40, 0x01, 0x01, 0x00]  // ORIGIN IGP
    let asPath: [UInt8] = [0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xFD, 0xE9]  // SEQ [65001]
    let nextHop: [UInt8] = [0x40, 0x03, 0x04, 0xC0, 0x00, 0x02, 0x01]  // 192.0.2.1
    let nlriBytes = UpdateVectors.nlriBytes  // 192.0.2.10/32, 198.51.100.0/24
    let nlri = UpdateVectors.nlri
    /// MP_REACH_NLRI IPv6 unicast via 2001:db8::1 announcing 2001:db8::/32 (20 20 01 0D B8):
    /// value 2+1+1+16+1+5 = 26 = 0x1A.
    let mpReach6: [UInt8] =
        [0x80, 0x0E, 0x1A, 0x00, 0x02, 0x01, 0x10, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00]
        + [0x20, 0x20, 0x01, 0x0D, 0xB8]

    /// Decodes and checks the "treat-as-withdraw" outcome: the UPDATE holds only withdrawals and the
    /// error with `subcode`/`data` is among `errors`.
    private func assertTreatAsWithdraw(
        _ body: [UInt8], context: WireContext = UpdateVectors.ebgp, subcode: UInt8, data: [UInt8],
        withdrawn: [IPv4Prefix], mpUnreach: MPUnreach? = nil, file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let decoded = decodeUpdate(body, context: context, file: file, line: line) else { return }
        XCTAssertTrue(decoded.treatAsWithdraw, "treatAsWithdraw", file: file, line: line)
        XCTAssertEqual(
            decoded.update, UpdateMessage(withdrawnRoutes: withdrawn, attributes: PathAttributes(mpUnreach: mpUnreach)),
            file: file, line: line)
        XCTAssertTrue(
            decoded.errors.contains {
                $0.code == .updateMessageError && $0.subcode == subcode && $0.data == data
                    && $0.action == .treatAsWithdraw
            }, "errors: \(decoded.errors)", file: file, line: line)
    }

    /// Decodes and checks an "attribute discard": routes stay, the error is recorded.
    private func assertDiscarded(
        _ body: [UInt8], context: WireContext = UpdateVectors.ebgp, subcode: UInt8, data: [UInt8],
        file: StaticString = #filePath, line: UInt = #line
    ) -> DecodedUpdate? {
        guard let decoded = decodeUpdate(body, context: context, file: file, line: line) else { return nil }
        XCTAssertFalse(decoded.treatAsWithdraw, file: file, line: line)
        XCTAssertEqual(decoded.update.nlri, nlri, file: file, line: line)
        XCTAssertEqual(decoded.errors.count, 1, "\(decoded.errors)", file: file, line: line)
        XCTAssertEqual(decoded.errors.first?.subcode, subcode, file: file, line: line)
        XCTAssertEqual(decoded.errors.first?.data, data, file: file, line: line)
        XCTAssertEqual(decoded.errors.first?.action, .attributeDiscard, file: file, line: line)
        return decoded
    }

    private func body(_ attributes: [UInt8], nlri: [UInt8]? = nil, withdrawn: [UInt8] = []) -> [UInt8] {
        UpdateVectors.body(attributes: attributes, nlri: nlri ?? nlriBytes, withdrawn: withdrawn)
    }

    // MARK: Message structure (RFC 7606 §3 (b), §5.3) -- session reset

    func testWithdrawnRoutesLengthTooLarge() {
        // Withdrawn Routes Length 5 with 4 octets left: Malformed Attribute List, no data.
        assertUpdateError([0x00, 0x05, 0x08, 0x0A, 0x00, 0x00], subcode: 1, data: [])
    }

    func testTotalAttributeLengthTooLarge() {
        // Total Path Attribute Length 0x10 with 4 octets of attributes.
        assertUpdateError([0x00, 0x00, 0x00, 0x10, 0x40, 0x01, 0x01, 0x00], subcode: 1, data: [])
    }

    func testBodyTooShortForLengthFields() {
        assertUpdateError([0x00], subcode: 1, data: [])
        assertUpdateError([0x00, 0x00, 0x00], subcode: 1, data: [])
    }

    func testNLRIPrefixLongerThan32() {
        // NLRI length octet 0x21 (33): Invalid Network Field (RFC 4271 §6.3, RFC 7606 §5.3 (a)).
        assertUpdateError(
            body(origin + asPath + nextHop, nlri: [0x21, 0xC0, 0x00, 0x02, 0x01, 0x00]), subcode: 10, data: [])
    }

    func testNLRILastPrefixOverruns() {
        // /24 needs 3 octets, 2 are left (RFC 7606 §5.3 (b)).
        assertUpdateError(body(origin + asPath + nextHop, nlri: [0x18, 0xC0, 0x00]), subcode: 10, data: [])
    }

    func testWithdrawnRoutesPrefixLongerThan32() {
        // RFC 7606 §3 (i): the Withdrawn Routes field is checked like the NLRI field.
        assertUpdateError(body([], nlri: [], withdrawn: [0x21, 1, 2, 3, 4, 5]), subcode: 10, data: [])
    }

    // MARK: Attribute list framing (RFC 7606 §4)

    func testAttributeOverrunningTheListIsTreatAsWithdraw() {
        // COMMUNITIES claims 8 octets, 4 remain: Attribute Length Error with what was there.
        let bad: [UInt8] = [0xC0, 0x08, 0x08, 0xFD, 0xE9, 0x00, 0x64]
        assertTreatAsWithdraw(body(origin + asPath + nextHop + bad), subcode: 5, data: bad, withdrawn: nlri)
    }

    func testTooFewOctetsForAnAttributeHeader() {
        // Two octets left (40 05): fewer than three.
        assertTreatAsWithdraw(body(origin + asPath + nextHop + [0x40, 0x05]), subcode: 1, data: [], withdrawn: nlri)
    }

    func testExtendedLengthHeaderCutShort() {
        // Flags 0x90 (Extended Length) need four header octets; three are left.
        assertTreatAsWithdraw(
            body(origin + asPath + nextHop + [0x90, 0x20, 0x00]), subcode: 1, data: [], withdrawn: nlri)
    }

    func testMPReachOverrunningTheListIsSessionReset() {
        // MP_REACH_NLRI claims 0x20 octets, 3 remain: it cannot be parsed (RFC 7606 §3 (j)).
        let bad: [UInt8] = [0x80, 0x0E, 0x20, 0x00, 0x02, 0x01]
        assertUpdateError(body(bad, nlri: []), subcode: 5, data: bad, action: .sessionReset)
    }

    // MARK: Duplicates (RFC 7606 §3 (g))

    func testDuplicateMPReachIsSessionReset() {
        assertUpdateError(body(mpReach6 + mpReach6 + origin + asPath, nlri: []), subcode: 1, data: [])
    }

    func testDuplicateMPUnreachIsSessionReset() {
        let unreach: [UInt8] = [0x80, 0x0F, 0x03, 0x00, 0x02, 0x01]
        assertUpdateError(body(unreach + unreach, nlri: []), subcode: 1, data: [])
    }

    func testDuplicateAttributeKeepsTheFirst() {
        // A second ORIGIN (INCOMPLETE) is discarded; ORIGIN stays IGP.
        let second: [UInt8] = [0x40, 0x01, 0x01, 0x02]
        let decoded = assertDiscarded(body(origin + asPath + nextHop + second), subcode: 1, data: second)
        XCTAssertEqual(decoded?.update.attributes.origin, .igp)
    }

    func testDuplicateUnknownAttributeKeepsTheFirst() {
        let first: [UInt8] = [0xC0, 0x63, 0x01, 0x01]
        let second: [UInt8] = [0xC0, 0x63, 0x01, 0x02]
        let decoded = assertDiscarded(body(origin + asPath + nextHop + first + second), subcode: 1, data: second)
        XCTAssertEqual(decoded?.update.attributes.unknown.map(\.value), [[0x01]])
    }

    // MARK: Missing well-known attributes (RFC 7606 §3 (d); data = the type code, RFC 4271 §6.3)

    func testMissingOrigin() {
        assertTreatAsWithdraw(body(asPath + nextHop), subcode: 3, data: [1], withdrawn: nlri)
    }

    func testMissingASPath() {
        assertTreatAsWithdraw(body(origin + nextHop), subcode: 3, data: [2], withdrawn: nlri)
    }

    func testMissingNextHop() {
        assertTreatAsWithdraw(body(origin + asPath), subcode: 3, data: [3], withdrawn: nlri)
    }

    func testMissingOriginWithMPReachWithdrawsTheMPRoutes() {
        assertTreatAsWithdraw(
            body(mpReach6 + asPath, nlri: []), subcode: 3, data: [1], withdrawn: [],
            mpUnreach: MPUnreach(family: .ipv6Unicast, withdrawn: [UpdateVectors.prefix("2001:db8::/32")]))
    }

    func testNoMandatoryAttributesNeededWithoutNLRI() {
        // A withdrawal-only UPDATE needs no ORIGIN/AS_PATH/NEXT_HOP.
        let decoded = decodeUpdate(body([], nlri: [], withdrawn: nlriBytes))
        XCTAssertEqual(decoded?.errors, [])
        XCTAssertEqual(decoded?.update.withdrawnRoutes, nlri)
    }

    // MARK: Per-attribute value errors (RFC 7606 §7)

    func testUndefinedOriginValue() {
        // RFC 7606 §7.1; RFC 4271 §6.3 Invalid ORIGIN Attribute (6), data = the attribute.
        let bad: [UInt8] = [0x40, 0x01, 0x01, 0x03]
        assertTreatAsWithdraw(body(bad + asPath + nextHop), subcode: 6, data: bad, withdrawn: nlri)
    }

    func testOriginLengthNotOne() {
        let bad: [UInt8] = [0x40, 0x01, 0x02, 0x00, 0x00]
        assertTreatAsWithdraw(body(bad + asPath + nextHop), subcode: 5, data: bad, withdrawn: nlri)
    }

    func testASPathSegmentOfLengthZero() {
        // RFC 7606 §7.2; Malformed AS_PATH (11) carries no data.
        assertTreatAsWithdraw(
            body(origin + [0x40, 0x02, 0x02, 0x02, 0x00] + nextHop), subcode: 11, data: [], withdrawn: nlri)
    }

    func testASPathUnrecognizedSegmentType() {
        let bad: [UInt8] = [0x40, 0x02, 0x06, 0x05, 0x01, 0x00, 0x00, 0xFD, 0xE9]
        assertTreatAsWithdraw(body(origin + bad + nextHop), subcode: 11, data: [], withdrawn: nlri)
    }

    func testASPathSegmentOverrun() {
        // Segment of 2 ASNs (8 octets) with 4 octets left.
        let bad: [UInt8] = [0x40, 0x02, 0x06, 0x02, 0x02, 0x00, 0x00, 0xFD, 0xE9]
        assertTreatAsWithdraw(body(origin + bad + nextHop), subcode: 11, data: [], withdrawn: nlri)
    }

    func testASPathSingleOctetUnderrun() {
        let bad: [UInt8] = [0x40, 0x02, 0x07, 0x02, 0x01, 0x00, 0x00, 0xFD, 0xE9, 0x02]
        assertTreatAsWithdraw(body(origin + bad + nextHop), subcode: 11, data: [], withdrawn: nlri)
    }

    func testTwoOctetASPathOnFourOctetSession() {
        // SEQ [65001, 65002] in 2-octet form (02 02 FD E9 FD EA) read as 4-octet: overrun.
        let bad: [UInt8] = [0x40, 0x02, 0x06, 0x02, 0x02, 0xFD, 0xE9, 0xFD, 0xEA]
        assertTreatAsWithdraw(body(origin + bad + nextHop), subcode: 11, data: [], withdrawn: nlri)
    }

    func testNextHopLengthNotFour() {
        // RFC 7606 §7.3.
        let bad: [UInt8] = [0x40, 0x03, 0x05, 0xC0, 0x00, 0x02, 0x01, 0x00]
        assertTreatAsWithdraw(body(origin + asPath + bad), subcode: 5, data: bad, withdrawn: nlri)
    }

    func testMultiExitDiscLengthNotFour() {
        // RFC 7606 §7.4.
        let bad: [UInt8] = [0x80, 0x04, 0x03, 0x00, 0x00, 0x64]
        assertTreatAsWithdraw(body(origin + asPath + nextHop + bad), subcode: 5, data: bad, withdrawn: nlri)
    }

    func testLocalPrefLengthNotFourFromInternalPeer() {
        // RFC 7606 §7.5.
        let bad: [UInt8] = [0x40, 0x05, 0x02, 0x00, 0x64]
        assertTreatAsWithdraw(
            body(origin + asPath + nextHop + bad), context: UpdateVectors.ibgp, subcode: 5, data: bad, withdrawn: nlri)
    }

    func testLocalPrefFromExternalPeerIsDiscarded() {
        // RFC 7606 §7.5: discarded whatever its length.
        let good: [UInt8] = [0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0xC8]
        XCTAssertNil(
            assertDiscarded(body(origin + asPath + nextHop + good), subcode: 1, data: good)?.update.attributes.localPref
        )
        let bad: [UInt8] = [0x40, 0x05, 0x02, 0x00, 0x64]
        XCTAssertNil(
            assertDiscarded(body(origin + asPath + nextHop + bad), subcode: 1, data: bad)?.update.attributes.localPref)
    }

    func testAtomicAggregateWithAValueIsDiscarded() {
        // RFC 7606 §7.6.
        let bad: [UInt8] = [0x40, 0x06, 0x01, 0x00]
        XCTAssertEqual(
            assertDiscarded(body(origin + asPath + nextHop + bad), subcode: 5, data: bad)?.update.attributes
                .atomicAggregate,
            false)
    }

    func testAggregatorLengthNotEightIsDiscarded() {
        // RFC 7606 §7.7, 4-octet session: 7 octets.
        let bad: [UInt8] = [0xC0, 0x07, 0x07, 0x00, 0x00, 0xFD, 0xE9, 0xC0, 0x00, 0x02]
        XCTAssertNil(
            assertDiscarded(body(origin + asPath + nextHop + bad), subcode: 5, data: bad)?.update.attributes.aggregator)
    }

    func testAggregatorLengthNotSixOnTwoOctetSessionIsDiscarded() {
        // 2-octet session: 8 octets is wrong. AS_PATH SEQ [65001] 2-octet: 40 02 04 02 01 FD E9.
        let path2: [UInt8] = [0x40, 0x02, 0x04, 0x02, 0x01, 0xFD, 0xE9]
        let bad: [UInt8] = [0xC0, 0x07, 0x08, 0x00, 0x00, 0xFD, 0xE9, 0xC0, 0x00, 0x02, 0xFE]
        _ = assertDiscarded(
            body(origin + path2 + nextHop + bad), context: UpdateVectors.twoOctet, subcode: 5, data: bad)
    }

    func testCommunitiesLengthNotMultipleOfFour() {
        // RFC 7606 §7.8.
        let bad: [UInt8] = [0xC0, 0x08, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05]
        assertTreatAsWithdraw(body(origin + asPath + nextHop + bad), subcode: 5, data: bad, withdrawn: nlri)
    }

    func testCommunitiesOfLengthZero() {
        let bad: [UInt8] = [0xC0, 0x08, 0x00]
        assertTreatAsWithdraw(body(origin + asPath + nextHop + bad), subcode: 5, data: bad, withdrawn: nlri)
    }

    func testExtendedCommunitiesLengthNotMultipleOfEight() {
        // RFC 7606 §7.14: 12 octets.
        let bad: [UInt8] = [0xC0, 0x10, 0x0C] + Array(repeating: 0x01, count: 12)
        assertTreatAsWithdraw(body(origin + asPath + nextHop + bad), subcode: 5, data: bad, withdrawn: nlri)
    }

    func testLargeCommunityLengthNotMultipleOfTwelve() {
        // RFC 8092 §6: 13 octets.
        let bad: [UInt8] = [0xC0, 0x20, 0x0D] + Array(repeating: 0x01, count: 13)
        assertTreatAsWithdraw(body(origin + asPath + nextHop + bad), subcode: 5, data: bad, withdrawn: nlri)
    }

    // MARK: Attribute flags (RFC 7606 §3 (c); Attribute Flags Error, data = the attribute)

    func testOriginMarkedOptional() {
        let bad: [UInt8] = [0xC0, 0x01, 0x01, 0x00]
        assertTreatAsWithdraw(body(bad + asPath + nextHop), subcode: 4, data: bad, withdrawn: nlri)
    }

    func testMultiExitDiscMarkedTransitive() {
        let bad: [UInt8] = [0xC0, 0x04, 0x04, 0x00, 0x00, 0x00, 0x64]
        assertTreatAsWithdraw(body(origin + asPath + nextHop + bad), subcode: 4, data: bad, withdrawn: nlri)
    }

    func testCommunitiesMarkedNonTransitive() {
        let bad: [UInt8] = [0x80, 0x08, 0x04, 0xFD, 0xE9, 0x00, 0x64]
        assertTreatAsWithdraw(body(origin + asPath + nextHop + bad), subcode: 4, data: bad, withdrawn: nlri)
    }

    func testAtomicAggregateMarkedOptional() {
        // §3 (c) names treat-as-withdraw for Optional/Transitive conflicts of every attribute.
        let bad: [UInt8] = [0xC0, 0x06, 0x00]
        assertTreatAsWithdraw(body(origin + asPath + nextHop + bad), subcode: 4, data: bad, withdrawn: nlri)
    }

    func testPartialBitOnWellKnownAttribute() {
        // RFC 4271 §4.3: Partial MUST be 0 on well-known attributes; ORIGIN with flags 0x60.
        let bad: [UInt8] = [0x60, 0x01, 0x01, 0x00]
        assertTreatAsWithdraw(body(bad + asPath + nextHop), subcode: 4, data: bad, withdrawn: nlri)
    }

    func testPartialBitOnOptionalTransitiveIsAccepted() {
        let partial: [UInt8] = [0xE0, 0x08, 0x04, 0xFD, 0xE9, 0x00, 0x64]
        let decoded = decodeUpdate(body(origin + asPath + nextHop + partial))
        XCTAssertEqual(decoded?.errors, [])
        XCTAssertEqual(decoded?.update.attributes.communities, [Community(asn: 65001, value: 100)])
    }

    func testMPReachMarkedTransitive() {
        // RFC 7606 §5.3 (c): flags inconsistent with RFC 4760 make MP_REACH_NLRI incorrect.
        var bad = mpReach6
        bad[0] = 0xC0
        assertUpdateError(body(bad + origin + asPath, nlri: []), subcode: 4, data: bad, action: .afiSafiDisable)
    }

    // MARK: MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 7606 §5.3, §7.11, §7.12; RFC 4760 §7)

    func testMPReachNextHopLengthInconsistentWithAFI() {
        // IPv6 with an 8-octet next hop: value 2+1+1+8+1 = 13.
        let bad: [UInt8] = [0x80, 0x0E, 0x0D, 0x00, 0x02, 0x01, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x00]
        assertUpdateError(body(bad + origin + asPath, nlri: []), subcode: 9, data: bad, action: .afiSafiDisable)
    }

    func testMPReachIPv4WithSixteenOctetNextHop() {
        // AFI 1 expects 4 octets (RFC 5549/8950 extended next hop is not negotiated here).
        let bad: [UInt8] =
            [0x80, 0x0E, 0x15, 0x00, 0x01, 0x01, 0x10] + Array(repeating: 0x20, count: 16) + [0x00]
        assertUpdateError(body(bad + origin + asPath, nlri: []), subcode: 9, data: bad, action: .afiSafiDisable)
    }

    func testMPReachNextHopOverrunsTheAttribute() {
        // Next hop length 0x20 with 17 octets of value left (value 3+1+16+1 = 21 = 0x15).
        let bad: [UInt8] = [0x80, 0x0E, 0x15, 0x00, 0x02, 0x01, 0x20] + Array(repeating: 0x20, count: 16) + [0x00]
        assertUpdateError(body(bad + origin + asPath, nlri: []), subcode: 9, data: bad, action: .afiSafiDisable)
    }

    func testMPReachForFamilyNotNegotiated() {
        let v4only = WireContext(fourOctetAS: true, families: [.ipv4Unicast])
        assertUpdateError(
            body(mpReach6 + origin + asPath, nlri: []), context: v4only, subcode: 9, data: mpReach6,
            action: .afiSafiDisable)
    }

    func testMPUnreachForFamilyNotNegotiated() {
        let v4only = WireContext(fourOctetAS: true, families: [.ipv4Unicast])
        let eor6: [UInt8] = [0x80, 0x0F, 0x03, 0x00, 0x02, 0x01]
        assertUpdateError(body(eor6, nlri: []), context: v4only, subcode: 9, data: eor6, action: .afiSafiDisable)
    }

    func testMPReachForFamilyWeCannotParse() {
        // L2VPN (AFI 25 = 00 19) / EVPN (SAFI 70 = 0x46), even if it were negotiated.
        let evpn = AddressFamily(afi: AFI(rawValue: 25), safi: SAFI(rawValue: 70))
        let context = WireContext(fourOctetAS: true, families: [.ipv4Unicast, evpn])
        let bad: [UInt8] = [0x80, 0x0E, 0x09, 0x00, 0x19, 0x46, 0x04, 0xC0, 0x00, 0x02, 0x01, 0x00]
        assertUpdateError(
            body(bad + origin + asPath, nlri: []), context: context, subcode: 9, data: bad, action: .afiSafiDisable)
    }

    func testMPReachPrefixLongerThan128() {
        // NLRI length 0x81 (129) with 17 octets: RFC 7606 §5.3 (a).
        let bad: [UInt8] =
            [0x80, 0x0E, 0x27, 0x00, 0x02, 0x01, 0x10] + Array(repeating: 0x20, count: 16) + [0x00]
            + [0x81] + Array(repeating: 0x20, count: 17)
        assertUpdateError(body(bad + origin + asPath, nlri: []), subcode: 9, data: bad, action: .afiSafiDisable)
    }

    func testMPReachLastPrefixOverruns() {
        // /64 needs 8 octets, 2 are left: RFC 7606 §5.3 (b).
        let bad: [UInt8] =
            [0x80, 0x0E, 0x18, 0x00, 0x02, 0x01, 0x10] + Array(repeating: 0x20, count: 16) + [0x00]
            + [0x40, 0x20, 0x01]
        assertUpdateError(body(bad + origin + asPath, nlri: []), subcode: 9, data: bad, action: .afiSafiDisable)
    }

    func testMPReachShorterThanFive() {
        // RFC 7606 §5.3 (d).
        let bad: [UInt8] = [0x80, 0x0E, 0x04, 0x00, 0x02, 0x01, 0x10]
        assertUpdateError(body(bad + origin + asPath, nlri: []), subcode: 9, data: bad, action: .afiSafiDisable)
    }

    func testMPUnreachShorterThanThree() {
        // RFC 7606 §5.3 (d); AFI/SAFI unknown, so only a session reset is possible.
        let bad: [UInt8] = [0x80, 0x0F, 0x02, 0x00, 0x02]
        assertUpdateError(body(bad, nlri: []), subcode: 9, data: bad, action: .sessionReset)
    }

    func testMPUnreachPrefixLongerThan128() {
        let bad: [UInt8] = [0x80, 0x0F, 0x05, 0x00, 0x02, 0x01, 0x81, 0x20]
        assertUpdateError(body(bad, nlri: []), subcode: 9, data: bad, action: .afiSafiDisable)
    }

    // MARK: Unrecognized attributes (RFC 4271 §5, §6.3)

    func testUnrecognizedWellKnownAttribute() {
        // Type 99 with Optional 0: Unrecognized Well-known Attribute (2), data = the attribute.
        let bad: [UInt8] = [0x40, 0x63, 0x01, 0x00]
        assertUpdateError(body(origin + asPath + nextHop + bad), subcode: 2, data: bad, action: .sessionReset)
    }

    // MARK: UPDATEs without reachable NLRI (RFC 7606 §5.2)

    func testErrorWithoutReachableNLRIResetsTheSession() {
        // Only a bad ORIGIN, nothing announced: treat-as-withdraw becomes session reset.
        let bad: [UInt8] = [0x40, 0x01, 0x01, 0x05]
        assertUpdateError(body(bad, nlri: []), subcode: 6, data: bad, action: .sessionReset)
    }

    func testErrorInWithdrawalWithAttributesResetsTheSession() {
        let bad: [UInt8] = [0xC0, 0x08, 0x05, 1, 2, 3, 4, 5]
        assertUpdateError(body(bad, nlri: [], withdrawn: nlriBytes), subcode: 5, data: bad, action: .sessionReset)
    }

    func testDiscardWithoutReachableNLRIIsKept() {
        // "attribute discard" errors do not trigger §5.2.
        let bad: [UInt8] = [0x40, 0x06, 0x01, 0x00]
        let decoded = decodeUpdate(body(bad, nlri: []))
        XCTAssertEqual(decoded?.errors.map(\.action), [.attributeDiscard])
    }

    // MARK: Several errors (RFC 7606 §3 (h))

    func testStrongestActionWins() {
        let badMED: [UInt8] = [0x80, 0x04, 0x03, 0x00, 0x00, 0x64]  // treat-as-withdraw
        let badAtomic: [UInt8] = [0x40, 0x06, 0x01, 0x00]  // attribute discard
        assertTreatAsWithdraw(
            body(origin + asPath + nextHop + badMED + badAtomic), subcode: 5, data: badMED, withdrawn: nlri)
        XCTAssertEqual(
            decodeUpdate(body(origin + asPath + nextHop + badMED + badAtomic))?.errors.map(\.action),
            [.treatAsWithdraw, .attributeDiscard])
    }

    func testAFISAFIDisableBeatsTreatAsWithdraw() {
        let badMED: [UInt8] = [0x80, 0x04, 0x03, 0x00, 0x00, 0x64]
        let badReach: [UInt8] = [0x80, 0x0E, 0x0D, 0x00, 0x02, 0x01, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x00]
        assertUpdateError(
            body(badMED + badReach + origin + asPath + nextHop), subcode: 9, data: badReach, action: .afiSafiDisable)
    }

    func testSessionResetBeatsEverything() {
        let badMED: [UInt8] = [0x80, 0x04, 0x03, 0x00, 0x00, 0x64]
        let badReach: [UInt8] = [0x80, 0x0E, 0x0D, 0x00, 0x02, 0x01, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x00]
        let unknownWellKnown: [UInt8] = [0x40, 0x63, 0x00]
        assertUpdateError(
            body(badMED + badReach + origin + asPath + nextHop + unknownWellKnown), subcode: 2, data: unknownWellKnown,
            action: .sessionReset)
    }

    // MARK: Treat-as-withdraw with several NLRI carriers

    func testTreatAsWithdrawMovesAllAnnouncements() {
        // IPv4 NLRI and MP_REACH IPv6 in one UPDATE (allowed on receipt, RFC 7606 §5.1) plus an
        // MP_UNREACH for 2001:db8:1::/48 (30 20 01 0D B8 00 01): everything ends up withdrawn.
        let unreach: [UInt8] = [0x80, 0x0F, 0x0A, 0x00, 0x02, 0x01, 0x30, 0x20, 0x01, 0x0D, 0xB8, 0x00, 0x01]
        let badMED: [UInt8] = [0x80, 0x04, 0x03, 0x00, 0x00, 0x64]
        assertTreatAsWithdraw(
            body(unreach + mpReach6 + origin + asPath + nextHop + badMED, withdrawn: [0x08, 0x0A]), subcode: 5,
            data: badMED,
            withdrawn: [UpdateVectors.prefix4("10.0.0.0/8")] + nlri,
            mpUnreach: MPUnreach(
                family: .ipv6Unicast,
                withdrawn: [UpdateVectors.prefix("2001:db8:1::/48"), UpdateVectors.prefix("2001:db8::/32")]))
    }
}

/// RFC 6793 §4.2.3 reconciliation and §6 error handling on sessions with an OLD (2-octet) peer.
final class AS4ReconciliationTests: XCTestCase {
    let origin: [UInt8] = [0x40, 0x01, 0x01, 0x00]
    let nextHop: [UInt8] = [0x40, 0x03, 0x04, 0xC0, 0x00, 0x02, 0x01]

    private func decodePath(
        _ attributes: [UInt8], context: WireContext = UpdateVectors.twoOctet, file: StaticString = #filePath,
        line: UInt = #line
    ) -> DecodedUpdate? {
        decodeUpdate(
            UpdateVectors.body(attributes: origin + attributes + nextHop, nlri: UpdateVectors.nlriBytes),
            context: context,
            file: file, line: line)
    }

    private func seq(_ asns: [UInt32]) -> ASPath.Segment { .init(type: .asSequence, asns: asns) }

    func testShorterAS4PathIsPrependedFromASPath() {
        // AS_PATH SEQ [65001, 65002, AS_TRANS, AS_TRANS] = 02 04 FD E9 FD EA 5B A0 5B A0 (10 octets)
        // AS4_PATH SEQ [4200000000, 4200000001]           = 02 02 FA 56 EA 00 FA 56 EA 01 (10 octets)
        // 4 - 2 = 2 ASNs come from AS_PATH: [65001, 65002, 4200000000, 4200000001].
        let decoded = decodePath(
            [0x40, 0x02, 0x0A, 0x02, 0x04, 0xFD, 0xE9, 0xFD, 0xEA, 0x5B, 0xA0, 0x5B, 0xA0]
                + [0xC0, 0x11, 0x0A, 0x02, 0x02, 0xFA, 0x56, 0xEA, 0x00, 0xFA, 0x56, 0xEA, 0x01])
        XCTAssertEqual(
            decoded?.update.attributes.asPath, ASPath(segments: [seq([65001, 65002, 4_200_000_000, 4_200_000_001])]))
        XCTAssertEqual(decoded?.errors, [])
    }

    func testAS4PathLongerThanASPathIsIgnored() {
        // AS_PATH SEQ [AS_TRANS] (02 01 5B A0); AS4_PATH of 2 ASNs: "AS4_PATH attribute SHALL be ignored".
        let decoded = decodePath(
            [0x40, 0x02, 0x04, 0x02, 0x01, 0x5B, 0xA0]
                + [0xC0, 0x11, 0x0A, 0x02, 0x02, 0xFA, 0x56, 0xEA, 0x00, 0xFA, 0x56, 0xEA, 0x01])
        XCTAssertEqual(decoded?.update.attributes.asPath, ASPath(segments: [seq([23456])]))
    }

    func testASSetCountsAsOne() {
        // AS_PATH SEQ [65001, AS_TRANS] SET {AS_TRANS, 65003}: 02 02 FD E9 5B A0 | 01 02 5B A0 FD EB -> 3
        // AS4_PATH SEQ [4200000000] SET {4200000001, 65003}: 02 01 FA56EA00 | 01 02 FA56EA01 0000FDEB -> 2
        // One ASN (65001) is prepended and joins the AS4_PATH's leading sequence.
        let decoded = decodePath(
            [0x40, 0x02, 0x0C, 0x02, 0x02, 0xFD, 0xE9, 0x5B, 0xA0, 0x01, 0x02, 0x5B, 0xA0, 0xFD, 0xEB]
                + [
                    0xC0, 0x11, 0x10, 0x02, 0x01, 0xFA, 0x56, 0xEA, 0x00, 0x01, 0x02, 0xFA, 0x56, 0xEA, 0x01, 0x00,
                    0x00, 0xFD, 0xEB,
                ])
        XCTAssertEqual(
            decoded?.update.attributes.asPath,
            ASPath(segments: [seq([65001, 4_200_000_000]), .init(type: .asSet, asns: [4_200_000_001, 65003])]))
    }

    func testLeadingConfederationSegmentIsPrepended() {
        // AS_PATH CONFED_SEQ [64512] SEQ [65001, AS_TRANS]: 03 01 FC 00 | 02 02 FD E9 5B A0 -> count 2
        // AS4_PATH SEQ [65001, 4200000000] -> count 2; nothing to take but the leading confed segment.
        let decoded = decodePath(
            [0x40, 0x02, 0x0A, 0x03, 0x01, 0xFC, 0x00, 0x02, 0x02, 0xFD, 0xE9, 0x5B, 0xA0]
                + [0xC0, 0x11, 0x0A, 0x02, 0x02, 0x00, 0x00, 0xFD, 0xE9, 0xFA, 0x56, 0xEA, 0x00])
        XCTAssertEqual(
            decoded?.update.attributes.asPath,
            ASPath(segments: [.init(type: .confedSequence, asns: [64512]), seq([65001, 4_200_000_000])]))
    }

    func testAggregatorNotASTransMakesAS4AttributesIgnored() {
        // AGGREGATOR 65001 / 192.0.2.254 (C0 07 06 FD E9 C0 00 02 FE) with AS4_AGGREGATOR and AS4_PATH:
        // both AS4 attributes SHALL be ignored.
        let decoded = decodePath(
            [0x40, 0x02, 0x04, 0x02, 0x01, 0x5B, 0xA0]
                + [0xC0, 0x07, 0x06, 0xFD, 0xE9, 0xC0, 0x00, 0x02, 0xFE]
                + [0xC0, 0x11, 0x06, 0x02, 0x01, 0xFA, 0x56, 0xEA, 0x00]
                + [0xC0, 0x12, 0x08, 0xFA, 0x56, 0xEA, 0x00, 0xC0, 0x00, 0x02, 0x01])
        XCTAssertEqual(
            decoded?.update.attributes.aggregator, Aggregator(asn: 65001, address: IPv4Address(192, 0, 2, 254)))
        XCTAssertEqual(decoded?.update.attributes.asPath, ASPath(segments: [seq([23456])]))
    }

    func testAggregatorASTransTakesAS4Aggregator() {
        // AGGREGATOR AS_TRANS (5B A0) + AS4_AGGREGATOR 4200000000 / 192.0.2.1; AS4_PATH is used.
        let decoded = decodePath(
            [0x40, 0x02, 0x04, 0x02, 0x01, 0x5B, 0xA0]
                + [0xC0, 0x07, 0x06, 0x5B, 0xA0, 0xC0, 0x00, 0x02, 0xFE]
                + [0xC0, 0x11, 0x06, 0x02, 0x01, 0xFA, 0x56, 0xEA, 0x00]
                + [0xC0, 0x12, 0x08, 0xFA, 0x56, 0xEA, 0x00, 0xC0, 0x00, 0x02, 0x01])
        XCTAssertEqual(
            decoded?.update.attributes.aggregator, Aggregator(asn: 4_200_000_000, address: IPv4Address(192, 0, 2, 1)))
        XCTAssertEqual(decoded?.update.attributes.asPath, ASPath(segments: [seq([4_200_000_000])]))
    }

    func testMalformedAS4PathIsDiscarded() {
        // RFC 6793 §6: AS4_PATH with a zero-length segment (02 00): discarded, AS_PATH kept.
        let bad: [UInt8] = [0xC0, 0x11, 0x02, 0x02, 0x00]
        let decoded = decodePath([0x40, 0x02, 0x04, 0x02, 0x01, 0x5B, 0xA0] + bad)
        XCTAssertFalse(decoded?.treatAsWithdraw ?? true)
        XCTAssertEqual(decoded?.update.attributes.asPath, ASPath(segments: [seq([23456])]))
        XCTAssertEqual(decoded?.errors.map(\.action), [.attributeDiscard])
        XCTAssertEqual(decoded?.errors.first?.subcode, 11)
    }

    func testConfederationSegmentsInAS4PathAreRemoved() {
        // AS4_PATH CONFED_SEQ [64512] SEQ [4200000000]: 03 01 0000FC00 | 02 01 FA56EA00 (12 octets).
        let decoded = decodePath(
            [0x40, 0x02, 0x04, 0x02, 0x01, 0x5B, 0xA0]
                + [0xC0, 0x11, 0x0C, 0x03, 0x01, 0x00, 0x00, 0xFC, 0x00, 0x02, 0x01, 0xFA, 0x56, 0xEA, 0x00])
        XCTAssertEqual(decoded?.update.attributes.asPath, ASPath(segments: [seq([4_200_000_000])]))
        XCTAssertEqual(decoded?.errors.map(\.action), [.attributeDiscard])
    }

    func testAS4AggregatorWrongLengthIsDiscarded() {
        let bad: [UInt8] = [0xC0, 0x12, 0x06, 0xFA, 0x56, 0xC0, 0x00, 0x02, 0x01]
        let decoded = decodePath([0x40, 0x02, 0x04, 0x02, 0x01, 0xFD, 0xE9] + bad)
        XCTAssertEqual(decoded?.errors.map(\.action), [.attributeDiscard])
        XCTAssertEqual(decoded?.errors.first?.data, bad)
        XCTAssertNil(decoded?.update.attributes.aggregator)
    }

    func testAS4PathFromNewSpeakerIsDiscarded() {
        // RFC 6793 §4.1: on a 4-octet session AS4_PATH is discarded; AS_PATH SEQ [65001] stays.
        let as4: [UInt8] = [0xC0, 0x11, 0x06, 0x02, 0x01, 0xFA, 0x56, 0xEA, 0x00]
        let decoded = decodePath(
            [0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xFD, 0xE9] + as4, context: UpdateVectors.ebgp)
        XCTAssertEqual(decoded?.update.attributes.asPath, ASPath(segments: [seq([65001])]))
        XCTAssertEqual(decoded?.errors.map(\.action), [.attributeDiscard])
        XCTAssertEqual(decoded?.errors.first?.data, as4)
    }

    func testAS4PathWithWrongFlagsIsTreatAsWithdraw() {
        // AS4_PATH marked well-known (0x40): RFC 7606 §3 (c).
        let bad: [UInt8] = [0x40, 0x11, 0x06, 0x02, 0x01, 0xFA, 0x56, 0xEA, 0x00]
        let decoded = decodePath([0x40, 0x02, 0x04, 0x02, 0x01, 0x5B, 0xA0] + bad)
        XCTAssertEqual(decoded?.treatAsWithdraw, true)
        XCTAssertEqual(decoded?.errors.first?.subcode, 4)
        XCTAssertEqual(decoded?.update.withdrawnRoutes, UpdateVectors.nlri)
    }
}
