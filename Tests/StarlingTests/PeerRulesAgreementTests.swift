import BGPSpeaker
import StarlingModel
import XCTest

@testable import starling

/// The three entry points of a BGP peering, `starling bgp`'s file loader, the API's `bgp_profile` and the
/// speaker's `PeerConfiguration`, run the same rules (`PeerRules`): each refuses the same values, with the
/// same reason, naming the field in its own spelling.
final class PeerRulesAgreementTests: XCTestCase {
    private let routerID = IPv4Address(198, 18, 1, 2)

    /// The loader's answer for a file with these settings, or nil when it accepts the file.
    private func loader(asn: UInt32 = 65010, peerAS: UInt32 = 65000, holdTime: Int? = nil, peer: String = "198.18.1.1")
        -> ConfigError?
    {
        let hold = holdTime.map { ", hold_time: \($0)" } ?? ""
        let text = "asn: \(asn)\nrouter_id: 198.18.1.2\npeers: [{address: '\(peer)', asn: \(peerAS)\(hold)}]\n"
        do {
            _ = try BGPConfigLoader.parse(text)
            return nil
        } catch {
            return error
        }
    }

    /// The API's answer for a `bgp_profile` with these settings, or nil when it accepts it.
    private func api(
        localAS: UInt32 = 65010, peerAS: UInt32 = 65000, holdTime: Int? = nil, keepalive: Int? = nil,
        peer: IpAddr = IpAddr(addr: "198.18.1.1", type: .v4)
    ) -> ModelError? {
        let profile = BgpProfile(
            local_as: localAS, hold_time: holdTime, keepalive_interval: keepalive,
            peers: [BgpPeer(peer_ip: peer, remote_as: peerAS)])
        do {
            try profile.validate()
            return nil
        } catch {
            return error
        }
    }

    /// The speaker's answer for a peer with these settings, or nil when it accepts it.
    private func speaker(
        localAS: UInt32 = 65010, peerAS: UInt32 = 65000, holdTime: UInt16 = 90, peer: String = "198.18.1.1"
    ) -> PeerConfigurationError? {
        let settings = PeerSettings(address: IPAddress(peer)!, peerAS: peerAS, holdTime: holdTime)
        do {
            try settings.validate(localAS: localAS, routerID: routerID)
            _ = try PeerConfiguration(localAS: localAS, routerID: routerID, peerAS: peerAS, holdTime: holdTime)
            return nil
        } catch {
            return error
        }
    }

    func testASTransIsRefusedByAllThree() {
        let reason = "23456 is AS_TRANS (RFC 6793), not a usable AS"
        XCTAssertEqual(loader(asn: 23456)?.description, "asn: \(reason)")
        XCTAssertEqual(api(localAS: 23456)?.description, "bgp_profile.local_as: \(reason)")
        XCTAssertEqual(speaker(localAS: 23456)?.description, "localAS: \(reason)")

        XCTAssertEqual(loader(peerAS: 23456)?.description, "peers[0].asn: \(reason)")
        XCTAssertEqual(api(peerAS: 23456)?.description, "bgp_profile.peers[0].remote_as: \(reason)")
        XCTAssertEqual(speaker(peerAS: 23456)?.description, "peerAS: \(reason)")
    }

    func testASZeroIsRefusedByAllThree() {
        let reason = "must be between 1 and 4294967295 (AS 0 is reserved, RFC 7607)"
        XCTAssertEqual(loader(asn: 0)?.description, "asn: \(reason)")
        XCTAssertEqual(api(localAS: 0)?.description, "bgp_profile.local_as: \(reason)")
        XCTAssertEqual(speaker(localAS: 0)?.description, "localAS: \(reason)")
        XCTAssertEqual(loader(peerAS: 0)?.description, "peers[0].asn: \(reason)")
        XCTAssertEqual(api(peerAS: 0)?.description, "bgp_profile.peers[0].remote_as: \(reason)")
        XCTAssertEqual(speaker(peerAS: 0)?.description, "peerAS: \(reason)")
    }

    func testHoldTimeTwoIsRefusedByAllThree() {
        for hold in [1, 2] {
            let reason = "must be 0 or between 3 and 65535 seconds, not \(hold)"
            XCTAssertEqual(loader(holdTime: hold)?.description, "peers[0].hold_time: \(reason)")
            XCTAssertEqual(api(holdTime: hold)?.description, "bgp_profile.hold_time: \(reason)")
            XCTAssertEqual(speaker(holdTime: UInt16(hold))?.description, "holdTime: \(reason)")
        }
        // Beyond the 2-octet field: the loader and the API take an Int and refuse it rather than narrow it.
        XCTAssertEqual(loader(holdTime: 70000)?.field, "peers[0].hold_time")
        XCTAssertEqual(api(holdTime: 70000)?.field, "bgp_profile.hold_time")
    }

    func testAcceptableValuesAreAcceptedByAllThree() {
        for hold in [0, 3, 90, 65535] {
            XCTAssertNil(loader(holdTime: hold))
            XCTAssertNil(api(holdTime: hold))
            XCTAssertNil(speaker(holdTime: UInt16(hold)))
        }
        XCTAssertNil(loader(asn: 4_200_000_000, peerAS: 65535))
        XCTAssertNil(api(localAS: 4_200_000_000, peerAS: 65535))
        XCTAssertNil(speaker(localAS: 4_200_000_000, peerAS: 65535))
    }

    func testLinkLocalPeerIsRefusedByAllThree() {
        let reason = "link-local addresses need an interface and are not supported; use a global address"
        XCTAssertEqual(loader(peer: "fe80::1")?.description, "peers[0].address: \(reason)")
        XCTAssertEqual(
            api(peer: IpAddr(addr: "fe80::1", type: .v6))?.description, "bgp_profile.peers[0].peer_ip.addr: \(reason)")
        XCTAssertEqual(speaker(peer: "fe80::1")?.description, "address: \(reason)")
    }

    func testAPIRefusesWhatTheSpeakerCouldNotUse() {
        // A peer address that is not of its stated family never reaches the SE.
        XCTAssertEqual(api(peer: IpAddr(addr: "198.18.1.1", type: .v6))?.field, "bgp_profile.peers[0].peer_ip.addr")
        // Keepalives at or beyond the hold time would let the peer's hold timer expire (RFC 4271 §4.4).
        XCTAssertEqual(api(holdTime: 9, keepalive: 9)?.field, "bgp_profile.keepalive_interval")
        XCTAssertNil(api(holdTime: 9, keepalive: 3))
        XCTAssertNil(api(holdTime: 0, keepalive: 30), "no hold timer: nothing to keep alive")
    }
}
