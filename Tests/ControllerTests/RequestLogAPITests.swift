import Foundation
import HummingbirdTesting
import StarlingModel
import XCTest

@testable import Controller

/// Request logs shipped in heartbeats, stored with retention by rows, and read with Avi's
/// `GET /api/analytics/logs?type=1` (filters, paging, time window, access rules) (issue 11).
final class RequestLogAPITests: XCTestCase {
    static func log(_ vs: String, _ i: Int, status: Int, ms: Double, client: String = "192.0.2.50", path: String = "/p")
        -> RequestLog
    {
        RequestLog(
            timestamp_ms: 1_800_000_000_000 + Int64(i) * 1000, vs_uuid: vs, client_ip: client,
            client_src_port: 40000 + i, method: i % 2 == 0 ? "GET" : "POST", uri_path: "\(path)/\(i)",
            uri_query: "q=\(i)", host: "shop.example", http_version: "HTTP/1.1", response_code: status,
            total_time_ms: ms, request_length: 80, response_length: 512, server_ip: "198.18.1.10", server_port: 8080,
            significant: status >= 400, significance: status >= 400 ? "server error response (\(status))" : "")
    }

    func testLogsFromHeartbeatsAreStoredFilteredAndTrimmed() async throws {
        let wall = ManualClock()
        wall.advance(1_800_000_100)
        let controller = try await makeController(temporaryDirectory(), wallClock: wall) { $0.requestLogMaxRows = 8 }
        try await withAPI(controller) { api in
            let placed = try await PlacedService.make(api)
            let (se, vs) = (placed.se, placed.vs)
            func beat(_ logs: [RequestLog], dropped: Int = 0) async throws {
                try await placed.beat(
                    api, SEStatus(se_uuid: se, applied_version: 0, request_logs: logs, request_logs_dropped: dropped))
            }
            // Six logs of the service (two 5xx, one slow), and one of a service not placed on the SE.
            try await beat(
                [
                    Self.log(vs, 0, status: 200, ms: 3), Self.log(vs, 1, status: 502, ms: 4, client: "192.0.2.77"),
                    Self.log(vs, 2, status: 200, ms: 900, path: "/api/cart"), Self.log(vs, 3, status: 404, ms: 2),
                    Self.log(vs, 4, status: 503, ms: 1), Self.log(vs, 5, status: 200, ms: 5),
                    Self.log("virtualservice-ghost", 6, status: 500, ms: 1),
                ], dropped: 7)

            let all = try await api.call(.get, "/api/analytics/logs?type=1&virtualservice=\(vs)&page_size=4")
            XCTAssertEqual(all.status, 200, all.text)
            XCTAssertEqual(all.json["count"], .int(6), "the ghost service's log is not kept")
            guard case .array(let page) = all.json["results"] ?? .null else { return XCTFail(all.text) }
            XCTAssertEqual(page.count, 4)
            XCTAssertEqual(page.first?["uri_path"], .string("/p/5"), "newest first")
            XCTAssertEqual(page.first?["service_engine"], .string("se1"))
            XCTAssertEqual(page.first?["uri_query"], .string("q=5"))
            XCTAssertEqual(page.first?["client_src_port"], .int(40005))
            XCTAssertEqual(page.first?["server_ip"], .string("198.18.1.10"))
            XCTAssertEqual(page.first?["report_timestamp"], .string("2027-01-15T08:00:05.000Z"))
            let second = try await api.call(
                .get, "/api/analytics/logs?type=1&virtualservice=\(vs)&page_size=4&page=2")
            XCTAssertEqual(AnalyticsTests.first(second.json["results"])?["uri_path"], .string("/p/1"))

            func paths(_ filters: String) async throws -> [String] {
                let a = try await api.call(.get, "/api/analytics/logs?type=1&virtualservice=\(vs)&\(filters)")
                XCTAssertEqual(a.status, 200, "\(filters): \(a.text)")
                guard case .array(let rows) = a.json["results"] ?? .null else { return [] }
                return rows.compactMap { $0["uri_path"]?.string }
            }
            var got = try await paths("filter=ge(response_code,500)")
            XCTAssertEqual(got, ["/p/4", "/p/1"])
            got = try await paths("filter=ge(response_code,400)&filter=eq(method,POST)")
            XCTAssertEqual(got, ["/p/3", "/p/1"])
            got = try await paths("filter=eq(client_ip,192.0.2.77)")
            XCTAssertEqual(got, ["/p/1"])
            got = try await paths("filter=co(uri_path,%2Fapi%2F)")
            XCTAssertEqual(got, ["/api/cart/2"])
            got = try await paths("filter=ge(total_time,500)")
            XCTAssertEqual(got, ["/api/cart/2"])
            got = try await paths("filter=eq(significant,true)")
            XCTAssertEqual(got, ["/p/4", "/p/3", "/p/1"])
            got = try await paths("start=2027-01-15T08:00:03Z&end=2027-01-15T08:00:04Z")
            XCTAssertEqual(got, ["/p/4", "/p/3"])

            for (query, field) in [
                ("filter=ge(response_code,lots)", "filter"), ("filter=xx(response_code,1)", "filter"),
                ("filter=eq(password,1)", "filter"), ("filter=co(response_code,5)", "filter"),
                ("start=yesterday", "start"), ("duration=-5", "duration"), ("page_size=0", "page_size"),
            ] {
                let bad = try await api.call(.get, "/api/analytics/logs?type=1&virtualservice=\(vs)&\(query)")
                XCTAssertEqual(bad.status, 400, query)
                XCTAssertTrue(bad.string("error")?.hasPrefix(field) == true, "\(query): \(bad.text)")
            }
            let noVS = try await api.call(.get, "/api/analytics/logs?type=1")
            XCTAssertEqual(noVS.status, 400)
            XCTAssertTrue(noVS.string("error")?.hasPrefix("virtualservice") == true, noVS.text)
            let unknown = try await api.call(.get, "/api/analytics/logs?type=1&virtualservice=virtualservice-nope")
            XCTAssertEqual(unknown.status, 404)

            // The SE's count of logs it had to drop shows in its runtime.
            let runtime = try await api.call(.get, "/api/serviceengine/\(se)/runtime")
            XCTAssertEqual(runtime.json["request_logs_dropped"], .int(7), runtime.text)

            // Retention: at most 8 rows; the oldest go.
            try await beat((10..<15).map { Self.log(vs, $0, status: 500, ms: 1) })
            let kept = try await api.call(.get, "/api/analytics/logs?type=1&virtualservice=\(vs)&page_size=100")
            XCTAssertEqual(kept.json["count"], .int(8), kept.text)
            got = try await paths("page_size=100&filter=le(response_code,299)")
            XCTAssertEqual(got, ["/p/5"], "/p/0 and /p/2 went first")

            // An operator of another tenant sees none of it.
            let operatorAuth = try await makeTenantOperator(api)
            let hidden = try await api.call(
                .get, "/api/analytics/logs?type=1&virtualservice=\(vs)", auth: operatorAuth,
                headers: ["X-Avi-Tenant": "t1"])
            XCTAssertEqual(hidden.status, 404, hidden.text)
        }
    }

    /// The policy is part of the virtual service: validated, stored and returned.
    func testTheAnalyticsPolicyIsValidatedAndKept() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            _ = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
            _ = try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip)
            let vs = try await api.call(.post, "/api/virtualservice", ObjectAPITests.vs)
            let uuid = try XCTUnwrap(vs.string("uuid"))
            let bad = try await api.call(
                .patch, "/api/virtualservice/\(uuid)",
                #"{"replace": {"analytics_policy": {"significant_log_throttle": -3}}}"#)
            XCTAssertEqual(bad.status, 400)
            XCTAssertTrue(
                bad.string("error")?.hasPrefix("analytics_policy.significant_log_throttle") == true, bad.text)
            let good = try await api.call(
                .patch, "/api/virtualservice/\(uuid)",
                #"{"replace": {"analytics_policy": {"full_client_logs": {"enabled": true, "throttle": 50}}}}"#)
            XCTAssertEqual(good.status, 200, good.text)
            XCTAssertEqual(good.json["analytics_policy"]?["full_client_logs"]?["throttle"], .int(50))
        }
    }
}
