import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import StarlingModel
import Synchronization
import XCTest

@testable import Controller

/// A clock the test moves by hand (monotonic seconds).
final class ManualClock: Sendable {
    private let value = Mutex<Double>(0)
    var now: Double { value.withLock { $0 } }
    func advance(_ seconds: Double) { value.withLock { $0 += seconds } }
}

/// One HTTP answer, decoded.
struct Answer {
    var status: Int
    var json: JSONValue
    var headers: HTTPFields
    var text: String

    /// `json[key]` as a string.
    func string(_ key: String) -> String? { json[key]?.string }
}

extension TestClientProtocol {
    /// Sends a request with Basic auth (admin) unless `auth` is given.
    func call(
        _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, auth: String? = "admin:password1",
        headers extra: [String: String] = [:]
    ) async throws -> Answer {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let auth { headers[.authorization] = "Basic " + Data(auth.utf8).base64EncodedString() }
        for (k, v) in extra { headers[.init(k)!] = v }
        let response = try await execute(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let text = String(buffer: response.body)
        let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null
        return Answer(status: Int(response.status.code), json: json, headers: response.headers, text: text)
    }
}

extension XCTestCase {
    /// A fresh data directory, removed after the test.
    func temporaryDirectory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-ctl-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }

    /// A controller on `dir` with a manual clock, cheap password hashing and a 1 s heartbeat (down after 3 s).
    func makeController(
        _ dir: String, clock: ManualClock = ManualClock(), wallClock: ManualClock? = nil,
        configure: (inout ControllerConfiguration) -> Void = { _ in }
    ) async throws -> Controller {
        var config = ControllerConfiguration(dataDirectory: dir, adminPassword: "password1")
        configure(&config)
        config.passwordIterations = 1000
        config.clock = { clock.now }
        if let wallClock { config.wallClock = { wallClock.now } }
        var logger = Logger(label: "test.controller")
        logger.logLevel = .warning
        return try await Controller(configuration: config, logger: logger)
    }

    /// Runs `body` against the controller's responder through `app.test(.router)`.
    @discardableResult
    func withAPI<T: Sendable>(
        _ controller: Controller, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> T
    ) async throws -> T {
        let app = Application(responder: controller.responder)
        return try await app.test(.router) { client in try await body(client) }
    }
}

/// `XCTAssertEqual` for values computed with `await` (XCTest's autoclosures cannot suspend).
func assertEqual<T: Equatable>(
    _ a: T, _ b: T, _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(a, b, message, file: file, line: line)
}

/// One registered SE and one virtual service placed on it (ObjectAPITests' pool, vsvip and VS), for tests
/// that send that SE's heartbeats.
struct PlacedService {
    var se: String
    var auth: [String: String]
    var vs: String
    var pool: String

    static func make(_ api: any TestClientProtocol) async throws -> PlacedService {
        let r = try await AgentTests.register(api, try await AgentTests.token(api), "se1")
        let se = try XCTUnwrap(r.string("se_uuid"))
        let auth = ["Authorization": "Bearer \(try XCTUnwrap(r.string("se_secret")))"]
        let poolAnswer = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
        _ = try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip)
        let vsAnswer = try await api.call(.post, "/api/virtualservice", ObjectAPITests.vs)
        let pool = try XCTUnwrap(poolAnswer.string("uuid"))
        let vs = try XCTUnwrap(vsAnswer.string("uuid"))
        return PlacedService(se: se, auth: auth, vs: vs, pool: pool)
    }

    /// Sends `status` as this SE's heartbeat and checks it is taken.
    func beat(_ api: any TestClientProtocol, _ status: SEStatus, file: StaticString = #filePath, line: UInt = #line)
        async throws
    {
        let answer = try await api.call(
            .post, "/api/se-agent/\(se)/heartbeat", String(decoding: try JSONEncoder().encode(status), as: UTF8.self),
            auth: nil, headers: auth)
        XCTAssertEqual(answer.status, 200, answer.text, file: file, line: line)
    }
}

/// Creates tenant t1 and user `op` (password `op-password`), Application-Operator there only; returns
/// its Basic credentials. For checks that a user of another tenant sees none of tenant admin's objects.
func makeTenantOperator(_ api: any TestClientProtocol) async throws -> String {
    assertEqual(try await api.call(.post, "/api/tenant", #"{"name": "t1"}"#).status, 201)
    let op = #"""
        {"name": "op", "password": "op-password",
         "access": [{"role_ref": "/api/role/?name=Application-Operator", "tenant_ref": "/api/tenant/?name=t1"}]}
        """#
    assertEqual(try await api.call(.post, "/api/user", op).status, 201)
    return "op:op-password"
}
