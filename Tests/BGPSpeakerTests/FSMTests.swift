import NIOCore
import XCTest

@testable import BGPSpeaker

/// RFC 4271 §8 state machine driven with a manual clock: happy paths, timers, errors, back-off.
final class FSMTests: XCTestCase {
    typealias F = FSMFixtures
    let out = ConnectionID(-1)

    // MARK: - Happy paths

    func testActiveHappyPathReachesEstablished() {
        var h = FSMHarness(F.config())
        XCTAssertEqual(h.state, .idle)
        XCTAssertFalse(h.fsm.acceptsInbound(), "Idle refuses connections")
        XCTAssertNil(h.fsm.nextDeadline)

        XCTAssertEqual(h.handle(.manualStart), [.connect(out), .stateChanged(from: .idle, to: .connect)])
        XCTAssertEqual(h.secondsToNextDeadline, 5, "ConnectRetryTimer")
        XCTAssertTrue(h.fsm.acceptsInbound(), "Connect still listens")

        let localOpen = OpenMessage(configuration: h.fsm.configuration)
        XCTAssertEqual(
            h.handle(.tcpCRAcked(out)), [.send(out, .open(localOpen)), .stateChanged(from: .connect, to: .openSent)])
        XCTAssertEqual(h.secondsToNextDeadline, 240, "RFC 4271 §8.2.2: large HoldTimer (4 min) in OpenSent")

        let peer = F.peerOpen()
        XCTAssertEqual(
            h.handle(.message(out, .open(peer))),
            [.send(out, .keepalive), .stateChanged(from: .openSent, to: .openConfirm)])
        XCTAssertEqual(h.secondsToNextDeadline, 30, "KeepaliveTimer = 90 / 3")
        XCTAssertNil(h.fsm.negotiated, "not Established yet")

        let expected = NegotiatedSession(
            peerAS: 65002, peerRouterID: F.peerID, holdTime: 90, keepaliveInterval: 30,
            localCapabilities: localOpen.capabilities, peerCapabilities: peer.capabilities,
            context: WireContext(
                fourOctetAS: true, extendedMessages: false, internalPeer: false, families: [.ipv4Unicast, .ipv6Unicast]),
            routeRefresh: true, peerGracefulRestart: nil)
        XCTAssertEqual(
            h.handle(.message(out, .keepalive)),
            [.established(out, expected), .stateChanged(from: .openConfirm, to: .established)])
        XCTAssertEqual(h.fsm.negotiated, expected)
        XCTAssertEqual(h.fsm.establishedConnection, out)
        XCTAssertEqual(h.fsm.establishedAt, h.now)
        XCTAssertFalse(h.fsm.acceptsInbound(), "RFC 4271 §6.8: collisions with Established keep the existing session")

        XCTAssertEqual(h.handle(.message(out, .update(F.update))), [.deliverUpdate(F.update)])
        XCTAssertNil(h.fsm.lastError)
    }

    func testPassiveHappyPathNeverConnects() {
        var h = FSMHarness(F.config(passive: true))
        XCTAssertEqual(h.handle(.manualStart), [.stateChanged(from: .idle, to: .active)])
        XCTAssertNil(h.fsm.nextDeadline, "a passive peer runs no ConnectRetryTimer")
        XCTAssertTrue(h.advance(.minutes(10)).isEmpty, "and never initiates")
        XCTAssertTrue(h.fsm.acceptsInbound())

        let inbound = ConnectionID(7)
        let localOpen = OpenMessage(configuration: h.fsm.configuration)
        XCTAssertEqual(
            h.handle(.tcpConnectionConfirmed(inbound)),
            [.send(inbound, .open(localOpen)), .stateChanged(from: .active, to: .openSent)])
        XCTAssertTrue(h.fsm.acceptsInbound(), "a newer inbound connection would replace this one")
        h.handle(.message(inbound, .open(F.peerOpen())))
        XCTAssertEqual(h.state, .openConfirm)
        let actions = h.handle(.message(inbound, .keepalive))
        XCTAssertEqual(actions.stateChange?.to, .established)
        XCTAssertEqual(h.fsm.establishedConnection, inbound)
        XCTAssertTrue(actions.connects.isEmpty)
    }

    func testManualStartIsIgnoredOutsideIdle() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        XCTAssertEqual(h.handle(.manualStart), [])
        XCTAssertEqual(h.state, .connect)
    }

    // MARK: - Hold time and keepalives

    func testNegotiatedHoldTimeIsTheMinimumAndKeepaliveAThird() {
        for (ours, theirs, hold, keepalive) in [
            (UInt16(90), UInt16(0), UInt16(0), UInt16(0)), (90, 3, 3, 1), (30, 90, 30, 10), (0, 0, 0, 0),
            (0, 180, 0, 0),
            (90, 4, 4, 1),
        ] {
            var h = FSMHarness(F.config(holdTime: ours))
            h.establishOutbound(peerOpen: F.peerOpen(holdTime: theirs))
            XCTAssertEqual(h.fsm.negotiated?.holdTime, hold, "ours \(ours) theirs \(theirs)")
            XCTAssertEqual(h.fsm.negotiated?.keepaliveInterval, keepalive, "ours \(ours) theirs \(theirs)")
            if hold == 0 {
                XCTAssertNil(h.fsm.nextDeadline, "hold time 0: neither HoldTimer nor KeepaliveTimer")
                XCTAssertTrue(h.advance(.seconds(3600)).isEmpty)
                XCTAssertEqual(h.state, .established)
            } else {
                XCTAssertEqual(h.secondsToNextDeadline, Int64(keepalive))
            }
        }
    }

    func testZeroHoldTimeStillConfirmsOpenWithOneKeepalive() {
        var h = FSMHarness(F.config(holdTime: 0))
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        XCTAssertEqual(h.handle(.message(out, .open(F.peerOpen()))).sent(on: out), [.keepalive])
        XCTAssertNil(h.fsm.nextDeadline)
    }

    func testKeepalivesAreSentEveryThirdOfTheHoldTime() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        h.handle(.message(out, .open(F.peerOpen())))
        // OpenConfirm: keepalives already run.
        XCTAssertEqual(h.advance(.seconds(29)), [])
        XCTAssertEqual(h.advance(.seconds(1)), [.send(out, .keepalive)])
        h.handle(.message(out, .keepalive))
        XCTAssertEqual(h.state, .established)
        // Established: the peer keeps its keepalives coming every 30 s; we send ours every 30 s.
        var sent = 0
        for _ in 0..<10 {
            sent += h.advance(.seconds(30)).sent(on: out).filter { $0 == .keepalive }.count
            h.handle(.message(out, .keepalive))
        }
        XCTAssertEqual(sent, 10)
        XCTAssertEqual(h.state, .established)
    }

    func testHoldTimerExpiresWithoutKeepalivesAndRestartsOnKeepaliveAndUpdate() {
        var h = FSMHarness(F.config())
        h.establishOutbound()
        // Received KEEPALIVE and UPDATE restart the HoldTimer.
        h.advance(.seconds(80))
        h.handle(.message(out, .keepalive))
        h.advance(.seconds(80))
        h.handle(.message(out, .update(F.update)))
        XCTAssertEqual(h.advance(.seconds(80)).sent(on: out), [.keepalive], "80 s after the UPDATE: still up")
        XCTAssertEqual(h.state, .established)

        let actions = h.advance(.seconds(10))
        XCTAssertEqual(
            actions,
            [
                .send(out, F.notification(.holdTimerExpired, 0)), .close(out),
                .sessionDown(reason: "sent NOTIFICATION: hold timer expired"),
                .stateChanged(from: .established, to: .idle),
            ])
        XCTAssertEqual(h.fsm.lastError, "sent NOTIFICATION: hold timer expired")
        XCTAssertNil(h.fsm.negotiated)
    }

    func testUpdateFastPathMatchesHandle() {
        var slow = FSMHarness(F.config())
        slow.establishOutbound()
        var fast = slow
        slow.advance(.seconds(50))
        fast.advance(.seconds(50))
        XCTAssertEqual(slow.handle(.message(out, .update(F.update))), [.deliverUpdate(F.update)])
        XCTAssertTrue(fast.fsm.updateReceivedInEstablished(on: out, now: fast.now))
        XCTAssertEqual(fast.fsm.nextDeadline, slow.fsm.nextDeadline, "the HoldTimer restarted the same way")
        XCTAssertEqual(fast.fsm.connections, slow.fsm.connections)
        XCTAssertEqual(fast.state, .established)

        // Not on the Established connection, or not Established: nothing changes, the caller uses handle.
        XCTAssertFalse(fast.fsm.updateReceivedInEstablished(on: ConnectionID(9), now: fast.now))
        var idle = FSMHarness(F.config())
        idle.handle(.manualStart)
        idle.handle(.tcpCRAcked(out))
        let before = idle.fsm.connections
        XCTAssertFalse(idle.fsm.updateReceivedInEstablished(on: out, now: idle.now + .seconds(1)))
        XCTAssertEqual(idle.fsm.connections, before)
        XCTAssertEqual(idle.state, .openSent)
    }

    func testHoldTimerInOpenSentIsFourMinutes() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        XCTAssertEqual(h.advance(.seconds(239)), [])
        XCTAssertEqual(
            h.advance(.seconds(1)),
            [
                .send(out, F.notification(.holdTimerExpired, 0)), .close(out),
                .stateChanged(from: .openSent, to: .idle),
            ])
    }

    func testHoldTimerExpiresInOpenConfirm() {
        var h = FSMHarness(F.config(holdTime: 9))
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        h.handle(.message(out, .open(F.peerOpen())))
        XCTAssertEqual(h.advance(.seconds(3)), [.send(out, .keepalive)])
        XCTAssertEqual(h.advance(.seconds(3)), [.send(out, .keepalive)])
        let actions = h.advance(.seconds(3))
        XCTAssertEqual(actions.sent(on: out), [F.notification(.holdTimerExpired, 0)])
        XCTAssertEqual(actions.stateChange?.to, .idle)
    }

    // MARK: - Connect retry

    func testConnectRetryTimerReconnectsAfterFailure() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        XCTAssertEqual(
            h.handle(.tcpConnectionFails(out)), [.stateChanged(from: .connect, to: .active)],
            "no close for a connection the transport reported failed")
        XCTAssertEqual(h.fsm.lastError, "TCP connection attempt failed")
        XCTAssertTrue(h.fsm.acceptsInbound(), "Active listens")
        XCTAssertEqual(h.secondsToNextDeadline, 5)
        XCTAssertEqual(h.advance(.seconds(4)), [])
        XCTAssertEqual(
            h.advance(.seconds(1)), [.connect(ConnectionID(-2)), .stateChanged(from: .active, to: .connect)])
        let open = OpenMessage(configuration: h.fsm.configuration)
        XCTAssertEqual(h.handle(.tcpCRAcked(ConnectionID(-2))).sent(on: ConnectionID(-2)), [.open(open)])
        XCTAssertEqual(h.state, .openSent)
    }

    func testConnectRetryTimerAbandonsAHangingAttempt() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        XCTAssertEqual(h.advance(.seconds(5)), [.close(out), .connect(ConnectionID(-2))], "stays in Connect")
        XCTAssertEqual(h.state, .connect)
        XCTAssertEqual(h.handle(.tcpCRAcked(out)), [.close(out)], "a late success of the abandoned attempt is closed")
        XCTAssertEqual(h.state, .connect)
    }

    func testTCPFailureInOpenSentGoesToActiveAndRetries() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        XCTAssertEqual(h.handle(.tcpConnectionFails(out)), [.stateChanged(from: .openSent, to: .active)])
        XCTAssertEqual(h.advance(.seconds(5)).connects, [ConnectionID(-2)])
    }

    func testTCPFailureInEstablishedGoesIdleAndRestartsAfterIdleHold() {
        var h = FSMHarness(F.config())
        h.establishOutbound()
        XCTAssertEqual(
            h.handle(.tcpConnectionFails(out)),
            [.sessionDown(reason: "TCP connection closed"), .stateChanged(from: .established, to: .idle)])
        XCTAssertFalse(h.fsm.acceptsInbound(), "Idle during the IdleHoldTimer")
        XCTAssertEqual(h.secondsToNextDeadline, 1)
        XCTAssertEqual(h.advance(.seconds(1)), [.connect(ConnectionID(-2)), .stateChanged(from: .idle, to: .connect)])
    }

    func testEventsForUnknownConnectionsAreIgnored() {
        var h = FSMHarness(F.config())
        h.establishOutbound()
        let stale = ConnectionID(99)
        XCTAssertEqual(h.handle(.message(stale, .keepalive)), [])
        XCTAssertEqual(h.handle(.tcpConnectionFails(stale)), [])
        XCTAssertEqual(h.handle(.decodeError(stale, BGPError(code: .messageHeaderError, subcode: 1, reason: "x"))), [])
        XCTAssertEqual(h.state, .established)
    }

    // MARK: - Idle hold back-off

    func testIdleHoldBacksOffDoublingUpToTheCap() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        var waits: [Int64] = []
        for n in 0..<9 {
            let id = ConnectionID(-1 - n)
            h.handle(.tcpCRAcked(id))
            XCTAssertEqual(h.state, .openSent)
            // The peer rejects us each time.
            h.handle(.message(id, F.notification(.cease, NotificationSubcode.Cease.connectionRejected)))
            XCTAssertEqual(h.state, .idle)
            waits.append(h.secondsToNextDeadline ?? -1)
            XCTAssertEqual(h.advance(.seconds(waits.last!)).connects, [ConnectionID(-2 - n)])
        }
        XCTAssertEqual(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60])
        XCTAssertEqual(h.fsm.connectRetryCounter, 9)
    }

    func testIdleHoldResetsAfterAStableSessionButNotAfterAShortOne() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        // Three quick failures: 1, 2, 4.
        for n in 0..<3 {
            let id = ConnectionID(-1 - n)
            h.handle(.tcpCRAcked(id))
            h.handle(.message(id, F.notification(.cease, 0)))
            h.advanceToNextDeadline()
        }
        // A session that lasts 30 s keeps the back-off going (8 s) ...
        var id = ConnectionID(-4)
        h.handle(.tcpCRAcked(id))
        h.handle(.message(id, .open(F.peerOpen())))
        h.handle(.message(id, .keepalive))
        for _ in 0..<3 {
            h.advance(.seconds(10))
            h.handle(.message(id, .keepalive))
        }
        h.handle(.message(id, F.notification(.cease, 0)))
        XCTAssertEqual(h.secondsToNextDeadline, 8)
        h.advanceToNextDeadline()
        // ... one that lasts 60 s resets it to the initial 1 s.
        id = ConnectionID(-5)
        h.handle(.tcpCRAcked(id))
        h.handle(.message(id, .open(F.peerOpen())))
        h.handle(.message(id, .keepalive))
        for _ in 0..<6 {
            h.advance(.seconds(10))
            h.handle(.message(id, .keepalive))
        }
        h.handle(.message(id, F.notification(.cease, 0)))
        XCTAssertEqual(h.secondsToNextDeadline, 1)
    }

    // MARK: - ManualStop

    func testManualStopInEstablishedSendsCeaseAndStaysDown() {
        var h = FSMHarness(F.config())
        h.establishOutbound()
        XCTAssertEqual(
            h.handle(.manualStop),
            [
                .send(out, F.notification(.cease, NotificationSubcode.Cease.administrativeShutdown)), .close(out),
                .sessionDown(reason: "administrative shutdown"), .stateChanged(from: .established, to: .idle),
            ])
        XCTAssertNil(h.fsm.nextDeadline, "no automatic restart after ManualStop")
        XCTAssertTrue(h.advance(.minutes(30)).isEmpty)
        XCTAssertEqual(h.handle(.tcpConnectionConfirmed(ConnectionID(3))), [.close(ConnectionID(3))], "Idle refuses")
        XCTAssertEqual(h.handle(.manualStop), [], "ManualStop in Idle is ignored")
        XCTAssertEqual(h.handle(.manualStart).connects, [ConnectionID(-2)])
    }

    func testManualStopCarriesTheShutdownCommunication() {
        var h = FSMHarness(F.config())
        h.establishOutbound()
        h.fsm.shutdownCommunication = "maintenance ✓"
        let text = Array("maintenance ✓".utf8)
        XCTAssertEqual(
            h.handle(.manualStop).sent(on: out),
            [F.notification(.cease, NotificationSubcode.Cease.administrativeShutdown, [UInt8(text.count)] + text)])
    }

    func testShutdownCommunicationIsTruncatedAtACharacterBoundary() {
        let data = BGPSessionFSM.shutdownCommunicationData(String(repeating: "é", count: 200))  // 400 octets
        XCTAssertEqual(data.first, 254, "RFC 9003: at most 255 octets, never half a character")
        XCTAssertEqual(data.count, 255)
        XCTAssertEqual(BGPSessionFSM.shutdownCommunicationData(""), [])
        XCTAssertEqual(BGPSessionFSM.shutdownCommunicationData(nil), [])
    }

    func testManualStopInConnectAbandonsTheAttemptWithoutNotification() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        XCTAssertEqual(h.handle(.manualStop), [.close(out), .stateChanged(from: .connect, to: .idle)])
        XCTAssertNil(h.fsm.nextDeadline)
    }

    func testManualStopInOpenSentSendsCease() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        XCTAssertEqual(
            h.handle(.manualStop),
            [
                .send(out, F.notification(.cease, NotificationSubcode.Cease.administrativeShutdown)), .close(out),
                .stateChanged(from: .openSent, to: .idle),
            ])
    }

    // MARK: - Unexpected messages (RFC 6608)

    func testUnexpectedMessagesInOpenSent() {
        for (message, type) in [
            (BGPMessage.keepalive, UInt8(4)), (.update(F.update), 2),
            (.routeRefresh(RouteRefreshMessage(family: .ipv4Unicast)), 5),
        ] {
            var h = FSMHarness(F.config())
            h.handle(.manualStart)
            h.handle(.tcpCRAcked(out))
            XCTAssertEqual(
                h.handle(.message(out, message)),
                [
                    .send(out, F.notification(.fsmError, NotificationSubcode.FSM.unexpectedMessageInOpenSent, [type])),
                    .close(out), .stateChanged(from: .openSent, to: .idle),
                ], "\(message.type)")
            XCTAssertEqual(h.fsm.lastError, "sent NOTIFICATION: unexpected \(message.type) in OpenSent")
        }
    }

    func testUnexpectedMessagesInOpenConfirm() {
        for (message, type) in [
            (BGPMessage.open(F.peerOpen()), UInt8(1)), (.update(F.update), 2),
            (.routeRefresh(RouteRefreshMessage(family: .ipv4Unicast)), 5),
        ] {
            var h = FSMHarness(F.config())
            h.handle(.manualStart)
            h.handle(.tcpCRAcked(out))
            h.handle(.message(out, .open(F.peerOpen())))
            XCTAssertEqual(
                h.handle(.message(out, message)),
                [
                    .send(
                        out, F.notification(.fsmError, NotificationSubcode.FSM.unexpectedMessageInOpenConfirm, [type])),
                    .close(out), .stateChanged(from: .openConfirm, to: .idle),
                ], "\(message.type)")
        }
    }

    func testOpenInEstablishedIsUnexpected() {
        var h = FSMHarness(F.config())
        h.establishOutbound()
        XCTAssertEqual(
            h.handle(.message(out, .open(F.peerOpen()))),
            [
                .send(out, F.notification(.fsmError, NotificationSubcode.FSM.unexpectedMessageInEstablished, [1])),
                .close(out), .sessionDown(reason: "sent NOTIFICATION: unexpected OPEN in Established"),
                .stateChanged(from: .established, to: .idle),
            ])
    }

    func testMessageOtherThanOpenDuringDelayOpenClosesWithoutNotification() {
        var h = FSMHarness(F.config(delayOpen: true, delayOpenTime: .seconds(5)))
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        XCTAssertEqual(h.handle(.message(out, .keepalive)), [.close(out), .stateChanged(from: .connect, to: .idle)])
    }

    // MARK: - NOTIFICATION received and decode errors

    func testNotificationReceivedIsNeverAnswered() {
        var h = FSMHarness(F.config())
        h.establishOutbound()
        let text = Array("bye".utf8)
        let n = F.notification(.cease, NotificationSubcode.Cease.administrativeShutdown, [3] + text)
        let reason = "received NOTIFICATION: Cease subcode 2: \"bye\""
        XCTAssertEqual(
            h.handle(.message(out, n)),
            [.close(out), .sessionDown(reason: reason), .stateChanged(from: .established, to: .idle)])
        XCTAssertEqual(h.fsm.lastError, reason)
        XCTAssertEqual(h.advanceToNextDeadline().connects, [ConnectionID(-2)], "AutomaticStart after the IdleHoldTimer")
    }

    func testNotificationInOpenSentGoesIdle() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        XCTAssertEqual(
            h.handle(.message(out, F.notification(.openMessageError, 2))),
            [.close(out), .stateChanged(from: .openSent, to: .idle)])
    }

    func testDecodeErrorSendsItsNotificationThenCloses() {
        var h = FSMHarness(F.config())
        h.establishOutbound()
        let error = BGPError(
            code: .updateMessageError, subcode: NotificationSubcode.Update.malformedAttributeList,
            reason: "duplicate attribute")
        XCTAssertEqual(
            h.handle(.decodeError(out, error)),
            [
                .send(out, F.notification(.updateMessageError, 1)), .close(out),
                .sessionDown(reason: "sent NOTIFICATION: duplicate attribute"),
                .stateChanged(from: .established, to: .idle),
            ])
        XCTAssertEqual(h.secondsToNextDeadline, 1)
    }

    /// `idle_hold_time: 0` switches damping off: 100 sessions ended by a malformed message each restart
    /// at once, and the 101st good session comes up without waiting.
    func testNoDampingWithZeroIdleHoldTime() throws {
        var configuration = F.config()
        configuration.idleHoldTime = .zero
        var h = FSMHarness(configuration)
        let error = BGPError(
            code: .updateMessageError, subcode: NotificationSubcode.Update.malformedAttributeList, reason: "bad")
        for cycle in 1...100 {
            let id = ConnectionID(cycle)
            if cycle == 1 { h.handle(.manualStart) }
            XCTAssertTrue(h.fsm.acceptsInbound(), "cycle \(cycle): a session is refused")
            h.handle(.tcpConnectionConfirmed(id))
            h.handle(.message(id, .open(F.peerOpen())))
            h.handle(.message(id, .keepalive))
            XCTAssertEqual(h.state, .established, "cycle \(cycle)")
            h.handle(.decodeError(id, error))
            XCTAssertEqual(h.secondsToNextDeadline, 0, "cycle \(cycle): no wait in Idle")
            h.advance(.zero)
        }
        XCTAssertEqual(h.fsm.idleHoldTime, .zero)
        XCTAssertEqual(h.fsm.connectRetryCounter, 100)
        // With the default (1 s) the same errors back off: 1, 2, 4 ... capped at 60 s.
        var damped = FSMHarness(F.config())
        var id = damped.establishOutbound()
        for _ in 0..<8 {
            damped.handle(.decodeError(id, error))
            let next = try XCTUnwrap(damped.advanceToNextDeadline().connects.first, "reconnects after the wait")
            id = next
            damped.handle(.tcpCRAcked(id))
            damped.handle(.message(id, .open(F.peerOpen())))
            damped.handle(.message(id, .keepalive))
        }
        XCTAssertEqual(damped.fsm.idleHoldTime, .seconds(60))
    }

    func testHeaderErrorInOpenSent() {
        var h = FSMHarness(F.config())
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        let error = BGPError(
            code: .messageHeaderError, subcode: NotificationSubcode.Header.badMessageLength, data: [0x00, 0x10],
            reason: "length 16")
        XCTAssertEqual(
            h.handle(.decodeError(out, error)),
            [
                .send(out, F.notification(.messageHeaderError, 2, [0x00, 0x10])), .close(out),
                .stateChanged(from: .openSent, to: .idle),
            ])
    }

    // MARK: - DelayOpen

    func testDelayOpenWaitsBeforeSendingOpen() {
        var h = FSMHarness(F.config(delayOpen: true, delayOpenTime: .seconds(5)))
        h.handle(.manualStart)
        XCTAssertEqual(h.handle(.tcpCRAcked(out)), [], "no OPEN yet; still Connect")
        XCTAssertEqual(h.state, .connect)
        XCTAssertEqual(h.secondsToNextDeadline, 5, "DelayOpenTimer (ConnectRetryTimer stopped)")
        XCTAssertEqual(h.advance(.seconds(4)), [])
        let open = OpenMessage(configuration: h.fsm.configuration)
        XCTAssertEqual(h.advance(.seconds(1)), [.send(out, .open(open)), .stateChanged(from: .connect, to: .openSent)])
        XCTAssertEqual(h.secondsToNextDeadline, 240)
    }

    func testOpenReceivedDuringDelayOpenIsAnsweredWithOpenAndKeepalive() {
        var h = FSMHarness(F.config(delayOpen: true, delayOpenTime: .seconds(5)))
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        h.advance(.seconds(2))
        let open = OpenMessage(configuration: h.fsm.configuration)
        XCTAssertEqual(
            h.handle(.message(out, .open(F.peerOpen()))),
            [.send(out, .open(open)), .send(out, .keepalive), .stateChanged(from: .connect, to: .openConfirm)])
        XCTAssertEqual(h.secondsToNextDeadline, 30, "DelayOpenTimer stopped; KeepaliveTimer runs")
        XCTAssertEqual(h.handle(.message(out, .keepalive)).stateChange?.to, .established)
    }

    func testDelayOpenOnPassiveInboundStaysActive() {
        var h = FSMHarness(F.config(passive: true, delayOpen: true, delayOpenTime: .seconds(3)))
        h.handle(.manualStart)
        XCTAssertEqual(h.handle(.tcpConnectionConfirmed(ConnectionID(1))), [])
        XCTAssertEqual(h.state, .active)
        XCTAssertEqual(h.advance(.seconds(3)).stateChange?.to, .openSent)
    }

    func testBadOpenDuringDelayOpenIsRejected() {
        var h = FSMHarness(F.config(delayOpen: true, delayOpenTime: .seconds(5)))
        h.handle(.manualStart)
        h.handle(.tcpCRAcked(out))
        let actions = h.handle(.message(out, .open(F.peerOpen(asn: 65003))))
        XCTAssertEqual(
            actions.sent(on: out),
            [F.notification(.openMessageError, NotificationSubcode.Open.badPeerAS, [0xFD, 0xEB])])
        XCTAssertEqual(actions.stateChange?.to, .idle)
    }

    // MARK: - ROUTE-REFRESH

    func testRouteRefreshIsDeliveredOnlyForNegotiatedFamiliesAndKnownSubtypes() {
        var h = FSMHarness(F.config(families: [.ipv4Unicast]))
        h.establishOutbound()
        let v4 = RouteRefreshMessage(family: .ipv4Unicast)
        XCTAssertEqual(h.handle(.message(out, .routeRefresh(v4))), [.deliverRouteRefresh(v4)])
        XCTAssertEqual(h.handle(.message(out, .routeRefresh(RouteRefreshMessage(family: .ipv6Unicast)))), [])
        XCTAssertEqual(
            h.handle(.message(out, .routeRefresh(RouteRefreshMessage(family: .ipv4Unicast, subtype: 3)))), [])
        XCTAssertEqual(h.state, .established)
    }

    // MARK: - Configuration

    func testConfigurationValidationNamesTheField() {
        func field(_ make: () throws -> PeerConfiguration) -> String? {
            do {
                _ = try make()
                return nil
            } catch {
                return (error as? PeerConfigurationError)?.field ?? "wrong error type"
            }
        }
        let id = F.localID
        XCTAssertEqual(
            field { try PeerConfiguration(localAS: 65001, routerID: id, peerAS: 65002, holdTime: 2) }, "holdTime")
        XCTAssertEqual(
            field { try PeerConfiguration(localAS: 65001, routerID: id, peerAS: 65002, holdTime: 1) }, "holdTime")
        XCTAssertEqual(field { try PeerConfiguration(localAS: 0, routerID: id, peerAS: 65002) }, "localAS")
        XCTAssertEqual(field { try PeerConfiguration(localAS: 65001, routerID: id, peerAS: 0) }, "peerAS")
        XCTAssertEqual(field { try PeerConfiguration(localAS: 23456, routerID: id, peerAS: 65002) }, "localAS")
        XCTAssertEqual(field { try PeerConfiguration(localAS: 65001, routerID: id, peerAS: 23456) }, "peerAS")
        XCTAssertEqual(
            field { try PeerConfiguration(localAS: 65001, routerID: IPv4Address(rawValue: 0), peerAS: 65002) },
            "routerID")
        XCTAssertEqual(
            field { try PeerConfiguration(localAS: 65001, routerID: id, peerAS: 65002, connectRetryTime: .zero) },
            "connectRetryTime")
        XCTAssertEqual(
            field { try PeerConfiguration(localAS: 65001, routerID: id, peerAS: 65002, families: []) }, "families")
        XCTAssertNil(field { try PeerConfiguration(localAS: 65001, routerID: id, peerAS: 65002, holdTime: 0) })
        XCTAssertNil(field { try PeerConfiguration(localAS: 65001, routerID: id, peerAS: 65002, holdTime: 3) })
        var c = F.config()
        c.holdTime = 2
        XCTAssertThrowsError(try c.validate()) {
            XCTAssertEqual(($0 as? PeerConfigurationError)?.field, "holdTime")
        }
        XCTAssertEqual(OpenMessage(configuration: c).holdTime, 3, "an invalid hold time set by hand is sent as 3")
    }
}
