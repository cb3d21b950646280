import Foundation
import StarlingHTTP

/// The demo lab's authenticated REST client: a session from `POST /login` (cookie `sessionid`, header
/// `X-CSRFToken` on writes), connections made from inside the lab's `ctrl` namespace (the controller is only
/// reachable there). Bodies and answers are Foundation JSON (`[String: Any]`); a non-2xx answer throws a
/// ``LabError`` with the API's `error` text.
public final class DemoAPI: Sendable {
    /// The underlying HTTP client (usable for raw requests).
    public let client: NamespaceHTTPClient
    /// `https://198.18.3.1:8443`.
    public let controllerURL: String
    /// The `sessionid` cookie.
    public let sessionID: String
    /// The `csrftoken` cookie, echoed in `X-CSRFToken` on writes.
    public let csrfToken: String

    private init(client: NamespaceHTTPClient, controllerURL: String, sessionID: String, csrfToken: String) {
        self.client = client
        self.controllerURL = controllerURL
        self.sessionID = sessionID
        self.csrfToken = csrfToken
    }

    /// Logs in to `controllerURL` from `namespace` (nil: this process's namespace); an `https://` controller
    /// is verified against `trustedPEM` (the cluster CA).
    public static func login(
        controllerURL: String, namespace: String?, username: String = "admin", password: String,
        trustedPEM: String? = nil, timeout: Duration = .seconds(10)
    ) async throws -> DemoAPI {
        let client = try NamespaceHTTPClient(
            baseURL: controllerURL, networkNamespace: namespace, trustedPEM: trustedPEM)
        let body = try JSONSerialization.data(withJSONObject: ["username": username, "password": password])
        let response = try await client.request(
            "POST", "/login", headers: [("Content-Type", "application/json")], body: Array(body), timeout: timeout)
        guard response.status == 200 else {
            throw LabError(.commandFailed, "POST /login as \(username): \(Self.describe(response))")
        }
        let cookies = response.setCookies
        guard let session = cookies["sessionid"], let csrf = cookies["csrftoken"] else {
            throw LabError(.parse, "POST /login: no sessionid/csrftoken cookies in the answer")
        }
        return DemoAPI(client: client, controllerURL: controllerURL, sessionID: session, csrfToken: csrf)
    }

    /// Sends a request with the session (and the CSRF token on writes) and returns the raw response.
    public func request(_ method: String, _ path: String, json: Any? = nil, timeout: Duration = .seconds(15))
        async throws -> HTTPResponse
    {
        var headers = [("Cookie", "sessionid=\(sessionID); csrftoken=\(csrfToken)"), ("Accept", "application/json")]
        if method.uppercased() != "GET" { headers.append(("X-CSRFToken", csrfToken)) }
        var body: [UInt8]?
        if let json {
            headers.append(("Content-Type", "application/json"))
            body = Array(try JSONSerialization.data(withJSONObject: json))
        }
        return try await client.request(method, path, headers: headers, body: body, timeout: timeout)
    }

    /// Sends a request and returns the parsed JSON answer (`NSNull` for an empty body); throws unless 2xx.
    @discardableResult
    public func call(_ method: String, _ path: String, json: Any? = nil) async throws -> Any {
        let response = try await request(method, path, json: json)
        guard (200..<300).contains(response.status) else {
            throw LabError(.commandFailed, "\(method) \(path): \(Self.describe(response))")
        }
        if response.body.isEmpty { return NSNull() }
        guard let value = try? JSONSerialization.jsonObject(with: Data(response.body), options: [.fragmentsAllowed])
        else {
            throw LabError(.parse, "\(method) \(path): answer is not JSON: \(response.text.prefix(200))")
        }
        return value
    }

    /// Every object of `type` (all pages).
    public func list(_ type: String, query: String = "") async throws -> [[String: Any]] {
        var path = "/api/\(type)" + (query.isEmpty ? "" : "?\(query)")
        var objects: [[String: Any]] = []
        for _ in 0..<1000 {
            guard let page = try await call("GET", path) as? [String: Any],
                let results = page["results"] as? [[String: Any]]
            else {
                throw LabError(.parse, "GET \(path): no `results` list")
            }
            objects += results
            guard let next = page["next"] as? String, let range = next.range(of: "/api/") else { break }
            path = String(next[range.lowerBound...])
        }
        return objects
    }

    /// The object of `type` named `name`.
    public func object(_ type: String, named name: String) async throws -> [String: Any] {
        let encoded = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
        guard
            let object = try await list(type, query: "name=\(encoded)").first(where: { $0["name"] as? String == name })
        else {
            throw LabError(.commandFailed, "\(type) '\(name)' not found")
        }
        return object
    }

    /// The uuid of the object of `type` named `name`.
    public func uuid(_ type: String, named name: String) async throws -> String {
        let object = try await object(type, named: name)
        guard let uuid = object["uuid"] as? String else { throw LabError(.parse, "\(type) '\(name)' has no uuid") }
        return uuid
    }

    /// `POST /api/TYPE`; returns the created object.
    @discardableResult
    public func create(_ type: String, _ body: [String: Any]) async throws -> [String: Any] {
        guard let created = try await call("POST", "/api/\(type)", json: body) as? [String: Any] else {
            throw LabError(.parse, "POST /api/\(type): the answer is not an object")
        }
        return created
    }

    /// `PATCH /api/TYPE/<uuid>` with Avi's `{"replace": fields}`; returns the updated object.
    @discardableResult
    public func replace(_ type: String, named name: String, _ fields: [String: Any]) async throws -> [String: Any] {
        let uuid = try await uuid(type, named: name)
        guard let updated = try await call("PATCH", "/api/\(type)/\(uuid)", json: ["replace": fields]) as? [String: Any]
        else {
            throw LabError(.parse, "PATCH /api/\(type)/\(uuid): the answer is not an object")
        }
        return updated
    }

    /// `DELETE /api/TYPE/<uuid>` of the object named `name`.
    public func delete(_ type: String, named name: String) async throws {
        let uuid = try await uuid(type, named: name)
        try await call("DELETE", "/api/\(type)/\(uuid)")
    }

    /// `GET /api/TYPE/<uuid>/runtime` of the object named `name` (virtualservice, serviceengine).
    public func runtime(_ type: String, named name: String) async throws -> [String: Any] {
        let uuid = try await uuid(type, named: name)
        guard let runtime = try await call("GET", "/api/\(type)/\(uuid)/runtime") as? [String: Any] else {
            throw LabError(.parse, "GET /api/\(type)/\(uuid)/runtime: the answer is not an object")
        }
        return runtime
    }

    /// A join token for `starling se --token` (`GET /api/securetoken-generate`).
    public func joinToken() async throws -> String {
        guard let answer = try await call("GET", "/api/securetoken-generate") as? [String: Any],
            let token = answer["auth_token"] as? String, !token.isEmpty
        else {
            throw LabError(.parse, "GET /api/securetoken-generate: no auth_token")
        }
        return token
    }

    /// `STATUS error-text` of a failed response.
    static func describe(_ response: HTTPResponse) -> String {
        if let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let error = json["error"]
        {
            return "\(response.status) \(error)"
        }
        return "\(response.status) \(response.text.prefix(200))"
    }
}
