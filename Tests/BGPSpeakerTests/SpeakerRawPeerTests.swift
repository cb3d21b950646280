import Logging
import NIOCore
import NIOPosix
import TestSupport
import XCTest

@testable import BGPSpeaker

/// A speaker on 127.0.0.1 (a port bound from port 0) against a raw TCP peer that sends hand-written
/// bytes: what a router would see when it sends a malformed UPDATE or connects without being configured,
/// and that the speaker goes on serving afterwards; and the dual-stack listeners, each reached over its
/// own family.
final class SpeakerRawPeerTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!

    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 2) }
    override func tearDown() { try? group.syncShutdownGracefully() }

    /// The hold time both sides offer: every wait for the speaker is bounded by it (a speaker that stays
    /// silent that long has failed the session anyway).
    private let holdTime: UInt16 = 9
    private var holdTimeAmount: TimeAmount { .seconds(Int64(holdTime)) }
    /// How long the speaker stays Idle after a session error before it accepts again (RFC 4271 §8.1.1
    /// IdleHoldTime; it doubles after each error).
    private let idleHoldTime: TimeAmount = .milliseconds(200)

    /// The speaker (AS 65001) with passive peers in AS 65002: by default 127.0.0.2, listening on 127.0.0.1.
    private func speaker(
        port: Int, peers: [String] = ["127.0.0.2"], listenAddresses: [String] = ["127.0.0.1"]
    ) -> Speaker {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return Speaker(
            configuration: SpeakerConfiguration(
                localAS: 65001, routerID: IPv4Address("10.0.0.1")!,
                listenAddresses: listenAddresses.map { IPAddress($0)! }, listenPort: port,
                peers: peers.map {
                    PeerSettings(
                        address: IPAddress($0)!, peerAS: 65002, holdTime: holdTime, passive: true,
                        idleHoldTime: idleHoldTime)
                }),
            eventLoop: group.next(), logger: logger)
    }

    private func eventually(
        _ what: String, within timeout: TimeAmount, file: StaticString = #filePath, line: UInt = #line,
        _ check: () async -> Bool
    ) async {
        let deadline = NIODeadline.now() + timeout
        while NIODeadline.now() < deadline {
            if await check() { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("timed out waiting for: \(what)", file: file, line: line)
    }

    private func firstPeer(_ speaker: Speaker) async throws -> PeerStatus {
        let peers = await speaker.peerStatus()
        return try XCTUnwrap(peers.first)
    }

    /// Connects from `source`, exchanges OPEN and KEEPALIVE with the speaker and waits for Established.
    private func establish(
        _ speaker: Speaker, port: Int, from source: String = "127.0.0.2", to host: String = "127.0.0.1",
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> RawBGPPeer {
        var peer = try await RawBGPPeer.connect(from: source, to: host, port: port, group: group)
        let open = await peer.next(within: holdTimeAmount)
        guard case .message(let m) = open, m.type == 1 else {
            XCTFail("expected the speaker's OPEN, got \(open)", file: file, line: line)
            return peer
        }
        // Version 4, My Autonomous System 65001, Hold Time 9 (RFC 4271 §4.2).
        XCTAssertEqual(Array(m.body.prefix(5)), [4, 0xFD, 0xE9, 0, UInt8(holdTime)], file: file, line: line)
        try await peer.send(RawMessages.open(as: 65002, holdTime: holdTime, identifier: [10, 0, 0, 2]))
        try await peer.send(RawMessages.keepalive)
        let keepalive = await peer.next(ofType: 4, within: holdTimeAmount)
        XCTAssertEqual(keepalive, .message(.init(type: 4, body: [])), file: file, line: line)
        await eventually("Established with \(source)", within: holdTimeAmount, file: file, line: line) {
            await speaker.peerStatus().first { $0.address == IPAddress(source) }?.state == .established
        }
        return peer
    }

    /// Sends `update` on an established session and returns the NOTIFICATION the speaker answers with,
    /// after checking that the speaker then closes the connection (RFC 4271 §6: "the BGP connection is
    /// closed").
    private func notification(
        answering update: [UInt8], speaker: Speaker, port: Int, file: StaticString = #filePath, line: UInt = #line
    ) async throws -> RawBGPPeer.Message? {
        var peer = try await establish(speaker, port: port, file: file, line: line)
        try await peer.send(update)
        let answer = await peer.next(ofType: 3, within: holdTimeAmount)
        guard case .message(let notification) = answer else {
            XCTFail("expected a NOTIFICATION, got \(answer)", file: file, line: line)
            return nil
        }
        let after = await peer.next(within: holdTimeAmount)
        XCTAssertEqual(
            after, .closed, "the speaker closes the connection after its NOTIFICATION", file: file, line: line)
        await peer.close()
        return notification
    }

    /// RFC 4271 §6.3 (kept by RFC 7606 §3 (b)): a Total Path Attribute Length that runs past the end of the
    /// message is "Malformed Attribute List" (UPDATE Message Error 3, subcode 1); then an attribute whose
    /// length runs past the path attributes (an MP_REACH_NLRI, which cannot be treated as withdraw,
    /// RFC 7606 §3 (j)) is "Attribute Length Error" (subcode 5) with the attribute as data. Each time the
    /// speaker resets only that session and accepts the next one.
    func testMalformedUpdateGetsUpdateMessageErrorAndTheNextSessionIsAccepted() async throws {
        let reservation = PortReservation()
        defer { withExtendedLifetime(reservation) {} }
        let speaker = speaker(port: reservation.port)
        try await speaker.start()

        // Withdrawn Routes Length 0, Total Path Attribute Length 32, but only ORIGIN's 4 octets follow.
        let overrun = RawMessages.message(type: 2, body: [0, 0, 0, 32, 0x40, 0x01, 0x01, 0x00])
        var notification = try await self.notification(answering: overrun, speaker: speaker, port: reservation.port)
        XCTAssertEqual(notification, .init(type: 3, body: [3, 1]), "UPDATE Message Error / Malformed Attribute List")
        var status = try await firstPeer(speaker)
        XCTAssertNotEqual(status.state, .established)
        XCTAssertEqual(
            status.lastError,
            "sent NOTIFICATION: Withdrawn Routes Length 0 + Total Path Attribute Length 32 + 23 exceeds the message "
                + "length 27")
        XCTAssertEqual(status.prefixesReceived, 0)

        // The speaker accepts the peer again once its IdleHoldTime has passed.
        await eventually("the peer accepted again (Active)", within: holdTimeAmount) {
            await speaker.peerStatus().first?.state == .active
        }
        // MP_REACH_NLRI (optional, type 14) with Attribute Length 32 and 5 octets of value in an 8-octet
        // attribute list.
        let attribute: [UInt8] = [0x80, 0x0E, 0x20, 0x00, 0x01, 0x01, 0x04, 0x7F]
        let cutShort = RawMessages.message(type: 2, body: [0, 0, 0, UInt8(attribute.count)] + attribute)
        notification = try await self.notification(answering: cutShort, speaker: speaker, port: reservation.port)
        XCTAssertEqual(
            notification, .init(type: 3, body: [3, 5] + attribute), "UPDATE Message Error / Attribute Length Error")
        status = try await firstPeer(speaker)
        XCTAssertEqual(status.lastError?.hasPrefix("sent NOTIFICATION: "), true, status.lastError ?? "")
        XCTAssertEqual(status.establishedTransitions, 2)

        // And a third session comes up and stays up.
        await eventually("the peer accepted again (Active)", within: holdTimeAmount) {
            await speaker.peerStatus().first?.state == .active
        }
        var peer = try await establish(speaker, port: reservation.port)
        try await peer.send(RawMessages.keepalive)
        status = try await firstPeer(speaker)
        XCTAssertEqual(status.state, .established)
        XCTAssertEqual(status.establishedTransitions, 3)
        await speaker.shutdown()
        let cease = await peer.next(ofType: 3, within: holdTimeAmount)
        guard case .message(let m) = cease else { return XCTFail("expected Cease on shutdown, got \(cease)") }
        XCTAssertEqual(Array(m.body.prefix(2)), [6, 2], "Cease / Administrative Shutdown")
        await peer.close()
    }

    /// A connection from an address that is no configured peer is closed at once, without an OPEN or a
    /// NOTIFICATION (nothing is said to an unknown party); the configured peer is untouched and its
    /// session comes up afterwards.
    func testAnUnconfiguredPeerIsClosedWithoutAWord() async throws {
        let reservation = PortReservation()
        defer { withExtendedLifetime(reservation) {} }
        let speaker = speaker(port: reservation.port)
        try await speaker.start()

        var stranger = try await RawBGPPeer.connect(
            from: "127.0.0.3", to: "127.0.0.1", port: reservation.port, group: group)
        // Whatever the stranger says, it gets no answer.
        try? await stranger.send(RawMessages.open(as: 65003, holdTime: holdTime, identifier: [10, 0, 0, 3]))
        let answer = await stranger.next(within: holdTimeAmount)
        XCTAssertEqual(answer, .closed, "closed without a message")
        await stranger.close()

        let peers = await speaker.peerStatus()
        XCTAssertEqual(peers.map(\.address), [IPAddress("127.0.0.2")!], "the stranger is not added as a peer")
        XCTAssertEqual(peers.first?.state, .active)
        XCTAssertEqual(peers.first?.messagesReceived, 0)
        XCTAssertNil(peers.first?.lastError)

        var peer = try await establish(speaker, port: reservation.port)
        let status = await speaker.peerStatus().first
        XCTAssertEqual(status?.establishedTransitions, 1)
        await speaker.shutdown()
        _ = await peer.next(ofType: 3, within: holdTimeAmount)
        await peer.close()
    }

    /// IPv4 and IPv6 peers without local addresses: the speaker listens on `0.0.0.0` and on `::`
    /// (IPv6-only) side by side, on one port, and a session comes up over each family.
    func testDualStackWildcardListenersServeBothFamilies() async throws {
        let reservation = PortReservation(host: "0.0.0.0", alsoOn: ["::"])
        defer { withExtendedLifetime(reservation) {} }
        let speaker = speaker(port: reservation.port, peers: ["127.0.0.1", "::1"], listenAddresses: [])
        try await speaker.start()
        var v4 = try await establish(speaker, port: reservation.port, from: "127.0.0.1", to: "127.0.0.1")
        var v6 = try await establish(speaker, port: reservation.port, from: "::1", to: "::1")
        let peers = await speaker.peerStatus()
        XCTAssertEqual(peers.map(\.address.description).sorted(), ["127.0.0.1", "::1"])
        for p in peers {
            XCTAssertEqual(p.state, .established, "\(p.address)")
            XCTAssertEqual(p.localAddress, p.address.description, "served on the listener of its family")
            XCTAssertEqual(p.establishedTransitions, 1)
        }
        await speaker.shutdown()
        let ceases = [
            await v4.next(ofType: 3, within: holdTimeAmount), await v6.next(ofType: 3, within: holdTimeAmount),
        ]
        for received in ceases {
            guard case .message(let m) = received else { return XCTFail("expected Cease, got \(received)") }
            XCTAssertEqual(Array(m.body.prefix(2)), [6, 2], "Cease / Administrative Shutdown")
        }
        await v4.close()
        await v6.close()
    }
}
