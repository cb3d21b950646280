/// # FSM: the BGP session state machine (RFC 4271 §8)
///
/// Pure value code (STYLE "Protocol logic is pure", "State machines are structs"): no sockets, no timers, no `await`. The owner (the speaker's per-peer
/// handler) feeds `FSMEvent`s with the current time, executes the returned `FSMAction`s in order, and
/// schedules a `.timersExpired` event at `nextDeadline`. Tests drive it with a manual clock.
///
/// Files:
/// - `BGPSessionFSM.swift` (this file): the struct, its public API, event dispatch, the derived
///   `SessionState`, starting, stopping, and dropping connections (Idle with IdleHold back-off, or
///   Active with the ConnectRetryTimer).
/// - `BGPSessionFSM+Messages.swift`: TCP connection events, received messages and decode errors per
///   state (RFC 4271 §8.2.2, RFC 6608 FSM Error subcodes), the OPEN exchange and collision detection
///   (RFC 4271 §6.8, RFC 6286 §2.3).
/// - `BGPSessionFSM+Timers.swift`: ConnectRetryTimer, HoldTimer, KeepaliveTimer, DelayOpenTimer and
///   IdleHoldTimer expiry.
/// - `SessionConnection.swift`: one tracked TCP connection, its phase and its timers.
/// - `OpenNegotiation.swift`: the OPEN we send, the semantic checks on the peer's OPEN (Bad Peer AS,
///   Unacceptable Hold Time, Bad BGP Identifier) and the `NegotiatedSession`.
/// - `PeerConfiguration.swift`: per-peer settings and their validation.
/// - `FSMEventsAndActions.swift`: `ConnectionID`, `SessionState`, `FSMEvent`, `FSMAction`.
///
/// Data flow: transport → `handle(.tcpCRAcked / .tcpConnectionConfirmed / .message / …, now:)` →
/// `[FSMAction]` (`connect`, `send`, `close`, `established`, `deliverUpdate`, `sessionDown`,
/// `stateChanged`) → transport and RIB.
///
/// Model: the RFC describes one FSM per connection plus collision handling. Here one struct holds up to
/// two `SessionConnection`s (one we opened, one the peer opened); the session state is the state of the
/// most advanced connection. An error on one connection closes that connection only; the session
/// falls back to Idle (or Active) when no connection with TCP up remains.
///
/// Choices where the RFC leaves room or where this FSM differs, each documented at its branch:
/// - AutomaticStart (Event 3) always follows an error-driven Idle, after the IdleHoldTimer
///   (DampPeerOscillations, RFC 4271 §8.1.1): the wait doubles per error up to `maximumIdleHoldTime`
///   and resets once a session stayed Established for `stableEstablishedTime`.
/// - A failed outbound connection attempt in Connect goes to Active and retries when the
///   ConnectRetryTimer expires (as FRR and BIRD do), keeping inbound connections welcome meanwhile;
///   RFC 4271 would go to Idle.
/// - SendNOTIFICATIONwithoutOPEN behaves as TRUE for decode errors, bad OPENs and ManualStop during
///   DelayOpen; other unexpected messages before our OPEN close silently (RFC 4271 §8.2.2 Connect/Active).
/// - Every received NOTIFICATION (Events 24 and 25) leads to Idle with back-off; never a reply
///   (RFC 4271 §6.4 / §8.2.2).
/// - No jitter is applied to timers (RFC 4271 §10 SHOULD); the caller may jitter scheduling.
import NIOCore

/// The BGP finite state machine for one peer (RFC 4271 §8).
public struct BGPSessionFSM: Sendable {
    /// HoldTimer while waiting for the peer's OPEN: "a HoldTimer value of 4 minutes is suggested"
    /// (RFC 4271 §8.2.2, OpenSent).
    public static let openSentHoldTime: TimeAmount = .minutes(4)
    /// Cap for the doubling IdleHoldTime.
    public static let maximumIdleHoldTime: TimeAmount = .seconds(60)
    /// A session that stayed Established this long resets the IdleHoldTime to its initial value.
    public static let stableEstablishedTime: TimeAmount = .seconds(60)

    /// The RFC 4271 session state.
    public private(set) var state: SessionState = .idle
    /// Settable; a change that affects the session is applied by the caller with manualStop/manualStart.
    /// Values are read when needed (the OPEN at send time, timers when started).
    public var configuration: PeerConfiguration
    /// Shutdown Communication (RFC 9003) sent with Cease / Administrative Shutdown on `manualStop`;
    /// UTF-8, truncated to 255 octets.
    public var shutdownCommunication: String? = nil
    /// The last reason the session (or a connection attempt) went down, for the status API.
    public private(set) var lastError: String? = nil
    /// Error-driven returns to Idle since the last manualStart / manualStop (RFC 4271 §8.1.1
    /// ConnectRetryCounter; unlike the RFC it is not reset by AutomaticStart, so it counts flaps).
    public private(set) var connectRetryCounter: Int = 0
    /// The IdleHoldTime the next error-driven Idle will wait.
    public private(set) var idleHoldTime: TimeAmount
    /// When the current session reached Established (for the status API's uptime); nil otherwise.
    public internal(set) var establishedAt: NIODeadline? = nil

    var connections: [SessionConnection] = []
    /// ManualStart given and no ManualStop since: AutomaticStart is allowed.
    var started = false
    var connectRetryDeadline: NIODeadline? = nil
    var idleHoldDeadline: NIODeadline? = nil
    var nextOutboundID = -1
    var pending: [FSMAction] = []

    /// A stopped (Idle) FSM; send `.manualStart` to bring the session up.
    public init(configuration: PeerConfiguration) {
        self.configuration = configuration
        self.idleHoldTime = max(configuration.idleHoldTime, .zero)
    }

    /// What was negotiated on the Established connection; nil unless Established.
    public var negotiated: NegotiatedSession? {
        for i in connections.indices where connections[i].phase == .established { return connections[i].negotiated }
        return nil
    }

    /// The connection UPDATEs go on; nil unless Established.
    public var establishedConnection: ConnectionID? {
        // Read per received message: index, not `first(where:)`, so no connection is copied.
        for i in connections.indices where connections[i].phase == .established { return connections[i].id }
        return nil
    }

    /// The earliest running timer; the caller schedules `.timersExpired` for then.
    public var nextDeadline: NIODeadline? {
        // Called after every event (per UPDATE in Established), so it allocates nothing.
        var deadline = Self.earliest(connectRetryDeadline, idleHoldDeadline)
        for c in connections { deadline = Self.earliest(deadline, c.nextDeadline) }
        return deadline
    }

    /// The earlier of two optional deadlines (nil when both are nil).
    @inline(__always)
    static func earliest(_ a: NIODeadline?, _ b: NIODeadline?) -> NIODeadline? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }

    /// Whether an inbound connection should be handed to the FSM (`.tcpConnectionConfirmed`).
    /// False in Idle (RFC 4271 §8.2.2: Idle refuses connections), in Established (RFC 4271 §6.8: a
    /// collision with an Established session closes the new connection), and while an inbound
    /// connection is already being tracked.
    public func acceptsInbound() -> Bool {
        started && idleHoldDeadline == nil && !connections.contains { $0.phase == .established }
    }

    /// Processes one event at time `now` and returns the actions to execute, in order.
    public mutating func handle(_ event: FSMEvent, now: NIODeadline) -> [FSMAction] {
        let before = state
        switch event {
        case .manualStart: manualStart(now: now)
        case .manualStop: manualStop(now: now)
        case .tcpConnectionConfirmed(let id): inboundConnectionUp(id, now: now)
        case .tcpCRAcked(let id): outboundConnectionUp(id, now: now)
        case .tcpConnectionFails(let id): connectionFailed(id, now: now)
        case .message(let id, let message): received(message, on: id, now: now)
        case .decodeError(let id, let error): decodeError(error, on: id, now: now)
        case .timersExpired: timersExpired(now: now)
        case .localError(let notification, let reason): localError(notification, reason: reason, now: now)
        }
        state = derivedState
        if before != state { pending.append(.stateChanged(from: before, to: state)) }
        let out = pending
        pending = []
        return out
    }

    // MARK: - State

    /// The session state: that of the most advanced connection, else Active while started (waiting for
    /// the ConnectRetryTimer or an inbound connection), else Idle.
    var derivedState: SessionState {
        if let top = connections.map(\.phase).max() {
            switch top {
            case .established: return .established
            case .openConfirm: return .openConfirm
            case .openSent: return .openSent
            case .connecting, .delayOpen:
                // An outbound attempt (or an outbound connection in DelayOpen) is the Connect state;
                // an inbound connection in DelayOpen alone is Active (RFC 4271 §8.2.2).
                return connections.contains { $0.outbound } ? .connect : .active
            }
        }
        return started && idleHoldDeadline == nil ? .active : .idle
    }

    func index(of id: ConnectionID) -> Int? { connections.firstIndex { $0.id == id } }

    mutating func emit(_ action: FSMAction) { pending.append(action) }

    // MARK: - Start and stop

    mutating func manualStart(now: NIODeadline) {
        // RFC 4271 §8.2.2: ManualStart is ignored in every state but Idle.
        guard derivedState == .idle else { return }
        started = true
        connectRetryCounter = 0
        start(now: now)
    }

    /// ManualStart / AutomaticStart (Events 1, 3, 4, 5) from Idle.
    mutating func start(now: NIODeadline) {
        idleHoldDeadline = nil
        if configuration.passive {
            // RFC 4271 §8.2.2 Idle, Events 4/5: listen for a connection and change to Active; a passive
            // peer never initiates, so no ConnectRetryTimer.
            connectRetryDeadline = nil
        } else {
            // RFC 4271 §8.2.2 Idle, Events 1/3: start the ConnectRetryTimer, initiate a TCP connection,
            // listen for an inbound one, and change to Connect.
            connectRetryDeadline = now + connectRetryTime
            openOutbound()
        }
    }

    var connectRetryTime: TimeAmount {
        configuration.connectRetryTime > .zero ? configuration.connectRetryTime : .seconds(1)
    }

    mutating func openOutbound() {
        let id = ConnectionID(nextOutboundID)
        nextOutboundID = nextOutboundID == Int.min ? -1 : nextOutboundID - 1
        connections.append(SessionConnection(id: id, outbound: true, phase: .connecting))
        emit(.connect(id))
    }

    mutating func manualStop(now: NIODeadline) {
        guard started || !connections.isEmpty else { return }  // RFC 4271 §8.2.2 Idle: ManualStop ignored
        if connections.contains(where: { $0.phase.tcpUp }) { lastError = "administrative shutdown" }
        for c in connections {
            // RFC 4271 §8.2.2 OpenSent / OpenConfirm / Established, Event 2: "sends the NOTIFICATION with
            // a Cease"; RFC 4486 §4: subcode Administrative Shutdown; RFC 9003: Shutdown Communication.
            // In Active with the DelayOpenTimer running the RFC sends it when SendNOTIFICATIONwithoutOPEN
            // is set, which this FSM treats as TRUE.
            if c.phase.tcpUp {
                emit(.send(c.id, .notification(administrativeShutdown)))
            }
            emit(.close(c.id))
            if c.phase == .established { emit(.sessionDown(reason: "administrative shutdown")) }
        }
        // RFC 4271 §8.2.2, Event 2: release resources, ConnectRetryCounter and ConnectRetryTimer to zero.
        connections = []
        started = false
        connectRetryDeadline = nil
        idleHoldDeadline = nil
        establishedAt = nil
        connectRetryCounter = 0
        idleHoldTime = max(configuration.idleHoldTime, .zero)
    }

    /// A local reason to end the session (`FSMEvent.localError`): every connection with TCP up is dropped
    /// with `notification`, the session goes to Idle and restarts after the IdleHoldTimer like after any
    /// error.
    mutating func localError(_ notification: NotificationMessage, reason: String, now: NIODeadline) {
        while let i = connections.firstIndex(where: { $0.phase.tcpUp }) {
            drop(i, notification: notification, reason: reason, fallback: .idle, now: now)
        }
    }

    /// Cease / Administrative Shutdown with the RFC 9003 Shutdown Communication, if any.
    var administrativeShutdown: NotificationMessage {
        NotificationMessage(
            code: .cease, subcode: NotificationSubcode.Cease.administrativeShutdown,
            data: Self.shutdownCommunicationData(shutdownCommunication))
    }

    /// RFC 9003 §2: a one-octet length (at most 255) followed by UTF-8; an absent communication is
    /// sent as empty Data. Truncates at a character boundary.
    static func shutdownCommunicationData(_ text: String?) -> [UInt8] {
        guard let text, !text.isEmpty else { return [] }
        var bytes: [UInt8] = []
        for ch in text {
            let utf8 = Array(ch.utf8)
            if bytes.count + utf8.count > 255 { break }
            bytes += utf8
        }
        return [UInt8(bytes.count)] + bytes
    }

    // MARK: - Dropping connections

    /// Where the session goes when its last live connection is dropped.
    enum Fallback {
        /// Idle, then AutomaticStart after the IdleHoldTimer.
        case idle
        /// Active (or Connect while an outbound attempt is pending), with the ConnectRetryTimer restarted.
        case active
    }

    /// Closes connection `i` (sending `notification` first, if any). When no other connection with TCP
    /// up remains, the session goes to `fallback`. `reason` (when not nil) becomes `lastError`.
    mutating func drop(
        _ i: Int, notification: NotificationMessage?, reason: String?, fallback: Fallback, now: NIODeadline,
        sendClose: Bool = true
    ) {
        let conn = connections.remove(at: i)
        if let notification { emit(.send(conn.id, .notification(notification))) }
        if sendClose { emit(.close(conn.id)) }
        let sessionContinues = connections.contains { $0.phase.tcpUp }
        // A failed second connection of a collision says nothing about the session.
        if let reason, conn.phase == .established || !sessionContinues { lastError = reason }
        if conn.phase == .established {
            emit(.sessionDown(reason: reason ?? "connection closed"))
            // Reset the back-off after a stable session (RFC 4271 §8.1.1 DampPeerOscillations leaves the
            // policy to the implementation).
            if let since = establishedAt, now - since >= Self.stableEstablishedTime {
                idleHoldTime = max(configuration.idleHoldTime, .zero)
            }
            establishedAt = nil
        }
        // RFC 4271 §6.8: the surviving connection of a collision carries the session on.
        if sessionContinues { return }
        switch fallback {
        case .active:
            // RFC 4271 §8.2.2 OpenSent, Event 18: "restarts the ConnectRetryTimer, continues to listen for
            // a connection that may be initiated by the remote BGP peer, and changes its state to Active."
            if !configuration.passive { connectRetryDeadline = now + connectRetryTime }
        case .idle:
            goIdle(now: now)
        }
    }

    /// RFC 4271 §8.2.2 (error events in every state): release all resources, drop every connection,
    /// increment the ConnectRetryCounter, and, with DampPeerOscillations, wait in Idle for the
    /// IdleHoldTimer before the AutomaticStart.
    mutating func goIdle(now: NIODeadline) {
        for c in connections { emit(.close(c.id)) }
        connections = []
        connectRetryDeadline = nil
        connectRetryCounter += 1
        guard started else { return }
        idleHoldDeadline = now + idleHoldTime
        let cap = max(Self.maximumIdleHoldTime, configuration.idleHoldTime)
        idleHoldTime = idleHoldTime.nanoseconds > cap.nanoseconds / 2 ? cap : idleHoldTime * 2
    }
}
