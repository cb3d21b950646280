import NIOCore
import XCTest

@testable import SE

final class HealthCheckTests: XCTestCase {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func at(_ seconds: Double) -> NIODeadline {
        t0 + .nanoseconds(Int64(seconds * 1e9))
    }

    func monitor(ok: Int = 2, fail: Int = 3) -> MonitorConfig {
        MonitorConfig(
            name: "m", kind: .tcp, interval: .seconds(5), timeout: .seconds(2), successfulChecks: ok, failedChecks: fail
        )
    }

    /// Runs one check that starts at `start` and ends after `took` seconds with `passed`.
    func check(_ hc: inout HealthCheck, at start: Double, took: Double = 0.1, passed: Bool, detail: String = "d")
        -> [HealthCheck.Action]
    {
        let started = hc.handle(.tick, now: at(start))
        guard case .startCheck(let id)? = started.first else {
            XCTFail("no check started at \(start): \(started)")
            return []
        }
        return hc.handle(.checkEnded(id: id, passed: passed, detail: detail), now: at(start + took))
    }

    func testStartsDownChecksAtOnceAndComesUpAfterNSuccesses() {
        var hc = HealthCheck(monitor: monitor(ok: 2))
        XCTAssertFalse(hc.up)
        XCTAssertEqual(hc.reason, "no check yet")
        XCTAssertNil(hc.nextWakeup)

        let first = hc.handle(.start, now: at(0))
        XCTAssertEqual(first, [.startCheck(id: 1)], "first check at once")
        XCTAssertEqual(hc.nextWakeup, at(2), "the running check's timeout")
        XCTAssertEqual(
            hc.handle(.checkEnded(id: 1, passed: true, detail: "connect ok"), now: at(0.1)),
            [.report(up: false, reason: "1/2 checks ok")])
        XCTAssertEqual(hc.nextWakeup, at(5), "next check one interval after the first started")
        XCTAssertEqual(hc.handle(.tick, now: at(4.9)), [], "not due yet")
        XCTAssertEqual(check(&hc, at: 5, passed: true), [.report(up: true, reason: "2/2 checks ok")])
        XCTAssertTrue(hc.up)
    }

    /// Hitless restart: a server up in the previous process starts UP here, stays up through fewer than
    /// `failedChecks` failures and goes down after that many, as it would have there.
    func testInheritedUpStaysUpUntilMFailures() {
        var hc = HealthCheck(monitor: monitor(ok: 2, fail: 2), inheritedUp: true)
        XCTAssertTrue(hc.up)
        XCTAssertEqual(hc.reason, HealthCheck.inheritedReason)
        XCTAssertEqual(hc.handle(.start, now: at(0)), [.startCheck(id: 1)], "checked at once all the same")
        XCTAssertEqual(
            hc.handle(.checkEnded(id: 1, passed: true, detail: "ok"), now: at(0.1)),
            [.report(up: true, reason: "2/2 checks ok")])
        XCTAssertEqual(
            check(&hc, at: 5, passed: false, detail: "connect refused"),
            [.report(up: true, reason: "1/2 checks failed: connect refused")])
        XCTAssertEqual(
            check(&hc, at: 10, passed: false, detail: "connect refused"),
            [.report(up: false, reason: "connect refused")])

        // Inherited down is the ordinary start.
        let fresh = HealthCheck(monitor: monitor(), inheritedUp: false)
        XCTAssertFalse(fresh.up)
        XCTAssertEqual(fresh.reason, "no check yet")
    }

    func testGoesDownAfterMFailuresOnly() {
        var hc = HealthCheck(monitor: monitor(ok: 1, fail: 3))
        _ = hc.handle(.start, now: at(0))
        _ = hc.handle(.checkEnded(id: 1, passed: true, detail: "ok"), now: at(0.1))
        XCTAssertTrue(hc.up)

        XCTAssertEqual(
            check(&hc, at: 5, passed: false, detail: "connect refused"),
            [.report(up: true, reason: "1/3 checks failed: connect refused")])
        XCTAssertEqual(
            check(&hc, at: 10, passed: false, detail: "connect refused"),
            [.report(up: true, reason: "2/3 checks failed: connect refused")])
        XCTAssertTrue(hc.up)
        XCTAssertEqual(
            check(&hc, at: 15, passed: false, detail: "connect refused"),
            [.report(up: false, reason: "connect refused")])
        XCTAssertFalse(hc.up)
    }

    func testASuccessResetsTheFailureCount() {
        var hc = HealthCheck(monitor: monitor(ok: 1, fail: 2))
        _ = hc.handle(.start, now: at(0))
        _ = hc.handle(.checkEnded(id: 1, passed: true, detail: "ok"), now: at(0.1))
        _ = check(&hc, at: 5, passed: false)
        _ = check(&hc, at: 10, passed: true)
        _ = check(&hc, at: 15, passed: false)
        XCTAssertTrue(hc.up, "failures were not consecutive")
        _ = check(&hc, at: 20, passed: false)
        XCTAssertFalse(hc.up)
    }

    func testACheckThatTakesLongerThanTheTimeoutFails() {
        var hc = HealthCheck(monitor: monitor(ok: 1, fail: 1))
        _ = hc.handle(.start, now: at(0))
        _ = hc.handle(.checkEnded(id: 1, passed: true, detail: "ok"), now: at(0.1))
        XCTAssertTrue(hc.up)

        XCTAssertEqual(hc.handle(.tick, now: at(5)), [.startCheck(id: 2)])
        XCTAssertEqual(hc.handle(.tick, now: at(6.9)), [], "still within the timeout")
        XCTAssertEqual(
            hc.handle(.tick, now: at(7)),
            [.abandonCheck(id: 2), .report(up: false, reason: "no answer within 2 s")])
        // A late answer of the abandoned check is ignored.
        XCTAssertEqual(hc.handle(.checkEnded(id: 2, passed: true, detail: "late"), now: at(7.5)), [])
        XCTAssertFalse(hc.up)
        XCTAssertEqual(hc.nextWakeup, at(10))
    }

    func testASlowCheckDelaysTheNextOne() {
        var m = monitor(ok: 1, fail: 1)
        m.interval = .seconds(1)
        m.timeout = .seconds(3)
        var hc = HealthCheck(monitor: m)
        XCTAssertEqual(hc.handle(.start, now: at(0)), [.startCheck(id: 1)])
        XCTAssertEqual(hc.handle(.tick, now: at(1.5)), [], "one check at a time")
        XCTAssertEqual(
            hc.handle(.checkEnded(id: 1, passed: true, detail: "ok"), now: at(2)),
            [.report(up: true, reason: "1/1 checks ok"), .startCheck(id: 2)])
    }

    func testExpectedCodes() {
        XCTAssertEqual(ExpectedCode(avi: "HTTP_2XX"), .http2xx)
        XCTAssertEqual(ExpectedCode(avi: "http_any"), .any)
        XCTAssertNil(ExpectedCode(avi: "HTTP_6XX"))
        XCTAssertTrue([ExpectedCode.http2xx, .http3xx].accepts(302))
        XCTAssertFalse([ExpectedCode.http2xx].accepts(500))
        XCTAssertTrue([ExpectedCode]().accepts(503), "empty means HTTP_ANY")
        XCTAssertEqual(ExpectedCode.http5xx.description, "HTTP_5XX")
    }

    func testHTTPProbeJudgesTheStatusLine() {
        let ok = HTTPProbeHandler.judge(statusLine: Array("HTTP/1.1 204 No Content\r".utf8), expected: [.http2xx])
        XCTAssertEqual(ok.0, true)
        XCTAssertEqual(ok.1, "HTTP 204")
        let bad = HTTPProbeHandler.judge(statusLine: Array("HTTP/1.0 500 Oops".utf8), expected: [.http2xx, .http3xx])
        XCTAssertEqual(bad.0, false)
        XCTAssertEqual(bad.1, "HTTP 500 not in HTTP_2XX,HTTP_3XX")
        let garbage = HTTPProbeHandler.judge(statusLine: Array("SSH-2.0-OpenSSH".utf8), expected: [])
        XCTAssertEqual(garbage.0, false)
    }

    func testHTTPProbeRequestGetsHostAndFinalEmptyLine() {
        XCTAssertEqual(
            MonitorRunner.requestBytes("GET /health HTTP/1.0", host: "10.0.0.1:80"),
            "GET /health HTTP/1.0\r\nHost: 10.0.0.1:80\r\n\r\n")
        XCTAssertEqual(
            MonitorRunner.requestBytes("HEAD / HTTP/1.1\\r\\nHost: app\\r\\n", host: "10.0.0.1:80"),
            "HEAD / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
    }
}
