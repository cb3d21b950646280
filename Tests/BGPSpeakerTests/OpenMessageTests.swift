import NIOCore
import XCTest

@testable import BGPSpeaker

final class OpenMessageTests: XCTestCase {
    typealias V = MessageVectors

    /// The OPEN BIRD 2.0.12 sent on 127.0.0.1 for `local as 65001; hold time 240; enable extended messages;
    /// enable route refresh; graceful restart on; ipv4 {}; ipv6 {};` with router id 192.0.2.1
    /// (captured from the wire). BIRD also sends Long-Lived Graceful Restart (71) with length 0, which
    /// we keep as an unknown capability.
    static let birdOpenHex = """
        ffffffffffffffffffffffffffffffff 0045 01
        04 fde9 00f0 c0000201
        28 02 26
        01 04 0001 00 01
        01 04 0002 00 01
        02 00
        06 00
        40 0a 0078 0001 01 00 0002 01 00
        41 04 0000fde9
        46 00
        47 00
        """
    static let birdOpen = OpenMessage(
        myAutonomousSystem: 65001, holdTime: 240, bgpIdentifier: IPv4Address(192, 0, 2, 1),
        capabilities: [
            .multiprotocol(.ipv4Unicast), .multiprotocol(.ipv6Unicast), .routeRefresh, .extendedMessage,
            .gracefulRestart(
                GracefulRestartCapability(
                    flags: 0, restartTime: 120,
                    families: [
                        .init(family: .ipv4Unicast, forwardingPreserved: false),
                        .init(family: .ipv6Unicast, forwardingPreserved: false),
                    ])),
            .fourOctetAS(65001), .enhancedRouteRefresh, .unknown(code: CapabilityCode(rawValue: 71), value: []),
        ])

    /// BIRD 2.0.12 with `local as 4200000001`, no extended messages, graceful restart off: My AS is
    /// AS_TRANS and the real ASN travels in capability 65.
    static let birdOpen4ByteASHex = """
        ffffffffffffffffffffffffffffffff 0035 01
        04 5ba0 00f0 c0000201
        18 02 16
        01 04 0001 00 01
        01 04 0002 00 01
        02 00
        41 04 fa56ea01
        46 00
        """

    // MARK: Golden vectors

    func testBirdOpenDecodes() throws {
        XCTAssertEqual(try V.decode(V.bytes(Self.birdOpenHex)), .open(Self.birdOpen))
    }

    func testBirdOpenEncodesToTheSameBytes() {
        XCTAssertEqual(V.encode(.open(Self.birdOpen)), V.bytes(Self.birdOpenHex))
    }

    func testBirdOpenWithFourOctetASNBothWays() throws {
        let open = OpenMessage(
            myAutonomousSystem: asTrans, holdTime: 240, bgpIdentifier: IPv4Address(192, 0, 2, 1),
            capabilities: [
                .multiprotocol(.ipv4Unicast), .multiprotocol(.ipv6Unicast), .routeRefresh, .fourOctetAS(4_200_000_001),
                .enhancedRouteRefresh,
            ])
        XCTAssertEqual(try V.decode(V.bytes(Self.birdOpen4ByteASHex)), .open(open))
        XCTAssertEqual(V.encode(.open(open)), V.bytes(Self.birdOpen4ByteASHex))
        XCTAssertEqual(open.asn, 4_200_000_001)
        XCTAssertEqual(open.fourOctetASCapability, 4_200_000_001)
    }

    func testOpenWithoutOptionalParametersBothWays() throws {
        let bytes = V.bytes("ffffffffffffffffffffffffffffffff 001d 01 04 fde9 005a 0a000001 00")
        let open = OpenMessage(myAutonomousSystem: 65001, holdTime: 90, bgpIdentifier: IPv4Address(10, 0, 0, 1))
        XCTAssertEqual(try V.decode(bytes), .open(open))
        XCTAssertEqual(V.encode(.open(open)), bytes)
        XCTAssertEqual(open.advertisedFamilies, [.ipv4Unicast])
        XCTAssertNil(open.fourOctetASCapability)
    }

    func testUnknownCapabilitiesRoundTripVerbatim() throws {
        // ADD-PATH (69) for IPv4 unicast send/receive, FQDN (73) "r1" / "", and the pre-standard
        // route refresh (128): none interpreted, all kept and re-encoded byte for byte.
        let bytes = V.bytes(
            """
            ffffffffffffffffffffffffffffffff 0033 01
            04 fde9 00b4 c0000202
            16 02 14
            45 04 0001 01 03
            49 04 02 7231 00
            80 00
            01 04 0001 00 01
            """)
        let open = OpenMessage(
            myAutonomousSystem: 65001, holdTime: 180, bgpIdentifier: IPv4Address(192, 0, 2, 2),
            capabilities: [
                .unknown(code: .addPath, value: [0x00, 0x01, 0x01, 0x03]),
                .unknown(code: CapabilityCode(rawValue: 73), value: [0x02, 0x72, 0x31, 0x00]),
                .unknown(code: CapabilityCode(rawValue: 128), value: []),
                .multiprotocol(.ipv4Unicast),
            ])
        XCTAssertEqual(try V.decode(bytes), .open(open))
        XCTAssertEqual(V.encode(.open(open)), bytes)
    }

    func testCapabilitiesSpreadOverSeveralParametersDecode() throws {
        // RFC 5492 §4 allows several Capabilities parameters; older routers send one per capability.
        let bytes = V.bytes(
            """
            ffffffffffffffffffffffffffffffff 0029 01
            04 fde9 00b4 c0000202
            0c 02 06 01 04 0002 00 01  02 02 02 00
            """)
        let message = try V.decode(bytes)
        guard case .open(let open) = message else { return XCTFail("\(message)") }
        XCTAssertEqual(open.capabilities, [.multiprotocol(.ipv6Unicast), .routeRefresh])
        XCTAssertEqual(open.advertisedFamilies, [.ipv6Unicast])
    }

    func testMultiprotocolReservedOctetIsIgnored() throws {
        // RFC 4760 §8: Reserved "SHOULD be set to 0 by the sender and ignored by the receiver".
        let body = V.bytes("04 fde9 00b4 c0000202 08 02 06 01 04 0001 7f 01")
        XCTAssertEqual(
            try V.decode(V.message(type: 1, body: body)),
            .open(
                OpenMessage(
                    myAutonomousSystem: 65001, holdTime: 180, bgpIdentifier: IPv4Address(192, 0, 2, 2),
                    capabilities: [.multiprotocol(.ipv4Unicast)])))
    }

    func testGracefulRestartFlagsAndForwardingBitBothWays() throws {
        // R and N flags set, restart time 4095, IPv4 forwarding preserved, IPv6 not.
        let value = V.bytes("cfff 0001 01 80 0002 01 00")
        let gr = GracefulRestartCapability(
            flags: GracefulRestartCapability.restartStateFlag | GracefulRestartCapability.notificationFlag,
            restartTime: 4095,
            families: [
                .init(family: .ipv4Unicast, forwardingPreserved: true),
                .init(family: .ipv6Unicast, forwardingPreserved: false),
            ])
        let body = V.bytes("04 fde9 00b4 c0000202 0e 02 0c 40 0a") + value
        let bytes = V.message(type: 1, body: body)
        let open = OpenMessage(
            myAutonomousSystem: 65001, holdTime: 180, bgpIdentifier: IPv4Address(192, 0, 2, 2),
            capabilities: [.gracefulRestart(gr)])
        XCTAssertEqual(try V.decode(bytes), .open(open))
        XCTAssertEqual(V.encode(.open(open)), bytes)
        XCTAssertEqual(open.gracefulRestart, gr)
    }

    func testGracefulRestartEncodingMasksOutOfRangeFields() {
        let gr = GracefulRestartCapability(flags: 0xFF, restartTime: 0xFFFF, families: [])
        var buffer = ByteBuffer()
        Capability.gracefulRestart(gr).write(to: &buffer)
        XCTAssertEqual(Array(buffer.readableBytesView), V.bytes("40 02 ffff"))
        let gr2 = GracefulRestartCapability(flags: 0x1, restartTime: 0x1000, families: [])
        buffer.clear()
        Capability.gracefulRestart(gr2).write(to: &buffer)
        XCTAssertEqual(Array(buffer.readableBytesView), V.bytes("40 02 1000"))
    }

    func testLastGracefulRestartCapabilityWins() {
        let first = GracefulRestartCapability(flags: 0, restartTime: 60, families: [])
        let last = GracefulRestartCapability(flags: 8, restartTime: 90, families: [])
        let open = OpenMessage(
            myAutonomousSystem: 1, holdTime: 90, bgpIdentifier: IPv4Address(1, 1, 1, 1),
            capabilities: [.gracefulRestart(first), .routeRefresh, .gracefulRestart(last)])
        XCTAssertEqual(open.gracefulRestart, last)
        XCTAssertTrue(open.supportsRouteRefresh)
        XCTAssertFalse(open.supportsEnhancedRouteRefresh)
        XCTAssertFalse(open.supportsExtendedMessages)
    }

    func testBirdOpenHelpers() {
        let open = Self.birdOpen
        XCTAssertEqual(open.fourOctetASCapability, 65001)
        XCTAssertEqual(open.multiprotocolFamilies, [.ipv4Unicast, .ipv6Unicast])
        XCTAssertEqual(open.advertisedFamilies, [.ipv4Unicast, .ipv6Unicast])
        XCTAssertTrue(open.supportsRouteRefresh)
        XCTAssertTrue(open.supportsEnhancedRouteRefresh)
        XCTAssertTrue(open.supportsExtendedMessages)
        XCTAssertEqual(open.gracefulRestart?.restartTime, 120)
    }

    // MARK: RFC 9072 extended optional parameters

    /// 64 Multiprotocol capabilities (AFI 1..64, SAFI 1): 384 octets of capabilities.
    static let manyFamilies = (1...64).map {
        Capability.multiprotocol(AddressFamily(afi: AFI(rawValue: $0), safi: .unicast))
    }
    static let manyFamiliesCapabilityBytes = (1...64).flatMap { [0x01, 0x04, 0x00, UInt8($0), 0x00, 0x01] as [UInt8] }

    func testExtendedOptionalParametersBothWays() throws {
        // RFC 9072 §2: Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Opt. Parm. Length 387
        // (one parameter: type 2, 2-octet length 384, value).
        let body = V.bytes("04 fde9 00b4 c0000202 ff ff 0183 02 0180") + Self.manyFamiliesCapabilityBytes
        let bytes = V.message(type: 1, body: body)
        XCTAssertEqual(bytes.count, 19 + 9 + 4 + 3 + 384)  // header, fixed fields, ff ff + length, parameter
        let open = OpenMessage(
            myAutonomousSystem: 65001, holdTime: 180, bgpIdentifier: IPv4Address(192, 0, 2, 2),
            capabilities: Self.manyFamilies)
        XCTAssertEqual(try V.decode(bytes), .open(open))
        XCTAssertEqual(V.encode(.open(open)), bytes)
    }

    func testShortExtendedFormIsAcceptedAndReencodedInTheStandardForm() throws {
        // RFC 9072 §3: an extended length of 255 or less is not an error; a Non-Ext OP Len other than
        // 255 followed by type 255 still selects the extended encoding.
        for nonExtLen: UInt8 in [0xff, 0x01] {
            let body = V.bytes("04 fde9 00b4 c0000202") + [nonExtLen] + V.bytes("ff 0005 02 0002 02 00")
            let open = OpenMessage(
                myAutonomousSystem: 65001, holdTime: 180, bgpIdentifier: IPv4Address(192, 0, 2, 2),
                capabilities: [.routeRefresh])
            XCTAssertEqual(try V.decode(V.message(type: 1, body: body)), .open(open))
            XCTAssertEqual(
                V.encode(.open(open)), V.message(type: 1, body: V.bytes("04 fde9 00b4 c0000202 04 02 02 02 00")))
        }
    }

    func testExactly255OctetsOfParametersUseTheStandardForm() throws {
        // One Capabilities parameter of 253 octets: unknown capability 200 with 251 octets of value.
        let value = [UInt8](repeating: 0xAB, count: 251)
        let open = OpenMessage(
            myAutonomousSystem: 65001, holdTime: 180, bgpIdentifier: IPv4Address(192, 0, 2, 2),
            capabilities: [.unknown(code: CapabilityCode(rawValue: 200), value: value)])
        let bytes = V.message(type: 1, body: V.bytes("04 fde9 00b4 c0000202 ff 02 fd c8 fb") + value)
        XCTAssertEqual(V.encode(.open(open)), bytes)
        XCTAssertEqual(try V.decode(bytes), .open(open))
        // One more octet and the extended form takes over.
        let bigger = OpenMessage(
            myAutonomousSystem: 65001, holdTime: 180, bgpIdentifier: IPv4Address(192, 0, 2, 2),
            capabilities: [.unknown(code: CapabilityCode(rawValue: 200), value: value), .routeRefresh])
        let biggerBytes = V.message(
            type: 1, body: V.bytes("04 fde9 00b4 c0000202 ff ff 0102 02 00ff c8 fb") + value + [0x02, 0x00])
        XCTAssertEqual(V.encode(.open(bigger)), biggerBytes)
        XCTAssertEqual(try V.decode(biggerBytes), .open(bigger))
    }

    func testOtherParametersAreEncodedAfterCapabilities() {
        let open = OpenMessage(
            myAutonomousSystem: 65001, holdTime: 180, bgpIdentifier: IPv4Address(192, 0, 2, 2),
            capabilities: [.routeRefresh], otherParameters: [OptionalParameter(type: 9, value: [1, 2])])
        XCTAssertEqual(
            V.encode(.open(open)),
            V.message(type: 1, body: V.bytes("04 fde9 00b4 c0000202 08 02 02 02 00 09 02 01 02")))
    }

    func testLeadingParameterOfType255ForcesTheExtendedForm() throws {
        // In the standard form a first parameter of type 255 would be read as the RFC 9072 marker.
        let open = OpenMessage(
            myAutonomousSystem: 65001, holdTime: 180, bgpIdentifier: IPv4Address(192, 0, 2, 2),
            otherParameters: [OptionalParameter(type: 255, value: [7])])
        XCTAssertEqual(
            V.encode(.open(open)), V.message(type: 1, body: V.bytes("04 fde9 00b4 c0000202 ff ff 0004 ff 0001 07")))
    }

    // MARK: Negative vectors (RFC 4271 §6.2 and friends)

    /// An OPEN body with the given fields and optional parameter bytes (standard form).
    func openBody(
        version: UInt8 = 4, myAS: UInt16 = 65001, holdTime: UInt16 = 180, identifier: UInt32 = 0xC000_0202,
        parameters: [UInt8] = []
    ) -> [UInt8] {
        [version, UInt8(myAS >> 8), UInt8(myAS & 0xFF), UInt8(holdTime >> 8), UInt8(holdTime & 0xFF)]
            + [UInt8(identifier >> 24), UInt8(identifier >> 16 & 0xFF), UInt8(identifier >> 8 & 0xFF)]
            + [UInt8(identifier & 0xFF), UInt8(parameters.count)] + parameters
    }

    func assertOpenError(
        _ body: [UInt8], subcode: UInt8, data: [UInt8] = [], file: StaticString = #filePath, line: UInt = #line
    ) {
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try V.decode(V.message(type: 1, body: body)) }, code: .openMessageError,
            subcode: subcode, data: data, file: file, line: line)
    }

    func testVersion3IsUnsupportedVersionNumberWithData4() {
        assertOpenError(openBody(version: 3), subcode: 1, data: [0, 4])
    }

    func testVersion5IsUnsupportedVersionNumberWithData4() {
        assertOpenError(openBody(version: 5), subcode: 1, data: [0, 4])
    }

    func testHoldTimeOneOrTwoIsUnacceptableHoldTime() throws {
        assertOpenError(openBody(holdTime: 1), subcode: 6)
        assertOpenError(openBody(holdTime: 2), subcode: 6)
        XCTAssertNoThrow(try V.decode(V.message(type: 1, body: openBody(holdTime: 0))))
        XCTAssertNoThrow(try V.decode(V.message(type: 1, body: openBody(holdTime: 3))))
    }

    func testZeroBGPIdentifierIsBadBGPIdentifier() {
        assertOpenError(openBody(identifier: 0), subcode: 3)
    }

    func testMulticastBGPIdentifierIsAcceptedPerRFC6286() {
        // RFC 6286 §2.2: any non-zero 4-octet value is a valid identifier.
        XCTAssertNoThrow(try V.decode(V.message(type: 1, body: openBody(identifier: 0xE000_0001))))
    }

    func testPeerASZeroIsBadPeerAS() {
        assertOpenError(openBody(myAS: 0), subcode: 2)
    }

    func testFourOctetASCapabilityZeroIsBadPeerAS() {
        assertOpenError(openBody(myAS: asTrans, parameters: V.bytes("02 06 41 04 00000000")), subcode: 2)
    }

    func testAuthenticationParameterIsUnsupportedOptionalParameter() {
        // Type 1 (Authentication) was deprecated by RFC 5492; any non-Capabilities type is unsupported.
        assertOpenError(openBody(parameters: V.bytes("01 02 aabb")), subcode: 4)
    }

    func testUnknownParameterAfterCapabilitiesIsUnsupportedOptionalParameter() {
        assertOpenError(openBody(parameters: V.bytes("02 02 02 00 09 00")), subcode: 4)
    }

    func testOptParmLenLongerThanMessageIsMalformed() {
        var body = openBody(parameters: V.bytes("02 02 02 00"))
        body[9] = 5
        assertOpenError(body, subcode: 0)
    }

    func testOptParmLenShorterThanMessageIsMalformed() {
        var body = openBody(parameters: V.bytes("02 02 02 00"))
        body[9] = 3
        assertOpenError(body, subcode: 0)
    }

    func testParameterLengthOverrunningOptParmLenIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 05 02 00")), subcode: 0)
    }

    func testParameterHeaderCutShortIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02")), subcode: 0)
    }

    func testTruncatedExtendedLengthIsMalformed() {
        // Non-Ext OP Len 2, Non-Ext OP Type 255, then only one octet of the 2-octet extended length.
        assertOpenError(openBody(parameters: V.bytes("ff 00")), subcode: 0)
    }

    func testExtendedLengthNotMatchingMessageIsMalformed() {
        let body = V.bytes("04 fde9 00b4 c0000202 ff ff 0006 02 0002 02 00")
        assertOpenError(body, subcode: 0)
    }

    func testExtendedParameterLengthOverrunIsMalformed() {
        let body = V.bytes("04 fde9 00b4 c0000202 ff ff 0005 02 0003 02 00")
        assertOpenError(body, subcode: 0)
    }

    func testCapabilityOverrunningItsParameterIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 04 41 04 0000")), subcode: 0)
    }

    func testCapabilityMissingLengthOctetIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 01 41")), subcode: 0)
    }

    func testMultiprotocolCapabilityWrongLengthIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 05 01 03 0001 00")), subcode: 0)
        assertOpenError(openBody(parameters: V.bytes("02 07 01 05 0001 00 01 00")), subcode: 0)
    }

    func testRouteRefreshCapabilityWithValueIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 03 02 01 00")), subcode: 0)
    }

    func testEnhancedRouteRefreshCapabilityWithValueIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 03 46 01 00")), subcode: 0)
    }

    func testExtendedMessageCapabilityWithValueIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 04 06 02 0000")), subcode: 0)
    }

    func testFourOctetASCapabilityWrongLengthIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 04 41 02 fde9")), subcode: 0)
    }

    func testGracefulRestartCapabilityTooShortIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 03 40 01 00")), subcode: 0)
        assertOpenError(openBody(parameters: V.bytes("02 02 40 00")), subcode: 0)
    }

    func testGracefulRestartCapabilityWithPartialFamilyIsMalformed() {
        assertOpenError(openBody(parameters: V.bytes("02 06 40 04 0078 0001")), subcode: 0)
    }

    func testDirectDecodeOfShortBodyIsBadMessageLength() {
        var buffer = ByteBuffer(bytes: V.bytes("04 fde9 00b4"))
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try OpenMessage(from: &buffer, context: WireContext()) },
            code: .messageHeaderError, subcode: 2, data: [0, 24])
        var empty = ByteBuffer()
        assertThrowsMessageCodecError(
            { () throws(BGPError) in try OpenMessage(from: &empty, context: WireContext()) },
            code: .messageHeaderError, subcode: 2, data: [0, 19])
    }
}
