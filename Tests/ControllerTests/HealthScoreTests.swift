import Foundation
import HummingbirdTesting
import StarlingModel
import XCTest

@testable import Controller

/// The virtual service health score (0–100 with its reasons) and the inventory APIs the console's
/// dashboard reads (issue 11).
final class HealthScoreTests: XCTestCase {
    typealias Placement = HealthScore.Placement

    func testTheScoreTakesPointsOffForEachProblemAndSaysWhy() {
        let up = Placement(state: "OPER_UP", reason: "up", ses: 2, sesUp: 2, serversUp: 4, serversTotal: 4)
        XCTAssertEqual(
            HealthScore.compute(up, recent: nil, windowMinutes: 5),
            HealthScore(score: 100, reasons: ["no problem found: up on 2 of 2 SEs; 4 of 4 pool servers up"]))
        var quiet = MetricSample()
        quiet.responses = [0, 100, 0, 0, 0]
        quiet.timedResponses = 100
        quiet.latencyMicros = 100 * 2400
        XCTAssertEqual(
            HealthScore.compute(up, recent: quiet, windowMinutes: 5).reasons,
            [
                "no problem found: up on 2 of 2 SEs; 4 of 4 pool servers up; 0.0% server errors over 100 "
                    + "responses and 2 ms mean response time in the last 5 minutes"
            ])
        quiet.responses = [0, 5, 0, 0, 5]
        XCTAssertEqual(
            HealthScore.compute(up, recent: quiet, windowMinutes: 5).reasons.first?.hasSuffix(
                "too few responses (10) to judge the error rate and 2 ms mean response time in the last 5 minutes"),
            true)

        let down = Placement(state: "OPER_DOWN", reason: "no SE reports it up: se1: pool down")
        XCTAssertEqual(
            HealthScore.compute(down, recent: nil, windowMinutes: 5),
            HealthScore(score: 0, reasons: ["no SE reports it up: se1: pool down"]))
        let disabled = HealthScore.compute(
            Placement(state: "OPER_DISABLED", reason: "the virtual service is disabled"), recent: nil,
            windowMinutes: 5)
        XCTAssertNil(disabled.score)

        var degraded = up
        degraded.sesUp = 1
        degraded.serversUp = 3
        degraded.worstSE = "se2"
        var traffic = MetricSample()
        traffic.responses = [0, 90, 0, 5, 5]
        traffic.timedResponses = 100
        traffic.latencyMicros = 100 * 600_000
        let score = HealthScore.compute(degraded, recent: traffic, windowMinutes: 5)
        // 1 of 4 servers: -13; one SE of two: -10; 5% 5xx: -10; 600 ms mean: -10.
        XCTAssertEqual(score.score, 57)
        XCTAssertEqual(
            score.reasons,
            [
                "1 of 4 pool servers down on se2 (-13)", "up on 1 of the 2 SEs it is placed on (-10)",
                "5.0% of 100 responses in the last 5 minutes were server errors (5xx) (-10)",
                "mean response time 600 ms in the last 5 minutes, above 500 ms (-10)",
            ])

        // A handful of responses is too few to judge the error rate; a very slow service loses 20.
        traffic.responses = [0, 5, 0, 0, 5]
        traffic.timedResponses = 10
        traffic.latencyMicros = 10 * 3_000_000
        XCTAssertEqual(
            HealthScore.compute(up, recent: traffic, windowMinutes: 5),
            HealthScore(score: 80, reasons: ["mean response time 3000 ms in the last 5 minutes, above 500 ms (-20)"]))
        // Never below 0.
        traffic.responses = [0, 0, 0, 0, 100]
        traffic.timedResponses = 100
        traffic.latencyMicros = 100 * 3_000_000
        degraded.sesUp = 0
        degraded.ses = 5
        degraded.serversUp = 0
        XCTAssertEqual(HealthScore.compute(degraded, recent: traffic, windowMinutes: 5).score, 0)
    }

    /// The dashboard's one request: configuration, runtime, VIPs, health score with reasons and the last
    /// hour per minute, from real heartbeats; the VS runtime carries the same score; a user of another
    /// tenant sees none of it; the SE inventory has the SE's runtime and sparklines.
    func testTheInventoryShowsHealthAndTheLastHourFromHeartbeats() async throws {
        let wall = ManualClock()
        // The first heartbeat (the baseline) 5 s before a minute starts.
        wall.advance(1_800_000_000 - 5)
        let controller = try await makeController(temporaryDirectory(), wallClock: wall)
        try await withAPI(controller) { api in
            let placed = try await PlacedService.make(api)
            let (se, vs) = (placed.se, placed.vs)
            let servers = [
                ServerStatus(ip: IpAddr(addr: "198.18.1.10", type: .v4), port: 8080, up: true, reason: "ok"),
                ServerStatus(ip: IpAddr(addr: "198.18.1.11", type: .v4), port: 8080, up: false, reason: "refused"),
            ]
            // 20 requests a second for 70 s, 1 in 20 answered 502.
            for i in 0...14 {
                var status = AnalyticsTests.status(vs, requests: i * 100, bytes: i * 10_000, latencyMs: 3)
                status.servers = servers
                status.counters?.responses = [0, i * 95, 0, 0, i * 5]
                try await placed.beat(api, SEStatus(se_uuid: se, applied_version: 0, virtual_services: [status]))
                wall.advance(5)
            }

            let inventory = try await api.call(.get, "/api/virtualservice-inventory?page_size=10")
            XCTAssertEqual(inventory.status, 200, inventory.text)
            XCTAssertEqual(inventory.json["count"], .int(1))
            let row = try XCTUnwrap(AnalyticsTests.first(inventory.json["results"]))
            XCTAssertEqual(row["uuid"], .string(vs))
            XCTAssertEqual(row["config"]?["name"], .string("web"))
            XCTAssertEqual(row["vip"], .array([.string("192.0.2.10")]))
            XCTAssertEqual(row["runtime"]?["oper_status"]?["state"], .string("OPER_UP"), inventory.text)
            let health = try XCTUnwrap(row["health_score"])
            XCTAssertEqual(health["health_score"], .int(100 - 25 - 10), inventory.text)
            XCTAssertEqual(
                health["reasons"],
                .array([
                    .string("1 of 2 pool servers down on se1 (-25)"),
                    .string("5.0% of 1400 responses in the last 5 minutes were server errors (5xx) (-10)"),
                ]))
            guard case .array(let rps) = row["metrics"]?["l7_client.avg_complete_responses"] ?? .null,
                case .array(let point)? = rps.first, point.count == 2
            else { return XCTFail("no sparkline: \(inventory.text)") }
            XCTAssertEqual(AnalyticsTests.number(point[1]), 20, "20 responses a second in the first minute")
            XCTAssertEqual(point[0], .int(1_800_000_060), "stamped with the minute's end")
            // The current minute, 10 s in: its two 5-second samples, as a rate over those 10 s.
            XCTAssertEqual(rps.count, 2)
            guard case .array(let current)? = rps.last else { return XCTFail(inventory.text) }
            XCTAssertEqual(current[0], .int(1_800_000_070))
            XCTAssertEqual(AnalyticsTests.number(current[1]), 20)
            XCTAssertNotNil(row["metrics"]?["l7_client.avg_resp_latency"])
            XCTAssertNil(row["runtime"]?["decisions"], "the inventory's runtime is the summary")

            let runtime = try await api.call(.get, "/api/virtualservice/\(vs)/runtime")
            XCTAssertEqual(runtime.json["health_score"], health)

            let ses = try await api.call(.get, "/api/serviceengine-inventory")
            XCTAssertEqual(ses.status, 200, ses.text)
            let seRow = try XCTUnwrap(AnalyticsTests.first(ses.json["results"]))
            XCTAssertEqual(seRow["runtime"]?["oper_status"]?["state"], .string("OPER_UP"))
            guard case .array(let seRPS) = seRow["metrics"]?["l7_client.avg_complete_responses"] ?? .null else {
                return XCTFail(ses.text)
            }
            XCTAssertFalse(seRPS.isEmpty)

            // An operator of tenant t1 sees an empty inventory there, and none of tenant admin.
            let operatorAuth = try await makeTenantOperator(api)
            let theirs = try await api.call(
                .get, "/api/virtualservice-inventory", auth: operatorAuth, headers: ["X-Avi-Tenant": "t1"])
            XCTAssertEqual(theirs.json["count"], .int(0), theirs.text)
            let admins = try await api.call(
                .get, "/api/virtualservice-inventory", auth: operatorAuth, headers: ["X-Avi-Tenant": "admin"])
            XCTAssertEqual(admins.status, 403)
            let bad = try await api.call(.get, "/api/virtualservice-inventory?page_size=0")
            XCTAssertEqual(bad.status, 400)
        }
    }
}
