import Foundation
import Hummingbird
import Logging
import NIOCore

/// The small read-only HTTP APIs of the daemons (`starling bgp --api`, the SE's management port): a Hummingbird
/// router served on the daemon's own event loops, started and stopped by the daemon (the SE closes its port at a
/// hand-off, before the process ends, so that its successor can bind it).
///
/// Routes are plain `GET`s; ``StatusErrorMiddleware`` answers anything else, and a path no route has, with
/// `{"error": "..."}`. Test a router with `Application(router:).test(.router)`.
struct StatusServer: Sendable {
    private let task: Task<Void, Never>
    /// Where it listens (the port the kernel chose when 0 was asked for).
    let localAddress: SocketAddress?

    /// Starts serving `router` on `host:port`; throws when it cannot listen.
    static func start(
        router: Router<BasicRequestContext>, host: String, port: Int, group: any EventLoopGroup, logger: Logger
    ) async throws -> StatusServer {
        let (events, continuation) = AsyncStream.makeStream(of: Result<SocketAddress?, any Error>.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "starling", reuseAddress: true),
            onServerRunning: { channel in continuation.yield(.success(channel.localAddress)) },
            eventLoopGroupProvider: .shared(group), logger: logger)
        // Owned by the returned value: `close()` cancels it and waits for the listener to be gone.
        let task = Task {
            do {
                try await app.runService()
            } catch {
                continuation.yield(.failure(error))
            }
            continuation.finish()
        }
        for await event in events {
            switch event {
            case .success(let address): return StatusServer(task: task, localAddress: address)
            case .failure(let error): throw error
            }
        }
        throw StatusServerError(message: "the server stopped before it listened")
    }

    /// Stops listening and closes the connections; returns when the port is free.
    func close() async {
        task.cancel()
        await task.value
    }

    /// A JSON response (sorted keys, slashes unescaped).
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `{"error": message}` with `status`.
    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(["error": message], status: status)
    }

    /// Prometheus text exposition.
    static func prometheus(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

struct StatusServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Only `GET` is served (405 otherwise), and a path no route has gets 404 naming the paths there are; both as
/// `{"error": "..."}`, like every other answer of these APIs.
struct StatusErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The paths to suggest, e.g. "/status or /metrics".
    let paths: String

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard request.method == .get else { return StatusServer.error(.methodNotAllowed, "only GET is supported") }
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return StatusServer.error(.notFound, "no such resource; try \(paths)")
        }
    }
}
