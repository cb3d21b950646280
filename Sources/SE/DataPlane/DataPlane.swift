import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Synchronization

// Architecture of the data plane (Sources/SE/DataPlane):
//
//   DataPlaneConfig.swift the runtime config and status values (DataPlaneConfig, ServiceStatus, ...)
//   DataPlane.swift       the front door: apply (level-triggered diff), status, drain, shutdown; owns the
//                         service table and the health view under one lock
//   LoopService.swift     one service on one event loop: balancer, server connection pool, clients,
//                         counters; loop-confined, so the per-request path takes no lock
//   Balancer.swift        pure load balancing (smooth weighted round robin, least connections)
//   Listener.swift        SO_REUSEPORT/IP_FREEBIND listeners, one per loop, and the accepted pipelines
//   L4Proxy.swift         TCP proxy handler (half-close, backpressure, idle timeout, connect retries)
//   L4EventLoop.swift / FastL4.swift   the L4 fast path: plain TCP services on event loops of their own
//                         (one thread and epoll set each, raw sockets, no NIO channel per connection)
//   HTTPFrontHandler.swift / HTTPBackHandler.swift   HTTP/1.1 reverse proxy, client and server sides
//   HTTPCodec.swift       pure HTTP/1.x head parser/rewriter and body framing (length, chunked) used by
//                         both sides: heads are rewritten from their bytes, bodies pass through as slices
//   HTTP2Proxy.swift      HTTP/2 client connections (ALPN h2, swift-nio-http2 frames, no child channels):
//                         each stream an HTTP/1.1 exchange on the pool, limits, graceful GOAWAY, window
//                         credit by hand, one flush per loop turn
//   TLSTerminator.swift   TLS listeners: one BoringSSL context per certificate (shared by the loops), the
//                         accept handler that picks one from the ClientHello, the handshake timeout, ALPN
//                         (HTTP/1.1 or HTTP/2 after the handshake), handshake metrics
//   ServerTLS.swift       re-encryption: the TLS client context for a pool's servers
//   TLSClientHello.swift  pure ClientHello reader (SNI, ECDSA support) and certificate selection
//   HealthCheck.swift     pure health-monitor state machine (manual clock)
//   MonitorRunner.swift   the I/O edge that runs a HealthCheck: TCP and HTTP probes, timers
//   Stats.swift           per-loop counters (status) and cached swift-metrics objects
//
// Data flow: apply() resolves each service's pool and pushes it to every loop (loop.execute); monitor
// runners report up/down into DataPlane, which recomputes each server's health and pushes eligibility
// to the loops, then calls onChange so that the agent can recompute BGP advertisements.

/// The SE data plane: listeners, L4 and HTTP proxies, pools and health monitors for every virtual
/// service placed on this SE.
public final class DataPlane: Sendable {
    private let loops: [any EventLoop]
    private let sources: SourceAddresses
    private let logger: Logger
    private let metricsFactory: any MetricsFactory
    private let state = Mutex(State())
    /// HTTP requests logged for the controller, until the agent's heartbeats take them.
    public let requestLogs = RequestLogQueue()

    private struct State: Sendable {
        var services: [String: ServiceRuntime] = [:]
        var onChange: (@Sendable () -> Void)?
        var nextRunnerToken = 0
        var shutDown = false
        /// Servers up in the previous SE process (service id → server keys), for services not running yet.
        var inherited: [String: Set<String>] = [:]
        /// The L4 fast path's loops, as many as `loops`, made for the first plain TCP service.
        var fastLoops: [L4EventLoop] = []
        /// Their creation failed once.
        var fastUnavailable = false
    }
    /// Whether plain TCP services take the L4 fast path (`STARLING_L4_FAST_PATH=0`: NIO's, to compare).
    private let fastL4: Bool

    /// A data plane running on `group` (one listener per loop and address).
    ///
    /// - Parameters:
    ///   - sourceAddresses: the SE's data address(es); connections to servers (and monitor probes)
    ///     bind to the one of the server's family. Empty: the kernel chooses.
    public convenience init(group: any EventLoopGroup, sourceAddresses: [String], logger: Logger) {
        self.init(group: group, sourceAddresses: sourceAddresses, logger: logger, metricsFactory: MetricsSystem.factory)
    }

    /// The same with metrics going to `metricsFactory` instead of the bootstrapped one, and the L4 fast path
    /// on or off (nil: on unless `STARLING_L4_FAST_PATH=0`) (tests).
    init(
        group: any EventLoopGroup, sourceAddresses: [String], logger: Logger, metricsFactory: any MetricsFactory,
        fastL4: Bool? = nil
    ) {
        self.metricsFactory = metricsFactory
        var loops: [any EventLoop] = []
        for loop in group.makeIterator() { loops.append(loop) }
        self.loops = loops
        self.sources = SourceAddresses(sourceAddresses)
        self.logger = logger
        self.fastL4 = fastL4 ?? (ProcessInfo.processInfo.environment["STARLING_L4_FAST_PATH"] != "0")
    }

    /// Whether `service` runs on the L4 fast path: plain TCP on both sides (and the path could be set up).
    private func wantsFastPath(_ service: ServiceConfig, _ st: State) -> Bool {
        fastL4 && !st.fastUnavailable && service.kind == .l4 && !service.listeners.contains { $0.tls }
            && service.pool.tls == nil
    }

    /// The fast path's loops (under the lock), made on first use; nil when they cannot be made (then
    /// never tried again: plain TCP services stay on NIO's loops).
    private func fastLoops(_ st: inout State) -> [any EventLoop]? {
        if st.fastLoops.isEmpty {
            var made: [L4EventLoop] = []
            do {
                for i in loops.indices { made.append(try L4EventLoop(name: "starling-l4-\(i)")) }
            } catch {
                for loop in made { loop.stop() }
                st.fastUnavailable = true
                logger.error("L4 fast path unavailable, plain TCP services use NIO's loops: \(error)")
                return nil
            }
            st.fastLoops = made
        }
        return st.fastLoops
    }

    /// Called (on any thread) whenever a service's health view changes: a server goes up or down, a
    /// service is added or removed.
    public func setOnChange(_ callback: @escaping @Sendable () -> Void) {
        state.withLock { $0.onChange = callback }
    }

    // MARK: hitless restart

    /// The servers up, per service id: what a successor process starts from (`inheritHealth`).
    public func healthSnapshot() -> [String: Set<String>] {
        state.withLock { st in
            st.services.mapValues { rt in Set(rt.serverUp.filter(\.value).map(\.key)) }
        }
    }

    /// Seeds the health of services not running yet with the previous process's view: their monitors start
    /// with these servers UP (each goes down after `failedChecks` failures, as it would have there), so the
    /// successor serves from its first connection instead of waiting for `successfulChecks` passes.
    public func inheritHealth(_ snapshot: [String: Set<String>]) {
        state.withLock { $0.inherited = snapshot }
    }

    // MARK: apply

    /// Makes the running services match `config` (level-triggered): opens listeners for new services and
    /// addresses, closes removed ones (their connections continue until done), updates pools in place
    /// (unchanged servers keep their health and connections), starts and stops monitors.
    ///
    /// Per-service problems (an address that cannot be bound, an invalid server IP, ...) are returned,
    /// not thrown. A service being drained stays drained (its listeners closed) until a later `apply`
    /// leaves it out. Calls must not overlap.
    public func apply(_ config: DataPlaneConfig) async -> [ServiceProblem] {
        var problems: [ServiceProblem] = []
        var seen = Set<String>()
        var desired: [ServiceConfig] = []
        for s in config.services {
            if seen.insert(s.id).inserted {
                desired.append(s)
            } else {
                problems.append(ServiceProblem(serviceID: s.id, field: "id", reason: "duplicate service id"))
            }
        }

        var plan = ApplyPlan()
        let loops = self.loops
        let sources = self.sources
        let logger = self.logger
        let shutDown = state.withLock { st -> Bool in
            guard !st.shutDown else { return true }
            let wanted = Set(desired.map(\.id))
            for (id, rt) in st.services where !wanted.contains(id) {
                st.services[id] = nil
                plan.closeChannels += rt.listeners.values.flatMap { $0 }
                plan.stopRunners += rt.monitors.values.map(\.runner)
                plan.retired.append(rt)
                plan.changed = true
            }
            // With SO_REUSEPORT a second service could bind the same VIP:port and silently share its
            // connections: the first service in the config owns an address.
            var owners: [ListenAddress: String] = [:]
            for s in desired {
                for l in s.listeners where owners[l] == nil { owners[l] = s.id }
            }
            for s in desired {
                let rt: ServiceRuntime
                var l = logger
                l[metadataKey: "se.vs"] = "\(s.name)"
                let fast = wantsFastPath(s, st) ? fastLoops(&st) : nil
                if let existing = st.services[s.id] {
                    rt = existing
                    if (fast != nil) != rt.fast {
                        // Its kind or TLS changed: the service moves between NIO's loops and the fast path's,
                        // keeping its monitors, health, drain state and counters. Connections on the old loops
                        // go on until done; the listeners are opened again on the new ones.
                        plan.closeChannels += rt.listeners.values.flatMap { $0 }
                        rt.listeners = [:]
                        plan.retiredLoopServices += rt.moveLoops(
                            to: fast ?? loops, fast: fast != nil, sources: sources, requestLogs: requestLogs, logger: l)
                    }
                } else {
                    rt = ServiceRuntime(
                        config: s, loops: fast ?? loops, fast: fast != nil, sources: sources,
                        requestLogs: requestLogs, logger: l, metricsFactory: self.metricsFactory)
                    st.services[s.id] = rt
                    plan.changed = true
                }
                self.update(rt, to: s, owners: owners, state: &st, plan: &plan, problems: &problems)
            }
            // Inherited health seeds only the first apply.
            st.inherited = [:]
            return false
        }
        if shutDown { return [] }

        for update in plan.loopUpdates { try? await update.get() }
        // Wait for the closes so that a removed address is free when apply returns.
        for c in plan.closeChannels { await c.close() }
        for r in plan.stopRunners { r.stop() }
        for r in plan.startRunners { r.start() }
        for ls in plan.retired.flatMap(\.loopServices) + plan.retiredLoopServices {
            ls.loop.execute {
                _ = ls.drain()
                ls.closeIdleServerConnections()
            }
        }

        // Bind new addresses (outside the lock: binding waits for the loops).
        for bind in plan.binds {
            let result = await Self.bindAll(
                bind.address, listen: bind.listen, services: bind.services, fast: bind.fast)
            switch result {
            case .success(let channels):
                let keep = state.withLock { st -> Bool in
                    guard let rt = st.services[bind.runtime.id], rt === bind.runtime, !rt.draining,
                        rt.config.listeners.contains(bind.listen)
                    else { return false }
                    rt.listeners[bind.listen] = channels
                    return true
                }
                if !keep { for c in channels { await c.close() } }
            case .failure(let error):
                problems.append(
                    ServiceProblem(
                        serviceID: bind.runtime.id, field: bind.field,
                        reason: "cannot listen on \(bind.listen): \(error)"))
            }
        }
        if plan.changed { notifyChange() }
        return problems
    }

    private struct ApplyPlan {
        var closeChannels: [any ServiceListener] = []
        var stopRunners: [MonitorRunner] = []
        var startRunners: [MonitorRunner] = []
        var retired: [ServiceRuntime] = []
        /// Loop services of services that moved between NIO's loops and the fast path's.
        var retiredLoopServices: [LoopService] = []
        /// Addresses to open, with the runtime's loop services and path as they were under the lock.
        var binds:
            [(
                runtime: ServiceRuntime, listen: ListenAddress, address: SocketAddress, field: String,
                services: [LoopService], fast: Bool
            )] = []
        /// The loops taking the new settings and pools: `apply` returns once all have, so a request sent
        /// after it returns meets the new configuration.
        var loopUpdates: [EventLoopFuture<Void>] = []
        var changed = false
    }

    /// Brings one service to `config` (under the lock).
    private func update(
        _ rt: ServiceRuntime, to config: ServiceConfig, owners: [ListenAddress: String], state st: inout State,
        plan: inout ApplyPlan,
        problems: inout [ServiceProblem]
    ) {
        let id = config.id
        rt.config = config

        // TLS: contexts are rebuilt only when the settings change (a rotated certificate); new
        // handshakes use the new ones, open connections keep theirs.
        let http = config.kind == .http
        let http2 = http && config.listeners.contains { $0.tls && $0.http2 }
        let handshakeTimeout = TimeAmount(config.http.requestHeaderTimeout)
        if let t = rt.tls,
            t.settings != config.tls || t.http != http || t.http2 != http2 || t.handshakeTimeout != handshakeTimeout
        {
            rt.tls = nil
        }
        if rt.tls == nil {
            if let settings = config.tls {
                do {
                    rt.tls = try TLSTerminator(
                        settings, http: http, http2: http2, handshakeTimeout: handshakeTimeout, metrics: rt.tlsMetrics)
                } catch {
                    problems.append(ServiceProblem(serviceID: id, field: error.field, reason: error.reason))
                }
            }
        }
        // TLS to the servers: a new context when the settings change.
        if rt.serverTLS?.settings != config.pool.tls {
            rt.serverTLS = nil
            if let settings = config.pool.tls {
                do {
                    rt.serverTLS = try ServerTLS(settings)
                } catch {
                    problems.append(ServiceProblem(serviceID: id, field: error.field, reason: error.reason))
                }
            }
        }

        // Listeners.
        var wantedListeners = Set<ListenAddress>()
        for (i, l) in config.listeners.enumerated() {
            let field = "listeners[\(i)]"
            if l.tls && rt.tls == nil {
                problems.append(
                    ServiceProblem(serviceID: id, field: field, reason: "\(l) needs TLS settings that can be used"))
                continue
            }
            if config.pool.tls != nil && rt.serverTLS == nil {
                // Never plain text to servers that expect TLS.
                problems.append(
                    ServiceProblem(serviceID: id, field: field, reason: "\(l): the pool's TLS settings cannot be used"))
                continue
            }
            guard (1...65535).contains(l.port) else {
                problems.append(
                    ServiceProblem(serviceID: id, field: field + ".port", reason: "port \(l.port) out of range"))
                continue
            }
            guard let address = try? SocketAddress(ipAddress: l.host, port: l.port) else {
                problems.append(
                    ServiceProblem(serviceID: id, field: field + ".host", reason: "\"\(l.host)\" is not an IP address"))
                continue
            }
            if let owner = owners[l], owner != id {
                problems.append(
                    ServiceProblem(serviceID: id, field: field, reason: "\(l) is already used by service \(owner)"))
                continue
            }
            guard wantedListeners.insert(l).inserted else { continue }
            if rt.listeners[l] == nil && !rt.draining {
                plan.binds.append((rt, l, address, field, rt.loopServices, rt.fast))
            }
        }
        for (l, channels) in rt.listeners where !wantedListeners.contains(l) {
            plan.closeChannels += channels
            rt.listeners[l] = nil
        }

        // Servers.
        var servers: [(config: ServerConfig, address: SocketAddress?)] = []
        var keys = Set<String>()
        rt.invalid = [:]
        for (i, s) in config.pool.servers.enumerated() {
            guard keys.insert(s.key).inserted else {
                problems.append(
                    ServiceProblem(serviceID: id, field: "pool.servers[\(i)]", reason: "duplicate server \(s.key)"))
                continue
            }
            var address: SocketAddress?
            if !(1...65535).contains(s.port) {
                problems.append(
                    ServiceProblem(
                        serviceID: id, field: "pool.servers[\(i)].port", reason: "port \(s.port) out of range"))
                rt.invalid[s.key] = "invalid port \(s.port)"
            } else if let a = try? SocketAddress(ipAddress: s.ip, port: s.port) {
                address = a
            } else {
                problems.append(
                    ServiceProblem(
                        serviceID: id, field: "pool.servers[\(i)].ip", reason: "\"\(s.ip)\" is not an IP address"))
                rt.invalid[s.key] = "invalid address \"\(s.ip)\""
            }
            servers.append((s, address))
        }

        // Monitors: one runner per (server, monitor); unchanged pairs keep theirs and their state.
        var monitors: [MonitorConfig] = []
        for m in config.pool.monitors where !monitors.contains(m) { monitors.append(m) }
        var wantedRunners = Set<RunnerKey>()
        for (s, address) in servers {
            guard let address else { continue }
            for m in monitors {
                let key = RunnerKey(server: s.key, monitor: m)
                wantedRunners.insert(key)
                if rt.monitors[key] != nil { continue }
                st.nextRunnerToken += 1
                let token = st.nextRunnerToken
                let loop = loops[Int(UInt(bitPattern: key.hashValue) % UInt(loops.count))]
                var checked = address
                if let port = m.port { checked.port = port }
                let inheritedUp = st.inherited[id]?.contains(s.key) ?? false
                let runner = MonitorRunner(
                    loop: loop, serverKey: s.key, address: checked, source: sources.pick(for: checked),
                    monitor: m, inheritedUp: inheritedUp
                ) { [weak self] up, reason in
                    self?.monitorReported(service: id, key: key, token: token, up: up, reason: reason)
                }
                rt.monitors[key] =
                    (token, runner, inheritedUp, inheritedUp ? HealthCheck.inheritedReason : "no check yet")
                plan.startRunners.append(runner)
            }
        }
        for (key, m) in rt.monitors where !wantedRunners.contains(key) {
            plan.stopRunners.append(m.runner)
            rt.monitors[key] = nil
        }
        rt.monitorOrder = monitors
        rt.servers = servers.map(\.config)

        // Push the pool to the loops, with each server's current health.
        if recomputeHealth(rt) { plan.changed = true }
        let resolved = servers.map { s, address in
            ResolvedServer(
                key: s.key, address: address, weight: min(20, max(1, s.ratio)), eligible: rt.serverUp[s.key] ?? false)
        }
        // Per-server counters, one set per loop, kept while the server stays in the pool.
        let poolKeys = Set(resolved.map(\.key))
        for key in poolKeys where rt.serverStats[key] == nil {
            rt.serverStats[key] = rt.loopServices.map { _ in ServerStats() }
        }
        for key in rt.serverStats.keys where !poolKeys.contains(key) { rt.serverStats[key] = nil }
        for key in rt.formerServerStats.keys where !poolKeys.contains(key) { rt.formerServerStats[key] = nil }
        let tls = rt.tls
        let serverTLS = rt.serverTLS
        for (i, ls) in rt.loopServices.enumerated() {
            var mine = resolved
            for j in mine.indices { mine[j].stats = rt.serverStats[mine[j].key]?[i] }
            plan.loopUpdates.append(
                ls.loop.submit { [mine] in ls.update(config: config, servers: mine, tls: tls, serverTLS: serverTLS) })
        }
    }

    /// A runner's report (on its loop).
    private func monitorReported(service id: String, key: RunnerKey, token: Int, up: Bool, reason: String) {
        let changed = state.withLock { st -> Bool in
            guard let rt = st.services[id], let m = rt.monitors[key], m.token == token else { return false }
            rt.monitors[key] = (token, m.runner, up, reason)
            let before = rt.serverUp[key.server]
            guard recomputeHealth(rt) else { return false }
            let now = rt.serverUp[key.server] ?? false
            if before != now {
                logger.info(
                    "server \(now ? "up" : "down")",
                    metadata: [
                        "se.vs": "\(rt.config.name)", "se.server": "\(key.server)",
                        "se.reason": "\(rt.serverReason[key.server] ?? "")",
                    ])
                for ls in rt.loopServices {
                    ls.loop.execute { ls.setEligible(key: key.server, eligible: now) }
                }
            }
            return before != now
        }
        if changed { notifyChange() }
    }

    /// Recomputes every server's up/down and reason; true when any up/down changed.
    private func recomputeHealth(_ rt: ServiceRuntime) -> Bool {
        var changed = false
        var up: [String: Bool] = [:]
        var reasons: [String: String] = [:]
        let monitors = rt.monitorOrder
        for s in rt.servers {
            let (isUp, reason): (Bool, String)
            if let bad = rt.invalid[s.key] {
                (isUp, reason) = (false, bad)
            } else if !s.enabled {
                (isUp, reason) = (false, "disabled")
            } else if monitors.isEmpty {
                (isUp, reason) = (true, "no monitor: assumed up")
            } else {
                var allUp = true
                var upReasons: [String] = []
                var downReasons: [String] = []
                for m in monitors {
                    let state = rt.monitors[RunnerKey(server: s.key, monitor: m)]
                    let mUp = state?.up ?? false
                    let text = state?.reason ?? "no check yet"
                    let labelled = monitors.count > 1 ? "\(m.name): \(text)" : text
                    if mUp { upReasons.append(labelled) } else { downReasons.append(labelled) }
                    allUp = allUp && mUp
                }
                (isUp, reason) = (allUp, (allUp ? upReasons : downReasons).joined(separator: "; "))
            }
            up[s.key] = isUp
            reasons[s.key] = reason
            if rt.serverUp[s.key] != isUp { changed = true }
            rt.gauge(server: s.key).record(isUp ? 1 : 0)
        }
        if rt.serverUp.count != up.count { changed = true }
        rt.serverUp = up
        rt.serverReason = reasons
        return changed
    }

    private func notifyChange() {
        let callback = state.withLock { $0.onChange }
        callback?()
    }

    private static func bindAll(
        _ address: SocketAddress, listen: ListenAddress, services: [LoopService], fast: Bool
    ) async -> Result<[any ServiceListener], any Error> {
        var channels: [any ServiceListener] = []
        for ls in services {
            do {
                if fast {
                    channels.append(try await FastL4Listener.bind(address, service: ls).get())
                } else {
                    channels.append(
                        ChannelListener(channel: try await Listener.bind(address, listen: listen, service: ls).get()))
                }
            } catch {
                for c in channels { await c.close() }
                return .failure(error)
            }
        }
        return .success(channels)
    }

    // MARK: status

    /// Per service: servers with up/down and reason, servers up, open connections and totals.
    public func status() -> [ServiceStatus] {
        state.withLock { st in
            st.services.values.sorted { ($0.config.name, $0.id) < ($1.config.name, $1.id) }.map { rt in
                var totals = ServiceTotals()
                var active = 0
                for stats in rt.loopServices.map(\.stats) + rt.formerStats {
                    stats.add(into: &totals)
                    active += stats.active.load(ordering: .relaxed)
                }
                let servers = rt.servers.map { s in
                    var totals = ServerTotals()
                    for stats in (rt.serverStats[s.key] ?? []) + (rt.formerServerStats[s.key] ?? []) {
                        stats.add(into: &totals)
                    }
                    return ServerStatus(
                        ip: s.ip, port: s.port, up: rt.serverUp[s.key] ?? false,
                        reason: rt.serverReason[s.key] ?? "no check yet", totals: totals)
                }
                return ServiceStatus(
                    id: rt.id, name: rt.config.name,
                    listening: rt.config.listeners.filter { rt.listeners[$0] != nil },
                    servers: servers, serversUp: servers.filter(\.up).count, activeConnections: active,
                    totals: totals, draining: rt.draining)
            }
        }
    }

    // MARK: drain and shutdown

    /// Stops accepting on these services' listeners (closes them), lets existing connections finish (HTTP
    /// keep-alive connections close after their current response), and closes what is left after
    /// `timeout`. Returns when all are gone. `nil` drains every service. `listenersClosed` runs once no
    /// listener of these services accepts any more (a hitless restart tells the successor then).
    public func drain(
        serviceIDs: Set<String>?, timeout: Duration, listenersClosed: (@Sendable () async -> Void)? = nil
    ) async {
        let targets: [ServiceRuntime] = state.withLock { st in
            let rts = st.services.values.filter { serviceIDs?.contains($0.id) ?? true }
            for rt in rts { rt.draining = true }
            return rts
        }
        let listeners = state.withLock { _ in
            targets.flatMap { rt in
                let all = rt.listeners.values.flatMap { $0 }
                rt.listeners = [:]
                return all
            }
        }
        for c in listeners { await c.close() }
        await listenersClosed?()
        if !targets.isEmpty { notifyChange() }
        await Self.drainLoops(targets.flatMap(\.loopServices), timeout: timeout)
    }

    private static func drainLoops(_ services: [LoopService], timeout: Duration) async {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        var waits: [EventLoopFuture<Void>] = []
        var forces: [Scheduled<Void>] = []
        for ls in services {
            waits.append(ls.loop.flatSubmit { ls.drain() })
            forces.append(ls.loop.scheduleTask(deadline: deadline) { ls.forceCloseAll() })
        }
        for w in waits { try? await w.get() }
        for f in forces { f.cancel() }
    }

    /// Stops everything: monitors, listeners, client and server connections. `apply` does nothing
    /// afterwards.
    public func shutdown() async {
        let all: [ServiceRuntime] = state.withLock { st in
            st.shutDown = true
            let rts = Array(st.services.values)
            st.services = [:]
            return rts
        }
        for rt in all {
            for m in rt.monitors.values { m.runner.stop() }
            for c in rt.listeners.values.flatMap({ $0 }) { await c.close() }
            rt.listeners = [:]
        }
        await Self.drainLoops(all.flatMap(\.loopServices), timeout: .zero)
        for ls in all.flatMap(\.loopServices) {
            try? await ls.loop.submit { ls.closeIdleServerConnections() }.get()
        }
        for loop in state.withLock({ $0.fastLoops }) { loop.stop() }
        if !all.isEmpty { notifyChange() }
    }
}

/// A (server, monitor) pair of a service.
struct RunnerKey: Hashable, Sendable {
    var server: String
    var monitor: MonitorConfig
}

/// One virtual service: its loops, listeners, monitors and health view. Mutated only under
/// `DataPlane.state`'s lock (hence `@unchecked Sendable`).
final class ServiceRuntime: @unchecked Sendable {
    let id: String
    var config: ServiceConfig
    private(set) var loopServices: [LoopService]
    let metrics: ServiceMetrics
    var listeners: [ListenAddress: [any ServiceListener]] = [:]
    /// On the L4 fast path's loops (``L4EventLoop``) rather than NIO's.
    private(set) var fast: Bool
    /// Counters of loop services the service left when it moved between paths (their loops still write
    /// them while their connections last; each keeps a single writer).
    private(set) var formerStats: [LoopStats] = []
    var formerServerStats: [String: [ServerStats]] = [:]
    var monitors: [RunnerKey: (token: Int, runner: MonitorRunner, up: Bool, reason: String)] = [:]
    var monitorOrder: [MonitorConfig] = []
    var servers: [ServerConfig] = []
    var invalid: [String: String] = [:]
    var serverUp: [String: Bool] = [:]
    var serverReason: [String: String] = [:]
    /// Each server's counters, one per loop (index of `loopServices`).
    var serverStats: [String: [ServerStats]] = [:]
    var draining = false
    /// The TLS contexts of the current `config.tls`, nil without TLS or when they could not be built.
    var tls: TLSTerminator?
    /// The TLS client context of the current `config.pool.tls` (re-encryption), nil without.
    var serverTLS: ServerTLS?
    let tlsMetrics: TLSMetrics
    private var gauges: [String: Gauge] = [:]

    private let metricsFactory: any MetricsFactory

    init(
        config: ServiceConfig, loops: [any EventLoop], fast: Bool, sources: SourceAddresses,
        requestLogs: RequestLogQueue, logger: Logger, metricsFactory: any MetricsFactory
    ) {
        self.id = config.id
        self.fast = fast
        self.config = config
        self.metricsFactory = metricsFactory
        let metrics = ServiceMetrics(service: config.name, factory: metricsFactory)
        self.metrics = metrics
        self.tlsMetrics = TLSMetrics(service: config.name, factory: metricsFactory)
        self.loopServices = loops.map {
            LoopService(
                loop: $0, config: config, stats: LoopStats(), metrics: metrics, sources: sources,
                requestLog: LoopRequestLog(queue: requestLogs, loops: loops.count), logger: logger)
        }
        for ls in loopServices { ls.startExport() }
    }

    /// Moves the service to other loops (NIO's or the fast path's): new loop services and per-server
    /// counters; the old ones are returned to be drained, their counters kept for the totals.
    func moveLoops(
        to loops: [any EventLoop], fast: Bool, sources: SourceAddresses, requestLogs: RequestLogQueue, logger: Logger
    ) -> [LoopService] {
        let old = loopServices
        formerStats += old.map(\.stats)
        for (key, stats) in serverStats { formerServerStats[key, default: []] += stats }
        serverStats = [:]
        self.fast = fast
        loopServices = loops.map {
            LoopService(
                loop: $0, config: config, stats: LoopStats(), metrics: metrics, sources: sources,
                requestLog: LoopRequestLog(queue: requestLogs, loops: loops.count), logger: logger)
        }
        for ls in loopServices { ls.startExport() }
        return old
    }

    /// `starling_se_server_up{pool, server}`.
    func gauge(server: String) -> Gauge {
        if let g = gauges[server] { return g }
        let g = Gauge(
            label: "starling_se_server_up", dimensions: [("pool", config.pool.name), ("server", server)],
            factory: metricsFactory)
        gauges[server] = g
        return g
    }
}

extension SourceAddresses {
    /// The source for `address`'s family.
    func pick(for address: SocketAddress) -> SocketAddress? {
        switch address {
        case .v4: v4
        case .v6: v6
        default: nil
        }
    }
}
