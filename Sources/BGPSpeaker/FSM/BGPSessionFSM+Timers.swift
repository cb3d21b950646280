import NIOCore

/// Timer expiry (RFC 4271 §8.1.3 Events 9–13). Each timer is a deadline; `.timersExpired` fires every
/// one at or before `now`, each at most once per call.
extension BGPSessionFSM {
    mutating func timersExpired(now: NIODeadline) {
        // Session timers are judged as they stood on entry, so a drop to Idle in this call (which starts
        // the IdleHoldTimer) does not restart the session in the same batch.
        let connectRetryDue = connectRetryDeadline.map { $0 <= now } ?? false
        let idleHoldDue = idleHoldDeadline.map { $0 <= now } ?? false

        for id in connections.map(\.id) {
            if let i = index(of: id), let d = connections[i].delayOpenDeadline, d <= now {
                // RFC 4271 §8.2.2 Connect / Active, Event 12 (DelayOpenTimer_Expires): "sends an OPEN
                // message to its peer, sets the HoldTimer to a large value, and changes its state to
                // OpenSent."
                connectRetryDeadline = nil
                sendOpen(i, now: now)
            }
            if let i = index(of: id), let d = connections[i].holdDeadline, d <= now {
                // RFC 4271 §8.2.2 OpenSent / OpenConfirm / Established, Event 10 (HoldTimer_Expires):
                // "sends a NOTIFICATION message with the error code Hold Timer Expired" and changes to Idle.
                // RFC 4271 §6.5: "the NOTIFICATION message with the Hold Timer Expired Error Code is sent
                // and the BGP connection is closed" (no subcodes are defined: 0).
                drop(
                    i, notification: NotificationMessage(code: .holdTimerExpired, subcode: 0),
                    reason: "sent NOTIFICATION: hold timer expired", fallback: .idle, now: now)
                continue
            }
            if let i = index(of: id), let d = connections[i].keepaliveDeadline, d <= now,
                let interval = connections[i].negotiated?.keepaliveInterval, interval > 0
            {
                // RFC 4271 §8.2.2 OpenConfirm / Established, Event 11 (KeepaliveTimer_Expires): "sends a
                // KEEPALIVE message, and restarts the KeepaliveTimer".
                emit(.send(id, .keepalive))
                connections[i].keepaliveDeadline = now + .seconds(Int64(interval))
            }
        }

        if connectRetryDue, let d = connectRetryDeadline, d <= now, !configuration.passive,
            !connections.contains(where: { $0.phase.tcpUp })
        {
            // RFC 4271 §8.2.2 Connect / Active, Event 9 (ConnectRetryTimer_Expires): "drops the TCP
            // connection, restarts the ConnectRetryTimer, ... initiates a TCP connection to the other BGP
            // peer, continues to listen for a connection that may be initiated by the remote BGP peer, and
            // [stays in / changes its state to] Connect."
            for c in connections where c.phase == .connecting { emit(.close(c.id)) }
            connections.removeAll { $0.phase == .connecting }
            connectRetryDeadline = now + connectRetryTime
            openOutbound()
        }

        if idleHoldDue, let d = idleHoldDeadline, d <= now {
            idleHoldDeadline = nil
            // RFC 4271 §8.1.1 DampPeerOscillations / §8.2.2 Idle, Event 13 (IdleHoldTimer_Expires): the
            // AutomaticStart (Event 3, or Event 5 when passive) that follows an error.
            if started { start(now: now) }
        }
    }
}
