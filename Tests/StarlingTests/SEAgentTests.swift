import Controller
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import StarlingHTTP
import StarlingModel
import Synchronization
import TestSupport
import XCTest

@testable import SE

/// The SE agent against a real controller on 127.0.0.1 (a port bound from port 0 and held, so the
/// controller can restart on it) with a fresh data directory: registration with the join token, the
/// desired state followed through the long poll, heartbeats carrying the SE's status and its request logs,
/// and the agent finding the controller again after it restarts, with the logs of the outage delivered.
final class SEAgentTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!

    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 2) }
    override func tearDown() async throws { try await group.shutdownGracefully() }

    /// The heartbeat interval the controller hands out (seconds; the agent's floor is 0.2 s).
    private let heartbeatInterval = 0.2
    /// The long-poll wait the agent asks for (seconds).
    private let watchWait = 2
    /// The most the agent takes to reach a controller that is back: its longest back-off (``Backoff``:
    /// 0.5 s doubling up to 5 s), then one long-poll wait and a heartbeat.
    private var reconnectBound: Duration { .seconds(5 + watchWait) + .seconds(heartbeatInterval) * 2 }
    /// The agent's heartbeat request timeout.
    private let heartbeatTimeout: Duration = .seconds(5)

    private let admin = [("Authorization", "Basic " + Data("admin:admin-password".utf8).base64EncodedString())]

    // MARK: - The controller

    /// Runs a controller on `directory` at 127.0.0.1:`port` for the duration of `body`.
    private func withController<T>(
        _ directory: String, port: Int, _ body: (Controller) async throws -> T
    ) async throws -> T {
        let (controller, stop) = try await startController(configuration(directory), port: port)
        do {
            let result = try await body(controller)
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }

    /// A controller on `directory` with the tests' heartbeat interval and cheap password hashing.
    private func configuration(_ directory: String) -> ControllerConfiguration {
        var config = ControllerConfiguration(dataDirectory: directory, adminPassword: "admin-password")
        config.passwordIterations = 1000
        config.heartbeatInterval = heartbeatInterval
        return config
    }

    /// Starts a controller serving at 127.0.0.1:`port`; `stop` ends its server (awaited, so the port is free
    /// again) and lets go of its store.
    private func startController(
        _ config: ControllerConfiguration, port: Int
    ) async throws -> (controller: Controller, stop: @Sendable () async -> Void) {
        var logger = Logger(label: "test.controller")
        logger.logLevel = .critical
        let controller = try await Controller(configuration: config, logger: logger)
        let (running, started) = AsyncStream.makeStream(of: Void.self)
        let app = Application(
            responder: controller.responder,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "starling"),
            onServerRunning: { _ in
                started.yield()
                started.finish()
            }, logger: logger)
        let server = RunningServices([app], logger: logger)
        for await _ in running { break }
        return (
            controller,
            {
                await server.stop()
                await controller.close()
            }
        )
    }

    private func call(
        _ api: HTTPClient, _ method: String, _ path: String, _ body: String? = nil, file: StaticString = #filePath,
        line: UInt = #line
    ) async throws -> JSONValue {
        let response = try await api.request(
            method, path, headers: admin + [("Content-Type", "application/json")], body: body.map { Array($0.utf8) })
        XCTAssertTrue(
            (200..<300).contains(response.status), "\(method) \(path): \(response.text)", file: file, line: line)
        return (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))) ?? .null
    }

    private func runtime(_ api: HTTPClient, _ se: String) async throws -> JSONValue {
        try await call(api, "GET", "/api/serviceengine/\(se)/runtime")
    }

    // MARK: - The agent

    private struct RunningAgent: Sendable {
        var agent: SEAgent
        var engine: SEEngine
        var logs: CapturedLogs
    }

    private func makeAgent(port: Int, token: String, name: String = "se1") throws -> RunningAgent {
        try makeAgent(ports: [port], token: token, name: name)
    }

    private func makeAgent(ports: [Int], token: String, name: String = "se1") throws -> RunningAgent {
        let logs = CapturedLogs()
        var logger = Logger(label: "test.agent") { _ in CapturingLogHandler(logs) }
        logger.logLevel = .debug
        var quiet = Logger(label: "test.engine")
        quiet.logLevel = .critical
        let dataPlane = DataPlane(group: group, sourceAddresses: [], logger: quiet)
        // No VIP interface: nothing is plumbed (no root), the VIPs' listeners report that they cannot bind.
        let engine = SEEngine(
            options: SEEngine.Options(vipInterface: nil), dataPlane: dataPlane, eventLoop: group.next(), logger: quiet)
        var agent = SEAgent(
            clients: try ports.map { try HTTPClient(baseURL: "http://127.0.0.1:\($0)") },
            identity: .init(token: token, name: name, dataAddress: IpAddr(addr: "198.18.0.10", type: .v4)),
            engine: engine, logger: logger)
        agent.watchWait = watchWait
        return RunningAgent(agent: agent, engine: engine, logs: logs)
    }

    private func eventually(
        _ what: String, within bound: Duration, file: StaticString = #filePath, line: UInt = #line,
        _ check: () async throws -> Bool
    ) async rethrows {
        let deadline = ContinuousClock.now + bound
        while ContinuousClock.now < deadline {
            if try await check() { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("not within \(bound): \(what)", file: file, line: line)
    }

    /// Request `i` of a run that began at `start` (ms since the epoch), one millisecond apart.
    private static func log(_ vs: String, _ i: Int, start: Int64) -> RequestLog {
        RequestLog(
            timestamp_ms: start + Int64(i), vs_uuid: vs, client_ip: "192.0.2.50",
            client_src_port: 40000, method: "GET", uri_path: "/\(i)", uri_query: "", host: "shop.example",
            http_version: "HTTP/1.1", response_code: 200, total_time_ms: 1, request_length: 80, response_length: 512,
            server_ip: "198.18.1.10", server_port: 8080, significant: false, significance: "")
    }

    private static let pool = """
        {"name": "web-pool", "servers": [{"ip": {"addr": "198.18.1.10", "type": "V4"}, "port": 8080}]}
        """
    private static let vsvip = """
        {"name": "web-vip", "vip": [{"vip_id": "0", "ip_address": {"addr": "192.0.2.10", "type": "V4"}}]}
        """
    private static let vs = """
        {"name": "web", "vsvip_ref": "/api/vsvip/?name=web-vip", "pool_ref": "/api/pool/?name=web-pool",
         "services": [{"port": 80}]}
        """

    /// Starts a controller node on etcd at 127.0.0.1:`port`; `stop` ends its server and its membership.
    private func startNode(
        _ directory: String, port: Int, etcd: String, name: String
    ) async throws -> (controller: Controller, stop: @Sendable () async -> Void) {
        var config = configuration(directory)
        config.store = .etcd(endpoints: [etcd], prefix: "/starling/")
        config.nodeName = name
        config.nodeAddress = "127.0.0.1:\(port)"
        return try await startController(config, port: port)
    }

    // MARK: - Tests

    /// A two-node controller cluster on etcd and an SE given both URLs, the follower's first: the follower
    /// sends it on (503), it registers with the leader and runs what is configured through the follower;
    /// the leader stops, the follower leads, and the SE moves to it with its registration and its data
    /// plane as they were.
    func testTheAgentMovesToTheNewLeaderOfAControllerCluster() async throws {
        guard EtcdTestServer.binary != nil else { throw XCTSkip("etcd is not installed (apt-get install etcd-server)") }
        let etcd = try EtcdTestServer(directory: temporaryDirectory())
        defer { etcd.stop() }
        let (leaderPort, followerPort) = (PortReservation(), PortReservation())
        defer { withExtendedLifetime((leaderPort, followerPort)) {} }
        let leaderDirectory = temporaryDirectory()
        let leader = try await startNode(leaderDirectory, port: leaderPort.port, etcd: etcd.endpoint, name: "node-1")
        await eventually("node-1 leads", within: .seconds(5)) { leader.controller.isLeader }
        let followerDirectory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: followerDirectory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: leaderDirectory + "/secrets.key", toPath: followerDirectory + "/secrets.key")
        let follower = try await startNode(
            followerDirectory, port: followerPort.port, etcd: etcd.endpoint, name: "node-2")
        let api = try HTTPClient(baseURL: "http://127.0.0.1:\(followerPort.port)")
        let generated = try await call(api, "GET", "/api/securetoken-generate")["auth_token"]?.string
        let token = try XCTUnwrap(generated)
        let running = try makeAgent(ports: [followerPort.port, leaderPort.port], token: token)
        let (agent, engine) = (running.agent, running.engine)

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await agent.run() }
            await eventually("registered through the leader", within: reconnectBound) {
                agent.registration.current != nil
            }
            let se = try XCTUnwrap(agent.registration.current?.se_uuid)
            XCTAssertTrue(running.logs.contains("talking to another controller node"), "moved past the follower")
            // Configured through the follower, placed by the leader, run by the SE.
            _ = try await call(api, "POST", "/api/pool", Self.pool)
            _ = try await call(api, "POST", "/api/vsvip", Self.vsvip)
            _ = try await call(api, "POST", "/api/virtualservice", Self.vs)
            await eventually("the SE runs the service", within: reconnectBound) { await engine.version > 1 }
            let applied = await engine.version

            // The leader stops: node-2 leads (at once: the stopped leader revoked its lease of 5 s); the SE moves
            // to it and keeps its registration and state.
            let stopped = ContinuousClock.now
            await leader.stop()
            await eventually("node-2 leads", within: .seconds(8)) {
                follower.controller.isLeader
            }
            try await eventually("the SE's heartbeats reach the new leader", within: reconnectBound) {
                let r = try await runtime(api, se)
                return r["oper_status"]?["state"] == .string("OPER_UP") && r["applied_version"] != nil
            }
            print(
                "SEAgentTests: the SE re-attached to the new leader \(ContinuousClock.now - stopped) after the old one stopped"
            )
            XCTAssertEqual(agent.registration.current?.se_uuid, se, "the same registration")
            let after = await engine.version
            XCTAssertEqual(after, applied, "the data plane was not touched: no new desired state")
            tasks.cancelAll()
        }
        await engine.shutdown()
        for client in agent.clients { await client.shutdown() }
        await api.shutdown()
        await follower.stop()
    }

    func testABadTokenIsRefusedWithTheControllersReason() async throws {
        let directory = temporaryDirectory()
        let reservation = PortReservation()
        defer { withExtendedLifetime(reservation) {} }
        try await withController(directory, port: reservation.port) { _ in
            let api = try HTTPClient(baseURL: "http://127.0.0.1:\(reservation.port)")
            let running = try makeAgent(port: reservation.port, token: "not-a-token", name: "se-bad")
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await running.agent.run() }
                await eventually("the refusal in the agent's log", within: heartbeatTimeout) {
                    running.logs.contains("registration failed")
                }
                tasks.cancelAll()
            }
            let refusal = running.logs.messages.first { $0.contains("registration failed") }
            XCTAssertEqual(
                refusal, "registration failed, retrying: register: HTTP 401 token: unknown join token",
                "the operator reads why")
            XCTAssertNil(running.agent.registration.current)
            await running.engine.shutdown()
            for client in running.agent.clients { await client.shutdown() }
            let engines = try await call(api, "GET", "/api/serviceengine?name=se-bad")
            XCTAssertEqual(engines["count"], .int(0), "no SE was created")
            await api.shutdown()
        }
    }

    func testTheAgentFollowsTheControllerAndDeliversItsLogsAcrossARestart() async throws {
        let directory = temporaryDirectory()
        let reservation = PortReservation()
        defer { withExtendedLifetime(reservation) {} }
        let port = reservation.port
        let api = try HTTPClient(baseURL: "http://127.0.0.1:\(port)")
        let token = try await withController(directory, port: port) { _ in
            try await call(api, "GET", "/api/securetoken-generate")["auth_token"]?.string
        }
        let running = try makeAgent(port: port, token: try XCTUnwrap(token))
        let (agent, engine, queue) = (running.agent, running.engine, running.engine.requestLogs)

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await agent.run() }

            // 1. Registration, heartbeats, a desired-state change.
            let (se, vs) = try await withController(directory, port: port) { _ in
                await eventually("registered", within: reconnectBound) { agent.registration.current != nil }
                let se = try XCTUnwrap(agent.registration.current?.se_uuid)
                try await eventually("heartbeats reach the controller", within: heartbeatTimeout) {
                    let r = try await runtime(api, se)
                    return r["oper_status"]?["state"] == .string("OPER_UP") && r["applied_version"] != nil
                }
                _ = try await call(api, "POST", "/api/pool", Self.pool)
                _ = try await call(api, "POST", "/api/vsvip", Self.vsvip)
                let created = try await call(api, "POST", "/api/virtualservice", Self.vs)
                let vs = try XCTUnwrap(created["uuid"]?.string)
                // The new desired state reaches the engine through the long poll, and the next heartbeats
                // report it applied, with the service.
                try await eventually("the SE runs the new desired state", within: heartbeatTimeout) {
                    let r = try await runtime(api, se)
                    guard case .int(let desired)? = r["desired_version"], desired > 0,
                        r["applied_version"] == .int(desired)
                    else { return false }
                    return r["virtual_services"]?.array?.contains { $0["uuid"]?.string == vs } == true
                }
                let r = try await runtime(api, se)
                XCTAssertEqual(r["placed_virtual_services"], .array([.string(vs)]))
                let applied = await engine.version
                XCTAssertEqual(r["applied_version"], .int(Int64(applied)))
                return (se, vs)
            }

            // 2. The controller is away: heartbeats fail and put their request logs back. One more log
            // than the queue holds is offered: the oldest one is dropped and counted, none is lost.
            let offered = queue.capacity + 1
            let failuresBefore = running.logs.count { $0.hasPrefix("heartbeat failed") }
            let start = Int64(Date().timeIntervalSince1970 * 1000)
            for i in 0..<offered { queue.append(Self.log(vs, i, start: start)) }
            await eventually("two heartbeats fail", within: heartbeatTimeout * 2) {
                running.logs.count { $0.hasPrefix("heartbeat failed") } >= failuresBefore + 2
            }
            await eventually("the failed heartbeats put their batches back", within: heartbeatTimeout) {
                queue.count == queue.capacity
            }
            XCTAssertEqual(queue.dropped, 1)

            // 3. The controller restarts on the same data directory: the agent finds it without
            // registering again, delivers every log it kept, and follows the desired state again.
            try await withController(directory, port: port) { _ in
                let batches = (queue.capacity + SEAgent.requestLogsPerHeartbeat - 1) / SEAgent.requestLogsPerHeartbeat
                try await eventually(
                    "every kept log at the controller", within: reconnectBound + heartbeatTimeout * batches
                ) {
                    let page = try await call(api, "GET", "/api/analytics/logs?type=1&virtualservice=\(vs)&page_size=1")
                    return page["count"] == .int(Int64(queue.capacity))
                }
                XCTAssertEqual(agent.registration.current?.se_uuid, se, "the same registration")
                XCTAssertEqual(
                    running.logs.count { $0.hasPrefix("registered with the controller") }, 1, "registered once")
                let oldest = try await call(
                    api, "GET", "/api/analytics/logs?type=1&virtualservice=\(vs)&page_size=1&page=\(queue.capacity)")
                XCTAssertEqual(oldest["results"]?.array?.first?["uri_path"], .string("/1"), "only /0 was dropped")
                try await eventually("the drop is reported", within: heartbeatTimeout) {
                    try await runtime(api, se)["request_logs_dropped"] == .int(1)
                }
                XCTAssertEqual(queue.count, 0)

                _ = try await call(api, "DELETE", "/api/virtualservice/\(vs)")
                try await eventually("the SE follows the change made after the restart", within: reconnectBound) {
                    let r = try await runtime(api, se)
                    guard case .int(let desired)? = r["desired_version"] else { return false }
                    return r["applied_version"] == .int(desired) && r["virtual_services"] == .array([])
                }
            }
            tasks.cancelAll()
        }
        await engine.shutdown()
        for client in agent.clients { await client.shutdown() }
        await api.shutdown()
    }
}

/// Log messages kept for assertions.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var messages: [String] { lines.withLock { $0 } }
    func contains(_ text: String) -> Bool { messages.contains { $0.contains(text) } }
    func count(where predicate: (String) -> Bool) -> Int { messages.count(where: predicate) }
}

/// A swift-log handler writing into ``CapturedLogs``.
struct CapturingLogHandler: LogHandler {
    let logs: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    init(_ logs: CapturedLogs) { self.logs = logs }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) { logs.append("\(event.message)") }
}

extension XCTestCase {
    /// A fresh directory, removed after the test.
    fileprivate func temporaryDirectory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("se-agent-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }
}
