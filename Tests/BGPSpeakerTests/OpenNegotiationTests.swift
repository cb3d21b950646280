import NIOCore
import XCTest

@testable import BGPSpeaker

/// The OPEN we send and the checks and negotiation applied to the peer's OPEN.
final class OpenNegotiationTests: XCTestCase {
    typealias F = FSMFixtures
    let out = ConnectionID(-1)

    func negotiate(_ config: PeerConfiguration, _ peer: OpenMessage) throws(BGPError) -> NegotiatedSession {
        try NegotiatedSession.negotiate(local: OpenMessage(configuration: config), peer: peer, configuration: config)
    }

    func error(_ config: PeerConfiguration, _ peer: OpenMessage) -> BGPError? {
        do {
            _ = try negotiate(config, peer)
            return nil
        } catch { return error }
    }

    // MARK: - The OPEN we send

    func testOpenCarriesVersionASHoldIdentifierAndCapabilities() {
        let open = OpenMessage(configuration: F.config())
        XCTAssertEqual(open.version, 4)
        XCTAssertEqual(open.myAutonomousSystem, 65001)
        XCTAssertEqual(open.holdTime, 90)
        XCTAssertEqual(open.bgpIdentifier, F.localID)
        XCTAssertEqual(
            open.capabilities,
            [
                .multiprotocol(.ipv4Unicast), .multiprotocol(.ipv6Unicast), .routeRefresh, .fourOctetAS(65001),
                .extendedMessage,
            ])
        XCTAssertTrue(open.otherParameters.isEmpty)
    }

    func testOpenWithOptionalCapabilities() {
        let gr = GracefulRestartCapability(
            flags: 0x8, restartTime: 120, families: [.init(family: .ipv4Unicast, forwardingPreserved: true)])
        let open = OpenMessage(
            configuration: F.config(
                holdTime: 0, families: [.ipv6Unicast], extendedMessages: false, gracefulRestart: gr,
                enhancedRouteRefresh: true))
        XCTAssertEqual(open.holdTime, 0)
        XCTAssertEqual(
            open.capabilities,
            [
                .multiprotocol(.ipv6Unicast), .routeRefresh, .enhancedRouteRefresh, .fourOctetAS(65001),
                .gracefulRestart(gr),
            ])
    }

    func testFourOctetLocalASIsSentAsASTrans() {
        let open = OpenMessage(configuration: F.config(localAS: 4_200_000_001))
        XCTAssertEqual(open.myAutonomousSystem, 23456)
        XCTAssertTrue(open.capabilities.contains(.fourOctetAS(4_200_000_001)))
        XCTAssertEqual(OpenMessage(configuration: F.config(localAS: 65535)).myAutonomousSystem, 65535)
        XCTAssertEqual(OpenMessage(configuration: F.config(localAS: 65536)).myAutonomousSystem, 23456)
    }

    // MARK: - 4-octet AS (RFC 6793)

    func testFourOctetPeerASComesFromTheCapability() throws {
        let config = F.config(localAS: 4_200_000_001, peerAS: 4_200_000_002)
        let peer = F.peerOpen(asn: 4_200_000_002)
        XCTAssertEqual(peer.myAutonomousSystem, asTrans)
        let n = try negotiate(config, peer)
        XCTAssertEqual(n.peerAS, 4_200_000_002)
        XCTAssertTrue(n.context.fourOctetAS)
        XCTAssertFalse(n.context.internalPeer)
    }

    func testTwoOctetPeerWithoutTheCapability() throws {
        let n = try negotiate(F.config(localAS: 4_200_000_001), F.peerOpen(fourOctet: false))
        XCTAssertEqual(n.peerAS, 65002)
        XCTAssertFalse(n.context.fourOctetAS, "2-octet AS_PATH encoding toward an old speaker")
    }

    func testFourOctetPeerWithoutTheCapabilityIsBadPeerAS() {
        // An old speaker in a 4-octet AS can only announce AS_TRANS.
        var peer = F.peerOpen(asn: 4_200_000_002, fourOctet: false)
        peer.myAutonomousSystem = asTrans
        let e = error(F.config(peerAS: 4_200_000_002), peer)
        XCTAssertEqual(e?.code, .openMessageError)
        XCTAssertEqual(e?.subcode, NotificationSubcode.Open.badPeerAS)
        XCTAssertEqual(e?.data, [0x5B, 0xA0], "Data: the 2-octet My Autonomous System field (AS_TRANS)")
    }

    func testWrongFourOctetASBehindASTransIsBadPeerAS() {
        let e = error(F.config(peerAS: 4_200_000_002), F.peerOpen(asn: 4_200_000_009))
        XCTAssertEqual(e?.subcode, NotificationSubcode.Open.badPeerAS)
        XCTAssertEqual(e?.data, [0x5B, 0xA0])
    }

    // MARK: - Rejected OPENs

    func testBadPeerASSendsOpenMessageErrorAndGoesIdle() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        XCTAssertEqual(
            h.handle(.message(out, .open(F.peerOpen(asn: 65003)))),
            [
                .send(out, F.notification(.openMessageError, NotificationSubcode.Open.badPeerAS, [0xFD, 0xEB])),
                .close(out), .stateChanged(from: .openSent, to: .idle),
            ])
        XCTAssertEqual(h.fsm.lastError, "sent NOTIFICATION: peer announced AS 65003, expected AS 65002")
        XCTAssertEqual(h.secondsToNextDeadline, 1, "IdleHoldTimer before the automatic restart")
    }

    func testUnacceptableHoldTimeOneOrTwoSeconds() {
        for hold: UInt16 in [1, 2] {
            var h = FSMHarness(F.config())
            h.handle(.manualStart)
            h.handle(.tcpCRAcked(out))
            XCTAssertEqual(
                h.handle(.message(out, .open(F.peerOpen(holdTime: hold)))),
                [
                    .send(out, F.notification(.openMessageError, NotificationSubcode.Open.unacceptableHoldTime)),
                    .close(out), .stateChanged(from: .openSent, to: .idle),
                ], "hold \(hold)")
        }
    }

    func testBadBGPIdentifier() {
        // RFC 6286 §2.2: equal to ours on iBGP, or zero.
        let ibgp = F.config(peerAS: 65001)
        XCTAssertEqual(
            error(ibgp, F.peerOpen(asn: 65001, id: F.localID))?.subcode, NotificationSubcode.Open.badBGPIdentifier)
        XCTAssertEqual(
            error(F.config(), F.peerOpen(id: IPv4Address(rawValue: 0)))?.subcode,
            NotificationSubcode.Open.badBGPIdentifier)
        XCTAssertNil(error(F.config(), F.peerOpen(id: F.localID)), "the same identifier is allowed on eBGP")
        XCTAssertNil(error(ibgp, F.peerOpen(asn: 65001)))
    }

    func testUnsupportedVersion() {
        let e = error(F.config(), F.peerOpen(version: 3))
        XCTAssertEqual(e?.code, .openMessageError)
        XCTAssertEqual(e?.subcode, NotificationSubcode.Open.unsupportedVersionNumber)
        XCTAssertEqual(e?.data, [0, 4], "RFC 4271 §6.2: the largest locally supported version")
    }

    // MARK: - Negotiated values

    func testFamiliesAreTheIntersection() throws {
        let both = F.config()
        XCTAssertEqual(try negotiate(both, F.peerOpen(families: [.ipv6Unicast])).context.families, [.ipv6Unicast])
        XCTAssertEqual(
            try negotiate(
                both, F.peerOpen(families: [.ipv4Unicast, .ipv6Unicast, AddressFamily(afi: .ipv4, safi: .multicast)])
            )
            .context.families,
            [.ipv4Unicast, .ipv6Unicast])
        XCTAssertEqual(
            try negotiate(both, F.peerOpen(families: [])).context.families, [.ipv4Unicast],
            "RFC 4760: no Multiprotocol capability means IPv4 unicast only")
        XCTAssertEqual(try negotiate(F.config(families: [.ipv6Unicast]), F.peerOpen(families: [])).context.families, [])
    }

    func testExtendedMessagesNeedBothSides() throws {
        XCTAssertTrue(try negotiate(F.config(), F.peerOpen(extended: true)).context.extendedMessages)
        XCTAssertFalse(try negotiate(F.config(), F.peerOpen(extended: false)).context.extendedMessages)
        XCTAssertFalse(
            try negotiate(F.config(extendedMessages: false), F.peerOpen(extended: true)).context.extendedMessages)
    }

    func testInternalPeerRouteRefreshAndGracefulRestart() throws {
        let gr = GracefulRestartCapability(flags: 0, restartTime: 90, families: [])
        var peer = F.peerOpen(asn: 65001)
        peer.capabilities.removeAll { $0 == .routeRefresh }
        peer.capabilities += [.gracefulRestart(gr), .enhancedRouteRefresh]
        let n = try negotiate(F.config(peerAS: 65001), peer)
        XCTAssertTrue(n.context.internalPeer)
        XCTAssertFalse(n.routeRefresh)
        XCTAssertEqual(n.peerGracefulRestart, gr)
        XCTAssertFalse(n.enhancedRouteRefresh, "we did not advertise it")
        XCTAssertTrue(try negotiate(F.config(peerAS: 65001, enhancedRouteRefresh: true), peer).enhancedRouteRefresh)
    }
}
