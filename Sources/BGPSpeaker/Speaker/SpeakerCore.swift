import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

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
    /// Peer addresses whose TCP-MD5 key is on the listeners.
    var listenerKeys: Set<IPAddress> = []
    /// This process took over from one that handed its sessions off (`handOff()`): the first OPEN to
    /// each configured peer carries the Restart State and Forwarding State bits (RFC 4724 §4.1).
    let restarted: Bool

    init(configuration: SpeakerConfiguration, eventLoop: any EventLoop, logger: Logger, restarted: Bool = false) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.restarted = restarted
        rib.capacity = configuration.ribCapacity
    }

    private var bound: NIOLoopBound<SpeakerCore> { NIOLoopBound(self, eventLoop: eventLoop) }

    // MARK: - Lifecycle

    func start() -> EventLoopFuture<Void> {
        for settings in configuration.peers { addPeer(settings, restarted: restarted) }
        return bindListeners()
    }

    /// Where to listen: the configured addresses, or each distinct peer `localAddress` (the wildcard
    /// address of the peer's family when it has none). A wildcard of a family replaces the specific
    /// addresses of that family, since Linux refuses a specific bind beside a listening wildcard.
    static func listenAddresses(_ configuration: SpeakerConfiguration) -> [SocketAddress] {
        guard configuration.listenPort > 0 else { return [] }
        var wanted: [IPAddress] = configuration.listenAddresses
        if wanted.isEmpty {
            for p in configuration.peers {
                if let l = p.localAddress {
                    wanted.append(l)
                } else {
                    switch p.address {
                    case .v4: wanted.append(.v4(IPv4Address(rawValue: 0)))
                    case .v6: wanted.append(.v6(IPv6Address(high: 0, low: 0)))
                    }
                }
            }
        }
        let v4Wildcard = wanted.contains(.v4(IPv4Address(rawValue: 0)))
        let v6Wildcard = wanted.contains(.v6(IPv6Address(high: 0, low: 0)))
        var texts = Set<String>()
        for a in wanted {
            switch a {
            case .v4(let v4): texts.insert(v4Wildcard ? "0.0.0.0" : v4.description)
            case .v6(let v6): texts.insert(v6Wildcard ? "::" : v6.description)
            }
        }
        return texts.sorted().compactMap { try? SocketAddress(ipAddress: $0, port: configuration.listenPort) }
    }

    private func bindListeners() -> EventLoopFuture<Void> {
        let addresses = Self.listenAddresses(configuration)
        let bound = self.bound
        var futures: [EventLoopFuture<Void>] = []
        for address in addresses {
            var server = ServerBootstrap(group: eventLoop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 64)
            if address.protocol == .inet6 {
                // `::` takes IPv6 only, so it can sit beside a `0.0.0.0` listener.
                server = server.serverChannelOption(
                    ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
            }
            let f =
                server
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try bound.value.acceptInbound(channel)
                    }
                }
                .bind(to: address)
                .map { channel -> Void in
                    bound.value.listeners.append(channel)
                    bound.value.logger.info("listening", metadata: ["bgp.listen": "\(address)"])
                    bound.value.listenerKeys = []
                    bound.value.installListenerKeys()
                }
            futures.append(f)
        }
        return EventLoopFuture.andAllSucceed(futures, on: eventLoop)
    }

    func shutdown(communication: String?) -> EventLoopFuture<Void> {
        shuttingDown = true
        // Withdraw first, so routers move traffic before the sessions close.
        desired = [:]
        for peer in peers.values { advertise(peer) }
        var closes: [EventLoopFuture<Void>] = []
        for peer in peers.values {
            closes += peer.channels.values.map { $0.closeFuture }
            // RFC 9003: the operator on the other side reads why in its log.
            peer.fsm.shutdownCommunication = communication
            run(.manualStop, on: peer)
            peer.timer?.cancel()
        }
        for l in listeners { closes.append(l.close()) }
        listeners = []
        return EventLoopFuture.whenAllComplete(closes, on: eventLoop).map { _ in }
    }

    /// Leaves every session to a successor process: nothing withdrawn and no NOTIFICATION, the TCP
    /// connections just close. A peer that negotiated Graceful Restart takes that as our restart
    /// (RFC 4724 §4.2) and keeps our routes, marked stale, until the successor's End-of-RIB or the
    /// restart time. The listeners close too, so the successor can bind them.
    func handOff() -> EventLoopFuture<Void> {
        shuttingDown = true
        var closes: [EventLoopFuture<Void>] = []
        for peer in peers.values {
            peer.timer?.cancel()
            peer.timer = nil
            peer.logger.notice("session handed off to the successor process, routes kept by Graceful Restart")
            closes += peer.channels.values.map { $0.close() }
        }
        // Forgotten first: the closes that follow reach no FSM.
        peers = [:]
        for l in listeners { closes.append(l.close()) }
        listeners = []
        return EventLoopFuture.whenAllComplete(closes, on: eventLoop).map { _ in }
    }

    func reconfigure(_ new: SpeakerConfiguration) -> EventLoopFuture<Void> {
        let old = configuration
        configuration = new
        rib.capacity = new.ribCapacity
        // The OPEN changes with the identity and the Graceful Restart capability: sessions restart.
        let identityChanged =
            old.localAS != new.localAS || old.routerID != new.routerID || old.gracefulRestart != new.gracefulRestart
        let newByAddress = Dictionary(new.peers.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        for (address, peer) in peers {
            guard let settings = newByAddress[address] else {
                logger.info("peer removed from configuration", metadata: ["bgp.peer": "\(address)"])
                removePeer(peer)
                continue
            }
            if identityChanged || settings != peer.settings {
                let inPlace = !identityChanged && Self.differOnlyInLocalSettings(settings, peer.settings)
                if inPlace {
                    // Next hops, BFD timers (a Poll Sequence carries them), prefix limit, send hold time: the
                    // session stays up.
                    let nextHopsChanged =
                        settings.nextHopV4 != peer.settings.nextHopV4 || settings.nextHopV6 != peer.settings.nextHopV6
                    peer.settings = settings
                    if nextHopsChanged { updateNextHops(peer) }
                    if settings.bfd == nil { peer.bfdState = nil }
                    if peer.fsm.state == .established { _ = checkLimits(peer, family: .ipv4Unicast) }
                } else {
                    logger.info("peer configuration changed; restarting session", metadata: ["bgp.peer": "\(address)"])
                    removePeer(peer)
                    addPeer(settings)
                }
            }
        }
        for settings in new.peers where peers[settings.address] == nil { addPeer(settings) }
        guard Set(Self.listenAddresses(old)) != Set(Self.listenAddresses(new)) else {
            installListenerKeys()
            return eventLoop.makeSucceededVoidFuture()
        }
        // Close the old listeners first (a wildcard and a specific address cannot both be bound), bind
        // the new ones, and fall back to the old set if that fails, so the speaker is never left deaf.
        let bound = self.bound
        let closing = listeners.map { $0.close() }
        listeners = []
        return EventLoopFuture.whenAllComplete(closing, on: eventLoop)
            .flatMap { _ in bound.value.bindListeners() }
            .flatMapError { error in
                let core = bound.value
                core.logger.error("cannot listen on the new addresses, keeping the old ones: \(error)")
                core.configuration.listenAddresses = old.listenAddresses
                core.configuration.listenPort = old.listenPort
                for l in core.listeners { l.close(promise: nil) }
                core.listeners = []
                return core.bindListeners()
            }
    }

    /// Whether two settings differ only in what applies without restarting the session.
    static func differOnlyInLocalSettings(_ a: PeerSettings, _ b: PeerSettings) -> Bool {
        var a = a
        a.nextHopV4 = b.nextHopV4
        a.nextHopV6 = b.nextHopV6
        a.bfd = b.bfd
        a.bfdPort = b.bfdPort
        a.maxPrefixes = b.maxPrefixes
        a.sendHoldTime = b.sendHoldTime
        return a == b
    }

    private func addPeer(_ settings: PeerSettings, restarted: Bool = false) {
        var fsmConfiguration: PeerConfiguration
        do {
            fsmConfiguration = try settings.fsmConfiguration(
                localAS: configuration.localAS, routerID: configuration.routerID)
            fsmConfiguration.gracefulRestart = configuration.gracefulRestart?.capability(
                families: settings.families, restarted: restarted)
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
        peer.fsm.shutdownCommunication = "peer removed from or changed in the configuration"
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
        let address = peer.settings.address
        let filtered = desired.filter { families.contains($0.key.family) && $0.value.peers?.contains(address) ?? true }
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

    /// Applies changed next hops: the diff re-announces every prefix with the new next hop and
    /// withdraws those whose family no longer has one.
    private func updateNextHops(_ peer: PeerSession) {
        guard var out = peer.adjRIBOut else { return }
        let nh = peer.nextHops()
        out.nextHopV4 = nh.v4
        out.nextHopV6 = nh.v6
        peer.adjRIBOut = out
        advertise(peer)
    }

    /// Sends the whole Adj-RIB-Out again (ROUTE-REFRESH request, RFC 2918 §4).
    private func resendAll(_ peer: PeerSession) {
        guard var out = peer.adjRIBOut else { return }
        out.reset()
        peer.adjRIBOut = out
        advertise(peer)
    }

    // MARK: - Connections

    private func allocateConnectionID() -> ConnectionID {
        defer { nextConnectionID += 1 }
        return ConnectionID(nextConnectionID)
    }

    private func acceptInbound(_ channel: any Channel) throws {
        guard let remote = channel.remoteAddress.flatMap(Self.ipAddress(of:)), let peer = peers[remote],
            !shuttingDown
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
        if peer.settings.ttlSecurity {
            // The handshake went through the listener; from here on segments from farther than one hop are
            // dropped, and ours leave with TTL 255.
            _ = SessionSecurity.setTTLSecurity(peer: peer.settings.address, on: channel)
        }
        let id = allocateConnectionID()
        try attach(channel, peer: peer, id: id, inbound: true)
    }

    /// The MD5 keys the listeners hold: one per peer with a password, on the listener of its family.
    /// Keys of peers that lost their password or left are removed.
    private func installListenerKeys() {
        let wanted = Dictionary(
            configuration.peers.compactMap { p in p.password.map { (p.address, $0) } }, uniquingKeysWith: { a, _ in a })
        for listener in listeners {
            let family = listener.localAddress?.protocol
            // GTSM: the handshake's SYN-ACK leaves from the listener, so it must already carry TTL 255 for a
            // peer that checks (harmless for the others). Set once; never lowered while running.
            if configuration.peers.contains(where: { $0.ttlSecurity && Self.family(of: $0.address) == family }) {
                _ = SessionSecurity.setOutgoingTTL255(ipv6: family == .inet6, on: listener)
            }
            for (address, key) in wanted where Self.family(of: address) == family {
                SessionSecurity.setMD5Key(key, peer: address, on: listener).whenFailure { [logger] error in
                    logger.error("cannot install the TCP-MD5 key for \(address): \(error)")
                }
            }
            for address in listenerKeys where wanted[address] == nil && Self.family(of: address) == family {
                _ = SessionSecurity.setMD5Key(nil, peer: address, on: listener)
            }
        }
        listenerKeys = Set(wanted.keys)
    }

    static func family(of address: IPAddress) -> NIOBSDSocket.ProtocolFamily {
        switch address {
        case .v4: .inet
        case .v6: .inet6
        }
    }

    private func attach(_ channel: any Channel, peer: PeerSession, id: ConnectionID, inbound: Bool) throws {
        _ = try? channel.syncOptions?.setOption(.tcpOption(.tcp_nodelay), value: 1)
        try channel.pipeline.syncOperations.addHandler(
            BGPConnectionHandler(core: self, peerAddress: peer.settings.address, connection: id, inbound: inbound))
        peer.channels[id] = channel
    }

    private func connectOutbound(_ peer: PeerSession, id: ConnectionID) {
        let settings = peer.settings
        let bound = self.bound
        let boundPeer = NIOLoopBound(peer, eventLoop: eventLoop)
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                // TCP-MD5 and GTSM go on before the connect: the SYN is already signed and sent with TTL 255.
                var ready = channel.eventLoop.makeSucceededVoidFuture()
                if let key = settings.password {
                    ready = SessionSecurity.setMD5Key(key, peer: settings.address, on: channel)
                }
                if settings.ttlSecurity {
                    ready = ready.flatMap { SessionSecurity.setTTLSecurity(peer: settings.address, on: channel) }
                }
                return ready.flatMapThrowing {
                    let core = bound.value
                    let peer = boundPeer.value
                    // The peer may have been removed or replaced (SIGHUP) while connecting.
                    guard let current = core.peers[settings.address], current === peer else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    try core.attach(channel, peer: peer, id: id, inbound: false)
                }
            }
        if let local = settings.localAddress, let sa = try? SocketAddress(ipAddress: local.description, port: 0) {
            bootstrap = bootstrap.bind(to: sa)
        }
        peer.logger.debug("connecting", metadata: ["bgp.connection": "\(id.rawValue)"])
        let remote: SocketAddress
        do {
            remote = try SocketAddress(ipAddress: settings.address.description, port: settings.port)
        } catch {
            peer.logger.error("cannot connect: \(error)")
            eventLoop.assumeIsolated().execute { bound.value.run(.tcpConnectionFails(id), on: peer) }
            return
        }
        bootstrap.connect(to: remote)
            .assumeIsolated()
            .whenFailure { error in
                let core = bound.value
                guard let p = core.peers[settings.address], p === peer else { return }
                if let channel = p.channels.removeValue(forKey: id) { channel.close(promise: nil) }
                p.localAddresses[id] = nil
                if settings.password != nil {
                    // RFC 2385: a segment without the right signature is dropped without a word, so a
                    // password mismatch looks like a peer that never answers.
                    let reason =
                        "connect failed: \(error) (TCP-MD5 is on: a peer without this password drops every segment)"
                    if p.lastError != reason { p.logger.warning("\(reason)") }
                    p.lastError = reason
                } else {
                    p.logger.debug("connect failed: \(error)")
                }
                core.run(.tcpConnectionFails(id), on: p)
            }
    }

    /// The IP address of a socket address, without a zone, with IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`, seen on dual-stack sockets) turned into IPv4.
    static func ipAddress(of socketAddress: SocketAddress) -> IPAddress? {
        guard var text = socketAddress.ipAddress else { return nil }
        if let i = text.firstIndex(of: "%") { text = String(text[..<i]) }
        guard let address = IPAddress(text) else { return nil }
        if case .v6(let v6) = address, v6.high == 0, v6.low >> 32 == 0xFFFF {
            return .v4(IPv4Address(rawValue: UInt32(truncatingIfNeeded: v6.low)))
        }
        return address
    }

    /// True for 0.0.0.0 and ::, which a socket reports before it is bound.
    static func isUnspecified(_ address: IPAddress) -> Bool {
        switch address {
        case .v4(let a): a.rawValue == 0
        case .v6(let a): a.high == 0 && a.low == 0
        }
    }

    // MARK: - Events from connections

    func connectionActive(peerAddress: IPAddress, id: ConnectionID, inbound: Bool) {
        guard let peer = peers[peerAddress], let channel = peer.channels[id] else { return }
        // Read the local address now: an outbound socket only has its real one once connected.
        if let local = channel.localAddress.flatMap(Self.ipAddress(of:)), !Self.isUnspecified(local) {
            peer.localAddresses[id] = local
        }
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
        if checkLimits(peer, family: decoded.update.attributes.mpReach?.family ?? .ipv4Unicast) { return }
        scheduleTimer(peer)
    }

    /// After an UPDATE from `peer`: its prefix limit (RFC 4486 §4) and the RIB's capacity. Returns true
    /// when the session was reset.
    private func checkLimits(_ peer: PeerSession, family: AddressFamily) -> Bool {
        if rib.nearCapacity {
            peer.logger.critical("RIB near its capacity: resetting the session that filled it")
            run(
                .localError(
                    NotificationMessage(code: .cease, subcode: NotificationSubcode.Cease.outOfResources),
                    reason: "sent NOTIFICATION: out of resources (RIB near its capacity)"), on: peer)
            return true
        }
        guard let limit = peer.settings.maxPrefixes else { return false }
        let count = rib.prefixCount(of: peer.id)
        guard count > limit.limit else {
            peer.prefixLimitWarned = false
            return false
        }
        switch limit.action {
        case .warn:
            if !peer.prefixLimitWarned {
                peer.prefixLimitWarned = true
                peer.logger.warning("prefix limit exceeded: \(count) prefixes received, limit \(limit.limit)")
            }
            return false
        case .restart:
            peer.logger.warning("prefix limit exceeded: \(count) prefixes received, limit \(limit.limit); resetting")
            // RFC 4486 §4: Data is AFI (2 octets), SAFI (1) and the upper bound (4).
            var data: [UInt8] = [
                UInt8(family.afi.rawValue >> 8), UInt8(family.afi.rawValue & 0xFF), family.safi.rawValue,
            ]
            withUnsafeBytes(of: UInt32(clamping: limit.limit).bigEndian) { data += $0 }
            run(
                .localError(
                    NotificationMessage(
                        code: .cease, subcode: NotificationSubcode.Cease.maximumPrefixesReached, data: data),
                    reason: "sent NOTIFICATION: maximum number of prefixes reached (\(limit.limit))"), on: peer)
            return true
        }
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

    /// RFC 9687 §4: "the SendHoldTime SHOULD be ... 8 minutes or twice the negotiated Hold Time, whichever
    /// is greater" (the configured hold time before the OPEN exchange).
    func sendHoldTime(peerAddress: IPAddress) -> TimeAmount {
        guard let peer = peers[peerAddress] else { return .minutes(8) }
        if let configured = peer.settings.sendHoldTime { return configured }
        let hold = Int64(peer.fsm.negotiated?.holdTime ?? peer.settings.holdTime)
        return max(.minutes(8), .seconds(2 * hold))
    }

    /// Nothing we sent reached the socket for the SendHoldTime: the peer stopped reading (RFC 9687 §3).
    func sendHoldTimerExpired(peerAddress: IPAddress, id: ConnectionID) {
        guard let peer = peers[peerAddress], peer.channels[id] != nil else { return }
        let hold = sendHoldTime(peerAddress: peerAddress)
        peer.logger.error("send hold timer expired: the peer has not read for \(hold.nanoseconds / 1_000_000_000) s")
        // "the local system ... MUST send a NOTIFICATION message with the Send Hold Timer Expired error code
        // (if possible) and MUST close the connection".
        run(
            .localError(
                NotificationMessage(code: .sendHoldTimerExpired, subcode: 0),
                reason: "sent NOTIFICATION: send hold timer expired (RFC 9687)"), on: peer)
    }

    func decodeError(_ error: BGPError, peerAddress: IPAddress, id: ConnectionID) {
        guard let peer = peers[peerAddress], peer.channels[id] != nil else { return }
        peer.logger.warning("malformed message: \(error)")
        run(.decodeError(id, error), on: peer)
    }

    // MARK: - BFD

    /// A BFD session changed state. Up → Down (not AdminDown, RFC 5882 §3.2: "the client MUST NOT
    /// indicate a connectivity failure" on AdminDown) tears the BGP session down at once.
    func bfdStateChanged(
        peer address: IPAddress, from: BFDState, to: BFDState, diagnostic: BFDDiagnostic, remote: BFDState
    ) {
        guard let peer = peers[address] else { return }
        peer.bfdState = to
        // The peer saying AdminDown took BFD down on purpose (RFC 5882 §3.2): no failure of the path.
        guard from == .up, to == .down, remote != .adminDown else { return }
        // RFC 9384 §2: Cease / BFD Down.
        run(
            .localError(
                NotificationMessage(code: .cease, subcode: NotificationSubcode.Cease.bfdDown),
                reason: "BFD session down: \(diagnostic)"), on: peer)
    }

    // MARK: - FSM

    func run(_ event: FSMEvent, on peer: PeerSession) {
        let actions = peer.fsm.handle(event, now: .now())
        execute(actions, peer: peer)
        scheduleTimer(peer)
    }

    private func execute(_ actions: [FSMAction], peer: PeerSession) {
        var toFlush: [ConnectionID] = []
        var deliveredFamily: AddressFamily?
        for action in actions {
            switch action {
            case .connect(let id):
                connectOutbound(peer, id: id)
            case .send(let id, let message):
                guard let channel = peer.channels[id] else { continue }
                write(message, to: channel, peer: peer)
                if !toFlush.contains(id) { toFlush.append(id) }
            case .close(let id):
                if let channel = peer.channels.removeValue(forKey: id) { closeAfterFlush(channel) }
                peer.localAddresses[id] = nil
                toFlush.removeAll { $0 == id }
            case .established(let id, let negotiated):
                established(peer, connection: id, negotiated: negotiated)
            case .deliverUpdate(let update):
                deliver(update, peer: peer)
                deliveredFamily = update.attributes.mpReach?.family ?? .ipv4Unicast
            case .deliverRouteRefresh(let refresh):
                // RFC 7313 §3.2: subtypes 1 and 2 (BoRR/EoRR) mark the peer's own re-advertisement;
                // only subtype 0 is a request (RFC 2918 §4).
                guard refresh.subtype == 0 else { continue }
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
        if let family = deliveredFamily { _ = checkLimits(peer, family: family) }
    }

    private func established(_ peer: PeerSession, connection id: ConnectionID, negotiated: NegotiatedSession) {
        peer.context = negotiated.context
        peer.establishedAt = .now()
        peer.establishedTransitions += 1
        peer.establishedLocalAddress =
            peer.localAddresses[id]
            ?? peer.channels[id]?.localAddress.flatMap(Self.ipAddress(of:)).flatMap {
                Self.isUnspecified($0) ? nil : $0
            }
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
        // The restart is over for this peer: a later OPEN (a new session) is an ordinary one.
        if let gr = configuration.gracefulRestart, peer.fsm.configuration.gracefulRestart?.flags != 0 {
            peer.fsm.configuration.gracefulRestart = gr.capability(families: peer.settings.families, restarted: false)
        }
        advertise(peer)
        // RFC 4724 §2: End-of-RIB after the initial update for each family.
        guard let channel = peer.channels[id] else { return }
        for family in negotiated.context.families.sorted(by: { $0.afi.rawValue < $1.afi.rawValue }) {
            write(.update(.endOfRIB(family)), to: channel, peer: peer)
        }
        channel.flush()
    }

    /// Sends everything queued (e.g. the NOTIFICATION), then shuts the sending side (a FIN after it) and closes
    /// when the peer closes too, or after 2 s. `close()` alone would discard writes still queued behind a full
    /// socket buffer; and closing while the peer is still sending (a peer flooding UPDATEs reset for want of
    /// room) answers its data with a RST, on which the peer's stack may drop the NOTIFICATION unread. What the
    /// peer sends meanwhile is read and dropped (the connection no longer belongs to the session).
    private func closeAfterFlush(_ channel: any Channel) {
        let loop = eventLoop.assumeIsolated()
        let timeout = loop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in timeout.cancel() }
        channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).assumeIsolated().whenComplete { result in
            guard case .success = result else {
                channel.close(promise: nil)
                return
            }
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
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
                if let gr = n.peerGracefulRestart {
                    // The Restart State bit: the peer came back from a restart (RFC 4724 §4.1).
                    let restarted = gr.flags & GracefulRestartCapability.restartState != 0
                    caps.append(restarted ? "graceful-restart:restarted" : "graceful-restart")
                }
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
                establishedTransitions: p.establishedTransitions, lastError: p.fsm.lastError ?? p.lastError,
                bfd: p.settings.bfd == nil ? nil : (p.bfdState ?? .down))
        }
    }

    func routes(peer address: IPAddress?, prefix: IPPrefix?, limit: Int) -> [PeerRoutes] {
        peers.values.sorted { $0.id.rawValue < $1.id.rawValue }
            .filter { address == nil || $0.settings.address == address }
            .map {
                PeerRoutes(address: $0.settings.address, routes: rib.routes(peer: $0.id, prefix: prefix, limit: limit))
            }
    }
}
