import ArgumentParser
import BGPSpeaker
import FlowSteering
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Netlink
import Prometheus
import SE
import ServiceLifecycle
import StarlingHTTP
import StarlingModel
import UnixSignals

/// `starling se`: a Service Engine (DESIGN §3.1), either managed by a controller
/// (`--controller URL --token TOKEN --name NAME --data-address IP [--vip-interface IF]`) or standalone
/// from a file of API objects (`--config FILE [--threads N]`).
struct SECommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "se",
        abstract: "Run a Service Engine: serve virtual services and advertise their VIPs with BGP.",
        discussion: """
            Managed:    starling se --controller URL[,URL...] --token TOKEN --name NAME --data-address IP [--vip-interface IF]
            Standalone: starling se --config FILE [--threads N] [--data-address IP]
            FILE holds API objects grouped by type (pool, vsvip, virtualservice, healthmonitor, vrfcontext, ...),
            with refs by name (/api/pool/?name=p). SIGHUP re-reads it. SIGTERM advertises every VIP with
            GRACEFUL_SHUTDOWN (--graceful-shutdown-time), withdraws it, lets connections finish
            (--drain-timeout) and exits 0.
            Hitless restart: a second `starling se` started while one runs with the same --handoff-socket
            takes over: it inherits the server health, binds the listeners beside the running one's, and
            the running one leaves its BGP sessions to Graceful Restart (--graceful-restart-time), stops
            accepting, finishes its connections and exits 0. No connection is refused, no route withdrawn.
            SIGUSR2 (systemctl reload starling-se) starts that successor from the binary on disk.
            """
    )

    @Option(
        name: .long,
        help: """
            Controller URL (https://host:port), or the URLs of a cluster's nodes, comma-separated: the SE talks \
            to the leader and moves to another node when its node fails. Over https the SE trusts the cluster CA \
            the join token names and authenticates with the client certificate it gets at registration; \
            http:// only for a controller run with --insecure-http.
            """)
    var controller: String?

    @Option(
        name: .long,
        help: """
            Where a managed SE keeps the cluster CA, its key, client certificate and registration, so that it \
            restarts without a new token (default: /var/lib/starling/se/NAME).
            """)
    var stateDir: String?

    @Option(name: .long, help: "Join token from GET /api/securetoken-generate.")
    var token: String?

    @Option(name: .long, help: "File holding the join token (keeps it out of the process list).")
    var tokenFile: String?

    @Option(name: .long, help: "This SE's name.")
    var name: String?

    @Option(name: .long, help: "Source address toward routers and servers, and the BGP next hop of every VIP.")
    var dataAddress: String?

    @Option(name: .long, help: "Interface that carries the VIPs.")
    var vipInterface: String = "lo"

    @Option(name: .long, help: "Standalone: JSON or YAML file of API objects.")
    var config: String?

    @Option(name: .long, help: "Event-loop threads (default: one per core).")
    var threads: Int?

    @Option(name: .long, help: "Management port (GET /metrics, GET /status) on ADDR:PORT; 'off' to disable.")
    var mgmtListen: String = "127.0.0.1:9180"

    @Option(name: .long, help: "Seconds existing connections may take to finish on SIGTERM or scale-in.")
    var drainTimeout: Int = 30

    @Option(
        name: .long,
        help:
            "Seconds VIPs stay advertised with GRACEFUL_SHUTDOWN (RFC 8326) on SIGTERM before the withdrawal; 0 skips it."
    )
    var gracefulShutdownTime: Double = 1

    @Option(
        name: .long,
        help:
            "Graceful Restart (RFC 4724) restart time in seconds advertised to the routers (how long they keep the VIPs while a successor process takes over); 0 disables Graceful Restart."
    )
    var gracefulRestartTime: Int = 30

    @Option(
        name: .long,
        help: """
            Unix socket a successor process takes this SE over through (hitless restart); 'off' to disable \
            (default: /run/starling/se-NAME.handoff, NAME the --name, or the --data-address when standalone).
            """)
    var handoffSocket: String?

    @Option(
        name: .long,
        help: """
            Flow steering between the SEs of a scale-out group on one segment: every SE's data address, this \
            one's included, comma-separated, in order of preference for native primaries; 'off' for none. \
            Default: with --controller, the members the controller gives this SE's group; else none.
            """)
    var scaleoutMembers: String?

    @Option(name: .long, help: "Data interface for flow steering (default: the interface holding --data-address).")
    var dataInterface: String?

    @Option(name: .long, help: "UDP port of the SE-to-SE heartbeats on the data segment.")
    var heartbeatPort: Int = 7740

    @Option(name: .long, help: "Milliseconds between SE-to-SE heartbeats; a member is gone after 3 missed.")
    var heartbeatInterval: Int = 100

    @Option(name: .long, help: "Entries in a native primary's flow table.")
    var flowTableSize: Int = 131_072

    @Option(
        name: .long,
        help: """
            Where a secondary sends the replies of native VIPs: direct (to the client) or via-primary (through \
            the primary, for networks that drop a VIP sourced from another port's MAC). Every SE of the group \
            alike.
            """)
    var nativeReturn: String = "direct"

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        switch (controller, config) {
        case (nil, nil): throw ValidationError("give --controller URL (managed) or --config FILE (standalone)")
        case (.some, .some): throw ValidationError("--controller and --config exclude each other")
        case (.some(let urls), nil):
            let list = urls.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            for url in list {
                // The port is explicit (a controller serves on 8443, not 443).
                let authority = url.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first ?? ""
                guard (try? HTTPClient(baseURL: url)) != nil,
                    authority.split(separator: ":").last?.allSatisfy(\.isNumber) == true,
                    authority.contains(":")
                else {
                    throw ValidationError("--controller: '\(url)' is not https://HOST:PORT or http://HOST:PORT")
                }
            }
            if Set(list.map { $0.lowercased().hasPrefix("https://") }).count > 1 {
                throw ValidationError("--controller: the nodes of one cluster are all https:// or all http://")
            }
            switch (token, tokenFile) {
            case (.some(let token), nil) where !token.isEmpty: break
            case (nil, .some(let file)) where !file.isEmpty: break
            case (.some, .some): throw ValidationError("--token and --token-file exclude each other")
            default: throw ValidationError("--token (or --token-file) is required with --controller")
            }
            guard let name, !name.isEmpty else { throw ValidationError("--name is required with --controller") }
            guard dataAddress != nil else { throw ValidationError("--data-address is required with --controller") }
        case (nil, .some): break
        }
        if let dataAddress, IPAddress(dataAddress) == nil {
            throw ValidationError("--data-address: '\(dataAddress)' is not an IP address")
        }
        if let threads, !(1...256).contains(threads) {
            throw ValidationError("--threads: must be between 1 and 256")
        }
        if mgmtListen != "off", HostPort(mgmtListen) == nil {
            throw ValidationError("--mgmt-listen: '\(mgmtListen)' is not ADDR:PORT or 'off'")
        }
        if !(0...300).contains(gracefulShutdownTime) {
            throw ValidationError("--graceful-shutdown-time: must be between 0 and 300 seconds")
        }
        if !(0...Int(GracefulRestartSettings.maximumRestartTime)).contains(gracefulRestartTime) {
            throw ValidationError("--graceful-restart-time: must be between 0 and 4095 seconds")
        }
        if let path = handoffPath, !path.hasPrefix("/") || path.utf8.count > 107 {
            throw ValidationError("--handoff-socket: '\(path)' is not an absolute path of at most 107 bytes")
        }
        if !(0...3600).contains(drainTimeout) {
            throw ValidationError("--drain-timeout: must be between 0 and 3600 seconds")
        }
        if let scaleoutMembers, scaleoutMembers != "off" {
            let members = scaleoutMembers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let dataAddress else { throw ValidationError("--scaleout-members needs --data-address") }
            for member in members where IPAddress(member) == nil {
                throw ValidationError("--scaleout-members: '\(member)' is not an IP address")
            }
            guard members.compactMap(IPAddress.init).contains(where: { IPAddress(dataAddress) == $0 }) else {
                throw ValidationError("--scaleout-members must include --data-address \(dataAddress)")
            }
            guard members.count <= SteeringProgram.maxMembers else {
                throw ValidationError("--scaleout-members: at most \(SteeringProgram.maxMembers) members")
            }
        }
        if let dataInterface, dataInterface.isEmpty || dataInterface.count > 15 || dataInterface == vipInterface {
            throw ValidationError(
                "--data-interface: '\(dataInterface)' is not an interface name other than --vip-interface")
        }
        if !(1...65535).contains(heartbeatPort) { throw ValidationError("--heartbeat-port: must be 1-65535") }
        if !(10...10_000).contains(heartbeatInterval) {
            throw ValidationError("--heartbeat-interval: must be between 10 and 10000 ms")
        }
        if nativeReturn != "direct" && nativeReturn != "via-primary" {
            throw ValidationError("--native-return: '\(nativeReturn)' is neither direct nor via-primary")
        }
        if !(1024...16_777_216).contains(flowTableSize) {
            throw ValidationError("--flow-table-size: must be between 1024 and 16777216")
        }
        if vipInterface.isEmpty || vipInterface.count > 15 {
            throw ValidationError("--vip-interface: '\(vipInterface)' is not an interface name")
        }
        try LogLevelOption.validate(logLevel)
    }

    func run() async throws {
        LogLevelOption.bootstrap(logLevel)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let reloads = await UnixSignalsSequence(trapping: .sigusr2)
        var logger = Logger(label: "starling.se")
        if let name { logger[metadataKey: "se.name"] = "\(name)" }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        var joinToken = token ?? ""
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8),
                case let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines), !trimmed.isEmpty
            else {
                FileHandle.standardError.write(
                    Data("starling se: --token-file: cannot read a token from \(tokenFile)\n".utf8))
                throw ExitCode(2)
            }
            joinToken = trimmed
        }
        if controller?.lowercased().hasPrefix("https://") == true, ManagementTrust.caHash(inToken: joinToken) == nil {
            FileHandle.standardError.write(
                Data(
                    """
                    starling se: the join token names no cluster CA (<secret>.<sha256>), so the controller cannot \
                    be verified over HTTPS: make a new token with GET /api/securetoken-generate

                    """.utf8))
            throw ExitCode(2)
        }
        var standalone: StandaloneConfig?
        if let config {
            do {
                standalone = try StandaloneConfig.load(path: config)
            } catch {
                FileHandle.standardError.write(Data("starling se: \(config): \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        // Only a process for the same SE takes this one over (several SEs may share a host in a lab).
        let identity =
            if let controller { "managed \(controller) \(name ?? "")" } else {
                "standalone \(URL(fileURLWithPath: config ?? "").standardizedFileURL.path)"
            }
        let daemon = SEDaemon(
            mode: standalone.map { .standalone(path: config ?? "", initial: $0) }
                ?? .managed(
                    controller: controller ?? "",
                    identity: SEAgent.Identity(
                        token: joinToken, name: name ?? "",
                        dataAddress: dataAddress.flatMap(IPAddress.init).map(IpAddr.init)
                            ?? IpAddr(addr: "", type: .v4),
                        mgmtURL: mgmtListen == "off" ? nil : "http://\(mgmtListen)", threads: threads,
                        stateDirectory: stateDir ?? "/var/lib/starling/se/\(name ?? "se")")),
            threads: threads ?? System.coreCount,
            options: SEEngine.Options(
                vipInterface: vipInterface, dataAddress: dataAddress.flatMap(IPAddress.init),
                drainTimeout: .seconds(drainTimeout),
                gracefulShutdownTime: .milliseconds(Int64(gracefulShutdownTime * 1000)),
                gracefulRestartTime: gracefulRestartTime),
            mgmt: mgmtListen == "off" ? nil : HostPort(mgmtListen),
            steering: try steeringSetup(),
            handoffPath: handoffPath, identity: identity,
            metrics: registry, hangups: hangups, reloads: reloads, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                // The daemon also ends by itself, after handing off to a successor process.
                services: [.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            FileHandle.standardError.write(Data("starling se: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension SECommand {
    /// Flow steering's settings: a fixed list from `--scaleout-members`, else (managed SEs with a data
    /// address) the controller's; nil when steering is off.
    func steeringSetup() throws -> SEDaemon.SteeringSetup? {
        guard scaleoutMembers != "off", let dataAddress, let selfAddress = IPAddress(dataAddress) else { return nil }
        var configuration = FlowSteering.Configuration(
            interface: dataInterface ?? "", selfAddress: selfAddress, members: [:], heartbeatPort: heartbeatPort,
            interval: .milliseconds(heartbeatInterval), flowTableSize: flowTableSize,
            returnViaPrimary: nativeReturn == "via-primary")
        guard let scaleoutMembers else { return controller == nil ? nil : .fromController(configuration) }
        configuration.members = FlowSteering.Configuration.positions(
            scaleoutMembers.split(separator: ",").compactMap { IPAddress($0.trimmingCharacters(in: .whitespaces)) })
        if dataInterface == nil {
            guard let name = try SEDaemon.interface(holding: selfAddress) else {
                FileHandle.standardError.write(
                    Data("starling se: no interface holds --data-address \(dataAddress): give --data-interface\n".utf8))
                throw ExitCode(2)
            }
            configuration.interface = name
        }
        return .fixed(configuration)
    }

    /// The handoff socket in use: `--handoff-socket`, or one per SE on the host; nil when 'off'.
    var handoffPath: String? {
        let path = handoffSocket ?? Self.defaultHandoffSocket(name: name, dataAddress: dataAddress)
        return path == "off" ? nil : path
    }

    /// One socket per SE on a host: `/run/starling/se-NAME.handoff` (characters other than letters,
    /// digits, `.`, `_` and `-` become `_`).
    static func defaultHandoffSocket(name: String?, dataAddress: String?) -> String {
        let key = name ?? dataAddress ?? "standalone"
        let safe = String(
            key.unicodeScalars.map { c -> Character in
                CharacterSet.alphanumerics.contains(c) && c.isASCII || "._-".unicodeScalars.contains(c)
                    ? Character(c) : "_"
            }
            .prefix(64))
        return "/run/starling/se-\(safe).handoff"
    }
}

/// `starling se --config FILE`: API objects grouped by type, refs by name resolved inside the file.
struct StandaloneConfig: Sendable {
    var services: [ResolvedVirtualService]
    var vrf: VrfContext?

    static func load(path: String) throws -> StandaloneConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SEConfigError(message: "cannot read the file: \(error.localizedDescription)")
        }
        let set = try ObjectSetFile.decode(text)
        do {
            try set.validate()
        } catch {
            throw SEConfigError(message: "\(error)")
        }
        let resolver = Resolver(set)
        do {
            return StandaloneConfig(services: try resolver.resolveAll(), vrf: resolver.globalVrf)
        } catch {
            throw SEConfigError(message: "\(error)")
        }
    }
}

struct SEConfigError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The SE as a service: engine, data plane, BGP, agent or file, management port; on graceful shutdown
/// withdraw, drain, stop (DESIGN §3.1, STYLE "Daemons are Services"); on a takeover by a successor
/// process, hand off (``HandoffMessage``) and stop.
struct SEDaemon: Service {
    enum Mode: Sendable {
        case managed(controller: String, identity: SEAgent.Identity)
        case standalone(path: String, initial: StandaloneConfig)
    }

    /// Why the SE stops.
    enum Stop: Sendable {
        /// SIGTERM / SIGINT: withdraw and drain.
        case signal
        /// A successor asked for the release on this link.
        case handOff(HandoffLink)
    }

    let mode: Mode
    let threads: Int
    let options: SEEngine.Options
    let mgmt: HostPort?
    /// Flow steering's settings: a fixed member list, or the controller's (the interface found when it
    /// starts, when `--data-interface` is not given).
    enum SteeringSetup {
        case fixed(FlowSteering.Configuration)
        case fromController(FlowSteering.Configuration)
    }

    let steering: SteeringSetup?
    let handoffPath: String?
    /// Who this SE is (mode, controller and name, or the file): a successor must be the same SE.
    let identity: String
    let metrics: PrometheusCollectorRegistry
    let hangups: UnixSignalsSequence
    /// SIGUSR2 (`systemctl reload starling-se`): start a successor from the binary on disk.
    let reloads: UnixSignalsSequence
    let logger: Logger

    /// How long a successor waits for its first configuration before asking for the release anyway.
    static let firstConfigurationWait: Duration = .seconds(30)

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        // A running SE on the handoff socket: take over from it.
        var predecessor: HandoffLink?
        var inherited: HandoffMessage?
        if let handoffPath, let link = await HandoffLink.connect(path: handoffPath, group: group) {
            do {
                inherited = try await link.requestTakeover(identity: identity)
                predecessor = link
                logger.notice(
                    "taking over from the running SE process",
                    metadata: ["se.predecessor_pid": "\(inherited?.pid ?? 0)"])
            } catch {
                await link.close()
                try? await group.shutdownGracefully()
                throw SEConfigError(message: "cannot take over from the SE process on \(handoffPath): \(error)")
            }
        }
        Self.enableRequestMigration(logger: logger)
        var options = self.options
        options.successor = predecessor != nil
        let sources = options.dataAddress.map { ["\($0)"] } ?? []
        let dataPlane = DataPlane(group: group, sourceAddresses: sources, logger: logger)
        if let health = inherited?.health { dataPlane.inheritHealth(health.mapValues(Set.init)) }
        let capacity = 10_000 * threads
        let freeCapacity: @Sendable () -> Int = {
            capacity - dataPlane.status().reduce(0) { $0 + $1.activeConnections }
        }
        var steering: SEEngine.Steering?
        switch self.steering {
        case .fixed(let configuration):
            var made: FlowSteering?
            do {
                let s = try FlowSteering(
                    configuration: configuration, group: group, logger: logger, freeCapacity: freeCapacity)
                made = s
                try await s.start()
                steering = .fixed(s)
            } catch {
                await made?.stop()
                try? await group.shutdownGracefully()
                throw SEConfigError(message: "flow steering: \(error)")
            }
        case .fromController(let base):
            let logger = logger
            steering = .fromController { members in
                var configuration = base
                configuration.members = members
                if configuration.interface.isEmpty {
                    guard let name = try Self.interface(holding: base.selfAddress) else {
                        throw SteeringError("no interface holds the data address \(base.selfAddress)")
                    }
                    configuration.interface = name
                }
                return try FlowSteering(
                    configuration: configuration, group: group, logger: logger, freeCapacity: freeCapacity)
            }
        case nil:
            steering = nil
        }
        let engine = SEEngine(
            options: options, dataPlane: dataPlane, eventLoop: group.next(), logger: logger, steering: steering)
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        dataPlane.setOnChange { continuation.yield() }
        let seUUID = NIOLockedValueBox("")
        let registration = AgentRegistration(inherited?.registration)
        let channels = NIOLockedValueBox<(mgmt: StatusServer?, handoff: (any Channel)?)>((nil, nil))

        @Sendable func bindMgmt() async throws {
            guard let mgmt else { return }
            do {
                let api = MgmtAPI(engine: engine, seUUID: { seUUID.withLockedValue { $0 } }, metrics: metrics)
                let server = try await StatusServer.start(
                    router: api.router(), host: mgmt.host, port: mgmt.port, group: group, logger: logger)
                channels.withLockedValue { $0.mgmt = server }
                logger.info("management API listening", metadata: ["se.mgmt": "\(mgmt.host):\(mgmt.port)"])
            } catch {
                throw SEConfigError(message: "cannot serve the management API on \(mgmt.host):\(mgmt.port): \(error)")
            }
        }
        if predecessor == nil {
            do {
                try await bindMgmt()
            } catch {
                try? await group.shutdownGracefully()
                throw error
            }
        }
        if case .standalone(_, let initial) = mode {
            await engine.apply(version: 1, services: initial.services, vrf: initial.vrf)
        }
        logger.notice("starling se running", metadata: ["se.threads": "\(threads)"])

        let (stops, stop) = AsyncStream.makeStream(of: Stop.self)
        /// Serves successors on the handoff socket: state on `takeover`, the stop on `release`.
        @Sendable func listenForSuccessors() async {
            guard let handoffPath else { return }
            do {
                let channel = try await HandoffListener.bind(path: handoffPath, group: group) { link in
                    Task {
                        do {
                            let hello = try await link.answerTakeover(
                                identity: identity, releaseTimeout: Self.firstConfigurationWait + .seconds(30)
                            ) {
                                logger.notice("a successor process is taking over")
                                return HandoffMessage(
                                    op: .state, health: engine.healthSnapshot().mapValues { $0.sorted() },
                                    registration: registration.current)
                            }
                            logger.notice(
                                "the successor process asks for the release",
                                metadata: ["se.successor_pid": "\(hello.pid ?? 0)"])
                            stop.yield(.handOff(link))
                        } catch {
                            logger.warning("handoff abandoned, going on serving: \(error)")
                            await link.close()
                        }
                    }
                }
                channels.withLockedValue { $0.handoff = channel }
            } catch {
                logger.error("hitless restart unavailable: cannot listen on \(handoffPath): \(error)")
            }
        }

        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for await _ in changes { await engine.refresh() }
            }
            tasks.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    await engine.tick()
                }
            }
            switch mode {
            case .managed(let controller, let identity):
                tasks.addTask {
                    do {
                        let clients = try controller.split(separator: ",").map {
                            try HTTPClient(baseURL: String($0))
                        }
                        let agent = SEAgent(
                            clients: clients, identity: identity, engine: engine, logger: logger,
                            registration: registration)
                        await agent.run()
                        for client in clients { await client.shutdown() }
                    } catch {
                        logger.error("controller URL unusable: \(error)")
                    }
                }
            case .standalone(let path, _):
                tasks.addTask {
                    var version = 1
                    for await _ in hangups {
                        do {
                            let next = try StandaloneConfig.load(path: path)
                            version += 1
                            await engine.apply(version: version, services: next.services, vrf: next.vrf)
                            logger.notice("configuration reloaded", metadata: ["se.version": "\(version)"])
                        } catch {
                            logger.error("configuration not reloaded, keeping the running one: \(error)")
                        }
                    }
                }
            }
            tasks.addTask {
                try? await gracefulShutdown()
                stop.yield(.signal)
            }
            tasks.addTask {
                for await _ in reloads { spawnSuccessor() }
            }
            if let predecessor {
                tasks.addTask {
                    // The first configuration (the file's, or the controller's) binds the listeners beside
                    // the predecessor's; then it may stop accepting and leave BGP to us.
                    let deadline = ContinuousClock.now.advanced(by: Self.firstConfigurationWait)
                    while await engine.version == 0, ContinuousClock.now < deadline, !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                    var bfd: [IPAddress: BFDSession.Handoff] = [:]
                    do {
                        try await predecessor.send(HandoffMessage(op: .release))
                        bfd = try await predecessor.expect(.released, timeout: .seconds(30)).bfdSessions
                        logger.notice("the previous process released the VIPs: starting BGP")
                    } catch {
                        logger.error("the previous process did not confirm the release, starting BGP anyway: \(error)")
                    }
                    await predecessor.close()
                    await engine.takeOver(bfd: bfd)
                    // Under systemd (NotifyAccess=all) this process is the service's main one from now on.
                    SystemdNotify.send("MAINPID=\(getpid())")
                    do {
                        try await bindMgmt()
                    } catch {
                        logger.error("\(error)")
                    }
                    await listenForSuccessors()
                }
            } else {
                tasks.addTask { await listenForSuccessors() }
            }

            var reason = Stop.signal
            for await first in stops {
                reason = first
                break
            }
            switch reason {
            case .signal:
                // Withdraw, then drain, while the agent keeps heart-beating "draining".
                logger.notice("shutting down: withdrawing VIPs, then draining")
                await engine.drain()
                // No successor comes: the socket file goes (after a handoff it is the successor's).
                if let handoffPath, channels.withLockedValue({ $0.handoff }) != nil { unlink(handoffPath) }
            case .handOff(let link):
                // The successor heart-beats from now on; the management port and the socket are its.
                tasks.cancelAll()
                let (mgmtServer, handoffChannel) = channels.withLockedValue { ($0.mgmt, $0.handoff) }
                try? await handoffChannel?.close()
                await mgmtServer?.close()
                await engine.handOff(released: { bfd in
                    do {
                        try await link.send(HandoffMessage(op: .released, bfd: bfd))
                    } catch {
                        logger.warning("could not confirm the release to the successor: \(error)")
                    }
                })
                await link.close()
            }
            tasks.cancelAll()
            continuation.finish()
            stop.finish()
        }
        await engine.shutdown()
        let (mgmtServer, handoffChannel) = channels.withLockedValue { ($0.mgmt, $0.handoff) }
        try? await handoffChannel?.close()
        await mgmtServer?.close()
        try? await group.shutdownGracefully()
        logger.notice("stopped")
    }

    /// SIGUSR2: starts `starling se` again with this process's arguments, from the binary now on disk (a
    /// new version after an upgrade); it takes over through the handoff socket. If it fails, this process
    /// goes on serving.
    func spawnSuccessor() {
        guard handoffPath != nil else {
            logger.error("SIGUSR2 ignored: a successor needs the handoff socket (--handoff-socket is off)")
            return
        }
        let executable = Successor.executable()
        do {
            let pid = try Successor.spawn(executable, arguments: CommandLine.arguments)
            logger.notice(
                "successor process started", metadata: ["se.successor_pid": "\(pid)", "se.binary": "\(executable)"])
            let logger = self.logger
            // Reap it if it fails (it outlives this process otherwise).
            Thread.detachNewThread {
                var status: Int32 = 0
                guard waitpid(pid, &status, 0) == pid else { return }
                logger.error(
                    "the successor process ended before taking over; going on serving",
                    metadata: ["se.successor_pid": "\(pid)", "se.wait_status": "\(status)"])
            }
        } catch {
            logger.error("no successor: \(error)")
        }
    }

    /// `net.ipv4.tcp_migrate_req = 1` (Linux 5.14): when a listener of an `SO_REUSEPORT` group closes,
    /// the kernel moves its queued and half-open connections to another listener of the group instead
    /// of resetting them — the successor's, in a hitless restart.
    static func enableRequestMigration(logger: Logger) {
        let path = "/proc/sys/net/ipv4/tcp_migrate_req"
        if (try? String(contentsOfFile: path, encoding: .utf8))?.hasPrefix("1") == true { return }
        do {
            try "1\n".write(toFile: path, atomically: false, encoding: .utf8)
        } catch {
            logger.warning(
                "cannot set net.ipv4.tcp_migrate_req: a hitless restart may reset connections queued at the handover: \(error)"
            )
        }
    }
}

/// Decodes a standalone SE file (JSON or YAML, one object of API objects grouped by type). Unknown
/// fields are refused with their path, as the REST API does (`pool[0].srvers: unknown field`).
enum ObjectSetFile {
    static func decode(_ text: String) throws -> ObjectSet {
        let json: JSONValue
        do {
            guard let node = try ConfigDocument.document(text) else {
                throw SEConfigError(message: "the file is empty")
            }
            json = try ConfigDocument.json(from: node)
        } catch let error as ConfigError {
            throw SEConfigError(message: "\(error)")
        }
        guard case .object = json else { throw SEConfigError(message: "the top level must be an object of types") }
        do {
            let data = try JSONEncoder().encode(json)
            return try StrictJSON.decode(ObjectSet.self, from: data)
        } catch let error as ModelError {
            throw SEConfigError(message: "\(error)")
        }
    }
}

extension SEDaemon {
    /// The name of the interface that holds `address` (flow steering's data interface when not given).
    static func interface(holding address: IPAddress) throws -> String? {
        let socket = try NetlinkSocket()
        guard let holder = try socket.addresses().first(where: { $0.address == address }) else {
            return nil
        }
        return try socket.link(index: holder.interfaceIndex)?.name
    }
}
