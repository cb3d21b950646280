import Logging
import NIOCore
import NIOPosix
import SE
import TestSupport
import XCTest

/// End to end through real sockets on 127.0.0.1: clients → DataPlane (2 event loops, SO_REUSEPORT) →
/// small NIO pool servers started by the test.
final class DataPlaneLoopbackTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var serverGroup: MultiThreadedEventLoopGroup!
    var dataPlane: DataPlane!
    var servers: [TestHTTPServer] = []

    override func setUp() async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "test.dataplane")
        logger.logLevel = .warning
        dataPlane = DataPlane(group: group, sourceAddresses: ["127.0.0.1"], logger: logger)
    }

    override func tearDown() async throws {
        await dataPlane.shutdown()
        for s in servers { s.stop() }
        try await group.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
    }

    func server(_ name: String) throws -> TestHTTPServer {
        let s = try TestHTTPServer(name: name, group: serverGroup)
        servers.append(s)
        return s
    }

    func httpService(
        port: Int, servers: [ServerConfig], monitors: [MonitorConfig] = [], limits: HTTPLimits = HTTPLimits(),
        id: String = "vs-1"
    ) -> ServiceConfig {
        ServiceConfig(
            id: id, name: "web-\(id)", listeners: [ListenAddress(host: "127.0.0.1", port: port)], kind: .http,
            pool: PoolConfig(name: "pool-\(id)", servers: servers, monitors: monitors), http: limits)
    }

    func apply(_ services: ServiceConfig...) async {
        let problems = await dataPlane.apply(DataPlaneConfig(services: services))
        XCTAssertEqual(problems, [])
    }

    func get(_ client: RawClient, _ path: String, close: Bool = false) -> RawClient.Response? {
        client.send("GET \(path) HTTP/1.1\r\nHost: test\r\n\(close ? "Connection: close\r\n" : "")\r\n")
        return client.readResponse()
    }

    // MARK: HTTP

    func testKeepAliveForwardedHeadersAndConnectionClose() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))

        let client = try RawClient(port: port)
        let a = get(client, "/a")
        XCTAssertEqual(a?.status, 200)
        XCTAssertEqual(a?.body, "s1 /a xff=127.0.0.1 xfp=http")
        XCTAssertEqual(get(client, "/b")?.body, "s1 /b xff=127.0.0.1 xfp=http", "same connection kept alive")
        client.send("GET /c HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n")
        let c = client.readResponse()
        XCTAssertEqual(c?.body, "s1 /c xff=203.0.113.9, 127.0.0.1 xfp=http")
        XCTAssertEqual(c?.header("connection"), "close")
        XCTAssertTrue(client.isClosedByPeer(), "closed after the response to Connection: close")

        let st = dataPlane.status().first
        XCTAssertEqual(st?.totals.connections, 1)
        XCTAssertEqual(st?.totals.requests, 3)
        XCTAssertEqual(st?.totals.responses[1], 3)
        XCTAssertEqual(st?.servers.first?.reason, "no monitor: assumed up")
        XCTAssertEqual(st?.serversUp, 1)
    }

    func testIPv6ListenerAndServer() async throws {
        let s6 = try TestHTTPServer(name: "s6", group: serverGroup, host: "::1")
        servers.append(s6)
        let port = reservedPort()
        await apply(
            ServiceConfig(
                id: "v6", name: "v6", listeners: [ListenAddress(host: "::1", port: port)], kind: .http,
                pool: PoolConfig(name: "p6", servers: [ServerConfig(ip: "::1", port: s6.port)])))
        let client = try RawClient(port: port, host: "::1")
        XCTAssertEqual(get(client, "/six")?.body, "s6 /six xff=::1 xfp=http")
    }

    func testHEADResponseHasNoBody() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        client.send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = client.readResponse(toHEAD: true)
        XCTAssertEqual(head?.status, 200)
        XCTAssertEqual(head?.header("content-length"), "\("s1 /h xff=127.0.0.1 xfp=http".utf8.count)")
        // Nothing follows the head: the next response starts right after it.
        XCTAssertEqual(get(client, "/next")?.body, "s1 /next xff=127.0.0.1 xfp=http")
    }

    func testHTTP10Client() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        client.send("GET /old HTTP/1.0\r\n\r\n")
        let text = client.readToEnd()
        XCTAssertTrue(text.hasPrefix("HTTP/1.0 200"), text)
        XCTAssertTrue(text.hasSuffix("s1 /old xff=127.0.0.1 xfp=http"), text)
    }

    func testHTTP10ClientGetsAChunkedBodyWithoutItsFraming() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        client.send("GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let text = client.readToEnd()
        XCTAssertTrue(text.hasPrefix("HTTP/1.0 200"), text)
        XCTAssertFalse(text.lowercased().contains("transfer-encoding"), text)
        XCTAssertTrue(text.hasSuffix("\r\n\r\nalpha-beta-gamma"), "the data alone, then the close: \(text)")
    }

    func testAResponseWithoutLengthEndsAtTheServersClose() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        client.send("GET /until-close HTTP/1.1\r\nHost: t\r\n\r\n")
        let text = client.readToEnd()
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200"), text)
        XCTAssertTrue(text.lowercased().contains("connection: close"), text)
        XCTAssertTrue(text.hasSuffix("\r\n\r\nno length, ends at the close"), text)
        // The pool is not hurt: the next client is served.
        let next = try RawClient(port: port)
        XCTAssertEqual(get(next, "/after")?.body, "s1 /after xff=127.0.0.1 xfp=http")
    }

    func testChunkedBodiesBothWays() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)

        client.send(
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        let echoed = client.readResponse()
        XCTAssertEqual(echoed?.status, 200)
        XCTAssertEqual(echoed?.header("transfer-encoding"), "chunked")
        XCTAssertEqual(echoed?.body, "hello world")

        let chunked = get(client, "/chunked")
        XCTAssertEqual(chunked?.body, "alpha-beta-gamma")

        let big = String(repeating: "0123456789", count: 50_000)
        client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(big.utf8.count)\r\n\r\n\(big)")
        let large = client.readResponse()
        XCTAssertEqual(large?.header("content-length"), "\(big.utf8.count)")
        XCTAssertEqual(large?.body.count, big.utf8.count)
        XCTAssertTrue(large?.body == big)
    }

    func testPipelinedRequestsAreAnsweredInOrder() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        client.send(
            "GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n"
                + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nthree")
        XCTAssertEqual(client.readResponse()?.body, "s1 slow")
        XCTAssertEqual(client.readResponse()?.body, "s1 /two xff=127.0.0.1 xfp=http")
        XCTAssertEqual(client.readResponse()?.body, "three")
    }

    func testExpect100ContinueIsPassedOn() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = client.readResponse()
        XCTAssertEqual(interim?.status, 100)
        client.send("body")
        let final = client.readResponse()
        XCTAssertEqual(final?.status, 200)
        XCTAssertEqual(final?.body, "body")
    }

    func testAKeptAliveConnectionClosedByTheServerIsRetried() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        XCTAssertEqual(get(client, "/first")?.status, 200)
        // The pooled server connection is reused; the server drops it without answering.
        let r = get(client, "/drop-once")
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.body, "s1 /drop-once xff=127.0.0.1 xfp=http")
    }

    func testRoundRobinAcrossTwoServers() async throws {
        let s1 = try server("s1")
        let s2 = try server("s2")
        let port = reservedPort()
        await apply(
            httpService(
                port: port,
                servers: [ServerConfig(ip: "127.0.0.1", port: s1.port), ServerConfig(ip: "127.0.0.1", port: s2.port)]))
        let client = try RawClient(port: port)
        let names = (0..<4).compactMap { _ in get(client, "/")?.body.split(separator: " ").first.map(String.init) }
        XCTAssertEqual(names, ["s1", "s2", "s1", "s2"])
    }

    func testBadGatewayWhenTheServerRefuses() async throws {
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: reservedPort())]))
        let client = try RawClient(port: port)
        let r = get(client, "/")
        XCTAssertEqual(r?.status, 502)
        XCTAssertTrue(r?.body.hasPrefix("502 Bad Gateway") ?? false)
        XCTAssertEqual(get(client, "/again")?.status, 502, "the connection stays usable")
    }

    func testServiceUnavailableWhenNoServerIsUp() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port, enabled: false)]))
        let client = try RawClient(port: port)
        XCTAssertEqual(get(client, "/")?.status, 503)
        let st = dataPlane.status().first
        XCTAssertEqual(st?.serversUp, 0)
        XCTAssertEqual(st?.servers.first?.reason, "disabled")
    }

    func testGatewayTimeoutWhenTheServerNeverAnswers() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(
            httpService(
                port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)],
                limits: HTTPLimits(serverResponseTimeout: .milliseconds(300))))
        let client = try RawClient(port: port)
        let started = Date()
        let r = get(client, "/hang")
        XCTAssertEqual(r?.status, 504)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    }

    // MARK: L4

    /// An L4 service on a free port of 127.0.0.1 to an echo server that adds "|bye" after the client's FIN.
    private func l4EchoService() async throws -> (echo: TestEchoServer, port: Int) {
        let echo = try TestEchoServer(group: serverGroup, reply: "|bye")
        let port = reservedPort()
        await apply(
            ServiceConfig(
                id: "tcp-1", name: "tcp", listeners: [ListenAddress(host: "127.0.0.1", port: port)], kind: .l4,
                pool: PoolConfig(name: "p", servers: [ServerConfig(ip: "127.0.0.1", port: echo.port)])))
        return (echo, port)
    }

    func testL4EchoWithHalfClose() async throws {
        let (echo, port) = try await l4EchoService()
        defer { echo.stop() }
        let client = try RawClient(port: port)
        client.send("ping")
        client.shutdownWrite()
        XCTAssertEqual(client.readToEnd(), "ping|bye", "the reply after our FIN still arrives")
        XCTAssertTrue(
            waitUntil { self.dataPlane.status().first?.activeConnections == 0 }, "both sides closed after both FINs")
        let st = dataPlane.status().first
        XCTAssertEqual(st?.totals.bytesIn, 4)
        XCTAssertEqual(st?.totals.bytesOut, 8)
    }

    /// Both sockets of a proxied connection have Nagle off (TCP_NODELAY at IPPROTO_TCP) and nothing else
    /// switched on by mistake: `.socketOption(.tcp_nodelay)` once set SO_DEBUG (1 at SOL_SOCKET) on every
    /// proxied socket (Nagle was off only through NIO's own defaults).
    func testProxiedSocketsHaveNagleOff() async throws {
        let (echo, port) = try await l4EchoService()
        defer { echo.stop() }
        let client = try RawClient(port: port)
        client.send("ping")
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.totals.bytesIn == 4 }, "the SE forwarded it")
        let clientPort = Self.ports(of: client.fd)?.local
        // This process holds the SE's sockets: the accepted one (to the client) and the one to the server.
        var front: Int32?
        var back: Int32?
        for fd in Self.socketDescriptors() where fd != client.fd {
            guard let ports = Self.ports(of: fd) else { continue }
            if ports.local == port, ports.peer == clientPort { front = fd }
            if ports.peer == echo.port, ports.local != echo.port { back = fd }
        }
        for (side, fd) in [("client side", front), ("server side", back)] {
            guard let fd else {
                XCTFail("\(side): socket not found")
                continue
            }
            XCTAssertEqual(Self.intOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY), 1, "\(side): TCP_NODELAY")
            XCTAssertEqual(Self.intOption(fd, SOL_SOCKET, SO_DEBUG), 0, "\(side): SO_DEBUG")
        }
        client.shutdownWrite()
        XCTAssertEqual(client.readToEnd(), "ping|bye")
    }

    private static func socketDescriptors() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.compactMap { name in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + name),
                target.hasPrefix("socket:")
            else { return nil }
            return Int32(name)
        }
    }

    /// The local and peer ports of a connected IPv4 socket.
    private static func ports(of fd: Int32) -> (local: Int, peer: Int)? {
        func port(_ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> Int? {
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let rc = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, &length) }
            }
            guard rc == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
            return Int(UInt16(bigEndian: address.sin_port))
        }
        guard let local = port(getsockname), let peer = port(getpeername) else { return nil }
        return (local, peer)
    }

    private static func intOption(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32? {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, level, name, &value, &length) == 0 ? value : nil
    }

    func testL4ClosesWhenNoServerIsUp() async throws {
        let port = reservedPort()
        await apply(
            ServiceConfig(
                id: "tcp-1", name: "tcp", listeners: [ListenAddress(host: "127.0.0.1", port: port)], kind: .l4,
                pool: PoolConfig(name: "p", servers: [ServerConfig(ip: "127.0.0.1", port: reservedPort())])))
        let client = try RawClient(port: port)
        client.send("hello")
        XCTAssertEqual(client.readToEnd(), "", "refused by the only server: closed")
    }

    // MARK: monitors

    func testMonitorTakesAServerOutAndBackIn() async throws {
        let s1 = try server("s1")
        let s2 = try server("s2")
        let port = reservedPort()
        let monitor = MonitorConfig(
            name: "hm", kind: .http(request: "GET /health HTTP/1.0", expectedCodes: [.http2xx]),
            interval: .milliseconds(100), timeout: .milliseconds(500), successfulChecks: 1, failedChecks: 1)
        let changes = CallCounter()
        dataPlane.setOnChange { changes.increment() }
        await apply(
            httpService(
                port: port,
                servers: [ServerConfig(ip: "127.0.0.1", port: s1.port), ServerConfig(ip: "127.0.0.1", port: s2.port)],
                monitors: [monitor]))
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.serversUp == 2 })
        XCTAssertEqual(dataPlane.status().first?.servers.map(\.reason), ["1/1 checks ok", "1/1 checks ok"])

        s2.health.code = 500
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.serversUp == 1 })
        let down = dataPlane.status().first?.servers[1]
        XCTAssertEqual(down?.up, false)
        XCTAssertEqual(down?.reason, "HTTP 500 not in HTTP_2XX")
        XCTAssertGreaterThan(changes.value, 0, "onChange called")

        let client = try RawClient(port: port)
        let names = (0..<4).compactMap { _ in get(client, "/")?.body.split(separator: " ").first.map(String.init) }
        XCTAssertEqual(names, ["s1", "s1", "s1", "s1"], "a down server gets no traffic")

        s2.health.code = 200
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.serversUp == 2 })
        let after = Set((0..<4).compactMap { _ in get(client, "/")?.body.split(separator: " ").first.map(String.init) })
        XCTAssertEqual(after, ["s1", "s2"], "back in rotation")
    }

    func testTCPMonitorSeesARefusingServer() async throws {
        let port = reservedPort()
        let monitor = MonitorConfig(
            name: "tcp", kind: .tcp, interval: .milliseconds(100), timeout: .milliseconds(500), successfulChecks: 1,
            failedChecks: 1)
        await apply(
            httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: reservedPort())], monitors: [monitor])
        )
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.servers.first?.reason == "connect refused" })
        XCTAssertEqual(dataPlane.status().first?.serversUp, 0)
    }

    // MARK: lifecycle

    func testDrainLetsAnInFlightRequestFinish() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.totals.requests == 1 })

        let dp: DataPlane = dataPlane
        async let drained: Void = dp.drain(serviceIDs: ["vs-1"], timeout: .seconds(5))
        let r = client.readResponse()
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.body, "s1 slow")
        XCTAssertEqual(r?.header("connection"), "close", "a draining service closes after the response")
        await drained
        XCTAssertThrowsError(try RawClient(port: port), "listener closed") {
            XCTAssertEqual(($0 as? POSIXError)?.code, .ECONNREFUSED, "listener closed")
        }
        XCTAssertEqual(dataPlane.status().first?.draining, true)
        XCTAssertEqual(dataPlane.status().first?.activeConnections, 0)
    }

    func testDrainTimeoutClosesWhatIsLeft() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        client.send("GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(waitUntil { self.dataPlane.status().first?.totals.requests == 1 })
        let started = Date()
        await dataPlane.drain(serviceIDs: nil, timeout: .milliseconds(200))
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        XCTAssertEqual(dataPlane.status().first?.activeConnections, 0)
    }

    func testApplyRemovingAServiceClosesItsListener() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        XCTAssertEqual(dataPlane.status().first?.listening, [ListenAddress(host: "127.0.0.1", port: port)])
        XCTAssertNoThrow(try RawClient(port: port))
        await apply()
        XCTAssertEqual(dataPlane.status(), [])
        XCTAssertThrowsError(try RawClient(port: port)) {
            XCTAssertEqual(($0 as? POSIXError)?.code, .ECONNREFUSED, "nothing listens")
        }
    }

    func testAnAddressBelongsToTheFirstServiceThatNamesIt() async throws {
        let s1 = try server("s1")
        let port = reservedPort()
        let problems = await dataPlane.apply(
            DataPlaneConfig(services: [
                httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)], id: "first"),
                httpService(port: port, servers: [], id: "second"),
            ]))
        XCTAssertEqual(
            problems,
            [
                ServiceProblem(
                    serviceID: "second", field: "listeners[0]",
                    reason: "127.0.0.1:\(port) is already used by service first")
            ])
        let client = try RawClient(port: port)
        for _ in 0..<4 { XCTAssertEqual(get(client, "/")?.status, 200) }
    }

    func testApplyUpdatesThePoolInPlace() async throws {
        let s1 = try server("s1")
        let s2 = try server("s2")
        let port = reservedPort()
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)]))
        let client = try RawClient(port: port)
        XCTAssertEqual(get(client, "/")?.body.hasPrefix("s1"), true)
        await apply(httpService(port: port, servers: [ServerConfig(ip: "127.0.0.1", port: s2.port)]))
        XCTAssertTrue(
            waitUntil { self.get(client, "/")?.body.hasPrefix("s2") == true }, "the open connection uses the new pool")
    }

    func testProblemsAreReportedPerService() async throws {
        let s1 = try server("s1")
        let goodPort = reservedPort()
        let problems = await dataPlane.apply(
            DataPlaneConfig(services: [
                httpService(port: s1.port, servers: [], id: "taken"),  // s1 holds this port without SO_REUSEPORT
                ServiceConfig(
                    id: "bad", name: "bad", listeners: [ListenAddress(host: "not-an-ip", port: 80)], kind: .l4,
                    pool: PoolConfig(name: "p", servers: [ServerConfig(ip: "300.1.1.1", port: 80)])),
                httpService(port: goodPort, servers: [ServerConfig(ip: "127.0.0.1", port: s1.port)], id: "good"),
            ]))
        XCTAssertEqual(Set(problems.map(\.serviceID)), ["taken", "bad"])
        XCTAssertTrue(problems.contains { $0.reason.hasPrefix("cannot listen on 127.0.0.1:\(s1.port)") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.serviceID == "taken" && $0.field == "listeners[0]" })
        XCTAssertTrue(problems.contains { $0.serviceID == "bad" && $0.field == "listeners[0].host" })
        XCTAssertTrue(problems.contains { $0.serviceID == "bad" && $0.field == "pool.servers[0].ip" })
        let client = try RawClient(port: goodPort)
        XCTAssertEqual(get(client, "/")?.status, 200, "the good service runs")
    }
}

/// A thread-safe counter for callbacks.
final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}
