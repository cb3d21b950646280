import NIOCore

/// # BFD: one asynchronous-mode session (RFC 5880 §6, single hop per RFC 5881)
///
/// Pure value code like `BGPSessionFSM` (STYLE "Protocol logic is pure", "State machines are structs"):
/// the owner feeds received packets (already decoded and checked by `BFDControlPacket(datagram:)` and
/// demultiplexed by discriminator) and the clock, executes the returned `BFDAction`s, and schedules
/// `timersExpired` at `nextDeadline`. Jitter comes from the caller's random number generator, so tests
/// drive it with a fixed one.
///
/// Choices where RFC 5880 leaves room:
/// - Always the Active role (§6.1): packets go out from the start, whether or not the peer spoke.
/// - No Demand mode of our own and no Echo function (Required Min Echo RX Interval 0); a peer's Demand
///   mode is honoured (§6.6: periodic packets stop while both are Up and the peer asked for it).
/// - No authentication: packets with the A bit are refused by the codec.
/// - A state change goes out as soon as the transmit rules allow (75 % of the interval in effect before
///   the change, the shortest jittered interval, after the last packet), not at the next periodic slot.
public struct BFDSession: Sendable {
    /// RFC 5880 §6.8.3: "When bfd.SessionState is not Up, the system MUST set bfd.DesiredMinTxInterval
    /// to a value of not less than one second."
    public static let slowTransmitInterval: TimeAmount = .seconds(1)

    /// bfd.LocalDiscr: unique among this system's sessions and nonzero (RFC 5880 §6.8.1).
    public let localDiscriminator: UInt32
    /// The configured timers (applied to the packets we send according to §6.8.3).
    public private(set) var timers: BFDTimers
    /// bfd.SessionState.
    public private(set) var state: BFDState = .down
    /// bfd.LocalDiag: why we last left Up.
    public private(set) var diagnostic: BFDDiagnostic = .none
    /// bfd.RemoteDiscr: zero until the peer spoke, and again after a Detection Time of silence.
    public private(set) var remoteDiscriminator: UInt32 = 0
    /// bfd.RemoteSessionState.
    public private(set) var remoteState: BFDState = .down
    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval: what our packets carry.
    public private(set) var desiredMinTx: TimeAmount
    public private(set) var requiredMinRx: TimeAmount
    /// A Poll Sequence is running: our packets carry P until a packet with F arrives.
    public private(set) var pollActive = false

    /// The values in effect for our own timing; they trail the advertised ones while a Poll Sequence
    /// for a slower transmit rate or a shorter detection runs (§6.8.3).
    var txInEffect: TimeAmount
    var rxInEffect: TimeAmount
    /// bfd.RemoteMinRxInterval: starts at 1 µs (§6.8.1), so we may transmit before the peer spoke.
    var remoteMinRx: TimeAmount = .microseconds(1)
    var remoteDesiredMinTx: TimeAmount = .zero
    var remoteDetectMultiplier: UInt8 = 0
    /// bfd.RemoteDemandMode.
    var remoteDemand = false
    var lastTransmit: NIODeadline? = nil
    var nextTransmit: NIODeadline? = nil
    var detectionDeadline: NIODeadline? = nil
    var pending: [BFDAction] = []

    /// A session in Down that transmits its first packet at `now`.
    public init(localDiscriminator: UInt32, timers: BFDTimers, now: NIODeadline) {
        precondition(localDiscriminator != 0, "RFC 5880 §6.8.1: bfd.LocalDiscr must be nonzero")
        self.localDiscriminator = localDiscriminator
        self.timers = timers
        self.desiredMinTx = max(timers.desiredMinTx, Self.slowTransmitInterval)
        self.requiredMinRx = timers.requiredMinRx
        self.txInEffect = desiredMinTx
        self.rxInEffect = requiredMinRx
        self.nextTransmit = now
    }

    /// What a successor process needs to go on with an Up session without the peer noticing (hitless
    /// restart): the discriminators, and the intervals both sides agreed on. RFC 5880 does not hand
    /// sessions between processes; to the peer this is one session whose packets keep coming.
    public struct Handoff: Sendable, Hashable, Codable {
        public var localDiscriminator: UInt32
        public var remoteDiscriminator: UInt32
        /// Our advertised DesiredMinTx / RequiredMinRx and Detect Mult, in microseconds.
        public var desiredMinTxMicroseconds: Int64
        public var requiredMinRxMicroseconds: Int64
        public var detectMultiplier: UInt8
        /// The peer's, as last received.
        public var remoteMinRxMicroseconds: Int64
        public var remoteDesiredMinTxMicroseconds: Int64
        public var remoteDetectMultiplier: UInt8
        public var remoteDemand: Bool
    }

    /// The session for a successor, when it is Up with no Poll Sequence running (anything else starts
    /// over from Down in the successor, as a new session would).
    public var handoff: Handoff? {
        guard state == .up, remoteState == .up, !pollActive, remoteDiscriminator != 0 else { return nil }
        return Handoff(
            localDiscriminator: localDiscriminator, remoteDiscriminator: remoteDiscriminator,
            desiredMinTxMicroseconds: desiredMinTx.nanoseconds / 1000,
            requiredMinRxMicroseconds: requiredMinRx.nanoseconds / 1000, detectMultiplier: timers.detectMultiplier,
            remoteMinRxMicroseconds: remoteMinRx.nanoseconds / 1000,
            remoteDesiredMinTxMicroseconds: remoteDesiredMinTx.nanoseconds / 1000,
            remoteDetectMultiplier: remoteDetectMultiplier, remoteDemand: remoteDemand)
    }

    /// An Up session taken over from a predecessor process (`handoff`): it transmits at `now` and expects
    /// the peer's next packet within one Detection Time. `timers` are the configured ones; when they
    /// differ from the handed-off intervals, a Poll Sequence carries the change (§6.8.3).
    public init(
        resuming h: Handoff, timers: BFDTimers, now: NIODeadline, using rng: inout some RandomNumberGenerator
    ) {
        precondition(h.localDiscriminator != 0, "RFC 5880 §6.8.1: bfd.LocalDiscr must be nonzero")
        self.localDiscriminator = h.localDiscriminator
        self.timers = BFDTimers(
            desiredMinTx: .microseconds(h.desiredMinTxMicroseconds),
            requiredMinRx: .microseconds(h.requiredMinRxMicroseconds), detectMultiplier: h.detectMultiplier)
        self.state = .up
        self.remoteState = .up
        self.remoteDiscriminator = h.remoteDiscriminator
        self.desiredMinTx = .microseconds(h.desiredMinTxMicroseconds)
        self.requiredMinRx = .microseconds(h.requiredMinRxMicroseconds)
        self.txInEffect = desiredMinTx
        self.rxInEffect = requiredMinRx
        self.remoteMinRx = .microseconds(h.remoteMinRxMicroseconds)
        self.remoteDesiredMinTx = .microseconds(h.remoteDesiredMinTxMicroseconds)
        self.remoteDetectMultiplier = h.remoteDetectMultiplier
        self.remoteDemand = h.remoteDemand
        self.nextTransmit = now
        self.detectionDeadline = now + detectionTime
        if timers != self.timers { _ = reconfigure(timers, now: now, using: &rng) }
    }

    /// The interval between our periodic packets before jitter (§6.8.2): the larger of our
    /// DesiredMinTxInterval and the peer's RequiredMinRxInterval.
    public var transmitInterval: TimeAmount { max(txInEffect, remoteMinRx) }

    /// The Detection Time for the peer in asynchronous mode (§6.8.4): its Detect Mult times the larger
    /// of our RequiredMinRxInterval and its DesiredMinTxInterval. Zero before the peer spoke.
    public var detectionTime: TimeAmount {
        .nanoseconds(Int64(remoteDetectMultiplier) * max(rxInEffect, remoteDesiredMinTx).nanoseconds)
    }

    /// The earliest timer; the owner calls `timersExpired` then.
    public var nextDeadline: NIODeadline? {
        guard let t = nextTransmit else { return detectionDeadline }
        guard let d = detectionDeadline else { return t }
        return min(t, d)
    }

    /// A packet from the peer that passed `BFDControlPacket(datagram:)` and was matched to this session
    /// (RFC 5880 §6.8.6, from "Set bfd.RemoteDiscr" on).
    public mutating func received(
        _ packet: BFDControlPacket, now: NIODeadline, using rng: inout some RandomNumberGenerator
    ) -> [BFDAction] {
        remoteDiscriminator = packet.myDiscriminator
        remoteState = packet.state
        remoteDemand = packet.demand
        remoteDesiredMinTx = .microseconds(Int64(packet.desiredMinTxInterval))
        remoteDetectMultiplier = packet.detectMultiplier
        let previousInterval = transmitInterval
        remoteMinRx = .microseconds(Int64(packet.requiredMinRxInterval))
        // "If the Final (F) bit is set and there is a Poll Sequence in progress, the Poll Sequence MUST
        // be terminated": the advertised values take effect (§6.8.3).
        if packet.final && pollActive {
            pollActive = false
            txInEffect = desiredMinTx
            rxInEffect = requiredMinRx
        }
        if transmitInterval != previousInterval { rescheduleTransmit(now: now, using: &rng) }
        // §6.8.4: the Detection Time runs from the last packet received.
        detectionDeadline = now + detectionTime
        // "If bfd.SessionState is AdminDown: Discard the packet."
        guard state != .adminDown else { return flush() }
        if packet.state == .adminDown {
            // "If received state is AdminDown: If bfd.SessionState is not Down: Set bfd.LocalDiag to 3
            // (Neighbor signaled session down), Set bfd.SessionState to Down".
            if state != .down { enter(.down, diagnostic: .neighborSignaledSessionDown, now: now, using: &rng) }
        } else {
            switch (state, packet.state) {
            // "If bfd.SessionState is Down: If received State is Down: Set bfd.SessionState to Init;
            // Else if received State is Init: Set bfd.SessionState to Up"
            case (.down, .down): enter(.initializing, diagnostic: diagnostic, now: now, using: &rng)
            case (.down, .initializing): enter(.up, diagnostic: diagnostic, now: now, using: &rng)
            // "Else if bfd.SessionState is Init: If received State is Init or Up: Set bfd.SessionState to Up"
            case (.initializing, .initializing), (.initializing, .up):
                enter(.up, diagnostic: diagnostic, now: now, using: &rng)
            // "Else (bfd.SessionState is Up): If received State is Down: Set bfd.LocalDiag to 3 (Neighbor
            // signaled session down), Set bfd.SessionState to Down"
            case (.up, .down): enter(.down, diagnostic: .neighborSignaledSessionDown, now: now, using: &rng)
            default: break
            }
        }
        // "If the Poll (P) bit is set, send a BFD Control packet to the remote system with the Poll (P)
        // bit clear, and the Final (F) bit set" — §6.8.7: "without respect to the transmission timer".
        if packet.poll { pending.append(.send(makePacket(final: true))) }
        return flush()
    }

    /// Fires the Detection Time and the transmit timer if due at `now`.
    public mutating func timersExpired(now: NIODeadline, using rng: inout some RandomNumberGenerator) -> [BFDAction] {
        if let d = detectionDeadline, d <= now {
            detectionDeadline = nil
            // §6.8.1 bfd.RemoteDiscr: "If a period of a Detection Time passes without the receipt of a
            // valid, authenticated BFD packet from the remote system, this variable MUST be set to zero."
            remoteDiscriminator = 0
            // §6.8.4: "...and bfd.SessionState is Init or Up, the session has gone down -- the local
            // system MUST set bfd.SessionState to Down and bfd.LocalDiag to 1".
            if state == .initializing || state == .up {
                enter(.down, diagnostic: .controlDetectionTimeExpired, now: now, using: &rng)
            }
        }
        if let t = nextTransmit, t <= now {
            if transmitsPeriodically {
                pending.append(.send(makePacket(final: false)))
                lastTransmit = now
            }
            nextTransmit = now + jittered(transmitInterval, using: &rng)
        }
        return flush()
    }

    /// Takes the session administratively down (§6.8.16): the peer sees AdminDown and must not treat it
    /// as a failure of the path.
    public mutating func adminDown(now: NIODeadline, using rng: inout some RandomNumberGenerator) -> [BFDAction] {
        if state != .adminDown {
            detectionDeadline = nil
            enter(.adminDown, diagnostic: .administrativelyDown, now: now, using: &rng)
        }
        return flush()
    }

    /// Leaves AdminDown for Down; the session comes up again through the usual three-way handshake.
    public mutating func adminUp(now: NIODeadline, using rng: inout some RandomNumberGenerator) -> [BFDAction] {
        if state == .adminDown { enter(.down, diagnostic: .none, now: now, using: &rng) }
        return flush()
    }

    /// New configured timers; a Poll Sequence carries them to the peer (§6.8.3).
    public mutating func reconfigure(
        _ timers: BFDTimers, now: NIODeadline, using rng: inout some RandomNumberGenerator
    ) -> [BFDAction] {
        self.timers = timers
        setIntervals(now: now, using: &rng)
        return flush()
    }

    /// The packet we send now (used by the owner for a final AdminDown on removal, too).
    public func makePacket(final: Bool) -> BFDControlPacket {
        BFDControlPacket(
            diagnostic: diagnostic, state: state, poll: pollActive && !final, final: final,
            detectMultiplier: timers.detectMultiplier, myDiscriminator: localDiscriminator,
            yourDiscriminator: remoteDiscriminator, desiredMinTxInterval: Self.microseconds(desiredMinTx),
            requiredMinRxInterval: Self.microseconds(requiredMinRx))
    }

    // MARK: - Internals

    /// §6.8.7: no periodic packets while the peer asks for none (RequiredMinRxInterval 0), nor while
    /// its Demand mode is active.
    var transmitsPeriodically: Bool {
        if remoteMinRx == .zero { return false }
        if remoteDemand && state == .up && remoteState == .up { return false }
        return true
    }

    mutating func enter(
        _ new: BFDState, diagnostic: BFDDiagnostic, now: NIODeadline, using rng: inout some RandomNumberGenerator
    ) {
        let old = state
        state = new
        self.diagnostic = diagnostic
        pending.append(.stateChanged(from: old, to: new, diagnostic: diagnostic))
        // Tell the peer soon: at the earliest moment the interval in effect so far allows (75 % of it
        // after the last packet). Measured with the new interval, the Down after Up would wait up to
        // 750 ms at the slow rate, and the peer would see silence instead of our Down.
        let earliest = lastTransmit.map { $0 + .nanoseconds(transmitInterval.nanoseconds * 3 / 4) } ?? now
        setIntervals(now: now, using: &rng)
        nextTransmit = min(nextTransmit ?? .distantFuture, max(now, earliest))
    }

    /// Derives the advertised intervals from the configuration and the state, and starts a Poll Sequence
    /// when they change (§6.8.3).
    mutating func setIntervals(now: NIODeadline, using rng: inout some RandomNumberGenerator) {
        let tx = state == .up ? timers.desiredMinTx : max(timers.desiredMinTx, Self.slowTransmitInterval)
        let rx = timers.requiredMinRx
        guard tx != desiredMinTx || rx != requiredMinRx else { return }
        let previousInterval = transmitInterval
        desiredMinTx = tx
        requiredMinRx = rx
        // "If bfd.DesiredMinTxInterval is increased and bfd.SessionState is Up, the actual transmission
        // interval used MUST NOT change until the Poll Sequence described above has terminated."
        if state != .up || tx < txInEffect { txInEffect = tx }
        // "If bfd.RequiredMinRxInterval is reduced and bfd.SessionState is Up, the previous value ...
        // MUST be used when calculating the Detection Time for the remote system until the Poll
        // Sequence described above has terminated."
        if state != .up || rx > rxInEffect { rxInEffect = rx }
        pollActive = true
        if transmitInterval != previousInterval { rescheduleTransmit(now: now, using: &rng) }
    }

    /// Puts the next periodic packet one jittered interval after the last one (or now, if that passed).
    mutating func rescheduleTransmit(now: NIODeadline, using rng: inout some RandomNumberGenerator) {
        guard let last = lastTransmit else { return }
        nextTransmit = max(now, last + jittered(transmitInterval, using: &rng))
    }

    /// §6.8.7: "the interval MUST be reduced by a random value of 0 to 25%"; "If bfd.DetectMult is equal
    /// to 1, the interval between transmitted BFD Control packets MUST be no more than 90% of the
    /// negotiated transmission interval, and MUST be no less than 75%".
    func jittered(_ interval: TimeAmount, using rng: inout some RandomNumberGenerator) -> TimeAmount {
        let upper = timers.detectMultiplier == 1 ? 0.90 : 1.0
        let factor = Double.random(in: 0.75...upper, using: &rng)
        return .nanoseconds(Int64(Double(interval.nanoseconds) * factor))
    }

    mutating func flush() -> [BFDAction] {
        defer { pending = [] }
        return pending
    }

    static func microseconds(_ t: TimeAmount) -> UInt32 {
        UInt32(clamping: max(t.nanoseconds / 1000, 0))
    }
}

/// What the owner of a `BFDSession` must do, in order.
public enum BFDAction: Sendable, Hashable {
    /// Send this packet to the peer (UDP port 3784, TTL 255, from the session's source port).
    case send(BFDControlPacket)
    /// The session changed state; a change from Up to Down means the path failed (unless `to` is
    /// AdminDown, or the diagnostic is AdministrativelyDown).
    case stateChanged(from: BFDState, to: BFDState, diagnostic: BFDDiagnostic)
}

/// The timers an operator configures for a session.
public struct BFDTimers: Sendable, Hashable, CustomStringConvertible {
    /// bfd.DesiredMinTxInterval once Up.
    public var desiredMinTx: TimeAmount
    /// bfd.RequiredMinRxInterval.
    public var requiredMinRx: TimeAmount
    /// bfd.DetectMult.
    public var detectMultiplier: UInt8

    /// 100 ms × 3: a failure is seen in 300 ms.
    public static let fast = BFDTimers(
        desiredMinTx: .milliseconds(100), requiredMinRx: .milliseconds(100), detectMultiplier: 3)

    public init(desiredMinTx: TimeAmount, requiredMinRx: TimeAmount, detectMultiplier: UInt8) {
        self.desiredMinTx = desiredMinTx
        self.requiredMinRx = requiredMinRx
        self.detectMultiplier = detectMultiplier
    }

    /// The range an operator may set, in milliseconds: 10 ms (faster is not kept on a loaded VM) to
    /// Avi's 4,000,000 (the wire carries microseconds in 32 bits: up to about 71 minutes).
    public static let intervalRangeMilliseconds: ClosedRange<Int> = 10...4_000_000

    /// Checks the values; throws naming the field (the names of the `starling bgp` file).
    public func validate() throws(PeerConfigurationError) {
        let range = Self.intervalRangeMilliseconds
        let tx = desiredMinTx.nanoseconds / 1_000_000
        let rx = requiredMinRx.nanoseconds / 1_000_000
        if !range.contains(Int(tx)) {
            throw PeerConfigurationError(
                field: "bfd.min_tx_ms", reason: "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        if !range.contains(Int(rx)) {
            throw PeerConfigurationError(
                field: "bfd.min_rx_ms", reason: "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        // RFC 5880 §4.1: "Detect Mult ... MUST be nonzero" (the codec refuses a zero on receipt).
        if detectMultiplier == 0 {
            throw PeerConfigurationError(field: "bfd.multiplier", reason: "must be between 1 and 255")
        }
    }

    public var description: String {
        "\(desiredMinTx.nanoseconds / 1_000_000)/\(requiredMinRx.nanoseconds / 1_000_000) ms × \(detectMultiplier)"
    }
}
