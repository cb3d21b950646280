import StarlingModel
import XCTest

@testable import SE

/// Which requests an SE logs, how fast, and the bounded queue the heartbeats drain (issue 11).
final class RequestLogTests: XCTestCase {
    func testSignificance() {
        XCTAssertNil(LoopRequestLog.significance(status: 200, totalMs: 12, local: nil))
        XCTAssertNil(LoopRequestLog.significance(status: 304, totalMs: 500, local: nil))
        XCTAssertEqual(
            LoopRequestLog.significance(status: 200, totalMs: 501, local: nil),
            "response took longer than 500 ms")
        XCTAssertEqual(LoopRequestLog.significance(status: 404, totalMs: 1, local: nil), "client error response (404)")
        XCTAssertEqual(LoopRequestLog.significance(status: 502, totalMs: 1, local: nil), "server error response (502)")
        XCTAssertEqual(
            LoopRequestLog.significance(status: 0, totalMs: 1, local: nil),
            "the connection closed before a response was sent")
        XCTAssertEqual(
            LoopRequestLog.significance(status: 503, totalMs: 1, local: "answered by the SE"), "answered by the SE")
    }

    /// Throttles are per second per SE, shared out over the loops (rounded up); 0 means no limit; other
    /// requests are logged only with full logs on.
    func testThrottlesPerSecondSplitOverTheLoops() {
        let log = LoopRequestLog(queue: RequestLogQueue(), loops: 4)
        log.policy = RequestLogPolicy(significantPerSecond: 10, fullPerSecond: nil)
        let first = (0..<10).filter { _ in log.admit(significant: true, nowMs: 5_000) }.count
        XCTAssertEqual(first, 3, "10 a second over 4 loops: 3 on this one")
        XCTAssertFalse(log.admit(significant: false, nowMs: 5_000), "full logs are off")
        XCTAssertTrue(log.admit(significant: true, nowMs: 6_000), "a new second")

        log.policy = RequestLogPolicy(significantPerSecond: 0, fullPerSecond: 4)
        XCTAssertEqual((0..<1000).filter { _ in log.admit(significant: true, nowMs: 7_000) }.count, 1000)
        XCTAssertEqual((0..<10).filter { _ in log.admit(significant: false, nowMs: 7_000) }.count, 1)

        XCTAssertEqual(RequestLogPolicy(nil), RequestLogPolicy(significantPerSecond: 10, fullPerSecond: nil))
        let policy = AnalyticsPolicy(
            full_client_logs: .init(enabled: true, throttle: 0), significant_log_throttle: 50)
        XCTAssertEqual(RequestLogPolicy(policy), RequestLogPolicy(significantPerSecond: 50, fullPerSecond: 0))
    }

    /// A full queue drops the oldest, counted; logs put back after a failed heartbeat come first again.
    func testTheQueueIsBoundedAndKeepsOrder() {
        let queue = RequestLogQueue(capacity: 3)
        func log(_ i: Int) -> RequestLog {
            RequestLog(
                timestamp_ms: Int64(i), vs_uuid: "vs", client_ip: "192.0.2.1", client_src_port: i, method: "GET",
                uri_path: "/\(i)", uri_query: "", host: "", http_version: "HTTP/1.1", response_code: 500,
                total_time_ms: 1, request_length: 0, response_length: 0, server_ip: "", server_port: 0,
                significant: true, significance: "x")
        }
        for i in 0..<5 { queue.append(log(i)) }
        XCTAssertEqual(queue.count, 3)
        XCTAssertEqual(queue.dropped, 2)
        let batch = queue.take(max: 2)
        XCTAssertEqual(batch.map(\.uri_path), ["/2", "/3"])
        queue.append(log(5))
        queue.putBack(batch)
        XCTAssertEqual(queue.take(max: 10).map(\.uri_path), ["/3", "/4", "/5"], "only room for one of the two")
        XCTAssertEqual(queue.dropped, 3)
        XCTAssertTrue(queue.take(max: 10).isEmpty)
    }

    func testThePolicyIsValidated() {
        XCTAssertThrowsError(try AnalyticsPolicy(significant_log_throttle: -1).validate(field: "analytics_policy")) {
            XCTAssertEqual(($0 as? ModelError)?.field, "analytics_policy.significant_log_throttle")
        }
        XCTAssertThrowsError(
            try AnalyticsPolicy(full_client_logs: .init(enabled: true, throttle: 1_000_000)).validate(
                field: "analytics_policy")
        ) { XCTAssertEqual(($0 as? ModelError)?.field, "analytics_policy.full_client_logs.throttle") }
    }
}
