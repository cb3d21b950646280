import BGPSpeaker
import XCTest

@testable import starling

final class BGPConfigTests: XCTestCase {
    func testYAMLConfigWithEveryField() throws {
        let c = try BGPConfigLoader.parse(
            """
            asn: 65010
            router_id: 198.18.1.2
            listen: {addresses: ["198.18.1.2", "2001:db8:ffff::2"], port: 1179}
            peers:
              - {address: 198.18.1.1, asn: 65000, local_address: 198.18.1.2, hold_time: 9, passive: true, port: 2179}
              - address: "2001:db8:ffff::1"
                asn: 65000
                families: [ipv6-unicast]
                next_hop_ipv4: 198.18.1.2
            announce:
              - 192.0.2.10/32
              - {prefix: "2001:db8::10/128", communities: ["65010:100", "no-export"], large_communities: ["65010:1:2"], med: 5}
            """)
        XCTAssertEqual(c.speaker.localAS, 65010)
        XCTAssertEqual(c.speaker.routerID, IPv4Address("198.18.1.2"))
        XCTAssertEqual(c.speaker.listenPort, 1179)
        XCTAssertEqual(c.speaker.listenAddresses.map(\.description), ["198.18.1.2", "2001:db8:ffff::2"])
        XCTAssertEqual(c.speaker.peers.count, 2)
        XCTAssertEqual(c.speaker.peers[0].holdTime, 9)
        XCTAssertTrue(c.speaker.peers[0].passive)
        XCTAssertEqual(c.speaker.peers[0].port, 2179)
        XCTAssertEqual(c.speaker.peers[0].localAddress, IPAddress("198.18.1.2"))
        XCTAssertEqual(c.speaker.peers[1].families, [.ipv6Unicast])
        XCTAssertEqual(c.speaker.peers[1].nextHopV4, IPv4Address("198.18.1.2"))
        XCTAssertEqual(c.announce.count, 2)
        let v6 = try XCTUnwrap(c.announce[IPPrefix("2001:db8::10/128")!])
        XCTAssertEqual(v6.communities, [Community(asn: 65010, value: 100), .noExport])
        XCTAssertEqual(v6.largeCommunities, [LargeCommunity(65010, 1, 2)])
        XCTAssertEqual(v6.med, 5)
        XCTAssertNotNil(c.announce[IPPrefix("192.0.2.10/32")!])
    }

    /// `bfd: true` is 100 ms × 3; a map sets the timers; absent or false is no BFD. Also the damping,
    /// TCP-MD5 and GTSM settings.
    func testBFDSetting() throws {
        let c = try BGPConfigLoader.parse(
            """
            asn: 65010
            router_id: 198.18.1.2
            peers:
              - {address: 198.18.1.1, asn: 65000, bfd: true, max_prefixes: 100}
              - {address: 198.18.1.3, asn: 65000, bfd: {min_tx_ms: 50, min_rx_ms: 200, multiplier: 5}, max_prefixes: {limit: 10, action: warn}}
              - {address: 198.18.1.5, asn: 65000, bfd: false, idle_hold_time: 0}
              - {address: 198.18.1.7, asn: 65000, password: "s3cret", ttl_security: true}
            """)
        XCTAssertEqual(
            c.speaker.peers.map(\.bfd),
            [
                .fast,
                BFDTimers(desiredMinTx: .milliseconds(50), requiredMinRx: .milliseconds(200), detectMultiplier: 5),
                nil, nil,
            ])
        XCTAssertEqual(c.speaker.bfdPeers.map(\.address.description), ["198.18.1.1", "198.18.1.3"])
        XCTAssertEqual(c.speaker.peers.map(\.idleHoldTime), [.seconds(1), .seconds(1), .zero, .seconds(1)])
        XCTAssertEqual(c.speaker.peers.map(\.password), [nil, nil, nil, "s3cret"])
        XCTAssertEqual(c.speaker.peers.map(\.ttlSecurity), [false, false, false, true])
        XCTAssertEqual(
            c.speaker.peers.map(\.maxPrefixes),
            [PrefixLimit(limit: 100, action: .restart), PrefixLimit(limit: 10, action: .warn), nil, nil])
    }

    /// A peer negotiates its own family, and the other one only when a next hop for it is configured.
    func testDefaultFamiliesFollowTheSession() throws {
        let c = try BGPConfigLoader.parse(
            """
            asn: 65010
            router_id: 198.18.1.2
            peers:
              - {address: 198.18.1.1, asn: 65000}
              - {address: 198.18.1.3, asn: 65000, next_hop_ipv6: "2001:db8:ffff::2"}
              - {address: "2001:db8:ffff::1", asn: 65000}
            """)
        XCTAssertEqual(
            c.speaker.peers.map(\.families), [[.ipv4Unicast], [.ipv4Unicast, .ipv6Unicast], [.ipv6Unicast]])
    }

    func testJSONConfig() throws {
        let c = try BGPConfigLoader.parse(
            #"{"asn": 4200000000, "router_id": "10.0.0.1", "peers": [{"address": "127.0.0.1", "asn": 65000}], "announce": ["192.0.2.0/24"]}"#
        )
        XCTAssertEqual(c.speaker.localAS, 4_200_000_000)
        XCTAssertEqual(c.speaker.peers[0].holdTime, 90)
        XCTAssertFalse(c.speaker.peers[0].passive)
    }

    /// Each bad config names the field at fault in one line.
    func testBadConfigsNameTheField() {
        let base = "asn: 65010\nrouter_id: 198.18.1.2\n"
        let cases: [(String, String)] = [
            ("router_id: 1.2.3.4\n", "asn: is required"),
            ("asn: 65010\nrouter_id: nope\n", "router_id:"),
            ("asn: -1\nrouter_id: 1.2.3.4\n", "asn:"),
            ("asn: 0\nrouter_id: 1.2.3.4\n", "asn:"),
            (base + "peers: [{address: 198.18.1.1, asn: 65000, hold_time: 2}]\n", "peers[0].hold_time:"),
            (base + "peers: [{address: 198.18.1.999, asn: 65000}]\n", "peers[0].address:"),
            (base + "peers: [{address: 198.18.1.1}]\n", "peers[0].asn: is required"),
            (base + "peers: [{address: 198.18.1.1, asn: 1}, {address: 198.18.1.1, asn: 2}]\n", "peers[1].address:"),
            (
                base + "peers: [{address: 198.18.1.1, asn: 1, local_address: '2001:db8::1'}]\n",
                "peers[0].local_address:"
            ),
            (base + "peers: [{address: 198.18.1.1, asn: 1, families: [ipx]}]\n", "peers[0].families[0]:"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, passive: maybe}]\n", "peers[0].passive:"),
            (base + "announce: [192.0.2.1/24]\n", "announce[0]:"),
            (base + "announce: [{prefix: 192.0.2.1/32, communities: ['70000:1']}]\n", "announce[0].communities[0]:"),
            (base + "announce: [192.0.2.1/32, 192.0.2.1/32]\n", "announce[1]:"),
            (base + "listen: {port: 70000}\n", "listen.port:"),
            ("asn: [1\n", "not valid YAML or JSON"),
            (base + "peers: {address: 1}\n", "peers:"),
            (base + "hold_time: 9\n", "hold_time: unknown setting"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, pasive: true}]\n", "peers[0].pasive: unknown setting"),
            (base + "listen: {adresses: []}\n", "listen.adresses: unknown setting"),
            (base + "announce: [{prefix: 192.0.2.1/32, comunities: []}]\n", "announce[0].comunities: unknown setting"),
            ("asn: 23456\nrouter_id: 1.2.3.4\n", "asn: 23456 is AS_TRANS"),
            (base + "peers: [{address: 198.18.1.1, asn: 23456}]\n", "peers[0].asn: 23456 is AS_TRANS"),
            (base + "peers: [{address: 'fe80::1', asn: 1}]\n", "peers[0].address: link-local"),
            (base + "listen: {port: 0}\npeers: [{address: 198.18.1.1, asn: 1, passive: true}]\n", "peers[0].passive:"),
            (base + "listen: {addresses: [198.18.1.2, 198.18.1.2]}\n", "listen.addresses[1]:"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, next_hop_ipv4: 0.0.0.0}]\n", "peers[0].next_hop_ipv4:"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, bfd: {min_tx_ms: 5}}]\n", "peers[0].bfd.min_tx_ms:"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, idle_hold_time: -1}]\n", "peers[0].idle_hold_time:"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, password: ''}]\n", "peers[0].password:"),
            (
                base + "peers: [{address: 198.18.1.1, asn: 1, password: '\(String(repeating: "k", count: 81))'}]\n",
                "peers[0].password:"
            ),
            (base + "peers: [{address: 198.18.1.1, asn: 1, ttl_security: 255}]\n", "peers[0].ttl_security:"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, max_prefixes: 0}]\n", "peers[0].max_prefixes.limit:"),
            (
                base + "peers: [{address: 198.18.1.1, asn: 1, max_prefixes: {limit: 5, action: drop}}]\n",
                "peers[0].max_prefixes.action:"
            ),
            (
                base + "peers: [{address: 198.18.1.1, asn: 1, max_prefixes: {max: 5}}]\n",
                "peers[0].max_prefixes.max: unknown"
            ),
            (base + "peers: [{address: 198.18.1.1, asn: 1, bfd: {min_rx_ms: 0}}]\n", "peers[0].bfd.min_rx_ms:"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, bfd: {multiplier: 256}}]\n", "peers[0].bfd.multiplier:"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, bfd: {interval: 100}}]\n", "peers[0].bfd.interval: unknown"),
            (base + "peers: [{address: 198.18.1.1, asn: 1, bfd: yes please}]\n", "peers[0].bfd"),
        ]
        for (text, expected) in cases {
            do {
                _ = try BGPConfigLoader.parse(text)
                XCTFail("accepted bad config:\n\(text)")
            } catch {
                let message = error.description
                XCTAssertTrue(message.hasPrefix(expected), "'\(message)' should start with '\(expected)'")
                XCTAssertFalse(message.contains("\n"), "one line: \(message)")
            }
        }
    }

    func testHostPort() {
        XCTAssertEqual(HostPort("127.0.0.1:8179")?.port, 8179)
        XCTAssertEqual(HostPort("[::1]:8179")?.host, "::1")
        XCTAssertNil(HostPort("127.0.0.1"))
        XCTAssertNil(HostPort("127.0.0.1:0"))
        XCTAssertNil(HostPort("example.com:80"))
    }
}
