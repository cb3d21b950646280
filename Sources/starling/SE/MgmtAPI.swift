import Hummingbird
import Prometheus
import SE
import StarlingModel

/// The SE's management port: `GET /metrics` (Prometheus text: per-VS traffic, per-server health, BGP)
/// and `GET /status` (the status the heartbeat carries, as JSON).
struct MgmtAPI: Sendable {
    /// The status the heartbeat carries (the engine's, for the SE's current uuid).
    let status: @Sendable () async -> SEStatus
    let metrics: PrometheusCollectorRegistry

    init(engine: SEEngine, seUUID: @escaping @Sendable () -> String, metrics: PrometheusCollectorRegistry) {
        self.init(status: { await engine.status(seUUID: seUUID()) }, metrics: metrics)
    }

    init(status: @escaping @Sendable () async -> SEStatus, metrics: PrometheusCollectorRegistry) {
        self.status = status
        self.metrics = metrics
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: StatusErrorMiddleware(paths: "/status or /metrics"))
        router.get("metrics") { [metrics] _, _ in StatusServer.prometheus(metrics.emitToBuffer()) }
        router.get("status") { [status] _, _ in StatusServer.json(await status()) }
        return router
    }
}
