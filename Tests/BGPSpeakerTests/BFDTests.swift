import NIOCore
import XCTest

@testable import BGPSpeaker

/// Two `BFDSession`s joined by a wire that can be cut, on a manual clock: what RFC 5880 asks of the
/// handshake, the timers, Poll/Final and failure detection, with no sockets and no sleeps.
struct BFDPair {
    var a: BFDSession
    var b: BFDSession
    var now: NIODeadline = .uptimeNanoseconds(1_000_000_000_000)
    var rng = SeededGenerator(seed: 7)
    /// Packets do not reach A (B is frozen, or the path towards A is down).
    var cutToA = false
    var cutToB = false
    /// Every packet sent, with its time and sender.
    var sent: [(at: NIODeadline, from: Character, packet: BFDControlPacket)] = []
    var changes: [(at: NIODeadline, who: Character, from: BFDState, to: BFDState, diagnostic: BFDDiagnostic)] = []

    init(a: BFDTimers = .fast, b: BFDTimers = .fast) {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        self.a = BFDSession(localDiscriminator: 0xA, timers: a, now: start)
        self.b = BFDSession(localDiscriminator: 0xB, timers: b, now: start + .milliseconds(300))
    }

    /// Runs until `until`, firing timers in time order and delivering each packet at once.
    mutating func run(for duration: TimeAmount) {
        let end = now + duration
        while true {
            let next = [a.nextDeadline, b.nextDeadline].compactMap { $0 }.min()
            guard let next, next <= end else { break }
            now = max(now, next)
            if let d = a.nextDeadline, d <= now { handle(a.timersExpired(now: now, using: &rng), from: "A") }
            if let d = b.nextDeadline, d <= now { handle(b.timersExpired(now: now, using: &rng), from: "B") }
        }
        now = end
    }

    mutating func handle(_ actions: [BFDAction], from who: Character) {
        for action in actions {
            switch action {
            case .send(let packet):
                sent.append((now, who, packet))
                // Through the codec, as on the wire.
                var buffer = ByteBuffer()
                packet.write(to: &buffer)
                let decoded = try! BFDControlPacket(datagram: buffer)
                if who == "A" && !cutToB { handle(b.received(decoded, now: now, using: &rng), from: "B") }
                if who == "B" && !cutToA { handle(a.received(decoded, now: now, using: &rng), from: "A") }
            case .stateChanged(let from, let to, let diagnostic):
                changes.append((now, who, from, to, diagnostic))
            }
        }
    }
}

final class BFDTests: XCTestCase {
    // MARK: - Codec (RFC 5880 §4.1, §6.8.6)

    func testPacketRoundTripAndLayout() throws {
        let packet = BFDControlPacket(
            diagnostic: .controlDetectionTimeExpired, state: .up, poll: true, detectMultiplier: 3,
            myDiscriminator: 0x0102_0304, yourDiscriminator: 0x0506_0708, desiredMinTxInterval: 100_000,
            requiredMinRxInterval: 200_000)
        var buffer = ByteBuffer()
        packet.write(to: &buffer)
        XCTAssertEqual(
            Array(buffer.readableBytesView),
            [
                0x21, 0xE0, 3, 24, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x01, 0x86, 0xA0, 0x00, 0x03, 0x0D, 0x40, 0, 0, 0, 0,
            ])
        XCTAssertEqual(try BFDControlPacket(datagram: buffer), packet)
    }

    /// Each MUST-discard rule of RFC 5880 §6.8.6 that needs no session refuses the packet with its reason.
    func testReceptionChecksDiscard() {
        func bytes(_ edit: (inout [UInt8]) -> Void) -> ByteBuffer {
            var b: [UInt8] = [
                0x20, 0x40, 3, 24, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x0F, 0x42, 0x40, 0, 0x0F, 0x42, 0x40, 0, 0, 0, 0,
            ]
            edit(&b)
            return ByteBuffer(bytes: b)
        }
        XCTAssertNoThrow(try BFDControlPacket(datagram: bytes { _ in }), "a valid Down packet")
        let cases: [(String, (inout [UInt8]) -> Void)] = [
            ("version", { $0[0] = 0x40 }),
            ("below the minimum", { $0[3] = 23 }),
            ("exceeds", { $0[3] = 30 }),
            ("Detect Mult", { $0[2] = 0 }),
            ("Multipoint", { $0[1] |= 0x01 }),
            ("My Discriminator", { $0[7] = 0 }),
            ("Your Discriminator is zero", { $0[1] = 0xC0 }),
            (
                "Authentication",
                {
                    $0[1] |= 0x04; $0[3] = 26; $0 += [1, 2]
                }
            ),
            ("Poll and Final", { $0[1] |= 0x30 }),
            ("shorter", { $0.removeLast() }),
        ]
        for (reason, edit) in cases {
            XCTAssertThrowsError(try BFDControlPacket(datagram: bytes(edit)), reason) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(reason): \(error)")
            }
        }
    }

    // MARK: - Session

    /// The three-way handshake (§6.2): Down → Init → Up on both sides, the slow 1 s rate while not Up
    /// (§6.8.3), then a Poll Sequence to the configured 100 ms.
    func testHandshakeThenPollToFastRate() {
        var pair = BFDPair()
        pair.run(for: .seconds(4))
        XCTAssertEqual(pair.a.state, .up)
        XCTAssertEqual(pair.b.state, .up)
        XCTAssertEqual(pair.a.remoteDiscriminator, 0xB)
        XCTAssertEqual(pair.b.remoteDiscriminator, 0xA)
        // B started later and heard A's Down first: B goes through Init; A, hearing Init, goes straight Up.
        XCTAssertEqual(pair.changes.filter { $0.who == "B" }.map(\.to), [.initializing, .up])
        XCTAssertEqual(pair.changes.filter { $0.who == "A" }.map(\.to), [.up])
        // Not Up: every packet advertises at least one second.
        for s in pair.sent where s.packet.state != .up {
            XCTAssertGreaterThanOrEqual(s.packet.desiredMinTxInterval, 1_000_000, "\(s)")
        }
        XCTAssertTrue(pair.sent.contains { $0.packet.poll }, "a Poll Sequence after Up")
        XCTAssertTrue(pair.sent.contains { $0.packet.final }, "answered with Final")
        XCTAssertFalse(pair.a.pollActive)
        XCTAssertEqual(pair.a.transmitInterval, .milliseconds(100))
        XCTAssertEqual(pair.a.detectionTime, .milliseconds(300))
        // Once settled, A transmits every 75–100 ms (§6.8.7 jitter), never faster.
        let settled = pair.sent.filter { $0.from == "A" && !$0.packet.final && $0.at > pair.now - .seconds(2) }
        for (x, y) in zip(settled, settled.dropFirst()) {
            let gap = y.at - x.at
            XCTAssertGreaterThanOrEqual(gap, .milliseconds(75))
            XCTAssertLessThanOrEqual(gap, .milliseconds(100))
        }
    }

    /// §6.8.4: a Detection Time without packets takes an Up session Down with diagnostic 1 and clears
    /// bfd.RemoteDiscr (§6.8.1); the peer, hearing Down, goes Down with diagnostic 3.
    func testDetectionTimeExpiry() throws {
        var pair = BFDPair()
        pair.run(for: .seconds(4))
        XCTAssertEqual(pair.a.state, .up)
        pair.cutToA = true  // B frozen as A sees it
        let cutAt = pair.now
        pair.changes = []
        pair.run(for: .milliseconds(400))
        let down = try XCTUnwrap(pair.changes.first { $0.who == "A" })
        XCTAssertEqual(down.to, .down)
        XCTAssertEqual(down.diagnostic, .controlDetectionTimeExpired)
        XCTAssertLessThanOrEqual(down.at - cutAt, .milliseconds(300), "detected within 3 × 100 ms")
        XCTAssertEqual(pair.a.remoteDiscriminator, 0)
        XCTAssertEqual(pair.b.state, .down, "B hears A's Down")
        XCTAssertEqual(pair.b.diagnostic, .neighborSignaledSessionDown)
        // After Down: back to one packet per second at least (§6.8.3).
        XCTAssertEqual(pair.a.desiredMinTx, .seconds(1))
        // Path repaired: both come back Up.
        pair.cutToA = false
        pair.run(for: .seconds(5))
        XCTAssertEqual(pair.a.state, .up)
        XCTAssertEqual(pair.b.state, .up)
    }

    /// Hitless restart: A's Up session, handed off and resumed in a new process (a new `BFDSession`
    /// from `handoff`) after a gap shorter than the Detection Time, is the same session to B: B never
    /// leaves Up, A's packets keep A's discriminator, and B's are accepted by the resumed one.
    func testHandedOffSessionGoesOnWithoutThePeerNoticing() throws {
        var pair = BFDPair()
        pair.run(for: .seconds(4))
        XCTAssertEqual(pair.a.state, .up)
        let handoff = try XCTUnwrap(pair.a.handoff)
        XCTAssertEqual(handoff.localDiscriminator, 0xA)
        XCTAssertEqual(handoff.remoteDiscriminator, 0xB)
        // The old process stops sending; 150 ms later (under B's 300 ms Detection Time) the new one goes on.
        pair.cutToA = true
        pair.cutToB = true
        pair.changes = []
        pair.run(for: .milliseconds(150))
        pair.cutToA = false
        pair.cutToB = false
        pair.a = BFDSession(resuming: handoff, timers: .fast, now: pair.now, using: &pair.rng)
        XCTAssertEqual(pair.a.state, .up)
        XCTAssertEqual(pair.a.nextDeadline, pair.now, "transmits at once")
        pair.sent = []
        pair.run(for: .seconds(3))
        XCTAssertTrue(pair.changes.isEmpty, "no state change on either side: \(pair.changes)")
        XCTAssertEqual(pair.b.state, .up)
        XCTAssertEqual(pair.a.remoteDiscriminator, 0xB)
        XCTAssertTrue(pair.sent.filter { $0.from == "A" }.allSatisfy { $0.packet.myDiscriminator == 0xA })
        XCTAssertFalse(pair.sent.contains { $0.packet.poll }, "same timers: no Poll Sequence")

        // A successor configured with other timers carries them in a Poll Sequence, still Up.
        let handoff2 = try XCTUnwrap(pair.a.handoff)
        let slower = BFDTimers(
            desiredMinTx: .milliseconds(200), requiredMinRx: .milliseconds(200), detectMultiplier: 3)
        pair.a = BFDSession(resuming: handoff2, timers: slower, now: pair.now, using: &pair.rng)
        pair.sent = []
        pair.run(for: .seconds(3))
        XCTAssertTrue(pair.changes.isEmpty, "\(pair.changes)")
        XCTAssertTrue(pair.sent.contains { $0.from == "A" && $0.packet.poll })
        XCTAssertEqual(pair.a.transmitInterval, .milliseconds(200))

        // Not Up: nothing to hand off (the successor starts a new session).
        pair.cutToA = true
        pair.run(for: .seconds(1))
        XCTAssertNotEqual(pair.a.state, .up)
        XCTAssertNil(pair.a.handoff)
    }

    /// §6.8.6: AdminDown from the peer is Down with diagnostic 3 here; our own AdminDown stops
    /// reacting to packets and tells the peer with diagnostic 7.
    func testAdminDown() {
        var pair = BFDPair()
        pair.run(for: .seconds(4))
        pair.changes = []
        pair.handle(pair.b.adminDown(now: pair.now, using: &pair.rng), from: "B")
        pair.run(for: .seconds(2))
        XCTAssertEqual(pair.b.state, .adminDown)
        XCTAssertEqual(pair.b.diagnostic, .administrativelyDown)
        XCTAssertEqual(pair.a.state, .down)
        XCTAssertEqual(pair.a.diagnostic, .neighborSignaledSessionDown)
        XCTAssertEqual(pair.a.remoteState, .adminDown)
        XCTAssertFalse(pair.changes.contains { $0.who == "A" && $0.diagnostic == .controlDetectionTimeExpired })
        pair.handle(pair.b.adminUp(now: pair.now, using: &pair.rng), from: "B")
        pair.run(for: .seconds(5))
        XCTAssertEqual(pair.a.state, .up)
        XCTAssertEqual(pair.b.state, .up)
    }

    /// §6.8.3: a slower rate while Up keeps the old interval until the peer's Final; P and F are never
    /// set together; the peer's Poll is answered at once.
    func testSlowerRateWaitsForFinal() {
        var pair = BFDPair()
        pair.run(for: .seconds(4))
        pair.cutToA = true  // A never hears the Final
        let slow = BFDTimers(desiredMinTx: .milliseconds(500), requiredMinRx: .milliseconds(100), detectMultiplier: 3)
        pair.handle(pair.a.reconfigure(slow, now: pair.now, using: &pair.rng), from: "A")
        XCTAssertTrue(pair.a.pollActive)
        XCTAssertEqual(pair.a.desiredMinTx, .milliseconds(500), "advertised at once")
        XCTAssertEqual(pair.a.transmitInterval, .milliseconds(100), "in effect only after Final")
        pair.run(for: .milliseconds(150))
        pair.cutToA = false
        pair.run(for: .seconds(1))
        XCTAssertFalse(pair.a.pollActive)
        XCTAssertEqual(pair.a.transmitInterval, .milliseconds(500))
        XCTAssertEqual(pair.b.detectionTime, .milliseconds(1500), "B: 3 × A's 500 ms")
        XCTAssertFalse(pair.sent.contains { $0.packet.poll && $0.packet.final })
        for (i, s) in pair.sent.enumerated() where s.packet.poll {
            // The answer is the receiver's next packet, sent at the same instant.
            let answer = pair.sent[(i + 1)...].first { $0.from != s.from }
            if let answer, answer.at == s.at { XCTAssertTrue(answer.packet.final) }
        }
        XCTAssertEqual(pair.a.state, .up)
    }

    /// §6.8.7: Detect Mult 1 keeps every interval at 75–90 %; a peer asking for no packets
    /// (Required Min RX 0) gets none.
    func testJitterAndSilence() {
        let one = BFDTimers(desiredMinTx: .milliseconds(100), requiredMinRx: .milliseconds(100), detectMultiplier: 1)
        var pair = BFDPair(a: one, b: .fast)
        pair.run(for: .seconds(6))
        XCTAssertEqual(pair.a.state, .up)
        let fromA = pair.sent.filter { $0.from == "A" && !$0.packet.final && $0.at > pair.now - .seconds(2) }
        for (x, y) in zip(fromA, fromA.dropFirst()) {
            XCTAssertGreaterThanOrEqual(y.at - x.at, .milliseconds(75))
            XCTAssertLessThanOrEqual(y.at - x.at, .milliseconds(90))
        }
        var session = BFDSession(localDiscriminator: 1, timers: .fast, now: pair.now)
        var rng = SeededGenerator(seed: 1)
        let quiet = BFDControlPacket(
            state: .down, detectMultiplier: 3, myDiscriminator: 2, yourDiscriminator: 0,
            desiredMinTxInterval: 1_000_000,
            requiredMinRxInterval: 0)
        _ = session.received(quiet, now: pair.now, using: &rng)
        var sends = 0
        var t = pair.now
        for _ in 0..<20 {
            t = t + .milliseconds(500)
            sends +=
                session.timersExpired(now: t, using: &rng).filter {
                    if case .send = $0 { return true } else { return false }
                }.count
        }
        XCTAssertEqual(sends, 0)
    }

    /// The FSM side: BFD Down tears an Established session down with Cease / BFD Down (RFC 9384) and
    /// goes to Idle; the session restarts after the IdleHoldTimer like after any error.
    func testBFDDownTearsTheSessionDown() {
        var h = FSMHarness(FSMFixtures.config())
        h.establishOutbound()
        let actions = h.handle(
            .localError(
                NotificationMessage(code: .cease, subcode: NotificationSubcode.Cease.bfdDown),
                reason: "BFD session down: control detection time expired"))
        XCTAssertEqual(h.state, .idle)
        XCTAssertTrue(
            actions.contains {
                if case .send(_, .notification(let n)) = $0 { return n.code == .cease && n.subcode == 10 }
                return false
            }, "\(actions)")
        XCTAssertTrue(actions.contains { if case .sessionDown = $0 { return true } else { return false } })
        XCTAssertEqual(h.fsm.lastError, "BFD session down: control detection time expired")
        h.advanceToNextDeadline()
        XCTAssertNotEqual(h.state, .idle, "automatic restart")
    }
}
