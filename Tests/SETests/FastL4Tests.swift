import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import TestSupport
import XCTest

@testable import SE

#if canImport(Glibc)
    import Glibc
#endif

/// Plain TCP services through real sockets on 127.0.0.1, on the L4 fast path (``L4EventLoop``) and, where
/// the behaviour is shared, on NIO's path too (still used for TCP behind TLS and with
/// `STARLING_L4_FAST_PATH=0`).
final class FastL4Tests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var serverGroup: MultiThreadedEventLoopGroup!
    var planes: [DataPlane] = []

    override func setUp() async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() async throws {
        for p in planes { await p.shutdown() }
        try await group.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
    }

    func dataPlane(fast: Bool) -> DataPlane {
        var logger = Logger(label: "test.fastl4")
        logger.logLevel = .warning
        let p = DataPlane(
            group: group, sourceAddresses: ["127.0.0.1"], logger: logger, metricsFactory: MetricsSystem.factory,
            fastL4: fast)
        planes.append(p)
        return p
    }

    func tcpService(
        port: Int, servers: [ServerConfig], idleTimeout: Duration? = nil, connectTimeout: Duration? = nil
    ) -> ServiceConfig {
        var http = HTTPLimits()
        if let connectTimeout { http.connectTimeout = connectTimeout }
        return ServiceConfig(
            id: "tcp-1", name: "tcp", listeners: [ListenAddress(host: "127.0.0.1", port: port)], kind: .l4,
            pool: PoolConfig(name: "p", servers: servers), idleTimeout: idleTimeout, http: http)
    }

    func apply(_ plane: DataPlane, _ services: ServiceConfig...) async {
        let problems = await plane.apply(DataPlaneConfig(services: services))
        XCTAssertEqual(problems, [])
    }

    /// Whether the service's sockets are on the fast path's loops (threads named starling-l4-N).
    func fastLoopThreads() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix("starling-l4-")
        }.count
    }

    func testEchoWithHalfCloseOnBothPaths() async throws {
        let before = fastLoopThreads()
        for fast in [true, false] {
            let plane = dataPlane(fast: fast)
            let echo = try TestEchoServer(group: serverGroup, reply: "|bye")
            defer { echo.stop() }
            let port = reservedPort()
            await apply(plane, tcpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: echo.port)]))
            XCTAssertEqual(fastLoopThreads() - before, fast ? 2 : 0, "fast path \(fast): its loops, one per NIO loop")
            let client = try RawClient(port: port)
            client.send("ping")
            client.shutdownWrite()
            XCTAssertEqual(client.readToEnd(), "ping|bye", "fast path \(fast): the reply after our FIN")
            XCTAssertTrue(waitUntil { plane.status().first?.activeConnections == 0 }, "fast path \(fast): closed")
            let st = plane.status().first
            XCTAssertEqual(st?.totals.connections, 1, "fast path \(fast)")
            XCTAssertEqual(st?.totals.bytesIn, 4, "fast path \(fast)")
            XCTAssertEqual(st?.totals.bytesOut, 8, "fast path \(fast)")
            XCTAssertEqual(st?.servers.first?.totals.connections, 1, "fast path \(fast)")
            await plane.shutdown()
        }
        XCTAssertTrue(waitUntil { self.fastLoopThreads() == before }, "shutdown stops the fast path's threads")
    }

    /// 8 MiB each way through an echo server while the client reads more slowly than it writes: every byte
    /// arrives once and in order (the SE keeps what a full socket cannot take and stops reading meanwhile).
    func testLargeTransferBothWaysKeepsEveryByte() async throws {
        let plane = dataPlane(fast: true)
        let echo = try TestEchoServer(group: serverGroup, reply: "")
        defer { echo.stop() }
        let port = reservedPort()
        await apply(plane, tcpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: echo.port)]))
        let client = try RawClient(port: port, timeout: 20)
        let size = 8 << 20
        var payload = [UInt8](repeating: 0, count: size)
        for i in payload.indices { payload[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
        let received = ReceivedBytes()
        let reader = Thread { [fd = client.fd] in
            var chunk = [UInt8](repeating: 0, count: 7_000)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                received.append(chunk[0..<n])
                usleep(50)
            }
            received.finish()
        }
        reader.start()
        var offset = 0
        while offset < size {
            let n = payload[offset...].withUnsafeBytes { send(client.fd, $0.baseAddress, min($0.count, 100_000), 0) }
            XCTAssertGreaterThan(n, 0, "send")
            if n <= 0 { break }
            offset += n
        }
        client.shutdownWrite()
        XCTAssertTrue(received.wait(timeout: 30), "the echo ended")
        XCTAssertEqual(received.bytes.count, size)
        XCTAssertTrue(received.bytes == payload, "same bytes in the same order")
        XCTAssertTrue(waitUntil { plane.status().first?.activeConnections == 0 })
        XCTAssertEqual(plane.status().first?.totals.bytesIn, size)
        XCTAssertEqual(plane.status().first?.totals.bytesOut, size)
    }

    /// A refusing server is passed over: each connection reaches the echo server, and the refusals are
    /// counted against the refusing one.
    func testAConnectionTriesTheNextServerWhenOneRefuses() async throws {
        let plane = dataPlane(fast: true)
        let echo = try TestEchoServer(group: serverGroup, reply: "|bye")
        defer { echo.stop() }
        let refusing = reservedPort()
        let port = reservedPort()
        await apply(
            plane,
            tcpService(
                port: port,
                servers: [
                    ServerConfig(ip: "127.0.0.1", port: refusing), ServerConfig(ip: "127.0.0.1", port: echo.port),
                ]))
        for i in 0..<4 {
            let client = try RawClient(port: port)
            client.send("n\(i)")
            client.shutdownWrite()
            XCTAssertEqual(client.readToEnd(), "n\(i)|bye")
        }
        let servers = plane.status().first?.servers ?? []
        XCTAssertEqual(servers.count, 2)
        XCTAssertGreaterThanOrEqual(servers.first?.totals.failures ?? 0, 1, "refusals counted")
        XCTAssertEqual(servers.first?.totals.connections, 0)
        XCTAssertEqual(servers.last?.totals.connections, 4)
    }

    func testNoServerUpClosesTheClient() async throws {
        let plane = dataPlane(fast: true)
        let port = reservedPort()
        await apply(plane, tcpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: reservedPort())]))
        let client = try RawClient(port: port)
        client.send("hello")
        XCTAssertEqual(client.readToEnd(), "", "refused by the only server: closed")
        XCTAssertTrue(waitUntil { plane.status().first?.activeConnections == 0 })
    }

    /// A connection with no traffic for the idle timeout is closed on both sides, within the sweep interval.
    func testIdleConnectionsAreClosed() async throws {
        let plane = dataPlane(fast: true)
        let echo = try TestEchoServer(group: serverGroup, reply: "")
        defer { echo.stop() }
        let port = reservedPort()
        let idle = Duration.milliseconds(300)
        await apply(
            plane,
            tcpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: echo.port)], idleTimeout: idle))
        let client = try RawClient(port: port, timeout: 5)
        client.send("x")
        let started = Date()
        XCTAssertEqual(client.readToEnd(), "x", "the echo, then the close")
        let took = Date().timeIntervalSince(started)
        let sweep = Double(FastL4Sweeper.interval.nanoseconds) / 1e9
        XCTAssertGreaterThanOrEqual(took, 0.3 - sweep, "not before the idle timeout")
        XCTAssertLessThan(took, 0.3 + 2 * sweep + 1, "soon after it")
        XCTAssertTrue(waitUntil { plane.status().first?.activeConnections == 0 })
    }

    /// Draining lets open connections run; the timeout closes what is left.
    func testDrainTimeoutClosesOpenConnections() async throws {
        let plane = dataPlane(fast: true)
        let echo = try TestEchoServer(group: serverGroup, reply: "")
        defer { echo.stop() }
        let port = reservedPort()
        await apply(plane, tcpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: echo.port)]))
        let client = try RawClient(port: port)
        client.send("x")
        XCTAssertTrue(waitUntil { plane.status().first?.totals.bytesOut == 1 })
        let started = Date()
        await plane.drain(serviceIDs: nil, timeout: .milliseconds(200))
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.19, "the connection ran until the timeout")
        XCTAssertEqual(plane.status().first?.activeConnections, 0)
        XCTAssertEqual(client.readToEnd(), "x", "closed by the SE")
        XCTAssertThrowsError(try RawClient(port: port), "the listener is closed")
    }

    /// A service whose kind changes moves between the paths on one address, and back.
    func testAServiceMovesBetweenThePathsWhenItsKindChanges() async throws {
        let plane = dataPlane(fast: true)
        let echo = try TestEchoServer(group: serverGroup, reply: "|bye")
        defer { echo.stop() }
        let web = try TestHTTPServer(name: "web", group: serverGroup)
        defer { web.stop() }
        let port = reservedPort()
        let tcp = tcpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: echo.port)])
        var http = tcp
        http.kind = .http
        http.pool.servers = [ServerConfig(ip: "127.0.0.1", port: web.port)]
        for (step, service) in [tcp, http, tcp].enumerated() {
            await apply(plane, service)
            let client = try RawClient(port: port)
            if service.kind == .l4 {
                client.send("ping")
                client.shutdownWrite()
                XCTAssertEqual(client.readToEnd(), "ping|bye", "step \(step)")
            } else {
                client.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                XCTAssertEqual(client.readResponse()?.status, 200, "step \(step)")
            }
        }
    }
}

/// Bytes collected by a reader thread.
private final class ReceivedBytes: @unchecked Sendable {
    private let lock = NSCondition()
    private var data: [UInt8] = []
    private var done = false

    func append(_ chunk: ArraySlice<UInt8>) {
        lock.lock()
        data += chunk
        lock.unlock()
    }

    func finish() {
        lock.lock()
        done = true
        lock.broadcast()
        lock.unlock()
    }

    func wait(timeout: Double) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let end = Date().addingTimeInterval(timeout)
        while !done { if !lock.wait(until: end) { return done } }
        return true
    }

    var bytes: [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        return data
    }
}
