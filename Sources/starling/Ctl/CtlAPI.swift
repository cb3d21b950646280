import Foundation
import SE
import StarlingHTTP
import StarlingModel

/// A `starling ctl` failure: one line for the user and the exit code (1 for an API or connection error, 2 for a
/// usage error).
struct CtlError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1 (API) or 2 (usage).
    var exitCode: Int32
    /// One line, without the `starling ctl:` prefix.
    var message: String

    /// A bad command line, file or environment (exit 2).
    static func usage(_ message: String) -> CtlError { CtlError(exitCode: 2, message: message) }
    /// The controller refused, failed or could not be reached (exit 1).
    static func api(_ message: String) -> CtlError { CtlError(exitCode: 1, message: message) }

    var description: String { message }
}

/// How requests authenticate.
enum CtlAuth: Sendable, Equatable {
    /// No credentials (the API will answer 401).
    case none
    /// HTTP Basic with these credentials.
    case basic(username: String, password: String)
    /// The session cookies of `starling ctl login`.
    case session(sessionID: String, csrfToken: String)

    /// The headers for a request with `method`: credentials, and the CSRF token on writes (Avi/Django style).
    func headers(method: String) -> [(String, String)] {
        switch self {
        case .none:
            return []
        case .basic(let username, let password):
            let token = Data("\(username):\(password)".utf8).base64EncodedString()
            return [("Authorization", "Basic \(token)")]
        case .session(let sessionID, let csrfToken):
            var headers = [("Cookie", "sessionid=\(sessionID); csrftoken=\(csrfToken)")]
            if !["GET", "HEAD", "OPTIONS"].contains(method.uppercased()) {
                headers.append(("X-CSRFToken", csrfToken))
            }
            return headers
        }
    }
}

/// The controller's REST API as `starling ctl` uses it: JSON in and out, errors as one line.
struct CtlAPI: Sendable {
    let client: HTTPClient
    let auth: CtlAuth
    /// Per-request deadline.
    var timeout: Duration = .seconds(30)
    /// The tenant every request works in (`X-Avi-Tenant`); nil for the user's default tenant.
    var tenant: String?

    /// - Parameter caPEM: the cluster CA an `https://` controller is verified with, besides the system's roots.
    init(controller: String, auth: CtlAuth, caPEM: String? = nil) throws(CtlError) {
        do {
            client = try HTTPClient(baseURL: controller, tls: .init(trustedPEM: caPEM ?? ""))
        } catch {
            throw CtlError.usage("--controller: \(error)")
        }
        self.auth = auth
    }

    /// Sends a request and returns the response (any status); connection failures become ``CtlError/api(_:)``.
    func send(_ method: String, _ path: String, json: JSONValue? = nil) async throws(CtlError) -> HTTPResponse {
        var headers = auth.headers(method: method)
        headers.append(("Accept", "application/json"))
        if let tenant { headers.append(("X-Avi-Tenant", tenant)) }
        if json != nil { headers.append(("Content-Type", "application/json")) }
        do {
            return try await client.request(method, path, headers: headers, body: json?.compactBytes, timeout: timeout)
        } catch let error as HTTPClientError where error.kind == .tls {
            throw CtlError.api(
                "\(error): pass --ca-file (the controller's DIR/cluster-ca.pem) or --ca-fingerprint (logged at its start)"
            )
        } catch {
            throw CtlError.api("\(error)")
        }
    }

    /// Sends a request and returns its JSON body; a non-2xx status throws with the API's `{"error"}` text.
    func call(_ method: String, _ path: String, json: JSONValue? = nil) async throws(CtlError) -> JSONValue {
        let response = try await send(method, path, json: json)
        guard (200..<300).contains(response.status) else {
            throw CtlError.api(Self.errorText(response, request: "\(method) \(path)"))
        }
        if response.body.isEmpty { return .null }
        do {
            return try JSONValue.parse(response.body)
        } catch {
            throw CtlError.api(
                "\(method) \(path): the controller answered \(response.status) with a body that is not JSON")
        }
    }

    /// The one-line text of a failed response: the API's `error` field when there is one.
    static func errorText(_ response: HTTPResponse, request: String, loginHint: Bool = true) -> String {
        var text: String
        if let json = try? JSONValue.parse(response.body), let error = json["error"] {
            text = error.display
        } else {
            let body = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
            text = body.isEmpty ? "no details" : String(body.prefix(200))
        }
        text = text.replacingOccurrences(of: "\n", with: " ")
        var line = "\(request): \(response.status) \(text)"
        if response.status == 401 && loginHint {
            line += " (log in with `starling ctl login`, or pass --username and --password)"
        }
        return line
    }

    /// Every object of `type` (following `next` through every page).
    func list(_ type: String, query: String = "") async throws(CtlError) -> [JSONValue] {
        var path = "/api/\(type)" + (query.isEmpty ? "" : "?\(query)")
        var objects: [JSONValue] = []
        var seen: Set<String> = []
        while true {
            seen.insert(path)
            let page = try await call("GET", path)
            guard let results = page["results"]?.array else {
                throw CtlError.api("GET \(path): the answer has no `results` list")
            }
            objects += results
            guard let next = page["next"]?.string, !next.isEmpty, let nextPath = Self.path(of: next),
                !seen.contains(nextPath), seen.count < 10_000
            else { break }
            path = nextPath
        }
        return objects
    }

    /// The object of `type` named `name`; throws when there is none.
    /// GET a resource of the object NAME of TYPE (`path` from its uuid), as `starling ctl show` and
    /// `analytics` print it: the raw text for `-o json` (returned as nil after printing), else the parsed
    /// JSON.
    func objectResource(
        _ type: String, named name: String, output: CtlFormat, context: CtlContext, path: (String) -> String
    ) async throws(CtlError) -> (object: JSONValue, answer: JSONValue)? {
        let object = try await self.object(type, named: name)
        guard let uuid = CtlAPI.uuid(of: object) else {
            throw CtlError.api("\(type) '\(name)' has no uuid in the API's answer")
        }
        let path = path(uuid)
        let response = try await send("GET", path)
        guard (200..<300).contains(response.status) else {
            throw CtlError.api(CtlAPI.errorText(response, request: "GET \(path)"))
        }
        if output == .json {
            context.out(response.text.trimmingCharacters(in: .newlines))
            return nil
        }
        guard let answer = try? JSONValue.parse(response.body) else {
            throw CtlError.api("GET \(path): the answer is not JSON")
        }
        return (object, answer)
    }

    func object(_ type: String, named name: String) async throws(CtlError) -> JSONValue {
        let found = try await list(type, query: "name=\(Self.percentEncoded(name))")
        guard let object = found.first(where: { $0["name"]?.string == name }) ?? found.first else {
            throw CtlError.api("\(type) '\(name)' not found")
        }
        return object
    }

    /// The uuid of `object` (its `uuid`, or the last component of its `url`).
    static func uuid(of object: JSONValue) -> String? {
        if let uuid = object["uuid"]?.string { return uuid }
        return object["url"]?.string.flatMap(refUUID)
    }

    /// The uuid in a reference URL (`/api/pool/pool-1234`, `https://host/api/pool/pool-1234#name`).
    static func refUUID(_ ref: String) -> String? {
        let noFragment = ref.split(separator: "#", maxSplits: 1).first.map(String.init) ?? ref
        guard !noFragment.contains("?") else { return nil }
        return noFragment.split(separator: "/").last.map(String.init)
    }

    /// The path and query of `url` (absolute or already a path).
    static func path(of url: String) -> String? {
        if url.hasPrefix("/") { return url }
        guard let scheme = url.range(of: "://") else { return nil }
        let afterScheme = url[scheme.upperBound...]
        guard let slash = afterScheme.firstIndex(of: "/") else { return "/" }
        return String(afterScheme[slash...])
    }

    /// `text` percent-encoded for a query value.
    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Checks an object type given on the command line and maps the short names (`vs`, `se`, ...).
    static func objectType(_ text: String) throws(CtlError) -> String {
        let aliases = [
            "vs": "virtualservice", "se": "serviceengine", "seg": "serviceenginegroup", "hm": "healthmonitor",
            "vrf": "vrfcontext", "cert": "sslkeyandcertificate",
        ]
        let lowered = text.lowercased()
        let type = aliases[lowered] ?? lowered
        guard !type.isEmpty, type.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" })
        else {
            throw CtlError.usage("TYPE '\(text)' is not an object type (e.g. virtualservice, pool, vsvip)")
        }
        return type
    }
}
