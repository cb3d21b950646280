import Logging
import NIOCore
import NIOPosix
import XCTest

@testable import BGPSpeaker

/// RFC 9687: a peer that completes the OPEN exchange and then never reads again. Our UPDATEs fill its
/// window and our socket buffer; after the SendHoldTime the session is closed with Send Hold Timer
/// Expired instead of hanging forever.
final class SendHoldTimerTests: XCTestCase {
    /// A BGP peer that says OPEN (hold time 0: no keepalives, no HoldTimer) and KEEPALIVE, then reads
    /// nothing, with a small receive buffer so that the window closes quickly.
    final class SilentPeer: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer

        func channelActive(context: ChannelHandlerContext) {
            var buffer = context.channel.allocator.buffer(capacity: 128)
            let open = OpenMessage(
                version: 4, myAutonomousSystem: 65002, holdTime: 0, bgpIdentifier: IPv4Address("10.0.0.2")!,
                capabilities: [.multiprotocol(.ipv4Unicast), .fourOctetAS(65002)])
            BGPMessage.open(open).write(to: &buffer, context: .preOpen)
            BGPMessage.keepalive.write(to: &buffer, context: .preOpen)
            context.writeAndFlush(NIOAny(buffer), promise: nil)
        }
    }

    var group: MultiThreadedEventLoopGroup!
    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 1) }
    override func tearDown() { try? group.syncShutdownGracefully() }

    func testStalledPeerIsDroppedAfterSendHoldTime() async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.socketOption(.so_rcvbuf), value: 4096)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(SilentPeer()) }
            }
            .bind(host: "127.0.0.2", port: 0).get()
        defer { server.close(promise: nil) }
        let port = try XCTUnwrap(server.localAddress?.port)

        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var peer = PeerSettings(
            address: IPAddress("127.0.0.2")!, port: port, peerAS: 65002, localAddress: IPAddress("127.0.0.1"),
            holdTime: 9, connectRetryTime: .seconds(30))
        let sendHoldTime = TimeAmount.seconds(1)
        peer.sendHoldTime = sendHoldTime
        let speaker = Speaker(
            configuration: SpeakerConfiguration(
                localAS: 65001, routerID: IPv4Address("10.0.0.1")!, listenPort: 0, peers: [peer]),
            eventLoop: group.next(), logger: logger)
        try await speaker.start()
        try await waitFor("Established") { await speaker.peerStatus().first?.state == .established }

        // ~7 MB of UPDATEs, more than the peer's 4 KiB window and our socket buffer (at most 4 MiB) take:
        // 2000 prefixes, each with its own 300 large communities (one UPDATE each, 3.6 KB of attributes).
        var routes: [IPPrefix: OriginatedRoute] = [:]
        for i in 0..<2000 {
            let a = UInt32(0x0A00_0000) + UInt32(i)
            let communities = (0..<300).map { LargeCommunity(65001, UInt32(i), UInt32($0)) }
            routes[.v4(IPv4Prefix(address: IPv4Address(rawValue: a), length: 32))] = OriginatedRoute(
                largeCommunities: communities)
        }
        let sent = NIODeadline.now()
        await speaker.setAdvertisements(routes)
        print("SendHoldTimerTests: advertisement took \((NIODeadline.now() - sent).nanoseconds / 1_000_000) ms")
        try await waitFor("session closed by the SendHoldTimer", timeout: 30) {
            await speaker.peerStatus().first?.state != .established
        }
        let elapsed = NIODeadline.now() - sent
        print("SendHoldTimerTests: closed \(elapsed.nanoseconds / 1_000_000) ms after the advertisement")
        XCTAssertGreaterThanOrEqual(elapsed, sendHoldTime, "not before the SendHoldTime")
        let status = await speaker.peerStatus()
        XCTAssertEqual(status.first?.lastError, "sent NOTIFICATION: send hold timer expired (RFC 9687)")
        await speaker.shutdown(timeout: .seconds(1))
    }

    private func waitFor(_ what: String, timeout: Double = 10, _ check: () async -> Bool) async throws {
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        while NIODeadline.now() < deadline {
            if await check() { return }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTFail("timed out waiting for: \(what)")
        throw CancellationError()
    }
}
