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

    /// 16 MiB each way through an echo server while the client reads more slowly than it writes (more than
    /// the client's receive and the SE's send buffers hold, so the SE meets a full socket): every byte arrives
    /// once and in order (the SE keeps what a full socket cannot take and stops reading meanwhile).
    func testLargeTransferBothWaysKeepsEveryByte() async throws {
        let plane = dataPlane(fast: true)
        let echo = try TestEchoServer(group: serverGroup, reply: "")
        defer { echo.stop() }
        let port = reservedPort()
        await apply(plane, tcpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: echo.port)]))
        let client = try RawClient(port: port, timeout: 20)
        let size = 16 << 20
        var payload = [UInt8](repeating: 0, count: size)
        for i in payload.indices { payload[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
        let received = ReceivedBytes()
        let reader = Thread { [fd = client.fd] in
            var chunk = [UInt8](repeating: 0, count: 7_000)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                received.append(chunk[0..<n])
                usleep(200)
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
        let started = Date()
        XCTAssertEqual(client.readToEnd(), "", "refused by the only server: closed")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "closed by the SE, not the read timeout")
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
        let closing = Date()
        XCTAssertEqual(client.readToEnd(), "x", "closed by the SE")
        XCTAssertLessThan(Date().timeIntervalSince(closing), 2, "closed by the SE, not the read timeout")
        XCTAssertThrowsError(try RawClient(port: port), "the listener is closed")
    }

    /// A service whose kind changes moves between the paths on one address and back, keeping its servers'
    /// health (no new check needed), its counters and its drain.
    func testAServiceMovesBetweenThePathsKeepingHealthCountersAndDrain() async throws {
        let plane = dataPlane(fast: true)
        let web = try TestHTTPServer(name: "web", group: serverGroup)
        defer { web.stop() }
        let port = reservedPort()
        // One check passes and the next is 60 s away: a service rebuilt from nothing would show "no check yet".
        let monitor = MonitorConfig(
            name: "tcp", kind: .tcp, interval: .seconds(60), timeout: .seconds(1), successfulChecks: 1)
        var tcp = tcpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: web.port)])
        tcp.pool.monitors = [monitor]
        var http = tcp
        http.kind = .http
        await apply(plane, tcp)
        XCTAssertTrue(waitUntil { plane.status().first?.serversUp == 1 }, "the first check passed")
        for (step, service) in [tcp, http, tcp].enumerated() {
            await apply(plane, service)
            XCTAssertEqual(plane.status().first?.serversUp, 1, "step \(step): still up, no new check")
            let client = try RawClient(port: port)
            client.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.status, 200, "step \(step): served on the new path")
            XCTAssertTrue(
                waitUntil { plane.status().first?.totals.connections == step + 1 },
                "step \(step): the counters go on from the old loops' (\(plane.status().first?.totals.connections ?? -1))"
            )
        }
        await plane.drain(serviceIDs: nil, timeout: .milliseconds(100))
        await apply(plane, http)
        XCTAssertThrowsError(try RawClient(port: port), "a drained service stays drained when it moves")
    }

    /// A server that answers an upload it does not want and resets the connection: its answer still reaches
    /// the client (the failed send to the server ends only the client's direction).
    func testAServersAnswerReachesTheClientWhenItResetsAnUpload() async throws {
        let plane = dataPlane(fast: true)
        let server = try RawServer { fd in
            let answer = Array("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n".utf8)
            _ = answer.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            usleep(20_000)
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }
        defer { server.stop() }
        let port = reservedPort()
        await apply(plane, tcpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: server.port)]))
        let client = try RawClient(port: port, timeout: 5)
        let uploader = Thread { [fd = client.fd] in
            let chunk = [UInt8](repeating: 0x61, count: 65_536)
            for _ in 0..<64 where chunk.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0
            {}
        }
        uploader.start()
        XCTAssertEqual(client.readResponse()?.status, 413, "the server's answer arrives")
        XCTAssertTrue(waitUntil { plane.status().first?.activeConnections == 0 }, "then both sides are closed")
    }

    /// A server whose accept queue is full drops the SYN: after the connect timeout the next server is tried,
    /// and what the client sent meanwhile reaches it.
    func testAConnectTimeoutTriesTheNextServerWithTheClientsEarlyBytes() async throws {
        let plane = dataPlane(fast: true)
        let echo = try TestEchoServer(group: serverGroup, reply: "|bye")
        defer { echo.stop() }
        let silent = try FullBacklogServer()
        defer { silent.stop() }
        let port = reservedPort()
        let timeout = Duration.milliseconds(300)
        var service = tcpService(
            port: port,
            servers: [
                ServerConfig(ip: "127.0.0.1", port: silent.port), ServerConfig(ip: "127.0.0.1", port: echo.port),
            ],
            connectTimeout: timeout)
        service.pool.algorithm = .roundRobin
        await apply(plane, service)
        // Round robin starts with the silent one on one of the loops; try until a connection met it.
        var waited = 0.0
        for i in 0..<4 where waited == 0 {
            let client = try RawClient(port: port)
            let started = Date()
            client.send("early\(i)")
            client.shutdownWrite()
            XCTAssertEqual(client.readToEnd(), "early\(i)|bye", "connection \(i)")
            if plane.status().first?.servers.first?.totals.failures ?? 0 > 0 {
                waited = Date().timeIntervalSince(started)
            }
        }
        let sweep = Double(FastL4Sweeper.interval.nanoseconds) / 1e9
        XCTAssertGreaterThanOrEqual(waited, 0.3 - sweep, "the silent server had its connect timeout")
        XCTAssertLessThan(waited, 0.3 + 2 * sweep + 1)
        XCTAssertEqual(plane.status().first?.servers.first?.totals.connections, 0)
    }
}

/// A TCP server on 127.0.0.1 that runs `handle` on each accepted socket (on its own thread), then closes it.
private final class RawServer: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let thread: Thread

    init(handle: @escaping @Sendable (Int32) -> Void) throws {
        let (fd, port) = try XCTUnwrap(listeningLoopbackSocket(backlog: 16))
        self.fd = fd
        self.port = port
        thread = Thread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                handle(client)
                close(client)
            }
        }
        thread.start()
    }

    func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

/// A listening socket that never accepts, its accept queue filled: the kernel drops further SYNs, so a
/// connect to it neither succeeds nor fails until the caller gives up.
private final class FullBacklogServer {
    let fd: Int32
    let port: Int
    private var fillers: [Int32] = []

    init() throws {
        (fd, port) = try XCTUnwrap(listeningLoopbackSocket(backlog: 0))
        for _ in 0..<3 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            fillers.append(filler)
        }
        usleep(100_000)
    }

    func stop() {
        for f in fillers { close(f) }
        close(fd)
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
