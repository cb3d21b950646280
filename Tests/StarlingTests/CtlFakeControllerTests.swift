import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import StarlingModel
import XCTest

@testable import starling

/// `starling ctl` end to end against a small in-test HTTP server on 127.0.0.1 that follows the controller's API
/// conventions (DESIGN §3.2): login cookies and CSRF, Basic auth, paged collections, `{"error"}` bodies.
final class CtlFakeControllerTests: XCTestCase {
    private var server: FakeController!
    private var home = ""

    override func setUp() async throws {
        server = try await FakeController.start()
        home = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-fake-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        try await server?.stop()
        try? FileManager.default.removeItem(atPath: home)
    }

    private var url: String { "http://127.0.0.1:\(server.port)" }

    func testLoginSavesTheSessionAndLaterCommandsUseIt() async throws {
        let login = await runCtl(["--controller", url, "login"], home: home, variables: ["STARLING_PASSWORD": "pw"])
        XCTAssertEqual(login.status, 0, login.err)
        XCTAssertTrue(login.out.hasPrefix("Logged in to \(url) as admin"), login.out)
        let saved = try XCTUnwrap(try CtlSession.load(home: home))
        XCTAssertEqual(saved, CtlSession(controller: url, username: "admin", sessionid: "s-1", csrftoken: "c-1"))

        // No --controller: the saved session's controller and cookies.
        let get = await runCtl(["get", "pool"], home: home)
        XCTAssertEqual(get.status, 0, get.err)
        XCTAssertTrue(get.out.contains("web"), get.out)
        // A write carries the CSRF token; the fake refuses it without one.
        let file = "\(home)/pool.yaml"
        try "name: new\nservers: [{ip: {addr: 198.18.1.21, type: V4}, port: 80}]\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let create = await runCtl(["create", "pool", "-f", file], home: home)
        XCTAssertEqual(create.status, 0, create.err)
        XCTAssertEqual(create.out, "created pool new pool-4\n")
        XCTAssertEqual(server.state.lastBody["servers"]?.array?.first?["port"], .int(80))
    }

    func testWrongPasswordIsAnAPIError() async throws {
        let login = await runCtl(["--controller", url, "login", "--password", "nope"], home: home)
        XCTAssertEqual(login.status, 1)
        XCTAssertEqual(login.err, "starling ctl: login to \(url) as admin: 401 invalid credentials\n")
        XCTAssertNil(try CtlSession.load(home: home))
    }

    func testGetFollowsEveryPageAndPrintsATable() async throws {
        let get = await runCtl(["--controller", url, "--password", "pw", "get", "pool"], home: home)
        XCTAssertEqual(get.status, 0, get.err)
        XCTAssertEqual(
            get.out,
            """
            NAME  UUID    SERVERS         LB_ALGORITHM              HEALTH_MONITORS
            web   pool-1  198.18.1.21:80  LB_ALGORITHM_ROUND_ROBIN  -
            api   pool-2  -               LB_ALGORITHM_ROUND_ROBIN  -
            db    pool-3  -               LB_ALGORITHM_ROUND_ROBIN  -

            """)
        XCTAssertTrue(server.state.paths.contains("/api/pool?page=2"), "\(server.state.paths)")
    }

    func testGetOneByNameAsJSON() async throws {
        let get = await runCtl(
            ["--controller", url, "--password", "pw", "get", "pool", "api", "-o", "json"], home: home)
        XCTAssertEqual(get.status, 0, get.err)
        let object = try JSONValue.parse(Array(get.out.utf8))
        XCTAssertEqual(object["uuid"], .string("pool-2"), "an object, not a list")
        XCTAssertTrue(server.state.paths.contains("/api/pool?name=api"), "\(server.state.paths)")
        let missing = await runCtl(["--controller", url, "--password", "pw", "get", "pool", "nope"], home: home)
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.err, "starling ctl: pool 'nope' not found\n")
    }

    func testCreateShowsTheAPIErrorAndStops() async throws {
        let file = "\(home)/pools.json"
        try #"[{"name": "web"}, {"name": "later"}]"#.write(toFile: file, atomically: true, encoding: .utf8)
        let create = await runCtl(["--controller", url, "--password", "pw", "create", "pool", "-f", file], home: home)
        XCTAssertEqual(create.status, 1)
        XCTAssertEqual(
            create.err, "starling ctl: create pool web: POST /api/pool: 409 pool name 'web' is already taken\n")
        XCTAssertFalse(server.state.paths.contains { $0.contains("later") })
    }

    func testDeleteResolvesTheName() async throws {
        let delete = await runCtl(["--controller", url, "--password", "pw", "delete", "pool", "api"], home: home)
        XCTAssertEqual(delete.status, 0, delete.err)
        XCTAssertEqual(delete.out, "deleted pool api pool-2\n")
        XCTAssertEqual(server.state.deleted, ["/api/pool/pool-2"])
    }

    func testUnauthenticatedGetsTheHint() async throws {
        let get = await runCtl(["--controller", url, "get", "pool"], home: home)
        XCTAssertEqual(get.status, 1)
        XCTAssertTrue(get.err.hasPrefix("starling ctl: GET /api/pool: 401 authentication required (log in"), get.err)
    }

    func testShowVirtualServiceRuntime() async throws {
        let show = await runCtl(["--controller", url, "--password", "pw", "show", "vs", "demo-vs"], home: home)
        XCTAssertEqual(show.status, 0, show.err)
        XCTAssertEqual(
            show.out,
            """
            NAME     UUID              VIP         PORTS  POOL  ENABLED
            demo-vs  virtualservice-1  192.0.2.10  80     web   yes

            runtime:
              oper_status: OPER_UP
              placement:
                SE_NAME  SE_UUID          OPER_STATE  ADVERTISED  ADVERTISE_REASON
                se1      serviceengine-1  OPER_UP     yes         virtual service is up

            """)
        let raw = await runCtl(
            ["--controller", url, "--password", "pw", "show", "vs", "demo-vs", "-o", "json"], home: home)
        XCTAssertEqual(raw.out, FakeController.runtime + "\n")
    }
}

/// What the fake controller saw, shared by its connections.
final class FakeControllerState: @unchecked Sendable {
    private let lock = NSLock()
    private var _paths: [String] = []
    private var _deleted: [String] = []
    private var _lastBody: JSONValue = .null
    var paths: [String] { lock.withLock { _paths } }
    var deleted: [String] { lock.withLock { _deleted } }
    var lastBody: JSONValue { lock.withLock { _lastBody } }
    func saw(_ path: String) { lock.withLock { _paths.append(path) } }
    func deleted(_ path: String) { lock.withLock { _deleted.append(path) } }
    func body(_ body: JSONValue) { lock.withLock { _lastBody = body } }
}

/// An HTTP server with the shape of the controller's API, for `starling ctl` tests.
final class FakeController: Sendable {
    let channel: any Channel
    let port: Int
    let state: FakeControllerState

    static let runtime =
        #"{"oper_status": {"state": "OPER_UP"}, "placement": [{"se_name": "se1", "se_uuid": "serviceengine-1", "oper_state": "OPER_UP", "advertised": true, "advertise_reason": "virtual service is up"}]}"#

    private init(channel: any Channel, state: FakeControllerState) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.state = state
    }

    static func start() async throws -> FakeController {
        let state = FakeControllerState()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try child.pipeline.syncOperations.addHandler(FakeControllerHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeController(channel: channel, state: state)
    }

    func stop() async throws { try await channel.close() }
}

private final class FakeControllerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let state: FakeControllerState
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(state: FakeControllerState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            let (status, headers, text) = answer(head)
            var fields = HTTPHeaders(headers)
            fields.add(name: "Content-Type", value: "application/json")
            fields.add(name: "Content-Length", value: "\(text.utf8.count)")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: fields))),
                promise: nil)
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private func pool(_ index: Int, _ name: String) -> String {
        let servers = index == 1 ? #"[{"ip": {"addr": "198.18.1.21", "type": "V4"}, "port": 80}]"# : "[]"
        return
            #"{"name": "\#(name)", "uuid": "pool-\#(index)", "url": "/api/pool/pool-\#(index)", "servers": \#(servers)}"#
    }

    private func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, [(String, String)], String) {
        state.saw(head.uri)
        let method = head.method.rawValue
        if head.uri == "/login" && method == "POST" {
            let json = try? JSONValue.parse(body)
            guard json?["username"] == .string("admin"), json?["password"] == .string("pw") else {
                return (.unauthorized, [], #"{"error": "invalid credentials"}"#)
            }
            return (
                .ok, [("Set-Cookie", "csrftoken=c-1; Path=/"), ("Set-Cookie", "sessionid=s-1; Path=/; HttpOnly")],
                #"{"version": {"Version": "22.1.1"}}"#
            )
        }
        let cookie = head.headers.first(name: "Cookie") ?? ""
        let basic = head.headers.first(name: "Authorization") == "Basic " + Data("admin:pw".utf8).base64EncodedString()
        let session = cookie.contains("sessionid=s-1")
        guard basic || session else { return (.unauthorized, [], #"{"error": "authentication required"}"#) }
        if session && !basic && method != "GET" && head.headers.first(name: "X-CSRFToken") != "c-1" {
            return (.forbidden, [], #"{"error": "CSRF token missing or incorrect"}"#)
        }
        let base = "http://\(head.headers.first(name: "Host") ?? "")"
        switch (method, head.uri) {
        case ("GET", "/api/pool"):
            return (
                .ok, [],
                #"{"count": 3, "results": [\#(pool(1, "web")), \#(pool(2, "api"))], "next": "\#(base)/api/pool?page=2"}"#
            )
        case ("GET", "/api/pool?page=2"):
            return (.ok, [], #"{"count": 3, "results": [\#(pool(3, "db"))]}"#)
        case ("GET", "/api/pool?name=api"):
            return (.ok, [], #"{"count": 1, "results": [\#(pool(2, "api"))]}"#)
        case ("GET", let uri) where uri.hasPrefix("/api/pool?name="):
            return (.ok, [], #"{"count": 0, "results": []}"#)
        case ("POST", "/api/pool"):
            let json = (try? JSONValue.parse(body)) ?? .null
            state.body(json)
            if json["name"] == .string("web") {
                return (.conflict, [], #"{"error": "pool name 'web' is already taken"}"#)
            }
            return (.created, [], #"{"name": "\#(json["name"]?.display ?? "")", "uuid": "pool-4"}"#)
        case ("DELETE", "/api/pool/pool-2"):
            state.deleted(head.uri)
            return (.noContent, [], "")
        case ("GET", "/api/virtualservice?name=demo-vs"):
            return (
                .ok, [],
                #"{"count": 1, "results": [{"name": "demo-vs", "uuid": "virtualservice-1", "vsvip_ref": "/api/vsvip/vsvip-1", "pool_ref": "/api/pool/pool-1", "services": [{"port": 80}]}]}"#
            )
        case ("GET", "/api/vsvip"):
            return (
                .ok, [],
                #"{"count": 1, "results": [{"name": "v", "uuid": "vsvip-1", "vip": [{"vip_id": "0", "ip_address": {"addr": "192.0.2.10", "type": "V4"}}]}]}"#
            )
        case ("GET", "/api/virtualservice/virtualservice-1/runtime"):
            return (.ok, [], FakeController.runtime)
        default:
            return (.notFound, [], #"{"error": "no such path \#(head.uri)"}"#)
        }
    }
}
