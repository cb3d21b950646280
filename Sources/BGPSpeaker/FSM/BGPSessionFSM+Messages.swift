import NIOCore

/// TCP connection events, received messages and decode errors (RFC 4271 §8.2.2 Events 16–28), the
/// OPEN exchange and connection collision detection (RFC 4271 §6.8).
extension BGPSessionFSM {
    // MARK: - TCP connection events

    mutating func inboundConnectionUp(_ id: ConnectionID, now: NIODeadline) {
        guard index(of: id) == nil else { return }  // the same connection reported twice
        guard started, idleHoldDeadline == nil else {
            // RFC 4271 §8.2.2 Idle: "the BGP FSM refuses all incoming BGP connections for this peer."
            emit(.close(id))
            return
        }
        if connections.contains(where: { $0.phase == .established }) {
            // RFC 4271 §6.8: "a connection collision with an existing BGP connection that is in the
            // Established state causes closing of the newly created connection."
            emit(.send(id, .notification(collisionResolution)))
            emit(.close(id))
            return
        }
        // One connection per direction. A new inbound connection replaces the tracked one, which is not
        // Established: the peer would not connect again unless it had given up on the old connection
        // (it restarted, or the old TCP connection is half-open), and keeping the stale one would refuse
        // the peer until the 4-minute OpenSent hold timer ran out.
        if let stale = connections.firstIndex(where: { !$0.outbound }) {
            emit(.close(connections.remove(at: stale).id))
        }
        connections.append(SessionConnection(id: id, outbound: false, phase: .connecting))
        tcpEstablished(connections.count - 1, now: now)
    }

    mutating func outboundConnectionUp(_ id: ConnectionID, now: NIODeadline) {
        guard let i = index(of: id) else {
            // An attempt we already abandoned (ConnectRetryTimer, ManualStop, Established): close it.
            emit(.close(id))
            return
        }
        guard connections[i].phase == .connecting else { return }
        tcpEstablished(i, now: now)
    }

    /// RFC 4271 §8.2.2 Connect / Active, Events 16 and 17 (and a second connection in OpenSent,
    /// OpenConfirm, tracked per §6.8 until its OPEN arrives).
    mutating func tcpEstablished(_ i: Int, now: NIODeadline) {
        // "stops the ConnectRetryTimer (if running) and sets the ConnectRetryTimer to zero"
        connectRetryDeadline = nil
        if configuration.delayOpen {
            // "If the DelayOpen attribute is set to TRUE, the local system: ... sets the DelayOpenTimer to
            // the initial value" and stays in Connect / Active.
            connections[i].phase = .delayOpen
            connections[i].delayOpenDeadline = now + max(configuration.delayOpenTime, .zero)
        } else {
            // "If the DelayOpen attribute is set to FALSE, the local system: ... sends an OPEN message to
            // its peer, sets the HoldTimer to a large value, and changes its state to OpenSent."
            sendOpen(i, now: now)
        }
    }

    /// Sends our OPEN and moves the connection to OpenSent with the large HoldTimer.
    mutating func sendOpen(_ i: Int, now: NIODeadline) {
        let open = connections[i].localOpen ?? OpenMessage(configuration: configuration)
        connections[i].localOpen = open
        connections[i].phase = .openSent
        connections[i].delayOpenDeadline = nil
        // RFC 4271 §8.2.2: "sets the HoldTimer to a large value ... A HoldTimer value of 4 minutes is
        // suggested."
        connections[i].holdDeadline = now + Self.openSentHoldTime
        emit(.send(connections[i].id, .open(open)))
    }

    mutating func connectionFailed(_ id: ConnectionID, now: NIODeadline) {
        guard let i = index(of: id) else { return }
        let phase = connections[i].phase
        let fallback: Fallback
        let reason: String
        switch phase {
        case .connecting:
            // RFC 4271 §8.2.2 Connect, Event 18 goes to Idle when the DelayOpenTimer is not running; this
            // FSM goes to Active and retries when the ConnectRetryTimer expires, still accepting inbound
            // connections meanwhile (see the architecture note).
            fallback = .active
            reason = "TCP connection attempt failed"
        case .delayOpen:
            // RFC 4271 §8.2.2 Connect, Event 18 with the DelayOpenTimer running: "restarts the
            // ConnectRetryTimer ... and changes its state to Active". Active, Event 18: "changes its state
            // to Idle".
            fallback = derivedState == .connect ? .active : .idle
            reason = "TCP connection closed before OPEN"
        case .openSent:
            // RFC 4271 §8.2.2 OpenSent, Event 18: "closes the BGP connection, restarts the
            // ConnectRetryTimer, continues to listen ..., and changes its state to Active."
            fallback = .active
            reason = "TCP connection closed in OpenSent"
        case .openConfirm, .established:
            // RFC 4271 §8.2.2 OpenConfirm / Established, Event 18: "... changes its state to Idle."
            fallback = .idle
            reason = phase == .established ? "TCP connection closed" : "TCP connection closed in OpenConfirm"
        }
        drop(i, notification: nil, reason: reason, fallback: fallback, now: now, sendClose: false)
    }

    // MARK: - Messages

    mutating func received(_ message: BGPMessage, on id: ConnectionID, now: NIODeadline) {
        guard let i = index(of: id) else { return }  // a connection already closed
        let phase = connections[i].phase
        if case .notification(let n) = message {
            guard phase.tcpUp else { return }
            // RFC 4271 §8.2.2, Events 24/25 in every state: release resources, drop the TCP connection,
            // change to Idle. RFC 4271 §4.5: a NOTIFICATION is never answered.
            drop(i, notification: nil, reason: "received NOTIFICATION: \(Self.describe(n))", fallback: .idle, now: now)
            return
        }
        switch phase {
        case .connecting:
            return  // TCP is not up yet as far as we know; nothing can arrive
        case .delayOpen:
            if case .open(let open) = message {
                // RFC 4271 §8.2.2 Connect / Active, Event 20 (BGPOpen with the DelayOpenTimer running).
                openReceived(i, open, now: now)
            } else {
                // RFC 4271 §8.2.2 Connect / Active, "any other event": drop the TCP connection and change
                // to Idle. No OPEN was sent, so no NOTIFICATION (RFC 6608 subcodes start at OpenSent).
                drop(i, notification: nil, reason: "received \(message.type) before OPEN", fallback: .idle, now: now)
            }
        case .openSent:
            if case .open(let open) = message {
                // RFC 4271 §8.2.2 OpenSent, Event 19.
                openReceived(i, open, now: now)
            } else {
                // RFC 6608 §4: an unexpected message in OpenSent gets Finite State Machine Error /
                // "Receive Unexpected Message in OpenSent State", Data = the message type.
                unexpected(message, i, subcode: NotificationSubcode.FSM.unexpectedMessageInOpenSent, now: now)
            }
        case .openConfirm:
            if case .keepalive = message {
                // RFC 4271 §8.2.2 OpenConfirm, Event 26: "restarts the HoldTimer and changes its state to
                // Established."
                establish(i, now: now)
            } else {
                // RFC 6608 §4: "Receive Unexpected Message in OpenConfirm State" (an OPEN on the same
                // connection included: collisions are between connections).
                unexpected(message, i, subcode: NotificationSubcode.FSM.unexpectedMessageInOpenConfirm, now: now)
            }
        case .established:
            switch message {
            case .keepalive:
                // RFC 4271 §8.2.2 Established, Event 26: "restarts its HoldTimer, if the negotiated
                // HoldTime value is non-zero".
                restartHoldTimer(i, now: now)
            case .update(let update):
                // RFC 4271 §8.2.2 Established, Event 27: "processes the message, restarts its HoldTimer, if
                // the negotiated HoldTime value is non-zero".
                restartHoldTimer(i, now: now)
                emit(.deliverUpdate(update))
            case .routeRefresh(let refresh):
                routeRefreshReceived(refresh, i)
            case .open, .notification:
                // RFC 6608 §4: "Receive Unexpected Message in Established State".
                unexpected(message, i, subcode: NotificationSubcode.FSM.unexpectedMessageInEstablished, now: now)
            }
        }
    }

    /// The UPDATE fast path: `handle(.message(id, .update(u)), now:)` without building the event and
    /// the action list, for the caller's per-UPDATE loop.
    ///
    /// When `id` is the Established connection this does what `handle` does for that event (restarts
    /// the HoldTimer; the state stays Established) and returns true: the caller then applies the UPDATE
    /// itself, as `handle` would have asked with `deliverUpdate`. Otherwise it changes nothing and
    /// returns false, and the caller goes through `handle`.
    public mutating func updateReceivedInEstablished(on id: ConnectionID, now: NIODeadline) -> Bool {
        guard state == .established, let i = index(of: id), connections[i].phase == .established else {
            return false
        }
        // RFC 4271 §8.2.2 Established, Event 27: "processes the message, restarts its HoldTimer, if the
        // negotiated HoldTime value is non-zero".
        restartHoldTimer(i, now: now)
        return true
    }

    /// Finite State Machine Error with the RFC 6608 subcode; Data is the one-octet message type.
    mutating func unexpected(_ message: BGPMessage, _ i: Int, subcode: UInt8, now: NIODeadline) {
        let state = derivedState
        drop(
            i, notification: NotificationMessage(code: .fsmError, subcode: subcode, data: [message.type.rawValue]),
            reason: "sent NOTIFICATION: unexpected \(message.type) in \(state.rawValue)", fallback: .idle, now: now)
    }

    mutating func restartHoldTimer(_ i: Int, now: NIODeadline) {
        // In place: reading `connections[i].negotiated` here would copy the whole connection per UPDATE.
        connections[i].restartHoldTimer(now: now)
    }

    mutating func routeRefreshReceived(_ refresh: RouteRefreshMessage, _ i: Int) {
        guard let negotiated = connections[i].negotiated else { return }
        // RFC 7313 §5: "When the BGP speaker receives a ROUTE-REFRESH message with a 'Message Subtype'
        // field other than 0, 1, or 2, it MUST ignore the received ROUTE-REFRESH message."
        guard refresh.subtype <= 2 else { return }
        // RFC 2918 §4: a ROUTE-REFRESH for an <AFI, SAFI> not advertised at session establishment
        // "shall" be ignored.
        guard negotiated.context.families.contains(refresh.family) else { return }
        emit(.deliverRouteRefresh(refresh))
    }

    /// RFC 4271 §8.2.2 OpenConfirm, Event 26.
    mutating func establish(_ i: Int, now: NIODeadline) {
        let id = connections[i].id
        connections[i].phase = .established
        restartHoldTimer(i, now: now)
        establishedAt = now
        // Outbound attempts still in progress could only collide with the Established session and be
        // closed (RFC 4271 §6.8), so abandon them now.
        for c in connections where c.phase == .connecting { emit(.close(c.id)) }
        connections.removeAll { $0.phase == .connecting }
        connectRetryDeadline = nil
        guard let j = index(of: id), let negotiated = connections[j].negotiated else { return }
        emit(.established(id, negotiated))
    }

    // MARK: - OPEN and collisions

    /// A syntactically valid OPEN on connection `i` (in DelayOpen or OpenSent).
    mutating func openReceived(_ i: Int, _ open: OpenMessage, now: NIODeadline) {
        let id = connections[i].id
        let local = connections[i].localOpen ?? OpenMessage(configuration: configuration)
        let negotiated: NegotiatedSession
        do {
            negotiated = try NegotiatedSession.negotiate(local: local, peer: open, configuration: configuration)
        } catch {
            // RFC 4271 §8.2.2 Connect / Active / OpenSent, Event 22 (BGPOpenMsgErr): send the NOTIFICATION
            // (RFC 4271 §6.2), drop the TCP connection, change to Idle.
            drop(
                i, notification: NotificationMessage(error), reason: "sent NOTIFICATION: \(error.reason)",
                fallback: .idle, now: now)
            return
        }
        // RFC 4271 §6.8: "Upon receipt of an OPEN message, the local system MUST examine all of its
        // connections that are in the OpenConfirm state" (and an Established one).
        guard resolveCollision(for: id, peer: negotiated, now: now), let j = index(of: id) else { return }
        if connections[j].phase == .delayOpen {
            // RFC 4271 §8.2.2 Connect / Active, Event 20: "completes the BGP initialization, ... sends an
            // OPEN message, sends a KEEPALIVE message".
            connections[j].localOpen = local
            emit(.send(id, .open(local)))
        }
        // RFC 4271 §8.2.2 OpenSent, Event 19: "sets the BGP ConnectRetryTimer to zero, sends a KEEPALIVE
        // message, and sets a KeepaliveTimer ... sets the HoldTimer according to the negotiated value
        // ... If the negotiated hold time value is zero, then the HoldTimer and KeepaliveTimer are not
        // started", and changes its state to OpenConfirm.
        emit(.send(id, .keepalive))
        connectRetryDeadline = nil
        connections[j].delayOpenDeadline = nil
        connections[j].negotiated = negotiated
        connections[j].phase = .openConfirm
        if negotiated.holdTime > 0 {
            connections[j].holdDeadline = now + .seconds(Int64(negotiated.holdTime))
            connections[j].keepaliveDeadline = now + .seconds(Int64(max(negotiated.keepaliveInterval, 1)))
        } else {
            connections[j].holdDeadline = nil
            connections[j].keepaliveDeadline = nil
        }
    }

    /// RFC 4271 §6.8 collision resolution after a valid OPEN on `id`; returns whether `id` survives.
    mutating func resolveCollision(for id: ConnectionID, peer: NegotiatedSession, now: NIODeadline) -> Bool {
        guard let newIndex = index(of: id) else { return false }
        let newIsOutbound = connections[newIndex].outbound
        guard
            let other = connections.first(where: {
                $0.id != id && ($0.phase == .openConfirm || $0.phase == .established)
            })
        else { return true }
        let closeNew: Bool
        if other.phase == .established || other.outbound == newIsOutbound {
            // RFC 4271 §6.8: a collision with an Established connection closes the new connection.
            closeNew = true
        } else {
            // RFC 4271 §6.8: "If the value of the local BGP Identifier is less than the remote one, the
            // local system closes the BGP connection that already exists ... and accepts the BGP
            // connection initiated by the remote system. Otherwise, the local system closes the newly
            // created BGP connection": the connection opened by the higher BGP Identifier survives
            // (identifiers compared as host-order unsigned integers). RFC 6286 §2.3: with equal
            // identifiers, the connection opened by the larger AS survives.
            let localWins =
                (configuration.routerID.rawValue, configuration.localAS) > (peer.peerRouterID.rawValue, peer.peerAS)
            closeNew = newIsOutbound != localWins
        }
        // "Closing the BGP connection (that results from the collision resolution procedure) is
        // accomplished by sending the NOTIFICATION message with the Error Code Cease"; RFC 4486 §4:
        // subcode Connection Collision Resolution.
        if closeNew {
            drop(newIndex, notification: collisionResolution, reason: nil, fallback: .idle, now: now)
            return false
        }
        if let o = index(of: other.id) {
            drop(o, notification: collisionResolution, reason: nil, fallback: .idle, now: now)
        }
        return true
    }

    var collisionResolution: NotificationMessage {
        NotificationMessage(code: .cease, subcode: NotificationSubcode.Cease.connectionCollisionResolution)
    }

    // MARK: - Decode errors

    mutating func decodeError(_ error: BGPError, on id: ConnectionID, now: NIODeadline) {
        guard let i = index(of: id), connections[i].phase.tcpUp else { return }
        // RFC 4271 §6: on a message error the speaker sends the NOTIFICATION and closes the connection;
        // RFC 4271 §8.2.2 Events 21, 22, 28: change to Idle.
        drop(
            i, notification: NotificationMessage(error), reason: "sent NOTIFICATION: \(error.reason)",
            fallback: .idle, now: now)
    }

    /// "Cease / Administrative Shutdown: maintenance" style text for logs and `lastError`.
    static func describe(_ n: NotificationMessage) -> String {
        var text = "\(n.code) subcode \(n.subcode)"
        // RFC 9003 §2: Cease / Administrative Shutdown or Reset may carry a Shutdown Communication.
        if n.code == .cease,
            n.subcode == NotificationSubcode.Cease.administrativeShutdown
                || n.subcode == NotificationSubcode.Cease.administrativeReset,
            let length = n.data.first, length > 0, n.data.count >= 1 + Int(length)
        {
            text += ": \"\(String(decoding: n.data[1...Int(length)], as: UTF8.self))\""
        }
        return text
    }
}
