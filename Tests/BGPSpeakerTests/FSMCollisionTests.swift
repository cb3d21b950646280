import NIOCore
import XCTest

@testable import BGPSpeaker

/// RFC 4271 §6.8 connection collision detection, resolved when the OPEN on the new connection arrives.
final class FSMCollisionTests: XCTestCase {
    typealias F = FSMFixtures
    let out = ConnectionID(-1)
    let inbound = ConnectionID(5)
    let low = IPv4Address(192, 0, 2, 1)
    let high = IPv4Address(192, 0, 2, 2)
    let cease7 = FSMFixtures.notification(.cease, NotificationSubcode.Cease.connectionCollisionResolution)

    /// Outbound connection in OpenConfirm, then an inbound connection in OpenSent.
    func outboundConfirmedThenInbound(localID: IPv4Address, peerID: IPv4Address) -> FSMHarness {
        var h = FSMHarness(F.config(routerID: localID))
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        h.handle(.message(out, .open(F.peerOpen(id: peerID))))
        XCTAssertEqual(h.state, .openConfirm)
        XCTAssertTrue(h.fsm.acceptsInbound(), "a second connection is tracked in OpenConfirm")
        let open = OpenMessage(configuration: h.fsm.configuration)
        XCTAssertEqual(h.handle(.tcpConnectionConfirmed(inbound)), [.send(inbound, .open(open))], "no state change")
        XCTAssertEqual(h.state, .openConfirm)
        return h
    }

    func testHigherLocalIdentifierKeepsTheConnectionWeOpened() {
        var h = outboundConfirmedThenInbound(localID: high, peerID: low)
        XCTAssertEqual(
            h.handle(.message(inbound, .open(F.peerOpen(id: low)))), [.send(inbound, cease7), .close(inbound)],
            "the inbound (newer) connection loses")
        XCTAssertEqual(h.state, .openConfirm)
        XCTAssertNil(h.fsm.lastError, "a collision is not an error")
        XCTAssertEqual(h.handle(.message(out, .keepalive)).stateChange?.to, .established)
        XCTAssertEqual(h.fsm.establishedConnection, out)
    }

    func testLowerLocalIdentifierKeepsTheConnectionThePeerOpened() {
        var h = outboundConfirmedThenInbound(localID: low, peerID: high)
        XCTAssertEqual(
            h.handle(.message(inbound, .open(F.peerOpen(id: high)))),
            [.send(out, cease7), .close(out), .send(inbound, .keepalive)],
            "the existing OpenConfirm connection is closed and the peer's connection goes on")
        XCTAssertEqual(h.state, .openConfirm)
        XCTAssertEqual(h.handle(.message(out, .keepalive)), [], "the closed connection is forgotten")
        let actions = h.handle(.message(inbound, .keepalive))
        XCTAssertEqual(actions.stateChange?.to, .established)
        XCTAssertEqual(h.fsm.establishedConnection, inbound)
    }

    func testBothInOpenSentResolvedWhenTheSecondOpenArrives() {
        for (localID, peerID, winner, loser) in [(high, low, out, inbound), (low, high, inbound, out)] {
            var h = FSMHarness(F.config(routerID: localID))
            h.handle(.manualStart)
            h.handle(.tcpCRAcked(out))
            h.handle(.tcpConnectionConfirmed(inbound))
            XCTAssertEqual(h.state, .openSent)
            // The first OPEN finds no connection in OpenConfirm: no collision yet (RFC 4271 §6.8).
            XCTAssertEqual(
                h.handle(.message(inbound, .open(F.peerOpen(id: peerID)))),
                [.send(inbound, .keepalive), .stateChanged(from: .openSent, to: .openConfirm)])
            let actions = h.handle(.message(out, .open(F.peerOpen(id: peerID))))
            XCTAssertEqual(actions.closed, [loser], "local \(localID) peer \(peerID)")
            XCTAssertEqual(actions.sent(on: loser), [cease7])
            XCTAssertEqual(h.state, .openConfirm)
            XCTAssertEqual(h.handle(.message(winner, .keepalive)).stateChange?.to, .established)
            XCTAssertEqual(h.fsm.establishedConnection, winner)
        }
    }

    func testEqualIdentifiersOnEBGPAreResolvedByASNumber() {
        // RFC 6286 §2.3: the connection opened by the speaker with the larger AS survives; peer AS 65002 > 65001.
        var h = outboundConfirmedThenInbound(localID: low, peerID: low)
        let actions = h.handle(.message(inbound, .open(F.peerOpen(id: low))))
        XCTAssertEqual(actions.closed, [out])
        XCTAssertEqual(h.state, .openConfirm)
    }

    func testInboundConnectionWhileEstablishedIsClosed() {
        var h = FSMHarness(F.config())
        h.establishOutbound()
        XCTAssertFalse(h.fsm.acceptsInbound())
        XCTAssertEqual(h.handle(.tcpConnectionConfirmed(inbound)), [.send(inbound, cease7), .close(inbound)])
        XCTAssertEqual(h.state, .established)
        XCTAssertEqual(h.fsm.establishedConnection, out)
    }

    func testSecondConnectionInOpenSentLosesToEstablished() {
        var h = outboundConfirmedThenInbound(localID: low, peerID: high)
        h.handle(.message(out, .keepalive))
        XCTAssertEqual(h.state, .established)
        // The peer's connection gets its OPEN only now: the Established session wins whatever the IDs.
        XCTAssertEqual(
            h.handle(.message(inbound, .open(F.peerOpen(id: high)))), [.send(inbound, cease7), .close(inbound)])
        XCTAssertEqual(h.state, .established)
        XCTAssertEqual(h.fsm.establishedConnection, out)
    }

    func testFailureOfTheSecondConnectionLeavesTheSessionAlone() {
        var h = outboundConfirmedThenInbound(localID: high, peerID: low)
        XCTAssertEqual(h.handle(.tcpConnectionFails(inbound)), [])
        XCTAssertEqual(h.state, .openConfirm)
        XCTAssertNil(h.fsm.lastError)
        XCTAssertEqual(h.handle(.message(out, .keepalive)).stateChange?.to, .established)
    }

    /// A peer that reconnects while its previous connection is still tracked (it restarted, or that TCP
    /// connection is half-open) gets the new connection; the stale one is closed.
    func testNewInboundConnectionReplacesAStaleOne() {
        var h = FSMHarness(F.config(passive: true))
        h.handle(.manualStart)
        h.handle(.tcpConnectionConfirmed(inbound))
        XCTAssertTrue(h.fsm.acceptsInbound())
        let fresh = ConnectionID(6)
        let actions = h.handle(.tcpConnectionConfirmed(fresh))
        XCTAssertEqual(actions.first, .close(inbound))
        XCTAssertEqual(actions.dropFirst().first, .send(fresh, .open(OpenMessage(configuration: h.fsm.configuration))))
        XCTAssertEqual(h.state, .openSent)
        // The stale connection is gone: its messages are ignored, the new one reaches Established.
        XCTAssertEqual(h.handle(.message(inbound, .keepalive)), [])
        h.handle(.message(fresh, .open(F.peerOpen())))
        XCTAssertEqual(h.handle(.message(fresh, .keepalive)).stateChange?.to, .established)
        XCTAssertEqual(h.fsm.establishedConnection, fresh)
    }

    func testInboundDuringConnectKeepsTheOutboundAttemptAndAbandonsItOnEstablished() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        XCTAssertEqual(h.handle(.tcpConnectionConfirmed(inbound)).stateChange?.to, .openSent)
        XCTAssertEqual(
            h.fsm.nextDeadline.map { ($0 - h.now).nanoseconds / 1_000_000_000 }, 240, "ConnectRetryTimer stopped")
        h.handle(.message(inbound, .open(F.peerOpen())))
        let actions = h.handle(.message(inbound, .keepalive))
        XCTAssertEqual(actions.closed, [out], "the pending outbound attempt is abandoned")
        XCTAssertEqual(h.fsm.establishedConnection, inbound)
    }
}
