import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import ServiceLifecycle
import StarlingHTTP
import StarlingModel
import Synchronization

/// How a controller runs (`starling controller` flags).
public struct ControllerConfiguration: Sendable {
    /// Where `controller.sqlite` lives.
    public var dataDirectory: String
    /// The `admin` user's password on first start.
    public var adminPassword: String
    /// Seconds between SE heartbeats (sent to SEs at registration).
    public var heartbeatInterval: Double = 1.0
    /// Missed heartbeat intervals before an SE is down (`--se-down-after`).
    public var seDownAfter: Double = 3
    /// PBKDF2 iterations for new password hashes.
    public var passwordIterations: Int = 100_000
    /// Seconds between reconciler ticks (liveness checks).
    public var tickInterval: Double = 0.25
    /// Monotonic seconds; nil for the real clock (tests pass a manual one).
    public var clock: (@Sendable () -> Double)?
    /// Wall-clock seconds since the epoch (sessions, join tokens, `_last_modified`, the audit trail); nil
    /// for the system clock (tests pass a manual one).
    public var wallClock: (@Sendable () -> Double)?
    /// A session ends this many seconds after its last use (`--session-idle-timeout`, Avi's 15 min).
    public var sessionIdleTimeout: Double = 15 * 60
    /// ... and this many seconds after login, used or not (`--session-lifetime`).
    public var sessionLifetime: Double = 24 * 3600
    /// Failed logins allowed per user name, and per source address, within `loginThrottleWindow` seconds;
    /// the next attempt is refused with 429 until the window has passed.
    public var loginFailuresPerUser = 5
    public var loginFailuresPerSource = 20
    public var loginThrottleWindow: Double = 60
    /// Mark the session cookies `Secure` (`--secure-cookies`: the API is reached over HTTPS, e.g. through a
    /// TLS-terminating proxy).
    public var secureCookies = false
    /// The key file that seals certificate keys in the store (``SecretBox``); nil:
    /// `<dataDirectory>/secrets.key`.
    public var secretsKeyFile: String?
    /// Serve the Admin Console from this folder, read on every request, instead of the copy built in
    /// (`--console-dir`: working on the console without rebuilding).
    public var consoleDirectory: String?
    /// Most request logs kept in the store (`--request-log-max-rows`); the oldest go first.
    public var requestLogMaxRows = 500_000
    /// Where the shared state lives (`--store`): SQLite in `dataDirectory` (the default), or etcd.
    public var store: StoreChoice = .sqlite
    /// This node's name in the store (`--node-name`).
    public var nodeName = ProcessInfo.processInfo.hostName
    /// Where this node's API listens (`--listen`), as the cluster lists it.
    public var nodeAddress = ""

    /// Where the shared state lives.
    public enum StoreChoice: Sendable, Hashable {
        /// `<dataDirectory>/controller.sqlite`, one node.
        case sqlite
        /// etcd's client URLs, and the key prefix the state lives under.
        case etcd(endpoints: [String], prefix: String)
    }

    /// For `https://` etcd endpoints: the CA of the members' certificates (nil: the system's roots) and this
    /// node's client certificate and key (`--etcd-cacert`, `--etcd-cert`, `--etcd-key`).
    public var etcdCAFile: String?
    public var etcdCertFile: String?
    public var etcdKeyFile: String?

    /// How the API is served (``Controller/application(host:port:)``).
    public var apiTLS: APITLS = .clusterCA

    /// How the API is served.
    public enum APITLS: Sendable, Hashable {
        /// HTTPS with a certificate the cluster CA issues this node at every start (the default).
        case clusterCA
        /// HTTPS with the operator's certificate chain and key (PEM files, `--tls-cert`, `--tls-key`); SEs and
        /// `starling ctl` must trust its issuer through the system's roots or `--ca-file`.
        case files(certificate: String, key: String)
        /// Plain HTTP (`--insecure-http`): tests and labs only.
        case insecureHTTP
    }

    public init(dataDirectory: String, adminPassword: String) {
        self.dataDirectory = dataDirectory
        self.adminPassword = adminPassword
    }
}

/// The controller: store, object service, auth, SE agent service and reconciler, and the HTTP responder
/// in front of them. `open` creates the defaults on first start and starts the reconciler.
public final class Controller: Sendable {
    public let configuration: ControllerConfiguration
    /// The shared state (configuration, accounts, placement) behind ``ControllerStore``.
    let store: any ControllerStore
    /// The node's own database: the single-node store, and the node-local analytics.
    let database: SQLiteStore
    public let reconciler: Reconciler
    /// Time series from the SEs' heartbeats (issue 11).
    public let analytics: Analytics
    let objects: ObjectService
    let auth: AuthService
    let agent: AgentService
    let metrics: ControllerMetrics
    let logger: Logger
    /// The Admin Console's files.
    let console: ConsoleAssets
    /// Wall-clock seconds since the epoch.
    let wallClock: @Sendable () -> Double
    /// When this node started (seconds since the epoch).
    let startedAt = Date().timeIntervalSince1970
    /// The management plane's CA, shared by the nodes through the store.
    public let clusterCA: ClusterCA
    /// How this node reaches the leader's API when it forwards a request (nil: plain HTTP).
    let forwardTLS: StarlingHTTP.HTTPClient.TLS?
    /// The client of the last leader a request was forwarded to (its address and the client).
    private let forwarder = Mutex<(address: String, client: StarlingHTTP.HTTPClient)?>(nil)

    /// Opens the store in `configuration.dataDirectory`, creates the defaults on first start and
    /// starts the reconciler (which loads the persisted placement and desired states).
    public init(configuration: ControllerConfiguration, logger: Logger) async throws {
        guard !configuration.adminPassword.isEmpty else {
            throw APIError(400, "an admin password is required (STARLING_ADMIN_PASSWORD or --admin-password-file)")
        }
        self.configuration = configuration
        self.logger = logger
        console = ConsoleAssets(directory: configuration.consoleDirectory)
        database = try SQLiteStore(directory: configuration.dataDirectory)
        let secrets = try SecretBox(
            keyFile: configuration.secretsKeyFile ?? configuration.dataDirectory + "/secrets.key")
        switch configuration.store {
        case .sqlite:
            store = database
        case .etcd(let endpoints, let prefix):
            let client =
                endpoints.contains(where: { $0.hasPrefix("https://") })
                ? try EtcdClient(
                    endpoints: endpoints,
                    tls: .init(
                        caFile: configuration.etcdCAFile, certFile: configuration.etcdCertFile,
                        keyFile: configuration.etcdKeyFile))
                : try EtcdClient(endpoints: endpoints)
            let etcd = try await EtcdStore.open(client: client, prefix: prefix, logger: logger)
            store = etcd
        }
        do {
            try await Self.checkSecretsKey(
                secrets, store: store, file: configuration.secretsKeyFile ?? "<data-dir>/secrets.key")
            let ca = try await ClusterCA.loadOrCreate(store: store, secrets: secrets, now: Date())
            clusterCA = ca
            forwardTLS = try Self.forwardingTLS(ca: ca, configuration: configuration)
        } catch {
            if let etcd = store as? EtcdStore { await etcd.shutdown() }
            throw error
        }
        let hasher = PasswordHasher(iterations: configuration.passwordIterations)
        let wallClock = configuration.wallClock ?? { Date().timeIntervalSince1970 }
        self.wallClock = wallClock
        objects = ObjectService(store: store, hasher: hasher, secrets: secrets, wallClock: wallClock)
        let auth = AuthService.Settings(
            idleTimeout: configuration.sessionIdleTimeout, lifetime: configuration.sessionLifetime,
            userLimit: .init(failures: configuration.loginFailuresPerUser, window: configuration.loginThrottleWindow),
            sourceLimit: .init(
                failures: configuration.loginFailuresPerSource, window: configuration.loginThrottleWindow))
        self.auth = AuthService(store: store, hasher: hasher, settings: auth, now: wallClock)
        agent = AgentService(store: store, heartbeatInterval: configuration.heartbeatInterval)
        metrics = ControllerMetrics()
        let clock: @Sendable () -> Double
        if let c = configuration.clock {
            clock = c
        } else {
            let start = ContinuousClock.now
            clock = {
                let d = ContinuousClock.now - start
                return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            }
        }
        analytics = Analytics(
            database: database.local, requestLogLimit: configuration.requestLogMaxRows, logger: logger)
        reconciler = Reconciler(
            store: store, downAfter: configuration.seDownAfter * configuration.heartbeatInterval, clock: clock,
            logger: logger)
        do {
            let created = try await Defaults.bootstrap(
                store, adminPasswordHash: { [hasher, password = configuration.adminPassword] in hasher.hash(password) },
                now: wallClock())
            try await Defaults.ensurePredefinedRoles(store, now: wallClock())
            try await Defaults.ensureSystemSSLProfiles(store, now: wallClock())
            if created {
                logger.info(
                    "created the store and its default objects",
                    metadata: ["controller.dir": "\(configuration.dataDirectory)"])
            }
            if let etcd = store as? EtcdStore {
                // On etcd the leader alone runs the reconciler (the SEs talk to it); it reconciles on every
                // change of the configuration, through whichever node it was made.
                let reconciler = reconciler
                let request = PassRequest()
                etcd.onObjectsChanged {
                    // One pass waits at a time: changes that come while it waits are in its snapshot.
                    guard etcd.isLeader, request.take() else { return }
                    Task {
                        request.clear()
                        try? await reconciler.configChanged("the configuration changed in the store")
                    }
                }
                try await etcd.campaign(
                    as: .init(
                        name: configuration.nodeName, address: configuration.nodeAddress,
                        up_since: Date().timeIntervalSince1970)
                ) { [logger] leads in
                    if leads {
                        do {
                            try await reconciler.start()
                        } catch {
                            logger.error("the reconciler did not start on this leader", metadata: ["error": "\(error)"])
                        }
                    } else {
                        await reconciler.stepDown()
                    }
                }
            } else {
                try await reconciler.start()
            }
        } catch {
            // Give the store back (on etcd, the node's membership) before failing.
            await close()
            throw error
        }
    }

    /// Every node of a store seals certificate keys with the same secrets key. The store keeps a value
    /// sealed with the key of the node that started it first; a node whose key does not open it stops
    /// here (its certificates would not open on the SEs it serves) instead of failing later.
    static func checkSecretsKey(_ box: SecretBox, store: any ControllerStore, file: String) async throws {
        let field = "meta.secrets_key_check"
        let sealed = try box.seal("starling secrets key check", field: field)
        let stored = try await store.write { tx -> String? in
            if let existing = try tx.meta("secrets_key_check") { return existing }
            try tx.setMeta("secrets_key_check", sealed)
            return nil
        }
        if let stored, (try? box.open(stored, field: field)) == nil {
            throw SecretBoxError(
                "the secrets key (\(file)) is not the one this store's certificate keys are sealed with: "
                    + "give every controller node a copy of the first node's key file (--secrets-key-file)")
        }
    }

    /// Replaces the whole configuration with a backup's, with its audit row, and restarts the reconciler
    /// on what was restored (its placement and desired states: nothing moves without cause).
    func restore(_ contents: ConfigurationBackup.Contents, actor: AuditLog.Actor) async throws {
        let now = wallClock()
        try await reconciler.replacingStore { [store] in
            try await store.write { tx in
                try ConfigurationBackup.restore(tx, contents, now: now)
                // On the admin tenant, which holds the whole configuration.
                try AuditLog.record(
                    tx, .action, actor: actor, tenant: ObjectService.admin, type: Tenant.objectType,
                    uuid: ObjectService.admin, name: ObjectService.admin,
                    new: .object([
                        "action": .string("configuration restored"), "objects": .int(Int64(contents.objects.count)),
                    ]), now: now)
            }
        }
        logger.notice("configuration restored", metadata: ["controller.objects": "\(contents.objects.count)"])
    }

    /// Whether this node runs the reconciler and serves the SEs: always on SQLite; on etcd, while it leads.
    public var isLeader: Bool { (store as? EtcdStore)?.isLeader ?? true }

    /// Lets go of the store: a node on etcd ends its membership (and leadership), so that another node takes the
    /// store at once.
    public func close() async {
        if let etcd = store as? EtcdStore { await etcd.shutdown() }
    }

    /// The HTTP responder (for `Application(responder:)` and `app.test(.router)`).
    public var responder: ControllerResponder { ControllerResponder(controller: self) }

    /// The Hummingbird application serving the API on `host:port` (HTTPS unless `apiTLS` is `.insecureHTTP`),
    /// with the reconciler's ticker: a `Service` to run in a `ServiceGroup` (graceful shutdown stops both).
    /// Throws when the TLS certificate cannot be made or read.
    public func service(host: String, port: Int) throws -> any Service {
        Application(
            responder: responder, server: try serverBuilder(host: host),
            configuration: .init(address: .hostname(host, port: port), serverName: "starling"),
            services: [ReconcilerTicker(reconciler: reconciler, interval: configuration.tickInterval, logger: logger)],
            logger: logger)
    }

    /// HTTP/1.1, inside TLS unless `--insecure-http`: the node's certificate (the cluster CA's, or the
    /// operator's), and clients' certificates verified against the cluster CA when they send one (the SEs
    /// must, browsers and `starling ctl` need not).
    func serverBuilder(host: String) throws -> HTTPServerBuilder {
        guard let tls = try serverTLS(host: host) else { return .http1() }
        return try .tls(.http1(), tlsConfiguration: tls)
    }

    /// The API's TLS settings; nil for plain HTTP.
    public func serverTLS(host: String) throws -> TLSConfiguration? {
        let chain: [NIOSSLCertificateSource]
        let key: NIOSSLPrivateKeySource
        switch configuration.apiTLS {
        case .insecureHTTP:
            return nil
        case .files(let certificateFile, let keyFile):
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            key = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
        case .clusterCA:
            let identity = try Self.nodeIdentity(ca: clusterCA, configuration: configuration, host: host)
            chain = [.certificate(identity.certificate)]
            key = .privateKey(identity.key)
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .optionalVerification
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(clusterCA.pem.utf8), format: .pem)])
        tls.sendCANameList = true
        return tls
    }

    /// This node's certificate from the cluster CA, for the addresses and names it is reached at.
    private static func nodeIdentity(ca clusterCA: ClusterCA, configuration: ControllerConfiguration, host: String)
        throws -> (certificate: NIOSSLCertificate, key: NIOSSLPrivateKey)
    {
        let (certificate, key) = try clusterCA.nodeIdentityPEM(
            node: configuration.nodeName, hosts: identityHosts(host, configuration: configuration), now: Date())
        return (
            try NIOSSLCertificate(bytes: Array(certificate.utf8), format: .pem),
            try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem)
        )
    }

    /// The addresses and names a node listening on `host` is reached at (when it listens on every address:
    /// every address of its interfaces).
    private static func identityHosts(_ host: String, configuration: ControllerConfiguration) -> [String] {
        var hosts = [host, "localhost", "127.0.0.1", "::1", configuration.nodeName, ProcessInfo.processInfo.hostName]
        if ["0.0.0.0", "::", ""].contains(host) {
            hosts += (try? System.enumerateDevices())?.compactMap { $0.address?.ipAddress } ?? []
        }
        return hosts.filter { !["0.0.0.0", "::", ""].contains($0) }
    }

    /// The TLS settings a node uses to forward a request to the leader: the cluster CA (and the system's
    /// roots where the system has a bundle, for operators' certificates; the appliance has none), and a
    /// certificate of its own. Nil with `--insecure-http`.
    static func forwardingTLS(ca: ClusterCA, configuration: ControllerConfiguration) throws
        -> StarlingHTTP.HTTPClient.TLS?
    {
        if configuration.apiTLS == .insecureHTTP { return nil }
        let host = ControllerAPI.host(configuration.nodeAddress) ?? ""
        let (certificate, key) = try ca.nodeIdentityPEM(
            node: configuration.nodeName, hosts: identityHosts(host, configuration: configuration), now: Date())
        return .init(trustedPEM: ca.pem, systemRoots: true, clientCertificatePEM: certificate, clientKeyPEM: key)
    }

    /// The client that forwards requests to the leader at `address` (`host:port`): one per leader, kept
    /// while that node leads (its connections stay open for the next request).
    func forwardingClient(to address: String) throws -> StarlingHTTP.HTTPClient {
        try forwarder.withLock { current in
            if let current, current.address == address { return current.client }
            let client = try StarlingHTTP.HTTPClient(
                baseURL: (forwardTLS == nil ? "http://" : "https://") + address, tls: forwardTLS)
            current = (address, client)
            return client
        }
    }

    /// After an object write: reconcile when the type matters to placement or desired state.
    func changed(_ kind: ObjectKind, _ what: String) async throws {
        guard kind.affectsPlacement else { return }
        try await reconciler.configChanged(what)
    }

    /// Long-poll helper: true when the SE's desired version moved away from `version` within `seconds`.
    func waitForChange(se: String, from version: Int, seconds: Double) async throws -> Bool {
        let id = await reconciler.newWaiterID()
        let reconciler = self.reconciler
        return await withTaskGroup(of: Bool?.self) { group in
            group.addTask { await reconciler.wait(se, from: version, id: id) }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                await reconciler.cancelWait(id)
                return nil
            }
            var result = false
            for await r in group {
                if let r {
                    result = r
                    break
                }
            }
            group.cancelAll()
            return result
        }
    }

    /// The tenant uuid named by `X-Avi-Tenant` (by name) or `X-Avi-Tenant-UUID`, when `principal` has
    /// access to it; 403 otherwise, with the same answer for a tenant that does not exist (a user learns
    /// nothing about tenants it cannot use).
    func tenant(named name: String?, uuid: String?, for principal: Principal) async throws -> String {
        let header = uuid != nil ? "X-Avi-Tenant-UUID" : "X-Avi-Tenant"
        let found = try await store.read { tx -> String? in
            if let uuid { return try tx.object(uuid: uuid)?.type == Tenant.objectType ? uuid : nil }
            return try ObjectService.tenantUUID(tx, name: name ?? "")
        }
        let shown = uuid ?? name ?? ""
        guard let found, principal.hasAccess(to: found) else {
            if principal.allTenants { throw APIError(403, "\(header): no tenant \(shown)") }
            throw APIError(403, "\(header): user \(principal.username) has no access to tenant \(shown)")
        }
        return found
    }

    /// `/metrics` text.
    func metricsText() async -> String {
        let counts =
            (try? await store.read { tx in try tx.objectCounts().map { ($0.type, $0.count) } }) ?? []
        let ses = await reconciler.seCounts()
        return metrics.render(objects: counts, sesUp: ses.up, sesDown: ses.down)
    }
}

/// Freezes the reconciler as soon as graceful shutdown starts. Run it as the LAST service of the
/// `ServiceGroup` (graceful shutdown goes in reverse order), so it acts before the HTTP server drains its
/// requests: while that takes, heartbeats no longer arrive, and without the freeze the reconciler would
/// declare every SE down and push empty desired states to the long-polls still open.
public struct ReconcilerFreeze: Service {
    let reconciler: Reconciler

    public init(controller: Controller) { reconciler = controller.reconciler }

    public func run() async throws {
        try? await gracefulShutdown()
        await reconciler.freeze()
    }
}

/// Runs `Reconciler.tick()` every `interval` seconds until shutdown (SE liveness).
struct ReconcilerTicker: Service {
    let reconciler: Reconciler
    let interval: Double
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .seconds(interval))
                } catch {
                    return
                }
                do {
                    try await reconciler.tick()
                } catch {
                    logger.error("reconcile failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// API request counters and the gauges `/metrics` shows, in a registry owned by the controller.
final class ControllerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "starling_controller", metricName: "api_requests", unitName: "total",
            helpText: "REST API requests by method and status")
    }
    static var objects: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "starling_controller", metricName: "objects", unitName: "count", helpText: "API objects by type")
    }
    static var ses: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "starling_controller", metricName: "serviceengines", unitName: "count",
            helpText: "Registered SEs by oper state")
    }

    func request(method: String, status: Int) {
        registry.makeCounter(
            descriptor: Self.requests, labels: [("method", method), ("status", String(status))]
        ).increment()
    }

    func render(objects: [(String, Int)], sesUp: Int, sesDown: Int) -> String {
        for (type, n) in objects {
            registry.makeGauge(descriptor: Self.objects, labels: [("type", type)]).set(Double(n))
        }
        registry.makeGauge(descriptor: Self.ses, labels: [("state", "up")]).set(Double(sesUp))
        registry.makeGauge(descriptor: Self.ses, labels: [("state", "down")]).set(Double(sesDown))
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// Whether a reconcile pass for changes in the store is already asked for.
private final class PassRequest: Sendable {
    private let queued = Mutex(false)

    /// True when no pass was asked for yet (and marks one asked).
    func take() -> Bool {
        queued.withLock { q in
            defer { q = true }
            return !q
        }
    }

    func clear() { queued.withLock { $0 = false } }
}
