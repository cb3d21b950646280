import Logging
import NIOCore
import NIOPosix
import TestSupport
import XCTest

@testable import BGPSpeaker

/// Two real speakers over loopback TCP (127.0.0.1 and 127.0.0.2, one port bound from port 0 and held on
/// both): sessions, origination as desired state, withdrawal and shutdown, as a router on the other side
/// would see them.
final class SpeakerLoopbackTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!

    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 2) }
    override func tearDown() { try? group.syncShutdownGracefully() }

    /// The active side's configuration.
    private func configurationA(
        port: Int, activeSideBindsLocalAddress: Bool = true, bfdPorts: (a: Int, b: Int)? = nil,
        gracefulRestart: GracefulRestartSettings? = nil
    ) -> SpeakerConfiguration {
        var p = PeerSettings(
            address: IPAddress("127.0.0.2")!, port: port, peerAS: 65002,
            localAddress: activeSideBindsLocalAddress ? IPAddress("127.0.0.1") : nil, holdTime: 9,
            connectRetryTime: .milliseconds(200),
            nextHopV6: IPv6Address("2001:db8:ffff::1"))
        if let bfdPorts {
            p.bfd = .fast
            p.bfdPort = bfdPorts.b
        }
        return SpeakerConfiguration(
            localAS: 65001, routerID: IPv4Address("10.0.0.1")!, listenAddresses: [IPAddress("127.0.0.1")!],
            listenPort: port, peers: [p], bfdListenPort: bfdPorts?.a ?? BFDService.controlPort,
            gracefulRestart: gracefulRestart)
    }

    private var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    private func pair(
        port: Int, activeSideBindsLocalAddress: Bool = true, limitAtB: PrefixLimit? = nil,
        bfdPorts: (a: Int, b: Int)? = nil, gracefulRestart: GracefulRestartSettings? = nil
    ) -> (Speaker, Speaker) {
        let logger = quietLogger
        let a = Speaker(
            configuration: configurationA(
                port: port, activeSideBindsLocalAddress: activeSideBindsLocalAddress, bfdPorts: bfdPorts,
                gracefulRestart: gracefulRestart),
            eventLoop: group.next(), logger: logger)
        let b = Speaker(
            configuration: SpeakerConfiguration(
                localAS: 65002, routerID: IPv4Address("10.0.0.2")!, listenAddresses: [IPAddress("127.0.0.2")!],
                listenPort: port,
                peers: [
                    {
                        var p = PeerSettings(
                            address: IPAddress("127.0.0.1")!, port: port, peerAS: 65001,
                            localAddress: IPAddress("127.0.0.2"), holdTime: 9, passive: true)
                        p.maxPrefixes = limitAtB
                        if let bfdPorts {
                            p.bfd = .fast
                            p.bfdPort = bfdPorts.a
                        }
                        return p
                    }()
                ], bfdListenPort: bfdPorts?.b ?? BFDService.controlPort),
            eventLoop: group.next(), logger: logger)
        return (a, b)
    }

    private func eventually(
        _ what: String, timeout: Double = 10, _ check: () async -> Bool, file: StaticString = #filePath,
        line: UInt = #line
    ) async {
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        while NIODeadline.now() < deadline {
            if await check() { return }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTFail("timed out waiting for: \(what)", file: file, line: line)
    }

    /// RFC 4486 §4: beyond its prefix limit a peer is reset with Cease / Maximum Number of Prefixes
    /// Reached and its routes dropped; with `warn` the routes stay and the session too.
    func testPrefixLimit() async throws {
        let three: [IPPrefix: OriginatedRoute] = Dictionary(
            uniqueKeysWithValues: ["192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"].map {
                (IPPrefix($0)!, OriginatedRoute())
            })
        do {
            let reservation = PortReservation(host: "127.0.0.1", alsoOn: ["127.0.0.2"])
            defer { withExtendedLifetime(reservation) {} }
            let port = reservation.port
            let (a, b) = pair(port: port, limitAtB: PrefixLimit(limit: 2, action: .restart))
            try await b.start()
            try await a.start()
            await a.setAdvertisements(three)
            await eventually("A hears Cease / Maximum Number of Prefixes Reached") {
                await a.peerStatus().first?.lastError?.contains("Cease subcode 1") == true
            }
            let statusB = await b.peerStatus()
            let atB = try XCTUnwrap(statusB.first)
            XCTAssertEqual(atB.lastError, "sent NOTIFICATION: maximum number of prefixes reached (2)")
            XCTAssertNotEqual(atB.state, .established)
            XCTAssertEqual(atB.prefixesReceived, 0, "the peer's routes are dropped")
            await a.shutdown()
            await b.shutdown()
        }
        do {
            let reservation = PortReservation(host: "127.0.0.1", alsoOn: ["127.0.0.2"])
            defer { withExtendedLifetime(reservation) {} }
            let port = reservation.port
            let (a, b) = pair(port: port, limitAtB: PrefixLimit(limit: 2, action: .warn))
            try await b.start()
            try await a.start()
            await a.setAdvertisements(three)
            await eventually("B keeps all three") { await b.peerStatus().first?.prefixesReceived == 3 }
            let keptAtB = await b.peerStatus()
            XCTAssertEqual(keptAtB.first?.state, .established)
            await a.shutdown()
            await b.shutdown()
        }
    }

    /// BFD between two speakers on loopback: it comes up beside the session; new timers go through a Poll
    /// Sequence without touching the BGP session; a peer that takes BFD administratively down (here: B's
    /// configuration drops `bfd`) is no failure, so A keeps the session (RFC 5882 §3.2).
    func testBFDTimerChangeAndPeerAdminDownKeepTheSession() async throws {
        let reservation = PortReservation(host: "127.0.0.1", alsoOn: ["127.0.0.2"])
        defer { withExtendedLifetime(reservation) {} }
        let port = reservation.port
        let bfdPorts = freeUDPPortPair()
        let (a, b) = pair(port: port, bfdPorts: bfdPorts)
        try await b.start()
        try await a.start()
        await eventually("session up") { await a.peerStatus().first?.state == .established }
        await eventually("BFD Up at 100 ms on both", timeout: 15) {
            let x = await a.bfdStatus().first
            let y = await b.bfdStatus().first
            return x?.state == .up && y?.state == .up && x?.transmitIntervalMilliseconds == 100
        }
        var configA = SpeakerConfiguration(
            localAS: 65001, routerID: IPv4Address("10.0.0.1")!, listenAddresses: [IPAddress("127.0.0.1")!],
            listenPort: port, peers: [], bfdListenPort: bfdPorts.a)
        var peerA = PeerSettings(
            address: IPAddress("127.0.0.2")!, port: port, peerAS: 65002, localAddress: IPAddress("127.0.0.1"),
            holdTime: 9, connectRetryTime: .milliseconds(200), nextHopV6: IPv6Address("2001:db8:ffff::1"))
        peerA.bfdPort = bfdPorts.b
        peerA.bfd = BFDTimers(desiredMinTx: .milliseconds(200), requiredMinRx: .milliseconds(200), detectMultiplier: 3)
        configA.peers = [peerA]
        try await a.reconfigure(configA)
        await eventually("B's detection time follows A's 200 ms", timeout: 10) {
            await b.bfdStatus().first?.detectionTimeMilliseconds == 600
        }
        var configB = SpeakerConfiguration(
            localAS: 65002, routerID: IPv4Address("10.0.0.2")!, listenAddresses: [IPAddress("127.0.0.2")!],
            listenPort: port, peers: [], bfdListenPort: bfdPorts.b)
        var peerB = PeerSettings(
            address: IPAddress("127.0.0.1")!, port: port, peerAS: 65001, localAddress: IPAddress("127.0.0.2"),
            holdTime: 9, passive: true)
        peerB.bfdPort = bfdPorts.a
        configB.peers = [peerB]
        try await b.reconfigure(configB)
        await eventually("A's BFD hears AdminDown", timeout: 10) {
            await a.bfdStatus().first?.remoteState == .adminDown
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let statusA = await a.peerStatus()
        XCTAssertEqual(statusA.first?.state, .established)
        XCTAssertEqual(statusA.first?.establishedTransitions, 1, "neither change restarted the session")
        let bfdB = await b.bfdStatus()
        XCTAssertTrue(bfdB.isEmpty, "B runs no BFD any more")
        await a.shutdown()
        await b.shutdown()
    }

    /// Hitless restart at the speaker level: A (Graceful Restart, BFD) hands off to A2, a new speaker
    /// created with `restarted` and A's BFD sessions. B sees A's connection close without a NOTIFICATION
    /// and A2's OPEN with the Restart State bit (RFC 4724 §4.1); B's BFD session never leaves Up; A2's
    /// next session after a reset is an ordinary one again.
    func testHandOffToARestartedSpeaker() async throws {
        let reservation = PortReservation(host: "127.0.0.1", alsoOn: ["127.0.0.2"])
        defer { withExtendedLifetime(reservation) {} }
        let port = reservation.port
        let bfdPorts = freeUDPPortPair()
        let gr = GracefulRestartSettings(restartTime: 30)
        let (a, b) = pair(port: port, bfdPorts: bfdPorts, gracefulRestart: gr)
        try await b.start()
        try await a.start()
        let prefix = IPPrefix("192.0.2.7/32")!
        let routes = [prefix: OriginatedRoute()]
        await a.setAdvertisements(routes)
        await eventually("session and BFD up, the route at B", timeout: 15) {
            let bfd = await b.bfdStatus().first
            let received = await b.routes(prefix: prefix).flatMap(\.routes)
            return bfd?.state == .up && !received.isEmpty
        }
        let before = await b.peerStatus().first
        XCTAssertEqual(before?.capabilities.contains("graceful-restart"), true, "\(before?.capabilities ?? [])")

        let sessions = await a.handOff()
        XCTAssertEqual(sessions.keys.map(\.description), ["127.0.0.2"])
        let a2 = Speaker(
            configuration: configurationA(port: port, bfdPorts: bfdPorts, gracefulRestart: gr),
            eventLoop: group.next(), logger: quietLogger, restarted: true, resumingBFD: sessions)
        await a2.setAdvertisements(routes)
        try await a2.start()
        await eventually("B established with the restarted speaker") {
            let p = await b.peerStatus().first
            return p?.state == .established && p?.establishedTransitions == 2
        }
        let after = await b.peerStatus().first
        XCTAssertEqual(
            after?.capabilities.contains("graceful-restart:restarted"), true, "\(after?.capabilities ?? [])")
        XCTAssertFalse(after?.lastError?.contains("NOTIFICATION") ?? false, after?.lastError ?? "")
        let bfdB = await b.bfdStatus().first
        XCTAssertEqual(bfdB?.state, .up)
        XCTAssertEqual(bfdB?.upTransitions, 1, "B's BFD session never went down")
        XCTAssertEqual(bfdB?.remoteDiscriminator, sessions.values.first?.localDiscriminator)
        let kept = await b.routes(prefix: prefix).flatMap(\.routes)
        XCTAssertFalse(kept.isEmpty, "the route at B")

        // A reset later: an ordinary OPEN, no Restart State.
        var configB = SpeakerConfiguration(
            localAS: 65002, routerID: IPv4Address("10.0.0.2")!, listenAddresses: [IPAddress("127.0.0.2")!],
            listenPort: port, peers: [], bfdListenPort: bfdPorts.b, gracefulRestart: gr)
        try await b.reconfigure(configB)
        var peerB = PeerSettings(
            address: IPAddress("127.0.0.1")!, port: port, peerAS: 65001, localAddress: IPAddress("127.0.0.2"),
            holdTime: 9, passive: true)
        peerB.bfdPort = bfdPorts.a
        configB.peers = [peerB]
        try await b.reconfigure(configB)
        await eventually("B established again", timeout: 15) {
            await b.peerStatus().first?.state == .established
        }
        let third = await b.peerStatus().first
        XCTAssertEqual(third?.capabilities.contains("graceful-restart"), true, "\(third?.capabilities ?? [])")
        XCTAssertEqual(third?.capabilities.contains("graceful-restart:restarted"), false)
        await a2.shutdown()
        await b.shutdown()
    }

    /// A peer that fills the RIB up to its capacity is reset with Cease / Out of Resources (RFC 4486)
    /// instead of driving the RIB's indexes into a precondition; the speaker goes on.
    func testRIBCapacityResetsThePeerThatFillsIt() async throws {
        let reservation = PortReservation(host: "127.0.0.1", alsoOn: ["127.0.0.2"])
        defer { withExtendedLifetime(reservation) {} }
        let port = reservation.port
        let (a, b) = pair(port: port)
        try await b.start()
        var small = SpeakerConfiguration(
            localAS: 65002, routerID: IPv4Address("10.0.0.2")!, listenAddresses: [IPAddress("127.0.0.2")!],
            listenPort: port,
            peers: [
                PeerSettings(
                    address: IPAddress("127.0.0.1")!, port: port, peerAS: 65001, localAddress: IPAddress("127.0.0.2"),
                    holdTime: 9, passive: true)
            ])
        small.ribCapacity = RIB.Capacity(attributeSets: 20, attributeBytes: 1 << 20, candidateSlots: 1 << 20)
        try await b.reconfigure(small)
        try await a.start()
        // 50 prefixes, each with its own attribute set (its own community).
        var routes: [IPPrefix: OriginatedRoute] = [:]
        for i in 0..<50 {
            routes[IPPrefix("198.51.100.\(i)/32")!] = OriginatedRoute(communities: [
                Community(asn: 65001, value: UInt16(i))
            ])
        }
        await a.setAdvertisements(routes)
        await eventually("B resets A for want of room") {
            await b.peerStatus().first?.lastError?.contains("out of resources") == true
        }
        let atA = await a.peerStatus().first?.lastError ?? ""
        XCTAssertTrue(atA.contains("Cease subcode 8"), atA)
        let left = await b.locRIBCount()
        XCTAssertEqual(left, 0, "the peer's routes went with its session")
        // Room again (fewer routes): the session comes back and stays.
        await a.setAdvertisements(Dictionary(uniqueKeysWithValues: routes.prefix(5).map { ($0.key, $0.value) }))
        await eventually("B established again with 5 prefixes", timeout: 20) {
            let p = await b.peerStatus().first
            return p?.state == .established && p?.prefixesReceived == 5
        }
        await a.shutdown()
        await b.shutdown()
    }

    func testOriginationWithdrawalAndShutdown() async throws {
        let reservation = PortReservation(host: "127.0.0.1", alsoOn: ["127.0.0.2"])
        defer { withExtendedLifetime(reservation) {} }
        let port = reservation.port
        let (a, b) = pair(port: port)
        try await b.start()
        try await a.start()
        let v4 = IPPrefix("192.0.2.10/32")!
        let v6 = IPPrefix("2001:db8::10/128")!
        var route = OriginatedRoute()
        route.communities = [Community(asn: 65001, value: 7)]
        await a.setAdvertisements([v4: route, v6: OriginatedRoute()])

        await eventually("B has both prefixes") {
            await b.peerStatus().first?.prefixesReceived == 2
        }
        let statusB = await b.peerStatus()
        let peerA = try XCTUnwrap(statusB.first)
        XCTAssertEqual(peerA.state, .established)
        XCTAssertEqual(peerA.holdTime, 9)
        XCTAssertEqual(peerA.keepaliveTime, 3)
        XCTAssertTrue(peerA.capabilities.contains("4-octet-as"))
        let routes = await b.routes(peer: IPAddress("127.0.0.1"), prefix: v4)
        let r = try XCTUnwrap(routes.first?.routes.first)
        XCTAssertEqual(r.attributes.nextHop, IPv4Address("127.0.0.1"), "next-hop-self")
        XCTAssertEqual(r.attributes.asPath?.segments.first?.asns, [65001])
        XCTAssertEqual(r.attributes.communities, [Community(asn: 65001, value: 7)])
        XCTAssertTrue(r.best)
        let routes6 = await b.routes(peer: nil, prefix: v6)
        let r6 = try XCTUnwrap(routes6.first?.routes.first)
        if case .ipv6(let global, _)? = r6.attributes.mpReach?.nextHop {
            XCTAssertEqual(global, IPv6Address("2001:db8:ffff::1"))
        } else {
            XCTFail("IPv6 route without an IPv6 next hop: \(r6.attributes)")
        }

        // Export policy: AS-path prepending to eBGP, large communities; a route for other peers only is
        // not sent here, and moving it to this peer sends it.
        var shaped = route
        shaped.asPathPrepend = 2
        shaped.largeCommunities = [LargeCommunity(65001, 7, 42)]
        var elsewhere = OriginatedRoute()
        elsewhere.peers = [IPAddress("127.0.0.9")!]
        let other = IPPrefix("192.0.2.11/32")!
        await a.setAdvertisements([v4: shaped, v6: OriginatedRoute(), other: elsewhere])
        await eventually("B has the prepended path") {
            let r = await b.routes(prefix: v4).first?.routes.first
            return r?.attributes.asPath?.segments.first?.asns == [65001, 65001, 65001]
        }
        let shapedAtB = await b.routes(prefix: v4).first?.routes.first
        XCTAssertEqual(shapedAtB?.attributes.largeCommunities, [LargeCommunity(65001, 7, 42)])
        let notHere = await b.routes(prefix: other).flatMap(\.routes)
        XCTAssertTrue(notHere.isEmpty, "a route for another peer only")
        elsewhere.peers = [IPAddress("127.0.0.2")!]
        await a.setAdvertisements([v4: route, v6: OriginatedRoute(), other: elsewhere])
        await eventually("B gets the route once it is for B") { await b.peerStatus().first?.prefixesReceived == 3 }
        await a.setAdvertisements([v4: route, v6: OriginatedRoute()])
        await eventually("and loses it again") { await b.peerStatus().first?.prefixesReceived == 2 }

        // Desired state: dropping v6 withdraws exactly that prefix; the session stays up.
        await a.setAdvertisements([v4: route])
        await eventually("B lost the IPv6 prefix") { await b.peerStatus().first?.prefixesReceived == 1 }
        let statusAfter = await b.peerStatus()
        let stillUp = try XCTUnwrap(statusAfter.first)
        XCTAssertEqual(stillUp.establishedTransitions, 1, "no session reset")
        let advertised = await a.peerStatus().first?.prefixesAdvertised
        XCTAssertEqual(advertised, 1)

        // Shutdown withdraws, then closes with Cease / Administrative Shutdown and its RFC 9003 text.
        await a.shutdown(communication: "maintenance window 42")
        await eventually("B sees the session go down") { await b.peerStatus().first?.state != .established }
        let downAtB = await b.peerStatus().first?.lastError
        XCTAssertEqual(downAtB, #"received NOTIFICATION: Cease subcode 2: "maintenance window 42""#)
        let received = await b.peerStatus().first?.prefixesReceived
        XCTAssertEqual(received, 0)
        let locRIB = await b.locRIBCount()
        XCTAssertEqual(locRIB, 0)
        await b.shutdown()
    }

    /// An outbound session without a configured local address still advertises its real source
    /// address as next hop (the socket's address is only known once connected).
    func testNextHopSelfWithoutLocalAddress() async throws {
        let reservation = PortReservation(host: "127.0.0.1", alsoOn: ["127.0.0.2"])
        defer { withExtendedLifetime(reservation) {} }
        let port = reservation.port
        let (a, b) = pair(port: port, activeSideBindsLocalAddress: false)
        try await b.start()
        try await a.start()
        let v4 = IPPrefix("192.0.2.20/32")!
        await a.setAdvertisements([v4: OriginatedRoute()])
        await eventually("B has the prefix") { await b.peerStatus().first?.prefixesReceived == 1 }
        let routes = await b.routes(peer: nil, prefix: v4)
        XCTAssertEqual(routes.first?.routes.first?.attributes.nextHop, IPv4Address("127.0.0.1"))
        let local = await a.peerStatus().first?.localAddress
        XCTAssertEqual(local, "127.0.0.1")
        await a.shutdown()
        await b.shutdown()
    }

    /// A wildcard listener of a family replaces that family's specific addresses (Linux refuses both).
    func testListenAddressesNeverOverlap() {
        func addresses(_ peers: [PeerSettings], listen: [IPAddress] = []) -> [String] {
            SpeakerCore.listenAddresses(
                SpeakerConfiguration(
                    localAS: 1, routerID: IPv4Address("10.0.0.1")!, listenAddresses: listen, peers: peers)
            ).map { $0.ipAddress ?? "?" }
        }
        let specific = PeerSettings(address: IPAddress("198.18.0.1")!, peerAS: 2, localAddress: IPAddress("198.18.0.2"))
        let wildV4 = PeerSettings(address: IPAddress("198.18.1.1")!, peerAS: 2)
        let wildV6 = PeerSettings(address: IPAddress("2001:db8::1")!, peerAS: 2)
        XCTAssertEqual(addresses([specific]), ["198.18.0.2"])
        XCTAssertEqual(addresses([specific, wildV4]), ["0.0.0.0"])
        XCTAssertEqual(Set(addresses([wildV4, wildV6])), ["0.0.0.0", "::"])
        XCTAssertEqual(addresses([specific, wildV6]), ["198.18.0.2", "::"].sorted())
        XCTAssertEqual(addresses([wildV4], listen: [IPAddress("127.0.0.1")!]), ["127.0.0.1"])
    }

    func testIPv4MappedRemoteAddressesAreIPv4() throws {
        let mapped = try SocketAddress(ipAddress: "::ffff:198.18.1.1", port: 179)
        XCTAssertEqual(SpeakerCore.ipAddress(of: mapped), IPAddress("198.18.1.1"))
        let plain = try SocketAddress(ipAddress: "2001:db8::1", port: 179)
        XCTAssertEqual(SpeakerCore.ipAddress(of: plain), IPAddress("2001:db8::1"))
    }

    func testReconfigureAddsAndRemovesPeersWithoutTouchingOthers() async throws {
        let reservation = PortReservation(host: "127.0.0.1", alsoOn: ["127.0.0.2"])
        defer { withExtendedLifetime(reservation) {} }
        let port = reservation.port
        let (a, b) = pair(port: port)
        try await b.start()
        try await a.start()
        await eventually("Established") { await b.peerStatus().first?.state == .established }
        var config = SpeakerConfiguration(
            localAS: 65002, routerID: IPv4Address("10.0.0.2")!, listenAddresses: [IPAddress("127.0.0.2")!],
            listenPort: port,
            peers: [
                PeerSettings(
                    address: IPAddress("127.0.0.1")!, port: port, peerAS: 65001,
                    localAddress: IPAddress("127.0.0.2"), holdTime: 9, passive: true),
                PeerSettings(address: IPAddress("127.0.0.3")!, port: port, peerAS: 65003, passive: true),
            ])
        try await b.reconfigure(config)
        let peers = await b.peerStatus()
        XCTAssertEqual(peers.map(\.address.description), ["127.0.0.1", "127.0.0.3"])
        XCTAssertEqual(peers[0].state, .established)
        XCTAssertEqual(peers[0].establishedTransitions, 1, "unchanged peer kept its session")
        config.peers.removeFirst()
        try await b.reconfigure(config)
        let remaining = await b.peerStatus().map(\.address.description)
        XCTAssertEqual(remaining, ["127.0.0.3"])
        await a.shutdown()
        await b.shutdown()
    }
}
