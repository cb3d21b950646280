import NIOCore

/// One TCP connection of a peer as the FSM tracks it: who opened it, how far the OPEN exchange got,
/// and its own timers. There are at most two at a time (one per direction) during a collision
/// (RFC 4271 §6.8); otherwise one.
struct SessionConnection: Sendable, Hashable {
    /// How far this connection got. The session's `SessionState` is derived from the most advanced one.
    enum Phase: Int, Sendable, Hashable, Comparable {
        /// Outbound TCP connection requested, not yet up (the RFC's Connect state).
        case connecting
        /// TCP up, DelayOpenTimer running, our OPEN not yet sent (Connect or Active with DelayOpen).
        case delayOpen
        /// Our OPEN sent, waiting for the peer's.
        case openSent
        /// OPENs exchanged, our KEEPALIVE sent, waiting for the peer's KEEPALIVE.
        case openConfirm
        case established

        static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
        /// The TCP connection is up.
        var tcpUp: Bool { self >= .delayOpen }
    }

    let id: ConnectionID
    /// We initiated it (collision resolution keeps the connection the higher BGP Identifier opened).
    let outbound: Bool
    var phase: Phase
    /// The OPEN we sent on this connection.
    var localOpen: OpenMessage? = nil
    /// Set once a valid OPEN was received.
    var negotiated: NegotiatedSession? = nil
    var holdDeadline: NIODeadline? = nil
    var keepaliveDeadline: NIODeadline? = nil
    var delayOpenDeadline: NIODeadline? = nil

    init(id: ConnectionID, outbound: Bool, phase: Phase) {
        self.id = id
        self.outbound = outbound
        self.phase = phase
    }

    /// Restarts the HoldTimer with the negotiated HoldTime, if that is non-zero (RFC 4271 §8.2.2:
    /// "restarts its HoldTimer, if the negotiated HoldTime value is non-zero").
    mutating func restartHoldTimer(now: NIODeadline) {
        guard let hold = negotiated?.holdTime, hold > 0 else { return }
        holdDeadline = now + .seconds(Int64(hold))
    }

    /// The earliest of this connection's timers.
    var nextDeadline: NIODeadline? {
        BGPSessionFSM.earliest(BGPSessionFSM.earliest(holdDeadline, keepaliveDeadline), delayOpenDeadline)
    }
}
