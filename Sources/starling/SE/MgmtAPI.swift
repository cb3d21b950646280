import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import SE

/// The SE's management port: `GET /metrics` (Prometheus text: per-VS traffic, per-server health, BGP)
/// and `GET /status` (the status the heartbeat carries, as JSON).
struct MgmtAPI {
    let engine: SEEngine
    let seUUID: @Sendable () -> String
    let metrics: PrometheusCollectorRegistry

    func bind(host: String, port: Int, group: any EventLoopGroup) async throws -> any Channel {
        let engine = self.engine
        let metrics = self.metrics
        let seUUID = self.seUUID
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        MgmtHTTPHandler(engine: engine, metrics: metrics, seUUID: seUUID))
                }
            }
            .bind(host: host, port: port).get()
    }
}

/// Answers one request at a time on a connection (keep-alive supported).
final class MgmtHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let engine: SEEngine
    private let metrics: PrometheusCollectorRegistry
    private let seUUID: @Sendable () -> String
    private var head: HTTPRequestHead?

    init(engine: SEEngine, metrics: PrometheusCollectorRegistry, seUUID: @escaping @Sendable () -> String) {
        self.engine = engine
        self.metrics = metrics
        self.seUUID = seUUID
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let loop = context.eventLoop
            let bound = NIOLoopBound(context, eventLoop: loop)
            let engine = self.engine
            let metrics = self.metrics
            let seUUID = self.seUUID
            let promise = loop.makePromise(of: (HTTPResponseStatus, [UInt8], String).self)
            promise.completeWithTask {
                let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                guard head.method == .GET else {
                    return (.methodNotAllowed, Array(#"{"error":"only GET is supported"}"#.utf8), "application/json")
                }
                switch path {
                case "/metrics":
                    return (.ok, metrics.emitToBuffer(), "text/plain; version=0.0.4")
                case "/status", "/status/":
                    let status = await engine.status(seUUID: seUUID())
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                    let body = (try? encoder.encode(status)).map(Array.init) ?? Array("{}".utf8)
                    return (.ok, body, "application/json")
                default:
                    return (
                        .notFound, Array(#"{"error":"no such resource; try /status or /metrics"}"#.utf8),
                        "application/json"
                    )
                }
            }
            promise.futureResult.whenSuccess { status, body, contentType in
                HTTPReply.send(status, body: body, contentType: contentType, for: head, on: bound.value)
            }
        }
    }
}
