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
