import Logging
import NIOCore
import NIOPosix

/// The speaker's state and logic, confined to one event loop (see `Speaker`).
final class SpeakerCore {
    let eventLoop: any EventLoop
    var configuration: SpeakerConfiguration
    let logger: Logger
    var rib = RIB()
    /// The full set we originate (desired state).
    var desired: [IPPrefix: OriginatedRoute] = [:]
    var peers: [IPAddress: PeerSession] = [:]
    var listeners: [any Channel] = []
    var nextConnectionID = 1
    var nextPeerID = 1
    var shuttingDown = false

    init(configuration: SpeakerConfiguration, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
    }

    private var bound: NIOLoopBound<SpeakerCore> { NIOLoopBound(self, eventLoop: eventLoop) }

    // MARK: - Lifecycle

    func start() -> EventLoopFuture<Void> {
        for settings in configuration.peers { addPeer(settings) }
        return bindListeners()
    }

    /// Where to listen: the configured addresses, or each distinct peer `localAddress` (the wildcard
    /// address of the peer's family when it has none).
    static func listenAddresses(_ configuration: SpeakerConfiguration) -> [SocketAddress] {
        guard configuration.listenPort > 0 else { return [] }
        var texts: [String] = configuration.listenAddresses.map(\.description)
        if texts.isEmpty {
            var set = Set<String>()
            for p in configuration.peers {
                if let l = p.localAddress {
                    set.insert(l.description)
                } else {
                    switch p.address {
                    case .v4: set.insert("0.0.0.0")
                    case .v6: set.insert("::")
                    }
                }
            }
            texts = set.sorted()
        }
        return texts.compactMap { try? SocketAddress(ipAddress: $0, port: configuration.listenPort) }
    }

    private func bindListeners() -> EventLoopFuture<Void> {
        let addresses = Self.listenAddresses(configuration)
        let bound = self.bound
        var futures: [EventLoopFuture<Void>] = []
        for address in addresses {
            let f = ServerBootstrap(group: eventLoop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 64)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try bound.value.acceptInbound(channel)
                    }
                }
                .bind(to: address)
                .map { channel -> Void in
                    bound.value.listeners.append(channel)
                    bound.value.logger.info("listening", metadata: ["bgp.listen": "\(address)"])
                }
            futures.append(f)
        }
        return EventLoopFuture.andAllSucceed(futures, on: eventLoop)
    }

    func shutdown() -> EventLoopFuture<Void> {
        shuttingDown = true
        // Withdraw first, so routers move traffic before the sessions close.
        desired = [:]
        for peer in peers.values { advertise(peer) }
        var closes: [EventLoopFuture<Void>] = []
        for peer in peers.values {
            closes += peer.channels.values.map { $0.closeFuture }
            run(.manualStop, on: peer)
            peer.timer?.cancel()
        }
        for l in listeners { closes.append(l.close()) }
        listeners = []
        return EventLoopFuture.whenAllComplete(closes, on: eventLoop).map { _ in }
    }

    func reconfigure(_ new: SpeakerConfiguration) -> EventLoopFuture<Void> {
        let old = configuration
        configuration = new
        let identityChanged = old.localAS != new.localAS || old.routerID != new.routerID
        let newByAddress = Dictionary(new.peers.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        for (address, peer) in peers {
            guard let settings = newByAddress[address] else {
                logger.info("peer removed from configuration", metadata: ["bgp.peer": "\(address)"])
                removePeer(peer)
                continue
            }
            if identityChanged || settings != peer.settings {
                let nextHopOnly = !identityChanged && Self.differOnlyInNextHop(settings, peer.settings)
                if nextHopOnly {
                    peer.settings = settings
                    resendAll(peer)
                } else {
                    logger.info("peer configuration changed; restarting session", metadata: ["bgp.peer": "\(address)"])
                    removePeer(peer)
                    addPeer(settings)
                }
            }
        }
        for settings in new.peers where peers[settings.address] == nil { addPeer(settings) }
        if Self.listenAddresses(old) != Self.listenAddresses(new) {
            let closing = listeners.map { $0.close() }
            listeners = []
            let bound = self.bound
            return EventLoopFuture.whenAllComplete(closing, on: eventLoop).flatMap { _ in bound.value.bindListeners() }
        }
        return eventLoop.makeSucceededVoidFuture()
    }

    private static func differOnlyInNextHop(_ a: PeerSettings, _ b: PeerSettings) -> Bool {
        var a = a
        a.nextHopV4 = b.nextHopV4
        a.nextHopV6 = b.nextHopV6
        return a == b
    }

    private func addPeer(_ settings: PeerSettings) {
        let fsmConfiguration: PeerConfiguration
        do {
            fsmConfiguration = try settings.fsmConfiguration(
                localAS: configuration.localAS, routerID: configuration.routerID)
        } catch {
            logger.error("peer not started: \(error)", metadata: ["bgp.peer": "\(settings.address)"])
            return
        }
        let id = PeerID(nextPeerID)
        nextPeerID += 1
        let peer = PeerSession(id: id, settings: settings, configuration: fsmConfiguration, logger: logger)
        peers[settings.address] = peer
        run(.manualStart, on: peer)
    }

    private func removePeer(_ peer: PeerSession) {
        run(.manualStop, on: peer)
        peer.timer?.cancel()
        peer.timer = nil
        for channel in peer.channels.values { channel.close(promise: nil) }
        peer.channels = [:]
        _ = rib.removePeer(peer.id)
        peers[peer.settings.address] = nil
    }

    // MARK: - Advertisements

    func setAdvertisements(_ routes: [IPPrefix: OriginatedRoute]) {
        guard !shuttingDown else { return }
        desired = routes
        for peer in peers.values { advertise(peer) }
    }

    /// Sends the difference between `desired` and what the peer has, if the session is up.
    private func advertise(_ peer: PeerSession) {
        guard peer.fsm.state == .established, var out = peer.adjRIBOut,
            let conn = peer.fsm.establishedConnection, let channel = peer.channels[conn]
        else { return }
        let families = peer.context.families
        let filtered = desired.filter { families.contains($0.key.family) }
        let diff = out.setDesired(filtered)
        peer.adjRIBOut = out
        peer.metricPrefixesOut.record(out.advertisedCount)
        guard !diff.isEmpty else { return }
        let updates = UpdateMessage.pack(withdrawn: diff.withdrawn, announced: diff.announced, context: peer.context)
        for u in updates { write(.update(u), to: channel, peer: peer) }
        peer.updatesSent += updates.count
        channel.flush()
        peer.logger.debug(
            "advertisement changed",
            metadata: [
                "bgp.withdrawn": "\(diff.withdrawn.count)",
                "bgp.announced": "\(diff.announced.reduce(0) { $0 + $1.prefixes.count })",
                "bgp.updates": "\(updates.count)",
            ])
    }

    /// Sends the whole Adj-RIB-Out again (route refresh, next-hop change).
    private func resendAll(_ peer: PeerSession) {
        guard peer.adjRIBOut != nil else { return }
        let nh = peer.nextHops()
        peer.adjRIBOut = AdjRIBOut(
            localAS: configuration.localAS, peerAS: peer.settings.peerAS, nextHopV4: nh.v4, nextHopV6: nh.v6,
            nextHopV6LinkLocal: nil)
        advertise(peer)
    }

    // MARK: - Connections

    private func allocateConnectionID() -> ConnectionID {
        defer { nextConnectionID += 1 }
        return ConnectionID(nextConnectionID)
    }

    private func acceptInbound(_ channel: any Channel) throws {
        guard let remote = channel.remoteAddress?.ipAddress.flatMap({ IPAddress(Self.stripScope($0)) }),
            let peer = peers[remote], !shuttingDown
        else {
            logger.notice(
                "refused connection from unconfigured address",
                metadata: ["bgp.remote": "\(channel.remoteAddress?.description ?? "?")"])
            channel.close(promise: nil)
            return
        }
        guard peer.fsm.acceptsInbound() else {
            peer.logger.info("refused inbound connection in state \(peer.fsm.state.rawValue)")
            channel.close(promise: nil)
            return
        }
        let id = allocateConnectionID()
        try attach(channel, peer: peer, id: id, inbound: true)
    }

    private func attach(_ channel: any Channel, peer: PeerSession, id: ConnectionID, inbound: Bool) throws {
        peer.channels[id] = channel
        if let local = channel.localAddress?.ipAddress.flatMap({ IPAddress(Self.stripScope($0)) }) {
            peer.localAddresses[id] = local
        }
        _ = try? channel.syncOptions?.setOption(.socketOption(.tcp_nodelay), value: 1)
        try channel.pipeline.syncOperations.addHandler(
            BGPConnectionHandler(core: self, peerAddress: peer.settings.address, connection: id, inbound: inbound))
    }

    private func connectOutbound(_ peer: PeerSession, id: ConnectionID) {
        let settings = peer.settings
        let bound = self.bound
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let core = bound.value
                    guard let peer = core.peers[settings.address], peer === core.peers[settings.address] else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    try core.attach(channel, peer: peer, id: id, inbound: false)
                }
            }
        if let local = settings.localAddress, let sa = try? SocketAddress(ipAddress: local.description, port: 0) {
            bootstrap = bootstrap.bind(to: sa)
        }
        peer.logger.debug("connecting", metadata: ["bgp.connection": "\(id.rawValue)"])
        bootstrap.connect(host: settings.address.description, port: settings.port)
            .assumeIsolated()
            .whenFailure { error in
                let core = bound.value
                guard let p = core.peers[settings.address], p === peer else { return }
                p.channels[id] = nil
                p.localAddresses[id] = nil
                p.logger.debug("connect failed: \(error)")
                core.run(.tcpConnectionFails(id), on: p)
            }
    }

    static func stripScope(_ text: String) -> String {
        if let i = text.firstIndex(of: "%") { return String(text[..<i]) }
        return text
    }

    // MARK: - Events from connections

    func connectionActive(peerAddress: IPAddress, id: ConnectionID, inbound: Bool) {
        guard let peer = peers[peerAddress], peer.channels[id] != nil else { return }
        run(inbound ? .tcpConnectionConfirmed(id) : .tcpCRAcked(id), on: peer)
    }

    func connectionClosed(peerAddress: IPAddress, id: ConnectionID) {
        guard let peer = peers[peerAddress], peer.channels.removeValue(forKey: id) != nil else { return }
        peer.localAddresses[id] = nil
        run(.tcpConnectionFails(id), on: peer)
    }

    func received(_ frame: BGPFrame, peerAddress: IPAddress, id: ConnectionID) {
        guard let peer = peers[peerAddress], peer.channels[id] != nil else { return }
        peer.messagesReceived += 1
        peer.metricMessagesIn.increment()
        let established = peer.fsm.establishedConnection == id
        if established && frame.type == .update {
            receivedUpdate(frame, peer: peer, id: id)
            return
        }
        var warnings: [BGPError] = []
        let context = established ? peer.context : .preOpen
        do {
            let message = try BGPMessage.decode(frame, context: context, warnings: &warnings)
            for w in warnings {
                peer.logger.warning("UPDATE error handled per RFC 7606: \(w)")
            }
            if case .update = message {
                peer.updatesReceived += 1
                peer.metricUpdatesIn.increment()
            }
            run(.message(id, message), on: peer)
        } catch {
            peer.logger.warning("malformed message: \(error)")
            run(.decodeError(id, error), on: peer)
        }
    }

    /// An UPDATE on the Established connection: what `received` does for any message, without the
    /// `FSMEvent` / `[FSMAction]` round trip (the FSM restarts the HoldTimer; the UPDATE goes straight
    /// to the RIB).
    private func receivedUpdate(_ frame: BGPFrame, peer: PeerSession, id: ConnectionID) {
        let decoded: DecodedUpdate
        do {
            decoded = try BGPMessage.decodeUpdate(frame, context: peer.context)
        } catch {
            peer.logger.warning("malformed message: \(error)")
            run(.decodeError(id, error), on: peer)
            return
        }
        for w in decoded.errors {
            peer.logger.warning("UPDATE error handled per RFC 7606: \(w)")
        }
        peer.updatesReceived += 1
        peer.metricUpdatesIn.increment()
        // RFC 4271 §8.2.2 Established, Event 27 (the HoldTimer restart happens in the FSM).
        guard peer.fsm.updateReceivedInEstablished(on: id, now: .now()) else {
            run(.message(id, .update(decoded.update)), on: peer)
            return
        }
        deliver(decoded.update, peer: peer)
        scheduleTimer(peer)
    }

    /// Applies an UPDATE received in Established to the RIB. The prefixes-received gauge is brought up
    /// to date once per read batch (`readComplete`), not per UPDATE.
    private func deliver(_ update: UpdateMessage, peer: PeerSession) {
        _ = rib.apply(update, from: peer.id)
        peer.prefixesInGaugeStale = true
    }

    /// The end of a batch of reads on a connection: records the prefixes-received gauge if UPDATEs
    /// changed the peer's Adj-RIB-In since it was last recorded.
    func readComplete(peerAddress: IPAddress) {
        guard let peer = peers[peerAddress] else { return }
        recordPrefixesIn(peer)
    }

    private func recordPrefixesIn(_ peer: PeerSession) {
        guard peer.prefixesInGaugeStale else { return }
        peer.prefixesInGaugeStale = false
        let count = rib.prefixCount(of: peer.id)
        guard count != peer.prefixesInGaugeValue else { return }
        peer.prefixesInGaugeValue = count
        peer.metricPrefixesIn.record(count)
    }

    func decodeError(_ error: BGPError, peerAddress: IPAddress, id: ConnectionID) {
        guard let peer = peers[peerAddress], peer.channels[id] != nil else { return }
        peer.logger.warning("malformed message: \(error)")
        run(.decodeError(id, error), on: peer)
    }

    // MARK: - FSM

    func run(_ event: FSMEvent, on peer: PeerSession) {
        let actions = peer.fsm.handle(event, now: .now())
        execute(actions, peer: peer)
        scheduleTimer(peer)
    }

    private func execute(_ actions: [FSMAction], peer: PeerSession) {
        var toFlush: [ConnectionID] = []
        for action in actions {
            switch action {
            case .connect(let id):
                connectOutbound(peer, id: id)
            case .send(let id, let message):
                guard let channel = peer.channels[id] else { continue }
                write(message, to: channel, peer: peer)
                if !toFlush.contains(id) { toFlush.append(id) }
            case .close(let id):
                if let channel = peer.channels.removeValue(forKey: id) {
                    channel.flush()
                    channel.close(promise: nil)
                }
                peer.localAddresses[id] = nil
                toFlush.removeAll { $0 == id }
            case .established(let id, let negotiated):
                established(peer, connection: id, negotiated: negotiated)
            case .deliverUpdate(let update):
                deliver(update, peer: peer)
            case .deliverRouteRefresh(let refresh):
                peer.logger.info("route refresh requested for \(refresh.family)")
                resendAll(peer)
            case .sessionDown(let reason):
                peer.lastError = reason
                peer.logger.notice("session down: \(reason)")
                _ = rib.removePeer(peer.id)
                peer.adjRIBOut = nil
                peer.establishedAt = nil
                peer.establishedLocalAddress = nil
                peer.context = .preOpen
                peer.prefixesInGaugeStale = false
                peer.prefixesInGaugeValue = 0
                peer.metricPrefixesIn.record(0)
                peer.metricPrefixesOut.record(0)
                peer.metricEstablished.record(0)
            case .stateChanged(let from, let to):
                peer.stateChanges += 1
                peer.metricStateChanges.increment()
                peer.logger.info("state \(from.rawValue) -> \(to.rawValue)")
            }
        }
        for id in toFlush { peer.channels[id]?.flush() }
    }

    private func established(_ peer: PeerSession, connection id: ConnectionID, negotiated: NegotiatedSession) {
        peer.context = negotiated.context
        peer.establishedAt = .now()
        peer.establishedTransitions += 1
        peer.establishedLocalAddress = peer.localAddresses[id]
        peer.metricEstablished.record(1)
        rib.setPeerInfo(
            peer.id,
            RIBPeerInfo(
                peerAS: negotiated.peerAS, routerID: negotiated.peerRouterID, address: peer.settings.address,
                internalPeer: negotiated.context.internalPeer, localAS: configuration.localAS))
        let nh = peer.nextHops()
        peer.adjRIBOut = AdjRIBOut(
            localAS: configuration.localAS, peerAS: negotiated.peerAS, nextHopV4: nh.v4, nextHopV6: nh.v6,
            nextHopV6LinkLocal: nil)
        peer.logger.notice(
            "session established",
            metadata: ["bgp.hold_time": "\(negotiated.holdTime)", "bgp.families": "\(negotiated.context.families)"])
        advertise(peer)
        // RFC 4724 §2: End-of-RIB after the initial update for each family.
        guard let channel = peer.channels[id] else { return }
        for family in negotiated.context.families.sorted(by: { $0.afi.rawValue < $1.afi.rawValue }) {
            write(.update(.endOfRIB(family)), to: channel, peer: peer)
        }
        channel.flush()
    }

    private func write(_ message: BGPMessage, to channel: any Channel, peer: PeerSession) {
        var buffer = channel.allocator.buffer(capacity: 64)
        message.write(to: &buffer, context: peer.context)
        channel.write(buffer, promise: nil)
        peer.messagesSent += 1
        peer.metricMessagesOut.increment()
    }

    private func scheduleTimer(_ peer: PeerSession) {
        guard let deadline = peer.fsm.nextDeadline, peers[peer.settings.address] === peer else {
            peer.timer?.cancel()
            peer.timer = nil
            peer.timerDeadline = nil
            return
        }
        // A timer already set to fire no later is kept; when it fires it re-arms for the next deadline.
        if let current = peer.timerDeadline, peer.timer != nil, current <= deadline { return }
        peer.timer?.cancel()
        peer.timerDeadline = deadline
        peer.timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            peer.timer = nil
            peer.timerDeadline = nil
            guard peers[peer.settings.address] === peer else { return }
            run(.timersExpired, on: peer)
        }
    }

    // MARK: - Status

    func peerStatus() -> [PeerStatus] {
        let now = NIODeadline.now()
        return peers.values.sorted { $0.id.rawValue < $1.id.rawValue }.map { p in
            let n = p.fsm.negotiated
            var caps: [String] = []
            if let n {
                if n.context.fourOctetAS { caps.append("4-octet-as") }
                if n.routeRefresh { caps.append("route-refresh") }
                if n.context.extendedMessages { caps.append("extended-message") }
                if n.peerGracefulRestart != nil { caps.append("graceful-restart") }
                for f in n.context.families.sorted(by: { $0.afi.rawValue < $1.afi.rawValue }) {
                    caps.append("multiprotocol:\(f)")
                }
            }
            return PeerStatus(
                address: p.settings.address, asn: p.settings.peerAS,
                localAddress: p.establishedLocalAddress?.description ?? p.settings.localAddress?.description,
                state: p.fsm.state,
                uptimeSeconds: p.establishedAt.map { Double((now - $0).nanoseconds) / 1e9 },
                holdTime: n?.holdTime, keepaliveTime: n?.keepaliveInterval, peerRouterID: n?.peerRouterID,
                capabilities: caps,
                families: (n?.context.families ?? []).map(\.description).sorted(),
                prefixesReceived: rib.prefixCount(of: p.id), prefixesAdvertised: p.adjRIBOut?.advertisedCount ?? 0,
                messagesReceived: p.messagesReceived, messagesSent: p.messagesSent,
                updatesReceived: p.updatesReceived, updatesSent: p.updatesSent, stateChanges: p.stateChanges,
                establishedTransitions: p.establishedTransitions, lastError: p.lastError ?? p.fsm.lastError)
        }
    }

    func routes(peer address: IPAddress?, prefix: IPPrefix?, limit: Int) -> [PeerRoutes] {
        peers.values.sorted { $0.id.rawValue < $1.id.rawValue }
            .filter { address == nil || $0.settings.address == address }
            .map { PeerRoutes(address: $0.settings.address, routes: rib.routes(peer: $0.id, prefix: prefix, limit: limit)) }
    }
}
