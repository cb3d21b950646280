import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOPosix
import TestSupport
import XCTest

@testable import SE

/// The swift-metrics series a Prometheus exporter would show, through a recording factory.
final class DataPlaneMetricsTests: XCTestCase {
    func testServiceAndServerMetrics() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let metrics = RecordingMetrics()
        let dp = DataPlane(
            group: group, sourceAddresses: [], logger: Logger(label: "test"), metricsFactory: metrics)
        let s1 = try TestHTTPServer(name: "s1", group: serverGroup)
        let port = reservedPort()
        let problems = await dp.apply(
            DataPlaneConfig(services: [
                ServiceConfig(
                    id: "vs-1", name: "web", listeners: [ListenAddress(host: "127.0.0.1", port: port)], kind: .http,
                    pool: PoolConfig(
                        name: "pool-a",
                        servers: [
                            ServerConfig(ip: "127.0.0.1", port: s1.port),
                            ServerConfig(ip: "127.0.0.1", port: 9, enabled: false),
                        ]))
            ]))
        XCTAssertEqual(problems, [])
        let client = try RawClient(port: port)
        for path in ["/a", "/status/404", "/b"] {
            client.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertNotNil(client.readResponse())
        }
        let vs = "vs=web"
        XCTAssertTrue(
            waitUntil(timeout: 3) { metrics.value("starling_se_requests_total", vs) == 3 }, "exported within a second")
        XCTAssertEqual(metrics.value("starling_se_connections_total", vs), 1)
        XCTAssertEqual(metrics.value("starling_se_responses_total", "\(vs),code=2xx"), 2)
        XCTAssertEqual(metrics.value("starling_se_responses_total", "\(vs),code=4xx"), 1)
        XCTAssertEqual(metrics.value("starling_se_active_connections", vs), 1)
        XCTAssertEqual(metrics.count("starling_se_request_duration_seconds", vs), 3)
        XCTAssertGreaterThan(metrics.value("starling_se_bytes_out_total", vs), 0)
        XCTAssertEqual(metrics.value("starling_se_server_up", "pool=pool-a,server=127.0.0.1:\(s1.port)"), 1)
        XCTAssertEqual(metrics.value("starling_se_server_up", "pool=pool-a,server=127.0.0.1:9"), 0)
        // The totals the heartbeat carries to the controller's analytics: the three answered responses were
        // timed (their summed latency is what the analytics' mean latency comes from).
        let totals = try XCTUnwrap(dp.status().first?.totals)
        XCTAssertEqual(totals.timedResponses, 3)
        XCTAssertEqual(totals.latencyBuckets.reduce(0, +), 3, "each timed response in one latency bucket")
        XCTAssertEqual(totals.latencyBuckets.count, 14)
        // Per pool server: the three responses came from s1 over one kept-alive connection; the disabled
        // server saw nothing.
        let servers = try XCTUnwrap(dp.status().first?.servers)
        let first = try XCTUnwrap(servers.first { $0.port == s1.port })
        XCTAssertEqual(first.totals.responses, 3)
        XCTAssertEqual(first.totals.responses5xx, 0)
        XCTAssertEqual(first.totals.connections, 1)
        XCTAssertEqual(first.totals.failures, 0)
        XCTAssertGreaterThan(first.totals.latencyMicros, 0)
        XCTAssertEqual(servers.first { $0.port == 9 }?.totals, ServerTotals())
        XCTAssertGreaterThan(totals.latencyMicros, 0)

        await dp.shutdown()
        s1.stop()
        try await group.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
    }
}

/// Keeps the last value (gauges, meters), the sum (counters) and the number of records (timers) per
/// `label` + `k=v,...`.
final class RecordingMetrics: MetricsFactory, @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Double] = [:]
    private var counts: [String: Int] = [:]

    func value(_ label: String, _ dims: String) -> Double { lock.withLock { values["\(label){\(dims)}"] ?? -1 } }
    func count(_ label: String, _ dims: String) -> Int { lock.withLock { counts["\(label){\(dims)}"] ?? 0 } }

    fileprivate func update(_ key: String, _ body: (inout Double, inout Int) -> Void) {
        lock.withLock {
            var v = values[key] ?? 0
            var c = counts[key] ?? 0
            body(&v, &c)
            values[key] = v
            counts[key] = c
        }
    }

    private func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        "\(label){\(dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ","))}"
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(self, key(label, dimensions))
    }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Handler(self, key(label, dimensions))
    }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        Handler(self, key(label, dimensions))
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(self, key(label, dimensions))
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(self, key(label, dimensions))
    }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    final class Handler: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler,
        @unchecked Sendable
    {
        let owner: RecordingMetrics
        let key: String
        init(_ owner: RecordingMetrics, _ key: String) {
            self.owner = owner
            self.key = key
        }
        func increment(by: Int64) { owner.update(key) { v, _ in v += Double(by) } }
        func increment(by: Double) { owner.update(key) { v, _ in v += by } }
        func decrement(by: Double) { owner.update(key) { v, _ in v -= by } }
        func reset() { owner.update(key) { v, _ in v = 0 } }
        func set(_ value: Int64) { owner.update(key) { v, _ in v = Double(value) } }
        func set(_ value: Double) { owner.update(key) { v, _ in v = value } }
        func record(_ value: Int64) {
            owner.update(key) { v, c in
                v = Double(value); c += 1
            }
        }
        func record(_ value: Double) {
            owner.update(key) { v, c in
                v = value; c += 1
            }
        }
        func recordNanoseconds(_ duration: Int64) {
            owner.update(key) { v, c in
                v = Double(duration); c += 1
            }
        }
    }
}
