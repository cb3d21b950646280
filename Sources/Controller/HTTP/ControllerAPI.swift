import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import StarlingModel
import X509

/// The request context of the controller's API: Hummingbird's core plus the client's address (login
/// throttling, the audit trail) and its connection (the client certificate of an SE).
public struct ControllerRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// The client's IP address as text ("" when unknown, as in `app.test(.router)`).
    var clientIP: String { remoteAddress?.ipAddress ?? "" }

    /// How the request came: over plain HTTP (`--insecure-http`), or over TLS with the client certificate
    /// the handshake verified against the cluster CA (nil when the client sent none).
    enum Transport: Sendable {
        case plainHTTP
        case tls(clientCertificate: Certificate?)
    }

    func transport() async -> Transport {
        let peer: NIOSSLCertificate?
        do {
            peer = try await channel.nioSSL_peerCertificate().get()
        } catch {
            return .plainHTTP  // no TLS handler in the pipeline
        }
        guard let der = try? peer?.toDERBytes() else { return .tls(clientCertificate: nil) }
        return .tls(clientCertificate: try? Certificate(derEncoded: der))
    }
}

/// The handlers of the controller's API, one per route of ``ControllerResponder``'s router (ControllerRoutes.swift):
/// each checks authentication and authorization (``Principal``) and throws ``APIError`` for every failure.
struct ControllerAPI: Sendable {
    typealias Context = ControllerRequestContext
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

    func subresource(
        _ request: Request, kind: ObjectKind, uuid: String, action: String, caller: Caller
    ) async throws -> Response {
        // Runtime and scaling live in the leader's reconciler.
        if let answer = try await forwardedToLeader(request) { return answer }
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
            try await controller.store.write { [now = controller.wallClock()] tx in
                try AuditLog.record(
                    tx, .action, actor: scope.actor, tenant: stored.tenant, type: kind.name, uuid: uuid,
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
        let page = try await controller.database.local.read { [q] db in try RequestLogStore.read(db, q) }
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
        return Self.json(.ok, try await AuditLog.read(controller.store, q, base: base))
    }

    // MARK: Agent

    func agent(
        _ request: Request, se: String, action: String, transport: ControllerRequestContext.Transport
    ) async throws -> Response {
        try await controller.agent.authenticate(
            se: se, authorization: request.headers[.authorization], transport: transport)
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
            let desiredState = await controller.reconciler.desiredState(se)
            let desired = desiredState?.virtual_services ?? []
            let placed = Set(desired.compactMap(\.virtualservice.uuid))
            var counted = status
            counted.virtual_services = status.virtual_services.filter { placed.contains($0.uuid) }
            // Each service's pool: its servers' counters go to the pool's series.
            var pools: [String: String] = [:]
            for vs in desired {
                if let uuid = vs.virtualservice.uuid, let pool = vs.pool?.uuid { pools[uuid] = pool }
            }
            await controller.analytics.heartbeat(counted, pools: pools, now: controller.wallClock())
            await controller.analytics.requestLogs(
                logs.filter { placed.contains($0.vs_uuid) }, se: se, seName: desiredState?.se_name ?? se)
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
            base: base(request))
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

    static func body(_ request: Request, limit: Int = maxBody) async throws -> Data {
        var r = request
        let buffer: ByteBuffer
        do {
            buffer = try await r.collectBody(upTo: limit)
        } catch {
            throw APIError(413, "body: larger than \(limit) bytes")
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
