import Logging
import Metrics
import NIOCore
import NIOPosix

/// A pool server as one event loop sees it: its address, its place in the loop's balancer and (HTTP)
/// its idle keep-alive connections. Loop-confined.
final class LoopServer {
    let key: String
    let address: SocketAddress?
    /// Index in `LoopService.balancer.entries`; meaningless once `removed`.
    var index: Int
    var removed = false
    /// Idle keep-alive connections to this server (HTTP), most recently used last.
    var idle: [HTTPBackHandler] = []
    /// This loop's counters for the server (shared with `DataPlane.status()`).
    var stats: ServerStats?

    init(key: String, address: SocketAddress?, index: Int) {
        self.key = key
        self.address = address
        self.index = index
    }
}

/// A client connection the service can drain or close.
protocol ClientConnection: AnyObject {
    /// The service is draining: finish what is in flight, then close (close now when idle).
    func startDraining()
    /// The drain timeout passed: close now.
    func forceClose()
}

/// One virtual service on one event loop: the loop's balancer over the pool, the loop's server
/// connection pool, its open client connections and its counters (DESIGN §6: nothing here is shared
/// with another thread, so the per-request path takes no lock).
///
/// Only `loop` touches the mutable state; `DataPlane` sends updates with `loop.execute`. The class is
/// `@unchecked Sendable` so that it can be captured by listener initializers that run on that loop.
final class LoopService: @unchecked Sendable {
    let loop: any EventLoop
    let id: String
    let name: String
    let stats: LoopStats
    let metrics: ServiceMetrics
    let sources: SourceAddresses
    var logger: Logger
    /// Which requests are logged for the controller (the policy follows `update`).
    let requestLog: LoopRequestLog

    var kind: ServiceConfig.Kind
    var idleTimeout: TimeAmount
    var limits: HTTPLimits
    var connectTimeout: TimeAmount
    var requestHeaderTimeout: TimeAmount
    var serverResponseTimeout: TimeAmount
    var poolName: String
    /// TLS contexts for the TLS listeners (read when a connection is accepted).
    var tls: TLSTerminator?
    /// `https://` redirect port for requests on plain listeners (`http_to_https`).
    var httpsRedirectPort: Int?
    /// `Strict-Transport-Security` value for responses on TLS connections.
    var hsts: String?
    /// TLS to the pool's servers (re-encryption), nil for plain connections.
    var serverTLS: ServerTLS?

    var balancer: Balancer
    var servers: [LoopServer] = []

    private var clients: [ObjectIdentifier: any ClientConnection] = [:]
    private(set) var draining = false
    private var emptyWaiters: [EventLoopPromise<Void>] = []

    /// Most idle connections kept per server on this loop.
    let maxIdlePerServer = 512

    init(
        loop: any EventLoop, config: ServiceConfig, stats: LoopStats, metrics: ServiceMetrics,
        sources: SourceAddresses, requestLog: LoopRequestLog, logger: Logger
    ) {
        self.requestLog = requestLog
        requestLog.policy = config.requestLogs
        self.loop = loop
        self.id = config.id
        self.name = config.name
        self.stats = stats
        self.metrics = metrics
        self.sources = sources
        self.logger = logger
        self.kind = config.kind
        self.idleTimeout = TimeAmount(config.idleTimeout)
        self.limits = config.http
        self.connectTimeout = TimeAmount(config.http.connectTimeout)
        self.requestHeaderTimeout = TimeAmount(config.http.requestHeaderTimeout)
        self.serverResponseTimeout = TimeAmount(config.http.serverResponseTimeout)
        self.poolName = config.pool.name
        self.balancer = Balancer(algorithm: config.pool.algorithm, entries: [])
    }

    // MARK: metrics

    /// Counters already passed to swift-metrics: counters go out as deltas once a second, so that the
    /// per-request path only touches this loop's own counters.
    private var exported = ServiceTotals()
    private var exportTask: RepeatedTask?

    /// Starts exporting counters every second.
    func startExport() {
        exportTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            self?.exportCounters()
        }
    }

    /// Adds what was counted since the last export to the swift-metrics counters.
    func exportCounters() {
        var now = ServiceTotals()
        stats.add(into: &now)
        func delta(_ new: Int, _ old: Int, _ counter: Counter) {
            if new > old { counter.increment(by: Int64(new - old)) }
        }
        delta(now.connections, exported.connections, metrics.connections)
        delta(now.requests, exported.requests, metrics.requests)
        delta(now.bytesIn, exported.bytesIn, metrics.bytesIn)
        delta(now.bytesOut, exported.bytesOut, metrics.bytesOut)
        for i in 0..<5 { delta(now.responses[i], exported.responses[i], metrics.responses[i]) }
        exported = now
    }

    private func stopExport() {
        exportTask?.cancel()
        exportTask = nil
        exportCounters()
    }

    // MARK: configuration (on the loop)

    /// Applies settings and the pool; servers with the same key keep their state and connections.
    func update(
        config: ServiceConfig, servers desired: [ResolvedServer], tls: TLSTerminator?, serverTLS: ServerTLS?
    ) {
        loop.preconditionInEventLoop()
        kind = config.kind
        self.tls = tls
        if serverTLS !== self.serverTLS {
            // Idle connections were made (and their servers checked) with the old settings.
            self.serverTLS = serverTLS
            for s in servers {
                let idle = s.idle
                s.idle = []
                for conn in idle { conn.closeIdle() }
            }
        }
        httpsRedirectPort = config.httpsRedirectPort
        requestLog.policy = config.requestLogs
        hsts = config.tls?.hsts
        idleTimeout = TimeAmount(config.idleTimeout)
        limits = config.http
        connectTimeout = TimeAmount(config.http.connectTimeout)
        requestHeaderTimeout = TimeAmount(config.http.requestHeaderTimeout)
        serverResponseTimeout = TimeAmount(config.http.serverResponseTimeout)
        poolName = config.pool.name

        var old: [String: (LoopServer, Balancer.Entry)] = [:]
        for s in servers { old[s.key] = (s, balancer.entries[s.index]) }
        var newServers: [LoopServer] = []
        var entries: [Balancer.Entry] = []
        for (i, d) in desired.enumerated() {
            var entry = Balancer.Entry(weight: d.weight, eligible: d.eligible && d.address != nil)
            let server: LoopServer
            if let (s, e) = old.removeValue(forKey: d.key), s.address == d.address {
                server = s
                server.index = i
                entry.active = e.active
                entry.current = e.weight == entry.weight ? e.current : 0
            } else {
                if let (s, _) = old.removeValue(forKey: d.key) { retire(s) }
                server = LoopServer(key: d.key, address: d.address, index: i)
            }
            server.stats = d.stats
            newServers.append(server)
            entries.append(entry)
        }
        for (s, _) in old.values { retire(s) }
        servers = newServers
        balancer = Balancer(algorithm: config.pool.algorithm, entries: entries)
    }

    private func retire(_ server: LoopServer) {
        server.removed = true
        let idle = server.idle
        server.idle = []
        for conn in idle { conn.closeIdle() }
    }

    /// A server went up or down (health or enabled flag).
    func setEligible(key: String, eligible: Bool) {
        loop.preconditionInEventLoop()
        guard let s = servers.first(where: { $0.key == key }) else { return }
        balancer.entries[s.index].eligible = eligible && s.address != nil
    }

    // MARK: picking servers (on the loop)

    /// Picks a server for a new connection or request, counting it active.
    @inline(__always)
    func pick(excluding: ExcludedServers) -> LoopServer? {
        guard let i = balancer.pick(excluding: excluding) else { return nil }
        return servers[i]
    }

    /// The next server an L4 connection tries (``L4ProxyHandler`` and ``FastL4Connection``): at most
    /// `L4ProxyHandler.maxConnectAttempts` picks per connection, none of those in `tried`, passing over
    /// servers without a valid address. Nil (logged) when there is none left: the client is closed.
    func nextL4Server(tried: inout ExcludedServers, attempts: inout Int) -> (
        server: LoopServer, address: SocketAddress
    )? {
        while attempts < L4ProxyHandler.maxConnectAttempts, let server = pick(excluding: tried) {
            attempts += 1
            tried.insert(server.index)
            if let address = server.address { return (server, address) }
            release(server)
        }
        logger.debug("L4: no server to connect to", metadata: ["se.vs": "\(name)", "se.attempts": "\(attempts)"])
        return nil
    }

    /// The connection or request that `pick` counted ended.
    @inline(__always)
    func release(_ server: LoopServer) {
        if !server.removed { balancer.release(server.index) }
    }

    /// The outbound source address for `address`'s family, if configured.
    func source(for address: SocketAddress) -> SocketAddress? {
        switch address {
        case .v4: sources.v4
        case .v6: sources.v6
        default: nil
        }
    }

    // MARK: client connections and draining (on the loop)

    func register(_ client: any ClientConnection) {
        clients[ObjectIdentifier(client)] = client
        LoopStats.add(stats.connections, 1)
        LoopStats.add(stats.active, 1)
        metrics.active.increment()
        if draining { client.startDraining() }
    }

    func unregister(_ client: any ClientConnection) {
        guard clients.removeValue(forKey: ObjectIdentifier(client)) != nil else { return }
        LoopStats.add(stats.active, -1)
        metrics.active.decrement()
        if clients.isEmpty {
            let waiters = emptyWaiters
            emptyWaiters = []
            for w in waiters { w.succeed(()) }
        }
    }

    /// Starts draining; the future completes when no client connection is left.
    func drain() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        draining = true
        for c in Array(clients.values) { c.startDraining() }
        if clients.isEmpty { return loop.makeSucceededVoidFuture() }
        let p = loop.makePromise(of: Void.self)
        emptyWaiters.append(p)
        return p.futureResult
    }

    /// Closes every client connection left.
    func forceCloseAll() {
        loop.preconditionInEventLoop()
        for c in Array(clients.values) { c.forceClose() }
    }

    /// Closes idle server connections (the service was removed or is shutting down).
    func closeIdleServerConnections() {
        stopExport()
        for s in servers { retire(s) }
        servers = []
        balancer = Balancer(algorithm: balancer.algorithm, entries: [])
    }

    /// Client connections open on this loop.
    var clientCount: Int { clients.count }
}

/// A pool server resolved for the loops: key, socket address (nil when the IP is invalid), weight and
/// whether it may take traffic now.
struct ResolvedServer: Sendable, Hashable {
    var key: String
    var address: SocketAddress?
    var weight: Int
    var eligible: Bool
    /// This loop's counters for the server.
    var stats: ServerStats? = nil
}

/// The SE's data addresses by family: outbound connections bind to the one of the server's family.
struct SourceAddresses: Sendable {
    var v4: SocketAddress?
    var v6: SocketAddress?

    init(_ addresses: [String]) {
        for a in addresses {
            guard let s = try? SocketAddress(ipAddress: a, port: 0) else { continue }
            switch s {
            case .v4: if v4 == nil { v4 = s }
            case .v6: if v6 == nil { v6 = s }
            default: break
            }
        }
    }
}
