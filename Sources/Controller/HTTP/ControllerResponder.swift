import Foundation
import Hummingbird
import Logging
import NIOCore
import StarlingModel

/// The request context of the controller's API: Hummingbird's core plus the client's address (login
/// throttling, the audit trail).
public struct ControllerRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address as text ("" when unknown, as in `app.test(.router)`).
    var clientIP: String { remoteAddress?.ipAddress ?? "" }
}

/// The controller's HTTP front door: one responder that dispatches by path (DESIGN §3.2, §3.4), checks
/// authentication and then authorization for every route (``Principal``), and turns every failure into
/// `{"error": "..."}` with its status (never a 500 for bad input). Routes, with what they need:
///
/// ```
/// GET  /, /console/<file>                      anyone: the Admin Console (its pages call this API)
/// POST /login, /logout                          anyone (login is throttled)
/// GET  /api/initial-data, /metrics              anyone
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
/// POST /api/se-agent/register                   a join token
/// GET  /api/se-agent/<uuid>/desired, POST .../heartbeat   that SE's secret (Bearer), never a user
/// ```
public struct ControllerResponder: HTTPResponder {
    public typealias Context = ControllerRequestContext
    let controller: Controller

    /// The authenticated caller of one request, the tenant it works in (nil for a user without any
    /// access), and the session it came with.
    struct Caller: Sendable {
        var principal: Principal
        var tenant: String?
        var sessionID: String?
        var clientIP: String

        var actor: AuditLog.Actor { AuditLog.Actor(user: principal.username, clientIP: clientIP) }

        /// The request's tenant; 403 for a user without any access.
        func workingTenant() throws(APIError) -> String {
            guard let tenant else {
                throw APIError(
                    403,
                    "user \(principal.username) has no access to any tenant: it may only log in, log out "
                        + "and change its password (PUT /api/useraccount)")
            }
            return tenant
        }

        /// The scope for the object service, after checking `operation` on `kind`.
        func scope(_ operation: Principal.Operation, _ kind: ObjectKind) throws(APIError) -> Scope {
            let tenant = try workingTenant()
            try principal.authorize(operation, kind, in: tenant)
            return Scope(tenant: tenant, userUUID: principal.userUUID, actor: actor)
        }
    }

    /// Bodies larger than this get 413.
    static let maxBody = 4 << 20
    static let version: JSONValue = .object([
        "Version": .string("22.1.3"), "build": .int(1), "Tag": .string("starling"),
        "ProductName": .string("Starling Controller"), "min_version": .string("15.2"),
        "Date": .string("2024-01-01T00:00:00+00:00"),
    ])

    public func respond(to request: Request, context: Context) async throws -> Response {
        let response: Response
        do {
            response = try await route(request, context: context)
        } catch let e as APIError {
            response = Self.error(e)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            controller.logger.error(
                "request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            response = Self.error(APIError(500, "internal error"))
        }
        controller.metrics.request(method: request.method.rawValue, status: Int(response.status.code))
        return response
    }

    // MARK: Routing

    func route(_ request: Request, context: Context) async throws -> Response {
        let parts = request.uri.path.split(separator: "/").map(String.init)
        let method = request.method
        let notFound = APIError(404, "no such endpoint: \(method.rawValue) \(request.uri.path)")
        if parts == ["login"] {
            guard method == .post else { throw APIError(405, "use POST /login") }
            return try await login(request, context: context)
        }
        if parts == ["logout"] {
            guard method == .post else { throw APIError(405, "use POST /logout") }
            return try await logout(request)
        }
        if method == .get || method == .head {
            // The Admin Console: index.html at /, its scripts and styles under /console/.
            if parts.isEmpty || parts == ["index.html"] {
                return try controller.console.response("index.html", request: request)
            }
            if parts.count == 2, parts[0] == "console" {
                return try controller.console.response(parts[1], request: request)
            }
        }
        if parts == ["metrics"], method == .get {
            var r = Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"])
            r.body = .init(byteBuffer: ByteBuffer(string: await controller.metricsText()))
            return r
        }
        guard parts.first == "api" else { throw notFound }
        let rest = Array(parts.dropFirst())
        if rest == ["initial-data"], method == .get {
            return Self.json(.ok, .object(["version": Self.version, "user_initial_setup": .bool(false)]))
        }
        if rest.first == "se-agent" {
            if rest == ["se-agent", "register"], method == .post {
                let reg = try Self.decode(SERegistration.self, try await Self.body(request))
                let down = await controller.reconciler.downSEs()
                let ok = try await controller.agent.register(
                    reg, now: controller.wallClock(), downSEs: down, clientIP: context.clientIP)
                try await controller.reconciler.registered(ok.se_uuid)
                return Self.json(.ok, JSONValue.from(ok))
            }
            guard rest.count == 3 else { throw notFound }
            return try await agent(request, se: rest[1], action: rest[2])
        }
        let caller = try await authenticate(request, context: context)
        let base = "http://\(request.head.authority ?? "localhost")"
        let query = Self.query(request)
        if rest == ["useraccount"] {
            return try await userAccount(request, caller: caller, base: base)
        }
        if rest == ["cluster", "version"], method == .get { return Self.json(.ok, Self.version) }
        if rest == ["securetoken-generate"], method == .get {
            let tenant = try caller.workingTenant()
            try caller.principal.authorize(.write, ObjectKind.all[ServiceEngine.objectType]!, in: tenant)
            let token = try await controller.auth.newJoinToken(actor: caller.actor)
            return Self.json(.ok, .object(["auth_token": .string(token)]))
        }
        if rest == ["virtualservice-inventory"], method == .get {
            return try await vsInventory(query, caller: caller, base: base)
        }
        if rest == ["serviceengine-inventory"], method == .get {
            return try await seInventory(query, caller: caller, base: base)
        }
        if rest == ["analytics", "logs"], method == .get {
            if query["type"] == "1" {
                return try await requestLogs(query, filters: Self.queryValues(request, "filter"), caller: caller)
            }
            return try await auditLog(query, caller: caller, base: base)
        }
        if rest.count == 4, rest[0] == "analytics", rest[1] == "metrics" {
            guard method == .get else { throw APIError(405, "use GET /api/analytics/metrics/<type>/<uuid>") }
            let entities = [
                VirtualService.objectType: "VSERVER_METRICS_ENTITY", ServiceEngine.objectType: "SE_METRICS_ENTITY",
                Pool.objectType: "POOL_METRICS_ENTITY",
            ]
            guard let metricEntity = entities[rest[2]] else {
                throw APIError(404, "no metrics for \(rest[2]): virtualservice, serviceengine or pool")
            }
            // The caller must be allowed to read the object itself.
            let kind = try Self.kind(rest[2])
            let scope = try caller.scope(.read, kind)
            let stored = try await controller.objects.stored(kind, uuid: rest[3], scope: scope)
            return Self.json(
                .ok,
                try await controller.analytics.query(
                    entity: stored.uuid, metricEntity: metricEntity, tenant: stored.tenant, parameters: query,
                    now: controller.wallClock()))
        }
        guard let type = rest.first else { throw notFound }
        let kind = try Self.kind(type)
        switch rest.count {
        case 1:
            switch method {
            case .get:
                let scope = try caller.scope(.read, kind)
                var list = try Self.list(query)
                if kind.name == Tenant.objectType, !caller.principal.allTenants {
                    list.only = caller.principal.namedTenants
                }
                return Self.json(.ok, try await controller.objects.list(kind, scope: scope, query: list, base: base))
            case .post:
                let scope = try caller.scope(.write, kind)
                let o = try await controller.objects.create(kind, body: try await Self.bodyJSON(request), scope: scope)
                try await controller.changed(kind, "\(kind.name) \(o.name) created")
                return Self.json(
                    .created, try await controller.objects.get(kind, uuid: o.uuid, scope: scope, base: base))
            default:
                throw APIError(405, "\(method.rawValue) is not allowed on /api/\(type)")
            }
        case 2:
            let uuid = rest[1]
            let fields = query["fields"].map { Set($0.split(separator: ",").map(String.init)) }
            let includeName = query["include_name"].map { $0 != "false" } ?? false
            switch method {
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
                throw APIError(405, "\(method.rawValue) is not allowed on /api/\(type)/<uuid>")
            }
        case 3:
            return try await subresource(request, kind: kind, uuid: rest[1], action: rest[2], caller: caller)
        default:
            throw notFound
        }
    }

    func subresource(
        _ request: Request, kind: ObjectKind, uuid: String, action: String, caller: Caller
    ) async throws -> Response {
        let method = request.method
        switch (kind.name, action, method) {
        case (VirtualService.objectType, "runtime", .get):
            let scope = try caller.scope(.read, kind)
            let vs = try await controller.objects.stored(kind, uuid: uuid, scope: scope).decode(VirtualService.self)
            guard let state = await controller.vsStates([(uuid, vs.name, vs.isEnabled)])[uuid],
                case .object(var runtime) = state.runtime
            else { throw APIError.notFound(kind.name, uuid) }
            runtime["health_score"] = state.health.json
            return Self.json(.ok, .object(runtime))
        case (VirtualService.objectType, "scaleout", .post), (VirtualService.objectType, "scalein", .post):
            let scope = try caller.scope(.write, kind)
            let stored = try await controller.objects.stored(kind, uuid: uuid, scope: scope)
            let body = try await Self.body(request)
            if !body.isEmpty {
                let json = try Self.parse(body)
                guard json.object != nil else { throw APIError(400, "body: must be a JSON object") }
                if let v = json["vip_id"], v.string == nil { throw APIError(400, "vip_id: expected a string") }
            }
            let ses = try await controller.reconciler.scale(uuid, out: action == "scaleout")
            // The reconciler applies the scale in its own pass; its audit row follows right after.
            try await controller.store.write { [now = controller.wallClock()] db in
                try AuditLog.record(
                    db, .action, actor: scope.actor, tenant: stored.tenant, type: kind.name, uuid: uuid,
                    name: stored.name,
                    new: .object([
                        "action": .string(action == "scaleout" ? "scaled out" : "scaled in"),
                        "serviceengines": .array(ses.map { .string($0) }),
                    ]), now: now)
            }
            var out = await controller.reconciler.vsRuntime(uuid, name: stored.name, enabled: true)
            out["serviceengines"] = .array(ses.map { .string($0) })
            return Self.json(.ok, out)
        case (ServiceEngine.objectType, "runtime", .get):
            let scope = try caller.scope(.read, kind)
            let se = try await controller.objects.stored(kind, uuid: uuid, scope: scope).decode(ServiceEngine.self)
            return Self.json(
                .ok, await controller.reconciler.seRuntime(uuid, name: se.name, dataAddress: se.data_address))
        default:
            throw APIError(404, "no such endpoint: \(method.rawValue) \(request.uri.path)")
        }
    }

    /// `GET /api/useraccount`: the caller's own user; `PUT /api/useraccount` with `old_password` and
    /// `password` (Avi's body; `username`, when given, must be the caller's) changes its password and ends
    /// its other sessions. Allowed to every user, with or without access entries.
    func userAccount(_ request: Request, caller: Caller, base: String) async throws -> Response {
        let userKind = ObjectKind.all[User.objectType]!
        let me = caller.principal.userUUID
        switch request.method {
        case .get:
            return Self.json(.ok, try await controller.objects.get(userKind, uuid: me, scope: Scope(), base: base))
        case .put:
            let body = try await Self.bodyJSON(request)
            let allowed: Set<String> = ["username", "old_password", "password", "full_name", "email", "name"]
            if let unknown = body.object?.keys.sorted().first(where: { !allowed.contains($0) }) {
                throw APIError(400, "\(unknown): unknown field (useraccount takes old_password and password)")
            }
            if let u = body["username"], u.string != caller.principal.username {
                throw APIError(403, "username: only your own account can be changed here")
            }
            guard let old = body["old_password"]?.string else { throw APIError(400, "old_password: required") }
            guard let new = body["password"]?.string else { throw APIError(400, "password: required") }
            guard new.count >= 8 else { throw APIError(400, "password: must be at least 8 characters") }
            do {
                _ = try await controller.auth.check(
                    username: caller.principal.username, password: old, source: caller.clientIP)
            } catch let e as APIError where e.status == 401 {
                throw APIError(400, "old_password: incorrect")
            }
            try await controller.objects.changeOwnPassword(
                userUUID: me, password: new, keepSession: caller.sessionID, actor: caller.actor)
            return Self.json(.ok, try await controller.objects.get(userKind, uuid: me, scope: Scope(), base: base))
        default:
            throw APIError(405, "use GET or PUT /api/useraccount")
        }
    }

    /// `GET /api/analytics/logs?type=1&virtualservice=<uuid>`: the requests the SEs logged for a virtual
    /// service the caller may read, newest first; `filter=op(field,value)` (repeatable), `start`/`end`
    /// (ISO 8601) or `duration` (seconds back from now), `page`, `page_size`.
    func requestLogs(_ query: [String: String], filters: [String], caller: Caller) async throws -> Response {
        guard let vs = query["virtualservice"], !vs.isEmpty else {
            throw APIError(400, "virtualservice: required with type=1 (the uuid of the virtual service)")
        }
        let kind = ObjectKind.all[VirtualService.objectType]!
        let stored = try await controller.objects.stored(kind, uuid: vs, scope: try caller.scope(.read, kind))
        let list = try Self.list(query)
        var q = RequestLogStore.Query(vs: stored.uuid, page: list.page, pageSize: list.pageSize)
        for text in filters where !text.isEmpty { q.filters.append(try RequestLogStore.Filter.parse(text)) }
        func time(_ name: String) throws(APIError) -> Int64? {
            guard let text = query[name] else { return nil }
            guard let t = Analytics.parseTime(text) else { throw APIError(400, "\(name): expected ISO 8601 time") }
            return Int64(t * 1000)
        }
        q.start = try time("start")
        q.end = try time("end")
        if let d = query["duration"] {
            guard let seconds = Double(d), seconds > 0, seconds.isFinite else {
                throw APIError(400, "duration: expected seconds")
            }
            q.start = Int64((controller.wallClock() - seconds) * 1000)
        }
        let page = try await controller.store.read { [q] db in try RequestLogStore.read(db, q) }
        return Self.json(.ok, page)
    }

    /// `GET /api/analytics/logs?type=2`: the audit trail of the request's tenant, limited to the object
    /// types the caller may read there; `obj_uuid`, `obj_type`, `request_user`, `page`, `page_size`.
    func auditLog(_ query: [String: String], caller: Caller, base: String) async throws -> Response {
        guard query["type"] == "2" else {
            throw APIError(400, "type: 1 (request logs of a virtual service) or 2 (config events, the audit trail)")
        }
        let tenant = try caller.workingTenant()
        let readable = ObjectKind.all.values.filter { kind in
            (try? caller.principal.authorize(.read, kind, in: tenant)) != nil
        }.map(\.name).sorted()
        let list = try Self.list(query)
        let q = AuditLog.Query(
            tenant: tenant, types: readable, objUUID: query["obj_uuid"], objType: query["obj_type"],
            user: query["request_user"], page: list.page, pageSize: list.pageSize)
        return Self.json(.ok, try await controller.store.read { db in try AuditLog.read(db, q, base: base) })
    }

    // MARK: Agent

    func agent(_ request: Request, se: String, action: String) async throws -> Response {
        try await controller.agent.authenticate(se: se, authorization: request.headers[.authorization])
        switch (request.method, action) {
        case (.get, "desired"):
            let q = Self.query(request)
            let version = try q["version"].map { v throws(APIError) -> Int in
                guard let n = Int(v) else { throw APIError(400, "version: expected an integer") }
                return n
            }
            let wait = try q["wait"].map { v throws(APIError) -> Double in
                guard let n = Double(v), n >= 0, n.isFinite else { throw APIError(400, "wait: expected seconds") }
                return min(n, 60)
            }
            if let version, let wait, wait > 0 {
                let changed = try await controller.waitForChange(se: se, from: version, seconds: wait)
                if !changed { return Response(status: .notModified) }
            }
            guard let d = await controller.reconciler.desiredState(se) else {
                throw APIError(404, "serviceengine \(se) not found: register again")
            }
            if let version, d.version == version { return Response(status: .notModified) }
            // Keys stay sealed in the store and in the reconciler's state; the SE gets them in clear.
            return Self.json(.ok, JSONValue.from(try CertificateImport.reveal(d, box: controller.objects.secrets)))
        case (.post, "heartbeat"):
            var status = try Self.decode(SEStatus.self, try await Self.body(request))
            guard status.se_uuid == se else { throw APIError(400, "se_uuid: does not match the URL") }
            let logs = status.request_logs ?? []
            status.request_logs = nil
            let v = try await controller.reconciler.heartbeat(status)
            // Analytics count the services placed on this SE only (not one it still reports after a removal,
            // nor whatever uuids an SE makes up).
            let desired = await controller.reconciler.desiredState(se)?.virtual_services ?? []
            let placed = Set(desired.compactMap(\.virtualservice.uuid))
            var counted = status
            counted.virtual_services = status.virtual_services.filter { placed.contains($0.uuid) }
            // Each service's pool: its servers' counters go to the pool's series.
            var pools: [String: String] = [:]
            for vs in desired {
                if let uuid = vs.virtualservice.uuid, let pool = vs.pool?.uuid { pools[uuid] = pool }
            }
            await controller.analytics.heartbeat(counted, pools: pools, now: controller.wallClock())
            await controller.analytics.requestLogs(logs.filter { placed.contains($0.vs_uuid) }, se: se)
            return Self.json(.ok, JSONValue.from(SEHeartbeatReply(desired_version: v)))
        default:
            throw APIError(404, "no such endpoint: \(request.method.rawValue) \(request.uri.path)")
        }
    }

    // MARK: Auth

    func login(_ request: Request, context: Context) async throws -> Response {
        let data = try await Self.body(request)
        var username: String?
        var password: String?
        let contentType = request.headers[.contentType] ?? ""
        if contentType.contains("application/x-www-form-urlencoded") {
            let form = Self.parseForm(String(decoding: data, as: UTF8.self))
            username = form["username"]
            password = form["password"]
        } else {
            let json = try Self.parse(data)
            username = json["username"]?.string
            password = json["password"]?.string
        }
        guard let username, let password else { throw APIError(400, "username and password: required") }
        let user = try await controller.auth.check(username: username, password: password, source: context.clientIP)
        let (sid, csrf) = try await controller.auth.login(userUUID: user)
        let userJSON = try await controller.objects.get(
            ObjectKind.all[User.objectType]!, uuid: user, scope: Scope(),
            base: "http://\(request.head.authority ?? "localhost")")
        var r = Self.json(
            .ok,
            .object([
                "user": userJSON, "version": Self.version, "session_cookie_name": .string("sessionid"),
                "controller": .object(["name": .string("starling")]),
            ]))
        let secure = controller.configuration.secureCookies
        // The session cookie is out of scripts' reach; the CSRF token is read by the console's scripts and
        // sent back as X-CSRFToken. SameSite=Lax keeps both off cross-site writes.
        r.setCookie(Cookie(name: "sessionid", value: sid, path: "/", secure: secure, httpOnly: true, sameSite: .lax))
        r.setCookie(Cookie(name: "csrftoken", value: csrf, path: "/", secure: secure, httpOnly: false, sameSite: .lax))
        return r
    }

    func logout(_ request: Request) async throws -> Response {
        if let sid = request.cookies["sessionid"]?.value ?? request.cookies["avi-sessionid"]?.value {
            try await controller.auth.logout(sid)
        }
        var r = Self.json(.ok, .object([:]))
        // Expire the cookies in the browser as well.
        r.setCookie(Cookie(name: "sessionid", value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .lax))
        r.setCookie(Cookie(name: "csrftoken", value: "", maxAge: 0, path: "/", sameSite: .lax))
        return r
    }

    /// Basic auth, or a session cookie (plus `X-CSRFToken` on writes); then the principal and the tenant
    /// the request works in. An SE's Bearer secret is not a user: 401 here.
    func authenticate(_ request: Request, context: Context) async throws -> Caller {
        var user: String
        var sessionID: String?
        if let auth = request.headers[.authorization], auth.hasPrefix("Basic ") {
            guard let decoded = Data(base64Encoded: String(auth.dropFirst(6))),
                let text = String(validating: decoded, as: UTF8.self), let colon = text.firstIndex(of: ":")
            else { throw APIError(401, "Authorization: malformed Basic credentials") }
            user = try await controller.auth.check(
                username: String(text[..<colon]), password: String(text[text.index(after: colon)...]),
                source: context.clientIP)
        } else if let sid = request.cookies["sessionid"]?.value ?? request.cookies["avi-sessionid"]?.value {
            guard let s = try await controller.auth.session(sid) else {
                throw APIError(401, "session expired or unknown: log in again")
            }
            if request.method != .get && request.method != .head && request.method != .options {
                guard let token = request.headers[.init("X-CSRFToken")!],
                    PasswordHasher.constantTimeEqual(Array(token.utf8), Array(s.csrf.utf8))
                else {
                    throw APIError(403, "CSRF token missing or incorrect (send the csrftoken cookie as X-CSRFToken)")
                }
            }
            user = s.user
            sessionID = sid
        } else {
            throw APIError(401, "authentication required: log in (POST /login) or use Basic auth")
        }
        guard let principal = try await controller.auth.principal(userUUID: user) else {
            throw APIError(401, "the user of this session no longer exists: log in again")
        }
        var tenant = principal.homeTenant
        let byUUID = request.headers[.init("X-Avi-Tenant-UUID")!].flatMap { $0.isEmpty ? nil : $0 }
        let byName = request.headers[.init("X-Avi-Tenant")!].flatMap { $0.isEmpty ? nil : $0 }
        if byUUID != nil || byName != nil {
            tenant = try await controller.tenant(named: byName, uuid: byUUID, for: principal)
        }
        if let v = request.headers[.init("X-Avi-Version")!] {
            guard v.split(separator: ".").allSatisfy({ Int($0) != nil }), !v.isEmpty else {
                throw APIError(400, "X-Avi-Version: Invalid version \(v)")
            }
        }
        return Caller(principal: principal, tenant: tenant, sessionID: sessionID, clientIP: context.clientIP)
    }

    // MARK: Helpers

    static func kind(_ type: String) throws(APIError) -> ObjectKind {
        guard let k = ObjectKind.all[type] else { throw APIError(404, "unknown object type \(type)") }
        return k
    }

    static func query(_ request: Request) -> [String: String] {
        var out: [String: String] = [:]
        for pair in (request.uri.query ?? "").split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[ObjectRef.percentDecode(kv[0])] = kv.count > 1 ? ObjectRef.percentDecode(kv[1]) : ""
        }
        return out
    }

    /// Every value of a query parameter that may repeat (`filter=...&filter=...`).
    static func queryValues(_ request: Request, _ name: String) -> [String] {
        (request.uri.query ?? "").split(separator: "&").compactMap { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard ObjectRef.percentDecode(kv[0]) == name else { return nil }
            return kv.count > 1 ? ObjectRef.percentDecode(kv[1]) : ""
        }
    }

    static func parseForm(_ s: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in s.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[ObjectRef.percentDecode(kv[0])] = kv.count > 1 ? ObjectRef.percentDecode(kv[1]) : ""
        }
        return out
    }

    static func list(_ q: [String: String]) throws(APIError) -> ObjectService.ListQuery {
        var l = ObjectService.ListQuery()
        l.name = q["name"]
        if let p = q["page"] {
            guard let n = Int(p), n >= 1 else { throw APIError(400, "page: must be a positive integer") }
            l.page = n
        }
        if let p = q["page_size"] {
            guard let n = Int(p), (1...1000).contains(n) else { throw APIError(400, "page_size: must be 1-1000") }
            l.pageSize = n
        }
        l.fields = q["fields"].map { Set($0.split(separator: ",").map(String.init)) }
        l.includeName = q["include_name"].map { $0 != "false" } ?? false
        return l
    }

    static func body(_ request: Request) async throws -> Data {
        var r = request
        let buffer: ByteBuffer
        do {
            buffer = try await r.collectBody(upTo: maxBody)
        } catch {
            throw APIError(413, "body: larger than \(maxBody) bytes")
        }
        return Data(buffer.readableBytesView)
    }

    static func parse(_ data: Data) throws(APIError) -> JSONValue {
        do {
            return try StrictJSON.parse(data)
        } catch {
            throw APIError(error)
        }
    }

    static func bodyJSON(_ request: Request) async throws -> JSONValue {
        let json = try parse(try await body(request))
        guard json.object != nil else { throw APIError(400, "body: must be a JSON object") }
        return json
    }

    static func decode<T: Decodable>(_: T.Type, _ data: Data) throws(APIError) -> T {
        do {
            return try StrictJSON.decode(T.self, from: data)
        } catch {
            throw APIError(error)
        }
    }

    static func json(_ status: HTTPResponse.Status, _ v: JSONValue) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: JSONText.encode(v))))
    }

    static func error(_ e: APIError) -> Response {
        var r = json(HTTPResponse.Status(code: e.status), .object(["error": .string(e.message)]))
        if let s = e.retryAfter { r.headers[.retryAfter] = String(s) }
        return r
    }
}
