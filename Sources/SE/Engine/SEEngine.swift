import BGPSpeaker
import FlowSteering
import Logging
import NIOCore
import StarlingModel

/// The Service Engine's one owner of state (STYLE "One owner per piece of mutable state"): applies the full desired state (level-triggered,
/// STYLE "Desired state, level-triggered") to the three edges — VIP plumbing (netlink), the data plane (listeners, proxies, monitors)
/// and the BGP speaker — and recomputes what to advertise whenever health changes.
///
/// Order of work, so that a VIP is advertised only while it can be served (DESIGN §1, §4):
/// - new state: withdraw what is no longer wanted first, plumb VIPs, then open listeners; a new service
///   is advertised once its listeners are open and its data plane reports a server up.
/// - a removed service: withdrawn at once, its listeners closed (existing connections go on), its VIP
///   kept for `drainTimeout` so those connections can finish, then removed.
/// - drain (SIGTERM): re-announce every VIP with GRACEFUL_SHUTDOWN (RFC 8326) and wait
///   `gracefulShutdownTime` for routers that honour it to move traffic to other SEs, withdraw everything,
///   wait `withdrawGrace`, stop accepting, let connections finish (at most `drainTimeout`), remove the VIPs.
public actor SEEngine {
    /// Where flow steering between the SEs of a scale-out group (issue 15) comes from.
    public enum Steering: Sendable {
        /// `--scaleout-members`: a fixed member list, started by the caller; the controller's list is ignored.
        case fixed(FlowSteering)
        /// The controller's scale-out group (`SEDesiredState.scaleout`): steering starts when the group has
        /// two members or more, follows its member list, and stops when the SE has no position. `make`
        /// builds (does not start) steering for a member list.
        case fromController(make: @Sendable ([Int: IPAddress]) throws -> FlowSteering)
    }

    /// How the engine runs.
    public struct Options: Sendable {
        /// Interface that carries the VIPs (`--vip-interface`, default `lo`); nil: never plumb.
        public var vipInterface: String?
        /// `--data-address`: BGP next hop and session source, source of connections to servers.
        public var dataAddress: IPAddress?
        /// How long removed services' connections may continue (and their VIPs stay) before closing.
        public var drainTimeout: Duration
        /// How long to wait after withdrawing before closing listeners on drain.
        public var withdrawGrace: Duration
        /// How long VIPs stay advertised with GRACEFUL_SHUTDOWN before the withdrawal on drain; zero skips
        /// that step.
        public var gracefulShutdownTime: Duration
        /// Graceful Restart (RFC 4724) restart time advertised to the routers, in seconds: how long a
        /// router that helps keeps the VIPs while a successor process takes over; 0: no Graceful Restart.
        public var gracefulRestartTime: Int
        /// This process takes over from a running one (hitless restart): BGP starts only at `takeOver()`.
        public var successor: Bool
        public init(
            vipInterface: String? = "lo", dataAddress: IPAddress? = nil, drainTimeout: Duration = .seconds(30),
            withdrawGrace: Duration = .milliseconds(500), gracefulShutdownTime: Duration = .seconds(1),
            gracefulRestartTime: Int = 0, successor: Bool = false
        ) {
            self.vipInterface = vipInterface
            self.dataAddress = dataAddress
            self.drainTimeout = drainTimeout
            self.withdrawGrace = withdrawGrace
            self.gracefulShutdownTime = gracefulShutdownTime
            self.gracefulRestartTime = gracefulRestartTime
            self.successor = successor
        }
    }

    private let options: Options
    private let dataPlane: DataPlane
    /// HTTP requests logged for the controller (the agent ships them in its heartbeats).
    public nonisolated var requestLogs: RequestLogQueue { dataPlane.requestLogs }
    private let plumbing: (any VIPPlumbingSeam)?
    /// The clock drain waits and VIP-retirement deadlines are read from.
    private let clock: EngineClock
    private let speaker: SpeakerHolder
    private let steeringSource: Steering?
    private var steering: FlowSteering?
    /// The controller's epoch of the member list in use.
    private var steeringEpoch: Int?
    private var steeringError: String?
    private let logger: Logger

    private var plans: [ServicePlan] = []
    private var appliedVersion = 0
    private var draining = false
    /// Drain has begun: VIPs carry GRACEFUL_SHUTDOWN until `draining` withdraws them.
    private var gracefulShutdown = false
    /// The `global` vrfcontext's BGP profile: its communities go on the VIP routes.
    private var bgpProfile: BgpProfile?
    /// Per service id: why the data plane could not apply it (from `DataPlane.apply`).
    private var dataPlaneProblems: [String: String] = [:]
    /// Per service id: the listeners the data plane's last `apply` opened. A service is advertised only when
    /// every listener of its plan is among them: a health change that arrives while `apply` is still binding
    /// (the monitors start first, and `refresh` runs between `apply`'s awaits) must not advertise a VIP
    /// whose port has no socket yet — a SYN there would be reset.
    private var openedListeners: [String: Set<ListenAddress>] = [:]
    private var decisions: [String: VIPAdvertiser.Decision] = [:]
    private var bgpError: String?
    private var vipError: String?
    /// VIPs of removed services, kept until the deadline (on `clock`) so their connections can finish.
    private var retiringVIPs: [IPAddress: Duration] = [:]
    private var plumbedVIPs: Set<IPAddress> = []
    /// The sessions, listeners and VIPs belong to a successor process now: touch none of them.
    private var handedOff = false

    /// `steering`: flow steering between the SEs of a scale-out group, or nil for none. `clock`: what the
    /// drain waits (`gracefulShutdownTime`, `withdrawGrace`) and the VIP-retirement deadlines
    /// (`drainTimeout`) are measured on; tests pass a manual clock.
    public init<C: Clock<Duration>>(
        options: Options, dataPlane: DataPlane, eventLoop: any EventLoop, logger: Logger,
        steering: Steering? = nil, clock: C = ContinuousClock()
    ) {
        self.init(
            options: options, dataPlane: dataPlane, eventLoop: eventLoop, logger: logger, steering: steering,
            clock: EngineClock(clock),
            plumbing: options.vipInterface.map { VIPPlumbing(interfaceName: $0, logger: logger) })
    }

    /// The same with the VIP plumbing given (tests record it instead of calling netlink); nil: never plumb.
    init(
        options: Options, dataPlane: DataPlane, eventLoop: any EventLoop, logger: Logger, steering: Steering?,
        clock: EngineClock, plumbing: (any VIPPlumbingSeam)?
    ) {
        self.options = options
        self.steeringSource = steering
        if case .fixed(let s) = steering { self.steering = s }
        self.dataPlane = dataPlane
        self.plumbing = plumbing
        self.clock = clock
        self.speaker = SpeakerHolder(eventLoop: eventLoop, logger: logger, successor: options.successor)
        self.logger = logger
    }

    /// The desired-state version applied last (0 before the first).
    public var version: Int { appliedVersion }

    /// Applies a full desired state: the virtual services placed on this SE, the `global` vrfcontext and
    /// the scale-out group.
    public func apply(
        version: Int, services: [ResolvedVirtualService], vrf: VrfContext?, scaleout: ScaleoutGroup? = nil
    ) async {
        guard !draining && !gracefulShutdown && !handedOff else { return }
        bgpProfile = vrf?.bgp_profile
        let next = services.map(ServicePlan.init)
        let removedVIPs = Set(plans.flatMap(\.vips)).subtracting(next.flatMap(\.vips))
        let deadline = clock.now() + options.drainTimeout
        for vip in removedVIPs where retiringVIPs[vip] == nil { retiringVIPs[vip] = deadline }
        for vip in next.flatMap(\.vips) { retiringVIPs[vip] = nil }
        plans = next
        // Withdraw first: services that left or changed are no longer advertised before anything closes.
        await refresh()
        do {
            let configuration = try SpeakerHolder.configuration(
                profile: vrf?.bgp_profile, bfdProfile: vrf?.bfd_profile, dataAddress: options.dataAddress,
                restartTime: options.gracefulRestartTime)
            try await speaker.configure(configuration)
            bgpError = nil
        } catch {
            bgpError = "BGP: \(error)"
            logger.error("BGP configuration not applied: \(error)")
        }
        syncVIPs()
        let problems = await dataPlane.apply(DataPlaneConfig(services: next.compactMap(\.dataPlane)))
        dataPlaneProblems = Dictionary(
            problems.map { ($0.serviceID, "\($0.field): \($0.reason)") }, uniquingKeysWith: { a, b in "\(a); \(b)" })
        openedListeners = Dictionary(
            next.compactMap { plan in plan.dataPlane.map { (plan.id, Set($0.listeners)) } },
            uniquingKeysWith: { a, _ in a })
        await follow(scaleout)
        await steering?.apply(Self.steered(next))
        appliedVersion = version
        logger.info(
            "desired state applied",
            metadata: ["se.version": "\(version)", "se.services": "\(next.count)", "se.problems": "\(problems.count)"])
        await refresh()
    }

    /// Recomputes the advertisements from the data plane's health view and hands the full set to the
    /// speaker (which sends only the difference). Called on every health change and periodically.
    public func refresh() async {
        guard !handedOff else { return }
        let health = Dictionary(dataPlane.status().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var states: [VIPAdvertiser.ServiceState] = []
        for plan in plans {
            var blocker = plan.problem ?? dataPlaneProblems[plan.id]
            if blocker == nil, let vipError, plan.vips.contains(where: { VIPPlumbing.spec(for: $0) != nil }) {
                blocker = vipError
            }
            if blocker == nil, let listeners = plan.dataPlane?.listeners,
                !Set(listeners).isSubset(of: openedListeners[plan.id] ?? [])
            {
                blocker = "listeners not open yet"
            }
            let peers =
                plan.bgpPeerLabels.isEmpty
                ? nil
                : VIPAdvertiser.PeerSelection(
                    labels: plan.bgpPeerLabels,
                    addresses: BGPProfileMapping.peers(labelled: plan.bgpPeerLabels, in: bgpProfile))
            states.append(
                VIPAdvertiser.ServiceState(
                    name: plan.id, vips: plan.vips, enabled: plan.enabled, placedHere: true,
                    enableRHI: plan.enableRHI, serversUp: health[plan.id]?.serversUp ?? 0, blocker: blocker,
                    peers: peers))
        }
        let profile = bgpProfile
        let (routes, list) = VIPAdvertiser.desired(
            states, draining: draining, gracefulShutdown: gracefulShutdown,
            policy: { vip in BGPProfileMapping.route(for: vip, profile: profile) })
        let previous = decisions
        decisions = Dictionary(list.map { ($0.service, $0) }, uniquingKeysWith: { a, _ in a })
        for (id, d) in decisions where previous[id] != d {
            logger.notice(
                d.advertised ? "VIP advertised" : "VIP not advertised",
                metadata: ["se.vs": "\(plans.first { $0.id == id }?.name ?? id)", "se.reason": "\(d.reason)"])
        }
        await speaker.advertise(routes)
    }

    /// The VIPs and ports the flow steering handles: every plumbed VIP of a service that runs here.
    static func steered(_ plans: [ServicePlan]) -> [FlowSteering.Service] {
        var out: [FlowSteering.Service] = []
        for plan in plans where plan.dataPlane != nil {
            for vip in plan.vips where VIPPlumbing.spec(for: vip) != nil {
                out.append(
                    FlowSteering.Service(
                        vip: vip, ports: plan.ports, native: plan.nativeScaleout, serviceID: plan.id,
                        preferredPrimary: plan.nativePrimary))
            }
        }
        return out
    }

    /// Periodic upkeep: re-plumbs VIPs (level-triggered, undoing outside changes), retires VIPs whose
    /// drain time is over, and refreshes advertisements.
    public func tick() async {
        let now = clock.now()
        let expired = retiringVIPs.filter { $0.value <= now }.map(\.key)
        for vip in expired { retiringVIPs[vip] = nil }
        syncVIPs()
        await refresh()
    }

    private func syncVIPs() {
        guard let plumbing, !handedOff else { return }
        let wanted = Set(plans.filter { $0.dataPlane != nil }.flatMap(\.vips)).union(retiringVIPs.keys)
        do {
            try plumbing.plumb(wanted)
            plumbedVIPs = wanted
            vipError = nil
        } catch {
            vipError = "VIP not plumbed on \(plumbing.interfaceName): \(error)"
            logger.error("\(vipError ?? "")")
        }
    }

    /// Re-announces every VIP with GRACEFUL_SHUTDOWN (RFC 8326) and waits for routers to move traffic
    /// away, withdraws every VIP, waits again, stops accepting, lets existing connections finish (at most
    /// `drainTimeout`), then removes the VIPs and closes the BGP sessions.
    public func drain() async {
        guard !draining && !gracefulShutdown && !handedOff else { return }
        // The other SEs of the scale-out group stop giving this one new flows, and keep forwarding it the
        // packets of the connections it holds.
        await steering?.leave()
        gracefulShutdown = true
        if options.gracefulShutdownTime > .zero {
            logger.notice("draining: advertising every VIP with GRACEFUL_SHUTDOWN (RFC 8326)")
            await refresh()
            try? await clock.sleep(options.gracefulShutdownTime)
        }
        draining = true
        logger.notice("draining: withdrawing every VIP")
        await refresh()
        try? await clock.sleep(options.withdrawGrace)
        await dataPlane.drain(serviceIDs: nil, timeout: options.drainTimeout)
        logger.notice("drained: removing VIPs and closing BGP sessions")
        plans = []
        retiringVIPs = [:]
        syncVIPs()
        await speaker.shutdown()
    }

    /// Hitless restart, the successor's side: the predecessor has handed its BGP sessions off and stopped
    /// accepting, so the speaker starts now as a restarting speaker (RFC 4724), with the routes the
    /// data plane's (inherited) health allows already set.
    public func takeOver(bfd: [IPAddress: BFDSession.Handoff]) async {
        await refresh()
        do {
            try await speaker.release(bfd: bfd)
        } catch {
            bgpError = "BGP: \(error)"
            logger.error("BGP speaker not started after the takeover: \(error)")
        }
    }

    /// Hitless restart, the predecessor's side: leaves the BGP sessions to the successor without a
    /// withdrawal (routers with Graceful Restart keep the VIPs), stops accepting (the successor's
    /// listeners share the addresses; `released` runs then), and lets existing connections finish (at
    /// most `drainTimeout`). The VIPs stay plumbed: they are the successor's now. `released` gets the Up
    /// BFD sessions the successor goes on with.
    public func handOff(released: @escaping @Sendable ([IPAddress: BFDSession.Handoff]) async -> Void) async {
        guard !handedOff && !draining && !gracefulShutdown else { return }
        handedOff = true
        logger.notice("handing off to the successor process: BGP sessions left to Graceful Restart")
        let bfd = await speaker.handOff()
        await dataPlane.drain(serviceIDs: nil, timeout: options.drainTimeout, listenersClosed: { await released(bfd) })
        logger.notice("handed off: connections finished")
        // The successor's program has replaced this one's on the interface: leave it there.
        await steering?.handOff()
        steering = nil
    }

    /// Servers up per service, for a successor process.
    public nonisolated func healthSnapshot() -> [String: Set<String>] { dataPlane.healthSnapshot() }

    /// Stops everything at once (after `drain()`, or on a fatal error).
    public func shutdown() async {
        await speaker.shutdown()
        await dataPlane.shutdown()
        await steering?.stop()
        steering = nil
    }

    /// What the heartbeat carries and `GET /status` shows.
    public func status(seUUID: String) async -> SEStatus {
        let health = Dictionary(dataPlane.status().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var services: [VSStatus] = []
        var connections = 0
        for plan in plans {
            let h = health[plan.id]
            let decision = decisions[plan.id]
            let blocker = plan.problem ?? dataPlaneProblems[plan.id]
            let up = plan.enabled && blocker == nil && (h?.serversUp ?? 0) > 0
            let reason: String =
                if !plan.enabled { "virtual service is disabled" } else if let blocker { blocker } else if up {
                    "\(h?.serversUp ?? 0) of \(h?.servers.count ?? 0) server(s) up"
                } else if draining || gracefulShutdown { "SE is draining" } else { "no pool server is up" }
            let servers = (h?.servers ?? []).map {
                StarlingModel.ServerStatus(
                    ip: IpAddr(addressOrName: $0.ip), port: $0.port, up: $0.up,
                    reason: $0.reason,
                    counters: ServerCounters(
                        connections: $0.totals.connections, failures: $0.totals.failures,
                        responses: $0.totals.responses, responses_5xx: $0.totals.responses5xx,
                        latency_us: $0.totals.latencyMicros))
            }
            connections += h?.activeConnections ?? 0
            services.append(
                VSStatus(
                    uuid: plan.id, name: plan.name, oper_state: up ? "OPER_UP" : "OPER_DOWN",
                    reason: ([reason] + plan.notes).joined(separator: "; "), advertised: decision?.advertised ?? false,
                    advertise_reason: decision?.reason ?? (bgpError ?? "not evaluated yet"), servers: servers,
                    active_connections: h?.activeConnections ?? 0, requests: h?.totals.requests ?? 0,
                    counters: h.map {
                        VSCounters(
                            connections: $0.totals.connections, requests: $0.totals.requests,
                            bytes_in: $0.totals.bytesIn, bytes_out: $0.totals.bytesOut, responses: $0.totals.responses,
                            timed_responses: $0.totals.timedResponses, latency_us: $0.totals.latencyMicros,
                            latency_buckets: $0.totals.latencyBuckets)
                    }))
        }
        let peers = await speaker.peerStatus().map {
            BGPPeerStatus(
                peer_ip: "\($0.address)", state: $0.state.rawValue, uptime: $0.uptimeSeconds,
                prefixes_advertised: $0.prefixesAdvertised)
        }
        return SEStatus(
            se_uuid: seUUID, applied_version: appliedVersion, draining: draining || gracefulShutdown,
            virtual_services: services,
            bgp_peers: peers, connections: connections, steering: await steeringStatus())
    }

    // MARK: flow steering

    /// Follows the controller's scale-out group (level-triggered; a fixed list ignores it).
    private func follow(_ group: ScaleoutGroup?) async {
        guard case .fromController(let make) = steeringSource else { return }
        var members: [Int: IPAddress] = [:]
        for m in group?.members ?? [] {
            if let address = IPAddress(m.data_address) { members[m.position] = address }
        }
        guard let group, let selfAddress = options.dataAddress, members.values.contains(selfAddress) else {
            if let steering {
                logger.notice("flow steering off: this SE has no scale-out position")
                await steering.stop()
                self.steering = nil
            }
            steeringEpoch = nil
            steeringError = nil
            return
        }
        if let steering {
            do {
                try await steering.setMembers(members)
                steeringEpoch = group.epoch
                steeringError = nil
                return
            } catch {
                // This SE's position moved (it left the group and came back): start anew.
                logger.notice("flow steering restarts: \(error)")
                await steering.stop()
                self.steering = nil
            }
        }
        // One member steers nothing (and a lone native VIP is answered from lo): wait for a second.
        guard members.count >= 2 else {
            steeringEpoch = group.epoch
            return
        }
        var made: FlowSteering?
        do {
            let s = try make(members)
            made = s
            try await s.start()
            steering = s
            steeringEpoch = group.epoch
            steeringError = nil
        } catch {
            await made?.stop()
            if steeringError != "\(error)" { logger.error("flow steering not started: \(error)") }
            steeringError = "\(error)"
        }
    }

    private func steeringStatus() async -> SteeringStatus? {
        guard let steeringSource else { return nil }
        var status: SteeringStatus
        if let steering {
            status = await steering.status()
        } else if let steeringError {
            status = SteeringStatus(interface: "", epoch: 0, members: [], vips: [], counters: [:], error: steeringError)
        } else {
            return nil
        }
        if case .fixed = steeringSource {
            status.members_from = "--scaleout-members"
        } else {
            status.members_from = "controller"
            status.group_epoch = steeringEpoch
        }
        return status
    }
}
