import BGPSpeaker
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Prometheus
import StarlingModel
import XCTest

@testable import starling

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

private func json(_ buffer: ByteBuffer) throws -> JSONValue {
    try JSONValue.parse(Array(buffer.readableBytesView))
}

/// `starling bgp --api` and the SE's management port, through their Hummingbird routers (no sockets, no root).
final class StatusAPITests: XCTestCase {
    func testBGPStatusAPIRoutesAndErrors() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let peer = PeerSettings(address: IPAddress("192.0.2.2")!, peerAS: 65002, holdTime: 9, passive: true)
        let speaker = Speaker(
            configuration: SpeakerConfiguration(
                localAS: 65001, routerID: IPv4Address("192.0.2.1")!, listenAddresses: [IPAddress("127.0.0.1")!],
                listenPort: 0, peers: [peer]),
            eventLoop: group.next(), logger: logger)
        try await speaker.start()  // listens on a port of the kernel's choice; the passive peer waits
        let metrics = PrometheusCollectorRegistry()
        metrics.makeCounter(descriptor: .init(metricName: "bgp_test", unitName: "total", helpText: "a test counter"))
            .increment()
        let app = Application(router: StatusAPI(speaker: speaker, metrics: metrics).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/peers", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "application/json")
                let peers = try json(response.body).array ?? []
                XCTAssertEqual(peers.map { $0["address"] }, [.string("192.0.2.2")])
                XCTAssertEqual(peers.first?["state"], .string("Active"), "a passive peer waits for the connection")
            }
            try await client.execute(uri: "/rib?peer=192.0.2.2&limit=5", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertNotNil(try json(response.body)["peers"]?.array)
            }
            try await client.execute(uri: "/rib?peer=nope", method: .get) { response in
                XCTAssertEqual(response.status, .badRequest)
                XCTAssertEqual(
                    try json(response.body), .object(["error": .string("peer: 'nope' is not an IP address")]))
            }
            try await client.execute(uri: "/rib?limit=-1", method: .get) { response in
                XCTAssertEqual(response.status, .badRequest)
                XCTAssertEqual(
                    try json(response.body)["error"], .string("limit: must be a non-negative integer"))
            }
            try await client.execute(uri: "/rib?prefix=10.0.0.0/33", method: .get) { response in
                XCTAssertEqual(response.status, .badRequest)
            }
            try await client.execute(uri: "/bfd", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(try json(response.body), .array([]))
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "text/plain; version=0.0.4")
                XCTAssertTrue(String(buffer: response.body).contains("bgp_test_total 1"))
            }
            try await client.execute(uri: "/nothing", method: .get) { response in
                XCTAssertEqual(response.status, .notFound)
                XCTAssertEqual(
                    try json(response.body)["error"], .string("no such resource; try /peers, /rib, /bfd or /metrics"))
            }
            try await client.execute(uri: "/peers", method: .post) { response in
                XCTAssertEqual(response.status, .methodNotAllowed)
                XCTAssertEqual(try json(response.body)["error"], .string("only GET is supported"))
            }
        }
        await speaker.shutdown()
        try await group.shutdownGracefully()
    }

    func testSEManagementAPI() async throws {
        let metrics = PrometheusCollectorRegistry()
        metrics.makeGauge(descriptor: .init(metricName: "se_test", unitName: "gauge", helpText: "a test gauge")).set(
            Double(3))
        let api = MgmtAPI(
            status: { SEStatus(se_uuid: "se-1", applied_version: 7, draining: true, connections: 12) },
            metrics: metrics)
        try await Application(router: api.router()).test(.router) { client in
            for path in ["/status", "/status/"] {
                try await client.execute(uri: path, method: .get) { response in
                    XCTAssertEqual(response.status, .ok, path)
                    let status = try JSONDecoder().decode(SEStatus.self, from: Data(buffer: response.body))
                    XCTAssertEqual(status.se_uuid, "se-1")
                    XCTAssertEqual(status.applied_version, 7)
                    XCTAssertTrue(status.draining)
                    XCTAssertEqual(status.connections, 12)
                }
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertTrue(String(buffer: response.body).contains("se_test_gauge 3"))
            }
            try await client.execute(uri: "/", method: .get) { response in
                XCTAssertEqual(response.status, .notFound)
                XCTAssertEqual(try json(response.body)["error"], .string("no such resource; try /status or /metrics"))
            }
            try await client.execute(uri: "/status", method: .delete) { response in
                XCTAssertEqual(response.status, .methodNotAllowed)
            }
        }
    }

    /// The server a daemon starts: it listens where asked (port 0: the kernel's choice), answers over real
    /// sockets with keep-alive, and after `close()` the port is free again.
    func testStatusServerListensAndReleasesItsPort() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let api = MgmtAPI(status: { SEStatus(se_uuid: "se-2", applied_version: 1) }, metrics: .init())
        let server = try await StatusServer.start(
            router: api.router(), host: "127.0.0.1", port: 0, group: group, logger: logger)
        let port = try XCTUnwrap(server.localAddress?.port)
        XCTAssertNotEqual(port, 0)
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/status")!)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)
        XCTAssertEqual(try JSONDecoder().decode(SEStatus.self, from: data).se_uuid, "se-2")

        // A second server on the same port cannot listen while the first does, and can once it is closed.
        do {
            let second = try await StatusServer.start(
                router: api.router(), host: "127.0.0.1", port: port, group: group, logger: logger)
            await second.close()
            XCTFail("two servers listened on port \(port)")
        } catch {}
        await server.close()
        let again = try await StatusServer.start(
            router: api.router(), host: "127.0.0.1", port: port, group: group, logger: logger)
        XCTAssertEqual(again.localAddress?.port, port)
        await again.close()
        try await group.shutdownGracefully()
    }
}
