/// The vocabulary between `BGPSessionFSM` and the code that runs it: connection ids, the six RFC 4271
/// states, the events fed in and the actions handed back.

/// Identifies one TCP connection of one peer.
///
/// The FSM allocates the ids of outbound connections itself (`FSMAction.connect`) and makes them
/// negative (-1, -2, …); the caller allocates the ids of inbound connections
/// (`FSMEvent.tcpConnectionConfirmed`) and must keep them non-negative, so the two never clash.
/// Ids are only meaningful per FSM (per peer).
public struct ConnectionID: Sendable, Hashable, CustomStringConvertible {
    public var rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    /// True for ids the FSM allocated for its own outbound connections.
    public var isOutbound: Bool { rawValue < 0 }
    public var description: String { "conn\(rawValue)" }
}

/// The session states of RFC 4271 §8.2.2, with the names the RFC (and the status API) uses.
public enum SessionState: String, Sendable, Hashable, CaseIterable {
    case idle = "Idle"
    case connect = "Connect"
    case active = "Active"
    case openSent = "OpenSent"
    case openConfirm = "OpenConfirm"
    case established = "Established"
}

/// What happened: operator commands, transport news, decoded messages and the clock.
///
/// RFC 4271 §8.1 event numbers are given in each case's documentation.
public enum FSMEvent: Sendable {
    /// Event 1, ManualStart (or, with `PeerConfiguration.passive`, Event 4
    /// ManualStart_with_PassiveTcpEstablishment). Ignored unless the session is Idle.
    case manualStart
    /// Event 2, ManualStop: Cease / Administrative Shutdown on every open connection, then Idle with no
    /// automatic restart until the next `manualStart`.
    case manualStop
    /// Event 17, TcpConnectionConfirmed: the caller accepted an inbound connection (after asking
    /// `acceptsInbound()`); the id is the caller's and must be non-negative.
    case tcpConnectionConfirmed(ConnectionID)
    /// Event 16, Tcp_CR_Acked: an outbound connection the FSM asked for (`FSMAction.connect`) is up.
    case tcpCRAcked(ConnectionID)
    /// Event 18, TcpConnectionFails: the connection closed or the connection attempt failed. The FSM
    /// forgets the id and emits no `close` for it.
    case tcpConnectionFails(ConnectionID)
    /// Events 19–28: a message decoded from the connection (BGPOpen, NotifMsg, KeepAliveMsg, UpdateMsg,
    /// ROUTE-REFRESH).
    case message(ConnectionID, BGPMessage)
    /// Events 21, 22 and 28 (BGPHeaderErr, BGPOpenMsgErr, UpdateMsgErr): a decode error that resets the
    /// session. The FSM sends the error's NOTIFICATION and closes the connection.
    case decodeError(ConnectionID, BGPError)
    /// Events 9–13 (ConnectRetryTimer, HoldTimer, KeepaliveTimer, DelayOpenTimer, IdleHoldTimer expiry):
    /// every timer whose deadline is at or before `now` fires.
    case timersExpired
    /// Not an RFC 4271 event: the speaker ends the session for a local reason that is an error of the
    /// session (BFD Down, RFC 5882 §4.3 / RFC 9384; prefix limit and out of resources, RFC 4486): every
    /// connection past Connect gets `notification` and closes, the session goes to Idle, and the
    /// IdleHoldTimer (with its back-off) runs before the automatic restart.
    case localError(NotificationMessage, reason: String)
}

/// What the caller must do, in order.
///
/// Ordering rules: a NOTIFICATION `send` always comes right before the `close` of the same connection;
/// `sessionDown` follows the `close` of the Established connection; `stateChanged`, when present, is the
/// last action of a batch.
public enum FSMAction: Sendable, Hashable {
    /// Open an outbound TCP connection and report it with this id (`tcpCRAcked` / `tcpConnectionFails`).
    case connect(ConnectionID)
    /// Send a message on the connection.
    case send(ConnectionID, BGPMessage)
    /// Close the connection after flushing queued sends (or abandon the connection attempt). The FSM
    /// forgets the id; later events for it are ignored.
    case close(ConnectionID)
    /// The session reached Established on this connection; UPDATEs may flow now.
    case established(ConnectionID, NegotiatedSession)
    /// An UPDATE received in Established (the hold timer has already been restarted).
    case deliverUpdate(UpdateMessage)
    /// A ROUTE-REFRESH received in Established for a negotiated family (RFC 2918 §4, RFC 7313 §3.2).
    case deliverRouteRefresh(RouteRefreshMessage)
    /// The session left Established: the caller flushes the peer's Adj-RIB-In (or marks it stale for
    /// graceful restart).
    case sessionDown(reason: String)
    /// The session state changed (always the last action of a batch).
    case stateChanged(from: SessionState, to: SessionState)
}
