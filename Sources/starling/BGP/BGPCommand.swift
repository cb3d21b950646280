import ArgumentParser
import BGPSpeaker
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `starling bgp --config FILE [--api ADDR:PORT]`: the BGP speaker alone (DESIGN §3.1).
struct BGPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bgp",
        abstract: "Run the BGP speaker alone: peer with routers and announce the configured prefixes.",
        discussion: """
            SIGHUP re-reads the config file and applies the difference without resetting unchanged sessions.
            SIGTERM withdraws every prefix, closes the sessions and exits 0.
            """
    )

    @Option(name: .long, help: "YAML or JSON config file (asn, router_id, peers, announce).")
    var config: String

    @Option(name: .long, help: "Serve the JSON status API (GET /peers, GET /rib) on ADDR:PORT.")
    var api: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        if let api, HostPort(api) == nil {
            throw ValidationError("--api: '\(api)' is not ADDR:PORT (e.g. 127.0.0.1:8179 or [::1]:8179)")
        }
        try LogLevelOption.validate(logLevel)
    }

    func run() async throws {
        LogLevelOption.bootstrap(logLevel)
        // Trap SIGHUP before anything else, so an early reload request cannot kill the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let logger = Logger(label: "starling.bgp")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let loaded: BGPDaemonConfig
        do {
            loaded = try BGPConfigLoader.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("starling bgp: \(config): \(error)\n".utf8))
            throw ExitCode(2)
        }
        let daemon = BGPDaemon(
            configPath: config, initial: loaded, api: api.flatMap(HostPort.init), metrics: registry, hangups: hangups,
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: daemon)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            FileHandle.standardError.write(Data("starling bgp: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// "ADDR:PORT" or "[V6]:PORT".
struct HostPort {
    var host: String
    var port: Int
    init?(_ text: String) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        }
        guard IPAddress(host) != nil || host == "localhost" else { return nil }
    }

    /// `ADDR:PORT`, or `[V6]:PORT`.
    static func text(_ address: IPAddress, port: Int) -> String {
        if case .v6 = address { return "[\(address)]:\(port)" }
        return "\(address):\(port)"
    }
}

/// The daemon as a service: start, re-read config on SIGHUP, withdraw and stop on graceful shutdown.
struct BGPDaemon: Service {
    let configPath: String
    let initial: BGPDaemonConfig
    let api: HostPort?
    let metrics: PrometheusCollectorRegistry
    let hangups: UnixSignalsSequence
    let logger: Logger

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let speaker = Speaker(configuration: initial.speaker, eventLoop: group.next(), logger: logger)
        do {
            try await speaker.start()
        } catch {
            try? await group.shutdownGracefully()
            throw BGPDaemonError(message: "cannot listen for BGP: \(error)")
        }
        await speaker.setAdvertisements(initial.announce)
        var apiServer: StatusServer?
        if let api {
            do {
                apiServer = try await StatusServer.start(
                    router: StatusAPI(speaker: speaker, metrics: metrics).router(), host: api.host, port: api.port,
                    group: group, logger: logger)
                logger.info("status API listening", metadata: ["api": "\(api.host):\(api.port)"])
            } catch {
                await speaker.shutdown()
                try? await group.shutdownGracefully()
                throw BGPDaemonError(message: "cannot serve the API on \(api.host):\(api.port): \(error)")
            }
        }
        logger.notice(
            "starling bgp running",
            metadata: [
                "bgp.asn": "\(initial.speaker.localAS)", "bgp.peers": "\(initial.speaker.peers.count)",
                "bgp.announce": "\(initial.announce.count)",
            ])

        var current = initial
        await withGracefulShutdownHandler {
            for await _ in hangups.cancelOnGracefulShutdown() {
                do {
                    let next = try BGPConfigLoader.load(path: configPath)
                    if next.speaker != current.speaker { try await speaker.reconfigure(next.speaker) }
                    await speaker.setAdvertisements(next.announce)
                    logger.notice("configuration reloaded", metadata: ["bgp.announce": "\(next.announce.count)"])
                    current = next
                } catch {
                    logger.error("configuration not reloaded, keeping the running one: \(error)")
                }
            }
        } onGracefulShutdown: {
            logger.notice("shutting down: withdrawing and closing sessions")
        }
        await speaker.shutdown()
        await apiServer?.close()
        try? await group.shutdownGracefully()
        logger.notice("stopped")
    }
}

struct BGPDaemonError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
