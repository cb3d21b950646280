import Foundation
import Hummingbird
import Logging
import StarlingModel

/// The controller's HTTP front door: one responder that dispatches by path (DESIGN §3.2, §3.4), checks
/// authentication, and turns every failure into `{"error": "..."}` with its status (never a 500 for bad
/// input). Routes:
///
/// ```
/// POST /login, /logout                GET /metrics, /api/initial-data, /api/cluster/version
/// GET  /api/securetoken-generate
/// GET|POST /api/<type>                GET|PUT|PATCH|DELETE /api/<type>/<uuid>
/// GET  /api/virtualservice/<uuid>/runtime      POST /api/virtualservice/<uuid>/scaleout|scalein
/// GET  /api/serviceengine/<uuid>/runtime
/// POST /api/se-agent/register         GET /api/se-agent/<uuid>/desired   POST /api/se-agent/<uuid>/heartbeat
/// ```
public struct ControllerResponder: HTTPResponder {
    public typealias Context = BasicRequestContext
    let controller: Controller

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
            return try await login(request)
        }
        if parts == ["logout"] {
            guard method == .post else { throw APIError(405, "use POST /logout") }
            return try await logout(request)
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
                let ok = try await controller.agent.register(reg, now: Date().timeIntervalSince1970, downSEs: down)
                try await controller.reconciler.registered(ok.se_uuid)
                return Self.json(.ok, JSONValue.from(ok))
            }
            guard rest.count == 3 else { throw notFound }
            return try await agent(request, se: rest[1], action: rest[2])
        }
        let scope = try await authenticate(request)
        let base = "http://\(request.head.authority ?? "localhost")"
        let query = Self.query(request)
        if rest == ["securetoken-generate"], method == .get {
            let token = try await controller.auth.newJoinToken(now: Date().timeIntervalSince1970)
            return Self.json(.ok, .object(["auth_token": .string(token)]))
        }
        if rest == ["cluster", "version"], method == .get { return Self.json(.ok, Self.version) }
        guard let type = rest.first else { throw notFound }
        let kind = try Self.kind(type)
        switch rest.count {
        case 1:
            switch method {
            case .get:
                return Self.json(
                    .ok, try await controller.objects.list(kind, scope: scope, query: try Self.list(query), base: base))
            case .post:
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
                return Self.json(
                    .ok,
                    try await controller.objects.get(
                        kind, uuid: uuid, scope: scope, base: base, fields: fields, includeName: includeName))
            case .put:
                let o = try await controller.objects.replace(
                    kind, uuid: uuid, body: try await Self.bodyJSON(request), scope: scope)
                try await controller.changed(kind, "\(kind.name) \(o.name) replaced")
                return Self.json(.ok, try await controller.objects.get(kind, uuid: uuid, scope: scope, base: base))
            case .patch:
                let o = try await controller.objects.patch(
                    kind, uuid: uuid, body: try await Self.bodyJSON(request), scope: scope)
                try await controller.changed(kind, "\(kind.name) \(o.name) patched")
                return Self.json(.ok, try await controller.objects.get(kind, uuid: uuid, scope: scope, base: base))
            case .delete:
                try await controller.objects.delete(kind, uuid: uuid, scope: scope)
                if kind.name == ServiceEngine.objectType {
                    try await controller.reconciler.removed(uuid)
                } else {
                    try await controller.changed(kind, "\(kind.name) \(uuid) deleted")
                }
                return Response(status: .noContent)
            default:
                throw APIError(405, "\(method.rawValue) is not allowed on /api/\(type)/<uuid>")
            }
        case 3:
            return try await subresource(request, kind: kind, uuid: rest[1], action: rest[2], scope: scope)
        default:
            throw notFound
        }
    }

    func subresource(
        _ request: Request, kind: ObjectKind, uuid: String, action: String, scope: Scope
    ) async throws -> Response {
        let method = request.method
        switch (kind.name, action, method) {
        case (VirtualService.objectType, "runtime", .get):
            let vs = try await controller.objects.stored(kind, uuid: uuid, scope: scope).decode(VirtualService.self)
            return Self.json(.ok, await controller.reconciler.vsRuntime(uuid, name: vs.name, enabled: vs.isEnabled))
        case (VirtualService.objectType, "scaleout", .post), (VirtualService.objectType, "scalein", .post):
            let stored = try await controller.objects.stored(kind, uuid: uuid, scope: scope)
            let body = try await Self.body(request)
            if !body.isEmpty {
                let json = try Self.parse(body)
                guard json.object != nil else { throw APIError(400, "body: must be a JSON object") }
                if let v = json["vip_id"], v.string == nil { throw APIError(400, "vip_id: expected a string") }
            }
            let ses = try await controller.reconciler.scale(uuid, out: action == "scaleout")
            var out = await controller.reconciler.vsRuntime(uuid, name: stored.name, enabled: true)
            out["serviceengines"] = .array(ses.map { .string($0) })
            return Self.json(.ok, out)
        case (ServiceEngine.objectType, "runtime", .get):
            let se = try await controller.objects.stored(kind, uuid: uuid, scope: scope).decode(ServiceEngine.self)
            return Self.json(
                .ok, await controller.reconciler.seRuntime(uuid, name: se.name, dataAddress: se.data_address))
        default:
            throw APIError(404, "no such endpoint: \(method.rawValue) \(request.uri.path)")
        }
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
            return Self.json(.ok, JSONValue.from(d))
        case (.post, "heartbeat"):
            let status = try Self.decode(SEStatus.self, try await Self.body(request))
            guard status.se_uuid == se else { throw APIError(400, "se_uuid: does not match the URL") }
            let v = try await controller.reconciler.heartbeat(status)
            return Self.json(.ok, JSONValue.from(SEHeartbeatReply(desired_version: v)))
        default:
            throw APIError(404, "no such endpoint: \(request.method.rawValue) \(request.uri.path)")
        }
    }

    // MARK: Auth

    func login(_ request: Request) async throws -> Response {
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
        guard let user = try await controller.auth.check(username: username, password: password) else {
            throw APIError(401, "invalid credentials")
        }
        let (sid, csrf) = try await controller.auth.login(userUUID: user, now: Date().timeIntervalSince1970)
        let userJSON = try await controller.objects.get(
            ObjectKind.all[User.objectType]!, uuid: user, scope: Scope(),
            base: "http://\(request.head.authority ?? "localhost")")
        var r = Self.json(
            .ok,
            .object([
                "user": userJSON, "version": Self.version, "session_cookie_name": .string("sessionid"),
                "controller": .object(["name": .string("starling")]),
            ]))
        r.setCookie(Cookie(name: "sessionid", value: sid, path: "/", httpOnly: true))
        r.setCookie(Cookie(name: "csrftoken", value: csrf, path: "/"))
        return r
    }

    func logout(_ request: Request) async throws -> Response {
        if let sid = request.cookies["sessionid"]?.value ?? request.cookies["avi-sessionid"]?.value {
            try await controller.auth.logout(sid)
        }
        return Self.json(.ok, .object([:]))
    }

    /// Basic auth, or a session cookie (plus `X-CSRFToken` on writes); then the tenant headers.
    func authenticate(_ request: Request) async throws -> Scope {
        var user: String?
        if let auth = request.headers[.authorization], auth.hasPrefix("Basic ") {
            guard let decoded = Base64.decode(String(auth.dropFirst(6))),
                let text = String(validating: decoded, as: UTF8.self), let colon = text.firstIndex(of: ":")
            else { throw APIError(401, "Authorization: malformed Basic credentials") }
            user = try await controller.auth.check(
                username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
            guard user != nil else { throw APIError(401, "invalid credentials") }
        } else if let sid = request.cookies["sessionid"]?.value ?? request.cookies["avi-sessionid"]?.value {
            guard let s = try await controller.auth.session(sid, now: Date().timeIntervalSince1970) else {
                throw APIError(401, "session expired or unknown: log in again")
            }
            if request.method != .get && request.method != .head && request.method != .options {
                guard let token = request.headers[.init("X-CSRFToken")!], token == s.csrf else {
                    throw APIError(403, "CSRF token missing or incorrect (send the csrftoken cookie as X-CSRFToken)")
                }
            }
            user = s.user
        } else {
            throw APIError(401, "authentication required: log in (POST /login) or use Basic auth")
        }
        var scope = Scope(tenant: ObjectService.admin, userUUID: user)
        if let t = request.headers[.init("X-Avi-Tenant-UUID")!], !t.isEmpty {
            scope.tenant = try await controller.tenant(uuid: t)
        } else if let t = request.headers[.init("X-Avi-Tenant")!], !t.isEmpty {
            scope.tenant = try await controller.tenant(name: t)
        }
        if let v = request.headers[.init("X-Avi-Version")!] {
            guard v.split(separator: ".").allSatisfy({ Int($0) != nil }), !v.isEmpty else {
                throw APIError(400, "X-Avi-Version: Invalid version \(v)")
            }
        }
        return scope
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
        json(HTTPResponse.Status(code: e.status), .object(["error": .string(e.message)]))
    }
}
