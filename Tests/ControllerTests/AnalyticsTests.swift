import Foundation
import HummingbirdTesting
import StarlingModel
import XCTest

@testable import Controller

/// Analytics from the SEs' heartbeats (issue 11): counter differences into 5-second samples per virtual
/// service and per SE, rollups, and Avi's metrics API with its access rules.
final class AnalyticsTests: XCTestCase {
    static func status(_ vs: String, requests: Int, bytes: Int, errors: Int = 0, latencyMs: Int = 0) -> VSStatus {
        VSStatus(
            uuid: vs, name: vs, oper_state: "OPER_UP", reason: "", advertised: true, advertise_reason: "",
            counters: VSCounters(
                connections: requests / 10, requests: requests, bytes_in: bytes, bytes_out: bytes * 3,
                responses: [0, requests - errors, 0, errors, 0], timed_responses: requests,
                latency_us: requests * latencyMs * 1000))
    }

    func testDifferencesGoToTheBucketOfTheirHeartbeatPerServiceAndPerSE() {
        var ingest = MetricsIngest()
        // The first heartbeat sets the baseline only.
        ingest.ingest(se: "se-1", services: [Self.status("vs-a", requests: 1000, bytes: 10_000)], now: 100.2)
        XCTAssertTrue(ingest.open.isEmpty)
        ingest.ingest(
            se: "se-1",
            services: [
                Self.status("vs-a", requests: 1050, bytes: 10_500), Self.status("vs-b", requests: 7, bytes: 70),
            ],
            now: 101.2)
        ingest.ingest(se: "se-2", services: [Self.status("vs-a", requests: 10, bytes: 100)], now: 101.5)
        ingest.ingest(se: "se-2", services: [Self.status("vs-a", requests: 30, bytes: 300)], now: 104.9)
        // se-1 restarted: its counters start again from zero; what it counted since is new.
        ingest.ingest(se: "se-1", services: [Self.status("vs-a", requests: 4, bytes: 40)], now: 105.1)

        XCTAssertEqual(ingest.closed(at: 104.99).count, 0, "the bucket 100-105 has not ended")
        let closed = ingest.closed(at: 105.0)
        let byEntity = Dictionary(uniqueKeysWithValues: closed.map { ($0.key.entity, $0) })
        XCTAssertEqual(Set(byEntity.keys), ["vs-a", "vs-b", "se-1", "se-2"])
        XCTAssertEqual(byEntity["vs-a"]?.key.start, 100)
        XCTAssertEqual(byEntity["vs-a"]?.sample.requests, 50 + 20, "se-2's first heartbeat is its baseline")
        XCTAssertEqual(byEntity["vs-a"]?.sample.bytesIn, 500 + 200)
        XCTAssertEqual(byEntity["vs-b"]?.sample.requests, 7, "new on se-1, which was heard before: from zero")
        XCTAssertEqual(byEntity["se-1"]?.sample.requests, 57)
        XCTAssertEqual(byEntity["se-2"]?.sample.requests, 20)
        let next = ingest.closed(at: 110)
        XCTAssertEqual(next.first { $0.key.entity == "vs-a" }?.sample.requests, 4, "after a restart")
        XCTAssertEqual(next.first { $0.key.entity == "vs-a" }?.key.start, 105)
    }

    /// Heartbeats through the agent API with counters; the metrics API answers in Avi's shape with the
    /// rates of each 5-second sample, its statistics, the 5-minute rollup, and refuses what it does not
    /// know by the parameter's name. A user without access to the tenant gets 404.
    func testTheMetricsAPIAnswersInAvisShape() async throws {
        let wall = ManualClock()
        wall.advance(1_800_000_000)
        let controller = try await makeController(temporaryDirectory(), wallClock: wall)
        try await withAPI(controller) { api in
            let placed = try await PlacedService.make(api)
            let (se, vs) = (placed.se, placed.vs)
            func beat(requests: Int, errors: Int) async throws {
                let status = SEStatus(
                    se_uuid: se, applied_version: 0,
                    virtual_services: [
                        Self.status(vs, requests: requests, bytes: requests * 100, errors: errors, latencyMs: 4),
                        // Not placed on this SE: not counted.
                        Self.status("virtualservice-ghost", requests: requests * 7, bytes: 0),
                    ])
                try await placed.beat(api, status)
            }
            // One sample of 5 s: 500 requests (10 of them 4xx), then one of 250.
            try await beat(requests: 1000, errors: 0)
            wall.advance(5)
            try await beat(requests: 1500, errors: 10)
            wall.advance(5)
            try await beat(requests: 1750, errors: 10)
            wall.advance(5)

            let ids =
                "l7_client.avg_total_requests,l7_client.avg_error_responses,l4_client.avg_bandwidth,"
                + "l7_client.avg_client_txn_latency"
            let answer = try await api.call(
                .get, "/api/analytics/metrics/virtualservice/\(vs)?metric_id=\(ids)&step=5&limit=12")
            XCTAssertEqual(answer.status, 200, answer.text)
            XCTAssertEqual(answer.json["metric_entity"], .string("VSERVER_METRICS_ENTITY"))
            guard case .array(let series) = answer.json["series"] ?? .null else { return XCTFail(answer.text) }
            XCTAssertEqual(series.count, 4)
            func values(_ i: Int) -> [Double] {
                guard case .array(let data) = series[i]["data"] ?? .null else { return [] }
                return data.compactMap { Self.number($0["value"]) }
            }
            XCTAssertEqual(series[0]["header"]?["name"], .string("l7_client.avg_total_requests"))
            XCTAssertEqual(series[0]["header"]?["units"], .string("PER_SECOND"))
            XCTAssertEqual(values(0), [100, 50], "500 then 250 requests in 5 s")
            XCTAssertEqual(values(1), [2, 0], "10 errors in the first sample")
            XCTAssertEqual(
                values(2), [320_000, 160_000],
                "500 requests × 400 bytes both ways in 5 s, then half, in bits per second")
            XCTAssertEqual(values(3), [4, 4], "4 ms per request")
            XCTAssertEqual(Self.number(series[0]["header"]?["statistics"]?["max"]), 100)
            XCTAssertEqual(series[0]["header"]?["statistics"]?["num_samples"], .int(2))
            XCTAssertEqual(series[0]["header"]?["entity_uuid"], .string(vs))

            // The 5-minute rollup holds both samples.
            let rollup = try await api.call(
                .get,
                "/api/analytics/metrics/virtualservice/\(vs)?metric_id=l7_client.avg_total_requests&step=300&limit=2")
            let total = Self.number(Self.first(rollup.json["series"])?["header"]?["statistics"]?["sum"])
            XCTAssertEqual(total, 750.0 / 300, "one partial 5-minute row: \(rollup.text)")
            // Per SE, the same traffic (the ghost service the SE made up is not in it).
            let perSE = try await api.call(
                .get, "/api/analytics/metrics/serviceengine/\(se)?metric_id=l7_client.avg_total_requests")
            XCTAssertEqual(
                Self.number(Self.first(perSE.json["series"])?["header"]?["statistics"]?["sum"]), 150, perSE.text)

            for (query, field) in [
                ("metric_id=l7_client.nope", "metric_id"), ("", "metric_id"),
                ("metric_id=l4_client.avg_bandwidth&step=7", "step"),
                ("metric_id=l4_client.avg_bandwidth&limit=0", "limit"),
                ("metric_id=l4_client.avg_bandwidth&stop=yesterday", "stop"),
            ] {
                let bad = try await api.call(.get, "/api/analytics/metrics/virtualservice/\(vs)?\(query)")
                XCTAssertEqual(bad.status, 400, query)
                XCTAssertTrue(bad.string("error")?.hasPrefix(field) == true, "\(query): \(bad.text)")
            }
            let unknown = try await api.call(
                .get, "/api/analytics/metrics/virtualservice/virtualservice-nope?metric_id=l4_client.avg_bandwidth")
            XCTAssertEqual(unknown.status, 404)
            let pool = try await api.call(.get, "/api/analytics/metrics/pool/x?metric_id=l4_client.avg_bandwidth")
            XCTAssertEqual(pool.status, 404)

            // An operator of tenant t1 does not see the admin tenant's service, nor its metrics.
            let operatorAuth = try await makeTenantOperator(api)
            let hidden = try await api.call(
                .get, "/api/analytics/metrics/virtualservice/\(vs)?metric_id=l4_client.avg_bandwidth",
                auth: operatorAuth, headers: ["X-Avi-Tenant": "t1"])
            XCTAssertEqual(hidden.status, 404, hidden.text)
            let admin = try await api.call(
                .get, "/api/analytics/metrics/virtualservice/\(vs)?metric_id=l4_client.avg_bandwidth",
                auth: operatorAuth, headers: ["X-Avi-Tenant": "admin"])
            XCTAssertEqual(admin.status, 403, "no access to tenant admin: \(admin.text)")
        }
    }

    /// Percentiles from the SEs' latency buckets (1, 2, 5, 10 ... 10000 ms, then slower), linear within
    /// a bucket; bucket differences between heartbeats, with a restart starting them again.
    func testLatencyPercentilesFromBuckets() {
        var s = MetricSample()
        XCTAssertEqual(s.latencyPercentile(0.5), 0, "no buckets")
        // 100 responses: 50 at most 1 ms, 40 in (1, 2], 9 in (5, 10], 1 in (200, 500].
        var buckets = [Int](repeating: 0, count: 14)
        buckets[0] = 50
        buckets[1] = 40
        buckets[3] = 9
        buckets[8] = 1
        s.latencyBuckets = buckets
        XCTAssertEqual(s.latencyPercentile(0.5), 1, accuracy: 1e-9)
        XCTAssertEqual(s.latencyPercentile(0.9), 2, accuracy: 1e-9)
        XCTAssertEqual(s.latencyPercentile(0.99), 10, accuracy: 1e-9)
        XCTAssertEqual(s.latencyPercentile(1.0), 500, accuracy: 1e-9)
        XCTAssertEqual(s.latencyPercentile(0.25), 0.5, accuracy: 1e-9)

        var before = VSCounters(timed_responses: 10, latency_us: 10_000, latency_buckets: buckets)
        var now = before
        now.latency_buckets?[0] += 5
        now.timed_responses += 5
        XCTAssertEqual(MetricSample.difference(now, before).latencyBuckets?[0], 5)
        XCTAssertEqual(MetricSample.difference(now, before).latencyBuckets?[1], 0)
        before.latency_buckets?[2] = 1000
        XCTAssertEqual(MetricSample.difference(now, before).latencyBuckets, now.latency_buckets, "counted again")
        var sum = MetricSample()
        sum.add(s)
        sum.add(s)
        XCTAssertEqual(sum.latencyBuckets?[1], 80)
    }

    /// Pool servers' counters from heartbeats: series per pool (all its servers) and per server
    /// (`obj_id=<ip>:<port>`), with the server-side metric ids; read access on the pool.
    func testPoolAndServerSeries() async throws {
        let wall = ManualClock()
        wall.advance(1_800_000_000)
        let controller = try await makeController(temporaryDirectory(), wallClock: wall)
        try await withAPI(controller) { api in
            let placed = try await PlacedService.make(api)
            let (se, vs, pool) = (placed.se, placed.vs, placed.pool)
            func beat(_ n: Int) async throws {
                var status = Self.status(vs, requests: n * 30, bytes: 0)
                status.servers = [
                    ServerStatus(
                        ip: IpAddr(addr: "198.18.1.10", type: .v4), port: 8080, up: true, reason: "ok",
                        counters: ServerCounters(
                            connections: n, failures: 0, responses: n * 20, responses_5xx: n * 2,
                            latency_us: n * 20 * 3000)),
                    ServerStatus(
                        ip: IpAddr(addr: "198.18.1.11", type: .v4), port: 8080, up: true, reason: "ok",
                        counters: ServerCounters(
                            connections: n, failures: n, responses: n * 10, responses_5xx: 0,
                            latency_us: n * 10 * 6000)),
                ]
                try await placed.beat(api, SEStatus(se_uuid: se, applied_version: 0, virtual_services: [status]))
            }
            for n in 0...2 {
                try await beat(n)
                wall.advance(5)
            }
            let ids =
                "l7_server.avg_complete_responses,l7_server.avg_error_responses,l7_server.avg_resp_latency,"
                + "l4_server.avg_connection_errors"
            let all = try await api.call(.get, "/api/analytics/metrics/pool/\(pool)?metric_id=\(ids)&step=5&limit=12")
            XCTAssertEqual(all.status, 200, all.text)
            XCTAssertEqual(all.json["metric_entity"], .string("POOL_METRICS_ENTITY"))
            guard case .array(let series) = all.json["series"] ?? .null, series.count == 4 else {
                return XCTFail(all.text)
            }
            func values(_ s: JSONValue) -> [Double] {
                guard case .array(let data) = s["data"] ?? .null else { return [] }
                return data.compactMap { Self.number($0["value"]) }
            }
            XCTAssertEqual(values(series[0]), [6, 6], "30 responses per 5 s from the two servers")
            XCTAssertEqual(values(series[1]), [0.4, 0.4])
            XCTAssertEqual(values(series[2]), [4, 4], "(20 × 3 ms + 10 × 6 ms) / 30")
            XCTAssertEqual(values(series[3]), [0.2, 0.2])

            let one = try await api.call(
                .get, "/api/analytics/metrics/pool/\(pool)?metric_id=\(ids)&step=5&limit=12&obj_id=198.18.1.11:8080")
            guard case .array(let mine) = one.json["series"] ?? .null, mine.count == 4 else {
                return XCTFail(one.text)
            }
            XCTAssertEqual(values(mine[0]), [2, 2])
            XCTAssertEqual(values(mine[2]), [6, 6])
            XCTAssertEqual(values(mine[3]), [0.2, 0.2])

            let wrong = try await api.call(
                .get, "/api/analytics/metrics/pool/\(pool)?metric_id=l7_client.avg_total_requests")
            XCTAssertEqual(wrong.status, 400)
            XCTAssertTrue(wrong.string("error")?.contains("l7_server.avg_complete_responses") == true, wrong.text)
            let missing = try await api.call(.get, "/api/analytics/metrics/pool/pool-nope?metric_id=\(ids)")
            XCTAssertEqual(missing.status, 404)
        }
    }

    static func number(_ value: JSONValue?) -> Double? {
        switch value {
        case .double(let d): d
        case .int(let i): Double(i)
        default: nil
        }
    }

    static func first(_ value: JSONValue?) -> JSONValue? {
        if case .array(let items) = value ?? .null { items.first } else { nil }
    }
}
