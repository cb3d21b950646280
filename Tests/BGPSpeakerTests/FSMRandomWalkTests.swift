import NIOCore
import XCTest

@testable import BGPSpeaker

/// Seeded random event sequences (a stand-in transport and peer), checking after every batch the
/// invariants the speaker relies on.
final class FSMRandomWalkTests: XCTestCase {
    typealias F = FSMFixtures

    func testRandomEventSequencesKeepTheInvariants() {
        var reached: [String: Int] = [:]
        for seed in UInt64(1)...300 {
            walk(seed: seed, steps: 400, reached: &reached)
        }
        // The walks must get somewhere interesting for the invariants to mean anything.
        for key in ["Established", "collision", "hold expiry", "DelayOpen answered", "update delivered"] {
            XCTAssertGreaterThan(reached[key] ?? 0, 0, key)
        }
    }

    func walk(seed: UInt64, steps: Int, reached: inout [String: Int]) {
        var rng = SeededGenerator(seed: seed)  // RIBModelTests.swift
        let passive = seed % 5 == 0
        let delayOpen = seed % 3 == 0
        var h = FSMHarness(
            F.config(
                holdTime: [0, 3, 9, 90].randomElement(using: &rng)!, passive: passive, delayOpen: delayOpen,
                delayOpenTime: .seconds(2)))
        let peerID = Bool.random(using: &rng) ? IPv4Address(192, 0, 2, 0) : IPv4Address(192, 0, 2, 9)
        // The stand-in transport: connection attempts in progress and connections that are up.
        var pendingOutbound: Set<ConnectionID> = []
        var up: Set<ConnectionID> = []
        var seenOutbound: Set<ConnectionID> = []
        var nextInbound = 0

        for step in 0..<steps {
            let context = "seed \(seed) step \(step)"
            let known = Array(up.union(pendingOutbound)).sorted { $0.rawValue < $1.rawValue }
            let anyKnown = known.randomElement(using: &rng) ?? ConnectionID(1000)
            let anyUp = Array(up).sorted { $0.rawValue < $1.rawValue }.randomElement(using: &rng) ?? ConnectionID(1000)
            let event: FSMEvent
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<3: event = .manualStart
            case 3..<5: event = .manualStop
            case 5..<20:
                event = .tcpCRAcked(
                    Array(pendingOutbound).sorted { $0.rawValue < $1.rawValue }.randomElement(using: &rng) ?? anyKnown)
            case 20..<27:
                event = .tcpConnectionConfirmed(ConnectionID(nextInbound))
                nextInbound += 1
            case 27..<32: event = .tcpConnectionFails(anyKnown)
            case 32..<45: event = .message(anyUp, .open(F.peerOpen(holdTime: 90, id: peerID)))
            case 45..<47: event = .message(anyUp, .open(F.peerOpen(asn: 65009, id: peerID)))
            case 47..<62: event = .message(anyUp, .keepalive)
            case 62..<67: event = .message(anyUp, .update(F.update))
            case 67..<69: event = .message(anyUp, F.notification(.cease, 2))
            case 69..<71: event = .message(anyUp, .routeRefresh(RouteRefreshMessage(family: .ipv4Unicast)))
            case 71..<73:
                event = .decodeError(anyUp, BGPError(code: .updateMessageError, subcode: 1, reason: "random"))
            default: event = .timersExpired
            }
            if case .timersExpired = event, Bool.random(using: &rng), h.fsm.nextDeadline != nil {
                h.now = max(h.now, h.fsm.nextDeadline!)
            } else if case .timersExpired = event {
                h.now = h.now + .milliseconds(Int64.random(in: 0...60_000, using: &rng))
            }
            let before = h.state
            let wasEstablished = h.fsm.establishedConnection
            let actions = h.handle(event)
            let after = h.state

            // Transport bookkeeping for the event itself.
            switch event {
            case .tcpCRAcked(let id) where pendingOutbound.contains(id):
                pendingOutbound.remove(id)
                up.insert(id)
            case .tcpConnectionConfirmed(let id): up.insert(id)
            case .tcpConnectionFails(let id):
                up.remove(id)
                pendingOutbound.remove(id)
            default: break
            }

            // stateChanged: at most once, last, and truthful.
            let changes = actions.filter { if case .stateChanged = $0 { true } else { false } }
            if before != after {
                XCTAssertEqual(actions.last, .stateChanged(from: before, to: after), context)
                XCTAssertEqual(changes.count, 1, context)
            } else {
                XCTAssertTrue(changes.isEmpty, context)
            }
            if case .message(_, .notification) = event {
                XCTAssertTrue(actions.sent(on: anyUp).isEmpty, "a NOTIFICATION is never answered; \(context)")
            }
            var closedInBatch: Set<ConnectionID> = []
            for action in actions {
                switch action {
                case .connect(let id):
                    XCTAssertFalse(passive, "a passive peer never connects; \(context)")
                    XCTAssertTrue(id.isOutbound, context)
                    XCTAssertFalse(seenOutbound.contains(id), "outbound ids are fresh; \(context)")
                    seenOutbound.insert(id)
                    pendingOutbound.insert(id)
                case .send(let id, let message):
                    if message == F.notification(.cease, NotificationSubcode.Cease.connectionCollisionResolution) {
                        reached["collision", default: 0] += 1
                    }
                    if message == F.notification(.holdTimerExpired, 0) { reached["hold expiry", default: 0] += 1 }
                    if case .message(_, .open) = event, case .open = message {
                        reached["DelayOpen answered", default: 0] += 1
                    }
                    XCTAssertTrue(up.contains(id), "send on a connection that is up: \(id); \(context)")
                    XCTAssertFalse(closedInBatch.contains(id), "no send after close; \(context)")
                case .close(let id):
                    closedInBatch.insert(id)
                    up.remove(id)
                    pendingOutbound.remove(id)
                case .established(let id, _):
                    reached["Established", default: 0] += 1
                    XCTAssertEqual(after, .established, context)
                    XCTAssertEqual(h.fsm.establishedConnection, id, context)
                    XCTAssertNil(wasEstablished, context)
                case .deliverUpdate, .deliverRouteRefresh:
                    reached["update delivered", default: 0] += 1
                    XCTAssertEqual(after, .established, context)
                case .sessionDown:
                    XCTAssertNotNil(wasEstablished, context)
                    XCTAssertNil(h.fsm.establishedConnection, context)
                case .stateChanged: break
                }
            }
            // Idle holds no connection; Established has a negotiated session; timers run when they must.
            if after == .idle {
                XCTAssertTrue(up.isEmpty && pendingOutbound.isEmpty, "Idle keeps no connection; \(context)")
                XCTAssertFalse(h.fsm.acceptsInbound(), context)
            }
            if after == .established {
                XCTAssertNotNil(h.fsm.negotiated, context)
                if (h.fsm.negotiated?.holdTime ?? 0) > 0 { XCTAssertNotNil(h.fsm.nextDeadline, context) }
            }
            if after == .connect || after == .openSent || after == .openConfirm {
                XCTAssertFalse(up.isEmpty && pendingOutbound.isEmpty, "a connection exists in \(after); \(context)")
            }
            if case .manualStop = event {
                XCTAssertEqual(after, .idle, context)
                XCTAssertNil(h.fsm.nextDeadline, context)
            }
            XCTAssertLessThanOrEqual(
                pendingOutbound.count + up.filter(\.isOutbound).count, 1, "one outbound; \(context)")
            XCTAssertLessThanOrEqual(up.filter { !$0.isOutbound }.count, 1, "one inbound; \(context)")
        }
    }
}
