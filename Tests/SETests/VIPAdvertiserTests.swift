import BGPSpeaker
import SE
import StarlingModel
import XCTest

final class VIPAdvertiserTests: XCTestCase {
    let vip = IPAddress("192.0.2.10")!
    func state(_ mutate: (inout VIPAdvertiser.ServiceState) -> Void = { _ in }) -> VIPAdvertiser.ServiceState {
        var s = VIPAdvertiser.ServiceState(
            name: "web", vips: [vip, IPAddress("2001:db8::10")!], enabled: true, placedHere: true, enableRHI: true,
            serversUp: 2)
        mutate(&s)
        return s
    }

    func testAdvertisedOnlyWhileServable() {
        let up = VIPAdvertiser.desired([state()], draining: false)
        XCTAssertEqual(Set(up.routes.keys), [IPPrefix("192.0.2.10/32")!, IPPrefix("2001:db8::10/128")!])
        XCTAssertEqual(up.decisions.first?.advertised, true)

        let cases: [(VIPAdvertiser.ServiceState, Bool, String)] = [
            (state { $0.enabled = false }, false, "virtual service is disabled"),
            (state { $0.placedHere = false }, false, "not placed on this SE"),
            (state { $0.enableRHI = false }, false, "enable_rhi is off"),
            (state { $0.serversUp = 0 }, false, "no pool server is up"),
            (state(), true, "SE is draining"),
        ]
        for (s, draining, reason) in cases {
            let r = VIPAdvertiser.desired([s], draining: draining)
            XCTAssertTrue(r.routes.isEmpty, reason)
            XCTAssertEqual(r.decisions, [VIPAdvertiser.Decision(service: "web", advertised: false, reason: reason)])
        }
    }

    /// RFC 8326: on the way out, the same routes with GRACEFUL_SHUTDOWN and LOCAL_PREF 0; the withdrawal
    /// that follows wins over it.
    func testGracefulShutdownMarksTheRoutes() throws {
        let gshut = VIPAdvertiser.desired([state()], draining: false, gracefulShutdown: true)
        let route = try XCTUnwrap(gshut.routes[IPPrefix("192.0.2.10/32")!])
        XCTAssertEqual(route.communities, [.gracefulShutdown])
        XCTAssertEqual(route.localPref, 0)
        XCTAssertEqual(Community.gracefulShutdown.description, "65535:0")
        XCTAssertTrue(gshut.decisions[0].advertised)
        XCTAssertTrue(gshut.decisions[0].reason.contains("GRACEFUL_SHUTDOWN"), gshut.decisions[0].reason)
        XCTAssertTrue(
            VIPAdvertiser.desired([state { $0.serversUp = 0 }], draining: false, gracefulShutdown: true).routes.isEmpty,
            "what could not be advertised stays withdrawn")
        XCTAssertTrue(VIPAdvertiser.desired([state()], draining: true, gracefulShutdown: true).routes.isEmpty)
    }

    /// Avi `bgp_profile.community` on every VIP, `ip_communities` on the VIPs of their range, nothing with
    /// `send_community: false`; the decision names them.
    func testCommunitiesFromTheProfile() throws {
        var profile = BgpProfile(local_as: 65001)
        profile.community = ["65001:100", "internet"]
        profile.ip_communities = [
            IpCommunity(
                ip_begin: IpAddr(addr: "192.0.2.8", type: .v4), ip_end: IpAddr(addr: "192.0.2.15", type: .v4),
                community: ["65001:200", "no-export", "65001:100"]),
            IpCommunity(ip_begin: IpAddr(addr: "2001:db8::10", type: .v6), community: ["65001:600"]),
        ]
        XCTAssertNoThrow(try profile.validate())
        XCTAssertEqual(
            profile.communities(for: IPAddress("192.0.2.10")!),
            [.standard(0xFDE9_0064), .standard(0xFDE9_00C8), .standard(0xFFFF_FF01)])
        XCTAssertEqual(profile.communities(for: IPAddress("192.0.2.16")!), [.standard(0xFDE9_0064)])
        XCTAssertEqual(
            profile.communities(for: IPAddress("2001:db8::10")!), [.standard(0xFDE9_0064), .standard(0xFDE9_0258)])
        XCTAssertEqual(profile.communities(for: IPAddress("2001:db8::11")!), [.standard(0xFDE9_0064)])
        let r = VIPAdvertiser.desired(
            [state()], draining: false, policy: { BGPProfileMapping.route(for: $0, profile: profile) })
        XCTAssertEqual(
            r.routes[IPPrefix("192.0.2.10/32")!]?.communities,
            [Community(asn: 65001, value: 100), Community(asn: 65001, value: 200), .noExport])
        XCTAssertEqual(r.routes[IPPrefix("2001:db8::10/128")!]?.communities.count, 2)
        XCTAssertTrue(
            r.decisions[0].reason.contains("192.0.2.10 with communities 65001:100 65001:200 65535:65281"),
            r.decisions[0].reason)
        profile.send_community = false
        XCTAssertEqual(profile.communities(for: IPAddress("192.0.2.10")!), [])
    }

    /// The rest of the export policy from the Avi model: large communities (`GLOBAL:DATA1:DATA2` in
    /// `community`), `local_preference`, `num_as_path_prepend`, and `vsvip.bgp_peer_labels` choosing the
    /// peers by their `label`; the decision says all of it. Labels that match no peer: not advertised.
    func testExportPolicyFromTheProfile() throws {
        var profile = BgpProfile(
            local_as: 65001,
            peers: [
                BgpPeer(peer_ip: IpAddr(addr: "198.18.0.1", type: .v4), remote_as: 65000),
                BgpPeer(peer_ip: IpAddr(addr: "198.18.0.2", type: .v4), remote_as: 65000),
                BgpPeer(peer_ip: IpAddr(addr: "198.18.0.3", type: .v4), remote_as: 65000, advertise_vip: false),
            ])
        profile.peers?[0].label = "site-a"
        profile.peers?[2].label = "site-a"
        profile.community = ["65001:100", "65001:7:42"]
        profile.local_preference = 200
        profile.num_as_path_prepend = 2
        XCTAssertNoThrow(try profile.validate())
        XCTAssertEqual(
            profile.communities(for: IPAddress("192.0.2.10")!), [.standard(0xFDE9_0064), .large(65001, 7, 42)])
        let peers = BGPProfileMapping.peers(labelled: ["site-a"], in: profile)
        XCTAssertEqual(peers, [IPAddress("198.18.0.1")!], "the labelled peer that gets VIPs")
        let r = VIPAdvertiser.desired(
            [state { $0.peers = .init(labels: ["site-a"], addresses: peers) }], draining: false,
            policy: { BGPProfileMapping.route(for: $0, profile: profile) })
        let route = try XCTUnwrap(r.routes[IPPrefix("192.0.2.10/32")!])
        XCTAssertEqual(route.communities, [Community(asn: 65001, value: 100)])
        XCTAssertEqual(route.largeCommunities, [LargeCommunity(65001, 7, 42)])
        XCTAssertEqual(route.localPref, 200)
        XCTAssertEqual(route.asPathPrepend, 2)
        XCTAssertEqual(route.peers, [IPAddress("198.18.0.1")!])
        XCTAssertTrue(
            r.decisions[0].reason.contains(
                "192.0.2.10 with communities 65001:100, large communities 65001:7:42, "
                    + "LOCAL_PREF 200 (iBGP), AS path prepended 2 times (eBGP), only to peers 198.18.0.1"),
            r.decisions[0].reason)
        let none = VIPAdvertiser.desired(
            [state { $0.peers = .init(labels: ["site-b"], addresses: []) }], draining: false)
        XCTAssertTrue(none.routes.isEmpty)
        XCTAssertEqual(none.decisions[0].reason, "bgp_peer_labels site-b match no bgp_profile peer")

        // Out of range or malformed: refused by field.
        profile.num_as_path_prepend = 11
        XCTAssertThrowsError(try profile.validate()) { XCTAssertTrue("\($0)".contains("num_as_path_prepend"), "\($0)") }
        profile.num_as_path_prepend = nil
        profile.community = ["65001:7:4294967296"]
        XCTAssertThrowsError(try profile.validate()) { XCTAssertTrue("\($0)".contains("community[0]"), "\($0)") }
        profile.community = nil
        profile.peers?[1].label = ""
        XCTAssertThrowsError(try profile.validate()) { XCTAssertTrue("\($0)".contains("peers[1].label"), "\($0)") }
    }

    func testLoopbackVIPsAreNeverAdvertised() {
        let r = VIPAdvertiser.desired(
            [state { $0.vips = [IPAddress("127.0.0.1")!, IPAddress("::1")!] }], draining: false)
        XCTAssertTrue(r.routes.isEmpty)
        XCTAssertEqual(r.decisions.first?.advertised, false)
    }

    func testProfileMapping() throws {
        let profile = BgpProfile(
            local_as: 65010, hold_time: 9,
            peers: [
                BgpPeer(peer_ip: IpAddr(addr: "198.18.0.1", type: .v4), remote_as: 65000),
                BgpPeer(peer_ip: IpAddr(addr: "198.18.0.9", type: .v4), remote_as: 65000, advertise_vip: false),
            ])
        let c = try BGPProfileMapping.speakerConfiguration(
            profile, dataAddress: IPAddress("198.18.0.11")!, routerID: IPv4Address("198.18.0.11")!)
        XCTAssertEqual(c.peers.count, 1)
        XCTAssertEqual(c.peers[0].holdTime, 9)
        XCTAssertEqual(c.peers[0].localAddress, IPAddress("198.18.0.11"))
        XCTAssertEqual(c.peers[0].nextHopV4, IPv4Address("198.18.0.11"))
        // Avi: BFD on unless the peer says `bfd: false`, at the vrfcontext's bfd_profile (default 1 s × 3).
        XCTAssertEqual(
            c.peers[0].bfd, BFDTimers(desiredMinTx: .seconds(1), requiredMinRx: .seconds(1), detectMultiplier: 3))
        XCTAssertNil(c.peers[0].password)
        var noBFD = profile
        noBFD.peers?[0].bfd = false
        noBFD.peers?[0].md5_secret = "s3cret"
        XCTAssertEqual(
            try BGPProfileMapping.speakerConfiguration(
                noBFD, dataAddress: IPAddress("198.18.0.11")!, routerID: IPv4Address("198.18.0.11")!
            ).peers[0].password, "s3cret", "md5_secret is the TCP-MD5 key")
        XCTAssertNil(
            try BGPProfileMapping.speakerConfiguration(
                noBFD, dataAddress: IPAddress("198.18.0.11")!, routerID: IPv4Address("198.18.0.11")!
            ).peers[0].bfd)
        let fast = try BGPProfileMapping.speakerConfiguration(
            profile, bfdProfile: BfdProfile(mintx: 100, minrx: 150, multi: 3), dataAddress: IPAddress("198.18.0.11")!,
            routerID: IPv4Address("198.18.0.11")!)
        XCTAssertEqual(
            fast.peers[0].bfd,
            BFDTimers(desiredMinTx: .milliseconds(100), requiredMinRx: .milliseconds(150), detectMultiplier: 3))

        var bad = profile
        bad.hold_time = 2
        XCTAssertThrowsError(
            try BGPProfileMapping.speakerConfiguration(
                bad, dataAddress: IPAddress("198.18.0.11")!, routerID: IPv4Address("198.18.0.11")!)
        ) { XCTAssertEqual(($0 as? ModelError)?.field, "bgp_profile.hold_time") }
        bad = profile
        bad.peers = [BgpPeer(peer_ip: IpAddr(addr: "198.18.0.1", type: .v4))]
        XCTAssertThrowsError(
            try BGPProfileMapping.speakerConfiguration(
                bad, dataAddress: IPAddress("198.18.0.11")!, routerID: IPv4Address("198.18.0.11")!)
        ) { XCTAssertEqual(($0 as? ModelError)?.field, "bgp_profile.peers[0].remote_as") }
    }
}
