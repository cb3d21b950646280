import Foundation
import Hummingbird
import NIOCore
import StarlingModel

/// The controller's HTTP front door: a Hummingbird router over ``ControllerAPI``'s handlers (DESIGN §3.2, §3.4)
/// that checks authentication and then authorization for every route (``Principal``), and turns every failure
/// into `{"error": "..."}` with its status (never a 500 for bad input). Routes, with what they need:
///
/// ```
/// GET  /, /console/<file>                      anyone: the Admin Console (its pages call this API)
/// POST /login, /logout                          anyone (login is throttled)
/// GET  /api/initial-data, /metrics              anyone
/// GET  /api/cluster/ca-certificate              anyone: the cluster CA (PEM), checked by its hash
/// GET|PUT /api/useraccount                      any user: its own account (PUT changes the password)
/// GET  /api/cluster/version                     any user
/// GET  /api/securetoken-generate                write on serviceengine in tenant admin
/// GET|POST /api/<type>                          read | write on the type in the request's tenant
/// GET|PUT|PATCH|DELETE /api/<type>/<uuid>       read | write
/// GET  /api/virtualservice/<uuid>/runtime       read on virtualservice (placement, state, health score)
/// GET  /api/virtualservice-inventory            read on virtualservice: config, runtime, health, sparklines
/// GET  /api/serviceengine-inventory             read on serviceengine: config, runtime, sparklines
/// POST /api/virtualservice/<uuid>/scaleout|scalein   write on virtualservice
/// GET  /api/serviceengine/<uuid>/runtime        read on serviceengine
/// GET  /api/analytics/logs?type=1&virtualservice=<uuid>   request logs: read on that virtual service
/// GET  /api/analytics/logs?type=2               the audit trail: events of objects the user may read
/// GET  /api/analytics/metrics/virtualservice|serviceengine|pool/<uuid>?metric_id=...   read on that object
/// POST /api/se-agent/register                   a join token (over HTTPS, with a CSR; used once)
/// GET  /api/se-agent/<uuid>/desired, POST .../heartbeat   that SE's secret (Bearer) and, over HTTPS, its
///                                               client certificate; never a user
/// ```
public struct ControllerResponder: HTTPResponder {
    public typealias Context = ControllerRequestContext
    let controller: Controller
    private let routes: RouterResponder<Context>

    init(controller: Controller) {
        self.controller = controller
        routes = ControllerAPI(controller: controller).routes().buildResponder()
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let response: Response
        do {
            response = try await routes.respond(to: request, context: context)
        } catch let e as APIError {
            response = ControllerAPI.error(e)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            controller.logger.error(
                "request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            response = ControllerAPI.error(APIError(500, "internal error"))
        }
        controller.metrics.request(method: request.method.rawValue, status: Int(response.status.code))
        return response
    }
}

extension ControllerAPI {
    /// Every method a route answers: a route takes them all and refuses the ones it does not serve with 405
    /// and what to use instead.
    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]

    /// The controller's routes: login, logout, the console and `/metrics`, and the `/api/` collection.
    /// Constant path components win over parameters at the same depth (Hummingbird's trie
    /// does not backtrack), so the fixed `/api/...` names sit beside `/api/{type}` without shadowing a type.
    func routes() -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: NotFoundAsAPIError())
        // Everything under /api/.
        let api = RouteCollection(context: Context.self)

        func on(
            _ path: RouterPath, _ handler: @escaping @Sendable (Request, Context) async throws -> Response
        ) {
            for method in Self.methods { api.on(path, method: method, use: handler) }
        }
        /// A route for signed-in users: the caller is authenticated first (401 otherwise).
        func signedIn(
            _ path: RouterPath,
            _ handler: @escaping @Sendable (Request, Context, Caller) async throws -> Response
        ) {
            on(path) { request, context in
                try await handler(request, context, try await authenticate(request, context: context))
            }
        }

        for method in Self.methods {
            router.on("login", method: method) { request, context in
                guard request.method == .post else { throw APIError(405, "use POST /login") }
                return try await login(request, context: context)
            }
            router.on("logout", method: method) { request, _ in
                guard request.method == .post else { throw APIError(405, "use POST /logout") }
                return try await logout(request)
            }
        }
        // The Admin Console: index.html at /, its scripts and styles under /console/.
        for path: RouterPath in ["/", "index.html"] {
            for method in [HTTPRequest.Method.get, .head] {
                router.on(path, method: method) { request, _ in
                    try controller.console.response("index.html", request: request)
                }
            }
        }
        for method in [HTTPRequest.Method.get, .head] {
            router.on("console/{file}", method: method) { request, context in
                try controller.console.response(context.parameters.get("file") ?? "", request: request)
            }
        }
        router.get("metrics") { _, _ in
            var r = Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"])
            r.body = .init(byteBuffer: ByteBuffer(string: await controller.metricsText()))
            return r
        }

        api.get("initial-data") { _, _ in
            Self.json(.ok, .object(["version": Self.version, "user_initial_setup": .bool(false)]))
        }
        // The CA is public: who fetches it checks its hash (a join token's, `ctl --ca-fingerprint`).
        api.get("cluster/ca-certificate") { _, _ in
            var r = Response(status: .ok, headers: [.contentType: "application/x-pem-file"])
            r.body = .init(byteBuffer: ByteBuffer(string: controller.clusterCA.pem))
            return r
        }
        api.post("se-agent/register") { request, context in
            try await leaderOnly()
            let reg = try Self.decode(SERegistration.self, try await Self.body(request))
            let down = await controller.reconciler.downSEs()
            let overTLS = if case .tls = await context.transport() { true } else { false }
            let ok = try await controller.agent.register(
                reg, now: controller.wallClock(), downSEs: down, clientIP: context.clientIP, overTLS: overTLS,
                ca: controller.clusterCA)
            try await controller.reconciler.registered(ok.se_uuid)
            return Self.json(.ok, JSONValue.from(ok))
        }
        on("se-agent/{se}/{action}") { request, context in
            try await leaderOnly()
            return try await agent(
                request, se: context.parameters.get("se") ?? "", action: context.parameters.get("action") ?? "",
                transport: await context.transport())
        }

        signedIn("useraccount") { request, _, caller in
            try await userAccount(request, caller: caller, base: base(request))
        }
        // The cluster's nodes and roles: any user with access to the tenant asked for.
        signedIn("cluster") { request, _, caller in
            guard request.method == .get else { throw Self.notFound(request) }
            _ = try caller.workingTenant()
            return Self.json(.ok, try await cluster(base: base(request)))
        }
        signedIn("cluster/runtime") { request, _, caller in
            guard request.method == .get else { throw Self.notFound(request) }
            _ = try caller.workingTenant()
            return Self.json(.ok, try await clusterRuntime())
        }
        signedIn("configuration/export") { request, _, caller in
            guard request.method == .get else { throw Self.notFound(request) }
            return Self.json(.ok, try await exportConfiguration(caller: caller))
        }
        signedIn("configuration/import") { request, _, caller in
            guard request.method == .post else { throw APIError(405, "use POST /api/configuration/import") }
            return Self.json(.ok, try await importConfiguration(request, caller: caller))
        }
        signedIn("cluster/version") { request, _, _ in
            guard request.method == .get else { throw Self.notFound(request) }
            return Self.json(.ok, Self.version)
        }
        signedIn("securetoken-generate") { request, _, caller in
            guard request.method == .get else { throw Self.notFound(request) }
            let tenant = try caller.workingTenant()
            try caller.principal.authorize(.write, ObjectKind.all[ServiceEngine.objectType]!, in: tenant)
            let token = try await controller.auth.newJoinToken(
                actor: caller.actor, caFingerprint: controller.clusterCA.fingerprint)
            return Self.json(.ok, .object(["auth_token": .string(token)]))
        }
        signedIn("virtualservice-inventory") { request, _, caller in
            guard request.method == .get else { throw Self.notFound(request) }
            if let answer = try await forwardedToLeader(request) { return answer }
            return try await vsInventory(Self.query(request), caller: caller, base: base(request))
        }
        signedIn("serviceengine-inventory") { request, _, caller in
            guard request.method == .get else { throw Self.notFound(request) }
            if let answer = try await forwardedToLeader(request) { return answer }
            return try await seInventory(Self.query(request), caller: caller, base: base(request))
        }
        signedIn("analytics/logs") { request, _, caller in
            guard request.method == .get else { throw Self.notFound(request) }
            let query = Self.query(request)
            if query["type"] == "1" {
                // Request logs arrive with the heartbeats, at the leader.
                if let answer = try await forwardedToLeader(request) { return answer }
                return try await requestLogs(query, filters: Self.queryValues(request, "filter"), caller: caller)
            }
            return try await auditLog(query, caller: caller, base: base(request))
        }
        signedIn("analytics/metrics/{type}/{uuid}") { request, context, caller in
            guard request.method == .get else { throw APIError(405, "use GET /api/analytics/metrics/<type>/<uuid>") }
            // The time series come from the heartbeats, at the leader.
            if let answer = try await forwardedToLeader(request) { return answer }
            let type = context.parameters.get("type") ?? ""
            let entities = [
                VirtualService.objectType: "VSERVER_METRICS_ENTITY", ServiceEngine.objectType: "SE_METRICS_ENTITY",
                Pool.objectType: "POOL_METRICS_ENTITY",
            ]
            guard let metricEntity = entities[type] else {
                throw APIError(404, "no metrics for \(type): virtualservice, serviceengine or pool")
            }
            // The caller must be allowed to read the object itself.
            let kind = try Self.kind(type)
            let scope = try caller.scope(.read, kind)
            let stored = try await controller.objects.stored(
                kind, uuid: context.parameters.get("uuid") ?? "", scope: scope)
            return Self.json(
                .ok,
                try await controller.analytics.query(
                    entity: stored.uuid, metricEntity: metricEntity, tenant: stored.tenant,
                    parameters: Self.query(request), now: controller.wallClock()))
        }
        signedIn("{type}") { request, context, caller in
            try await collection(request, type: context.parameters.get("type") ?? "", caller: caller)
        }
        signedIn("{type}/{uuid}") { request, context, caller in
            try await object(
                request, type: context.parameters.get("type") ?? "", uuid: context.parameters.get("uuid") ?? "",
                caller: caller)
        }
        signedIn("{type}/{uuid}/{action}") { request, context, caller in
            try await subresource(
                request, kind: try Self.kind(context.parameters.get("type") ?? ""),
                uuid: context.parameters.get("uuid") ?? "", action: context.parameters.get("action") ?? "",
                caller: caller)
        }
        router.addRoutes(api, atPath: "api")
        return router
    }

    /// `GET|POST /api/<type>`: a page of objects, or a new one.
    func collection(_ request: Request, type: String, caller: Caller) async throws -> Response {
        let kind = try Self.kind(type)
        let base = base(request)
        switch request.method {
        case .get:
            let scope = try caller.scope(.read, kind)
            var list = try Self.list(Self.query(request))
            if kind.name == Tenant.objectType, !caller.principal.allTenants {
                list.only = caller.principal.namedTenants
            }
            return Self.json(.ok, try await controller.objects.list(kind, scope: scope, query: list, base: base))
        case .post:
            let scope = try caller.scope(.write, kind)
            let o = try await controller.objects.create(kind, body: try await Self.bodyJSON(request), scope: scope)
            try await controller.changed(kind, "\(kind.name) \(o.name) created")
            return Self.json(.created, try await controller.objects.get(kind, uuid: o.uuid, scope: scope, base: base))
        default:
            throw APIError(405, "\(request.method.rawValue) is not allowed on /api/\(type)")
        }
    }

    /// `GET|PUT|PATCH|DELETE /api/<type>/<uuid>`.
    func object(_ request: Request, type: String, uuid: String, caller: Caller) async throws -> Response {
        let kind = try Self.kind(type)
        let base = base(request)
        let query = Self.query(request)
        let fields = query["fields"].map { Set($0.split(separator: ",").map(String.init)) }
        let includeName = query["include_name"].map { $0 != "false" } ?? false
        switch request.method {
        case .get:
            let scope = try caller.scope(.read, kind)
            if kind.name == Tenant.objectType, !caller.principal.allTenants,
                !caller.principal.namedTenants.contains(uuid)
            {
                throw APIError.notFound(kind.name, uuid)
            }
            return Self.json(
                .ok,
                try await controller.objects.get(
                    kind, uuid: uuid, scope: scope, base: base, fields: fields, includeName: includeName))
        case .put:
            let scope = try caller.scope(.write, kind)
            let o = try await controller.objects.replace(
                kind, uuid: uuid, body: try await Self.bodyJSON(request), scope: scope)
            try await controller.changed(kind, "\(kind.name) \(o.name) replaced")
            return Self.json(.ok, try await controller.objects.get(kind, uuid: uuid, scope: scope, base: base))
        case .patch:
            let scope = try caller.scope(.write, kind)
            let o = try await controller.objects.patch(
                kind, uuid: uuid, body: try await Self.bodyJSON(request), scope: scope)
            try await controller.changed(kind, "\(kind.name) \(o.name) patched")
            return Self.json(.ok, try await controller.objects.get(kind, uuid: uuid, scope: scope, base: base))
        case .delete:
            let scope = try caller.scope(.write, kind)
            try await controller.objects.delete(kind, uuid: uuid, scope: scope)
            if kind.name == ServiceEngine.objectType {
                try await controller.reconciler.removed(uuid)
                await controller.analytics.forget(se: uuid)
            } else {
                try await controller.changed(kind, "\(kind.name) \(uuid) deleted")
            }
            return Response(status: .noContent)
        default:
            throw APIError(405, "\(request.method.rawValue) is not allowed on /api/\(type)/<uuid>")
        }
    }

    /// The base of the URLs the answers carry: `https://` and the host the client asked for (`http://` only
    /// when the API is plain HTTP and not reached through a TLS-terminating proxy, `--secure-cookies`).
    func base(_ request: Request) -> String {
        let configuration = controller.configuration
        let scheme = configuration.apiTLS == .insecureHTTP && !configuration.secureCookies ? "http" : "https"
        return "\(scheme)://\(request.head.authority ?? "localhost")"
    }

    static func notFound(_ request: Request) -> APIError {
        APIError(404, "no such endpoint: \(request.method.rawValue) \(request.uri.path)")
    }
}

/// A path no route has: 404 with `{"error": "no such endpoint: ..."}` like every other error of the API.
struct NotFoundAsAPIError: RouterMiddleware {
    typealias Context = ControllerRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            throw ControllerAPI.notFound(request)
        }
    }
}
