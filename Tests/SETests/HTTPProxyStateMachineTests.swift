import NIOCore
import XCTest

@testable import SE

/// Records the machine's actions (as short strings) and answers its server picks from a script.
private final class Recorder: HTTPProxyExecutor {
    var actions: [String] = []
    /// What the next picks find; empty: no server.
    var picks: [HTTPProxyStateMachine.ServerPick] = []
    let t0: NIODeadline

    init(t0: NIODeadline) { self.t0 = t0 }

    func execute(_ action: HTTPProxyStateMachine.Action) {
        actions.append(describe(action))
    }

    func pickServer() -> HTTPProxyStateMachine.ServerPick {
        let pick = picks.isEmpty ? .none : picks.removeFirst()
        actions.append("pick: \(pick)")
        return pick
    }

    private func describe(_ action: HTTPProxyStateMachine.Action) -> String {
        switch action {
        case .armTimer(let d): "armTimer(t=\(Double((d - t0).nanoseconds) / 1e9)s)"
        case .startRequest(let head, let redirect):
            "startRequest(\(String(buffer: head.bytes).prefix { !$0.isNewline })\(redirect ? ", redirect" : ""))"
        case .connect: "connect"
        case .attachNewConnection: "attachNewConnection"
        case .serverUnreachable(let reason): "serverUnreachable(\(reason))"
        case .sendRequestHead(let isHEAD, let dechunk):
            "sendRequestHead\(isHEAD ? "(HEAD)" : "")\(dechunk ? "(dechunk)" : "")"
        case .writeQueuedBody(let b): "writeQueuedBody(\(String(buffer: b)))"
        case .forwardBody(let b): "forwardBody(\(String(buffer: b)))"
        case .flushServer: "flushServer"
        case .flushServerIfNeeded: "flushServerIfNeeded"
        case .forwardInformational(let head): "forwardInformational(\(head.info.status))"
        case .writeResponseHead(let head, let keepAlive):
            "writeResponseHead(\(head.info.status)\(keepAlive ? "" : ", close"))"
        case .writeResponseBody(let b): "writeResponseBody(\(String(buffer: b)))"
        case .completeResponse(let reusable): "completeResponse\(reusable ? "(reusable)" : "")"
        case .serverFailed(let reason, let started): "serverFailed(\(reason)\(started ? ", response started" : ""))"
        case .sendLocal(let response, let keepAlive): "sendLocal(\(response.status)\(keepAlive ? "" : ", close"))"
        case .flushClient: "flushClient"
        case .flushAndClose: "flushAndClose"
        case .close: "close"
        case .exchangeFinished: "exchangeFinished"
        case .resumeReading: "resumeReading"
        }
    }
}

/// `HTTPProxyStateMachine` with a manual clock: no sockets, no sleeps. Timeouts: head 10 s, idle 60 s,
/// server response 30 s.
final class HTTPProxyStateMachineTests: XCTestCase {
    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private var machine = HTTPProxyStateMachine(
        settings: .init(
            requestHeaderTimeout: .seconds(10), idleTimeout: .seconds(60), serverResponseTimeout: .seconds(30)))
    private lazy var recorder = Recorder(t0: t0)

    /// Feeds one event; returns the actions.
    @discardableResult
    private func send(_ event: HTTPProxyStateMachine.Event) -> [String] {
        recorder.actions = []
        machine.handle(event, now: now, executor: recorder)
        return recorder.actions
    }

    private func advance(_ amount: TimeAmount) { now = now + amount }

    private func head(_ text: String, request: Bool = true) -> HTTPHead {
        var buffer = ByteBuffer(string: text)
        var scanned = 0
        return try! HTTPHeadParser.parse(&buffer, isRequest: request, limit: 65536, scanned: &scanned)!
    }

    private func get(_ path: String = "/", extra: String = "") -> HTTPHead {
        head("GET \(path) HTTP/1.1\r\nHost: a\r\n\(extra)\r\n")
    }

    private func response(_ status: Int = 200, extra: String = "Content-Length: 2\r\n") -> HTTPHead {
        head("HTTP/1.1 \(status) X\r\n\(extra)\r\n", request: false)
    }

    /// A GET sent to a server on a new connection; the request is complete.
    private func forwardedGET(_ path: String = "/") {
        recorder.picks = [.newConnection]
        send(.requestHead(get(path)))
        send(.requestEnd)
        send(.serverConnected)
    }

    // MARK: keep-alive

    func testKeepAliveSequencing() {
        XCTAssertEqual(send(.activated), ["armTimer(t=10.0s)"], "the request head must come within 10 s")
        recorder.picks = [.newConnection]
        XCTAssertEqual(
            send(.requestHead(get("/a"))), ["startRequest(GET /a HTTP/1.1)", "pick: newConnection", "connect"])
        XCTAssertEqual(machine.state, .connecting)
        XCTAssertEqual(send(.requestEnd), [], "the end waits for the connection")
        XCTAssertEqual(machine.queue.count, 1)
        advance(.milliseconds(5))
        XCTAssertEqual(
            send(.serverConnected),
            ["attachNewConnection", "sendRequestHead", "flushServer", "armTimer(t=30.005s)", "resumeReading"])
        XCTAssertTrue(machine.requestDone)
        XCTAssertEqual(machine.queue.count, 0)
        advance(.milliseconds(10))
        XCTAssertEqual(
            send(.responseHead(response(), framing: .length(2))), ["armTimer(t=60.015s)", "writeResponseHead(200)"])
        XCTAssertEqual(send(.responseBody(ByteBuffer(string: "ok"))), ["writeResponseBody(ok)"])
        XCTAssertEqual(
            send(.responseEnd(serverKeepAlive: true)),
            [
                "completeResponse(reusable)", "flushClient", "exchangeFinished", "armTimer(t=60.015s)",
                "flushServerIfNeeded", "resumeReading",
            ])
        XCTAssertEqual(machine.state, .idle)

        // The next request on the same client connection takes the server's idle connection.
        recorder.picks = [.idleConnection]
        XCTAssertEqual(
            send(.requestHead(get("/b"))),
            [
                "startRequest(GET /b HTTP/1.1)", "pick: idleConnection", "sendRequestHead", "flushServer",
                "armTimer(t=30.015s)", "resumeReading",
            ])
        XCTAssertEqual(send(.requestEnd), [])
        XCTAssertEqual(machine.state, .forwarding)
    }

    func testHTTP10ClientWithoutLengthIsNotKeptAlive() {
        recorder.picks = [.newConnection]
        send(.requestHead(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")))
        send(.requestEnd)
        XCTAssertEqual(send(.serverConnected)[1], "sendRequestHead(dechunk)")
        XCTAssertEqual(
            send(.responseHead(response(extra: "Transfer-Encoding: chunked\r\n"), framing: .chunked)),
            ["armTimer(t=60.0s)", "writeResponseHead(200, close)"])
        XCTAssertEqual(
            send(.responseEnd(serverKeepAlive: true)),
            ["completeResponse(reusable)", "flushAndClose", "exchangeFinished"])
        XCTAssertEqual(machine.state, .closed)
    }

    func testConnectionCloseFromTheClientClosesAfterTheResponse() {
        recorder.picks = [.newConnection]
        send(.requestHead(get(extra: "Connection: close\r\n")))
        send(.requestEnd)
        send(.serverConnected)
        XCTAssertEqual(
            send(.responseHead(response(), framing: .length(2))),
            ["armTimer(t=60.0s)", "writeResponseHead(200, close)"])
        send(.responseBody(ByteBuffer(string: "ok")))
        XCTAssertEqual(
            send(.responseEnd(serverKeepAlive: true)),
            ["completeResponse(reusable)", "flushAndClose", "exchangeFinished"])
    }

    func testInformationalResponsesArePassedOn() {
        forwardedGET()
        XCTAssertEqual(send(.responseHead(response(100, extra: ""), framing: .none)), ["forwardInformational(100)"])
        XCTAssertFalse(machine.responseStarted)
    }

    func testAnAnswerBeforeTheRequestEndedClosesTheConnection() {
        recorder.picks = [.newConnection]
        send(.requestHead(head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")))
        send(.serverConnected)
        XCTAssertEqual(send(.requestBody(ByteBuffer(string: "01234"))), ["forwardBody(01234)"])
        send(.responseHead(response(), framing: .length(2)))
        XCTAssertEqual(
            send(.responseEnd(serverKeepAlive: true)), ["completeResponse", "flushAndClose", "exchangeFinished"],
            "the server connection is not reused and the client's is closed")
    }

    // MARK: servers failing

    func testServerConnectFailureTriesTheNextServersThen502() {
        recorder.picks = [.newConnection, .newConnection, .newConnection]
        send(.requestHead(get()))
        send(.requestEnd)
        XCTAssertEqual(
            send(.serverConnectFailed(reason: "refused")),
            ["serverUnreachable(refused)", "pick: newConnection", "connect"])
        XCTAssertEqual(
            send(.serverConnectFailed(reason: "refused")),
            ["serverUnreachable(refused)", "pick: newConnection", "connect"])
        XCTAssertEqual(machine.attempts, 3)
        XCTAssertEqual(
            send(.serverConnectFailed(reason: "refused")),
            [
                "serverUnreachable(refused)", "sendLocal(502)", "flushClient", "armTimer(t=60.0s)",
                "exchangeFinished", "armTimer(t=60.0s)", "flushServerIfNeeded", "resumeReading", "resumeReading",
            ],
            "the request's end (queued while connecting) is taken after the answer; the connection stays")
        XCTAssertEqual(machine.state, .idle)
    }

    func testNoServerLeftAfterAFailureIs502AndNoneAtAllIs503() {
        recorder.picks = [.newConnection]
        send(.requestHead(get()))
        XCTAssertEqual(
            send(.serverConnectFailed(reason: "timeout")),
            [
                "serverUnreachable(timeout)", "pick: none", "sendLocal(502)", "flushClient", "armTimer(t=60.0s)",
                "resumeReading",
            ])
        XCTAssertEqual(machine.state, .discarding)
        XCTAssertEqual(
            send(.requestEnd), ["exchangeFinished", "armTimer(t=60.0s)", "flushServerIfNeeded", "resumeReading"])

        XCTAssertEqual(
            send(.requestHead(get())),
            [
                "startRequest(GET / HTTP/1.1)", "pick: none", "sendLocal(503)", "flushClient", "armTimer(t=60.0s)",
                "resumeReading",
            ])
    }

    func testAConnectionThatSucceedsTooLateIsNotTaken() {
        recorder.picks = [.newConnection]
        send(.requestHead(get()))
        send(.timerFired)  // not due: nothing
        send(.clientClosed)
        XCTAssertEqual(send(.serverConnected), [])
        XCTAssertEqual(send(.serverConnectFailed(reason: "x")), [])
    }

    func testAKeptAliveConnectionClosedAsTheRequestWentOutIsRetriedOnANewOne() {
        recorder.picks = [.idleConnection]
        send(.requestHead(get()))
        send(.requestEnd)
        XCTAssertEqual(send(.serverFailed(reason: "server closed the connection")), ["connect"])
        XCTAssertEqual(machine.state, .connecting)
        XCTAssertEqual(send(.serverConnected).first, "attachNewConnection")
        XCTAssertEqual(
            send(.serverFailed(reason: "server closed the connection")),
            [
                "serverFailed(server closed the connection)", "sendLocal(502)", "flushClient", "exchangeFinished",
                "armTimer(t=60.0s)", "flushServerIfNeeded", "resumeReading",
            ],
            "a new connection is not retried")
    }

    /// RFC 9112 §9.3.1: "A proxy MUST NOT automatically retry non-idempotent requests."
    func testANonIdempotentRequestIsNotRetried() {
        recorder.picks = [.idleConnection]
        send(.requestHead(head("POST /order HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")))
        send(.requestEnd)
        XCTAssertEqual(
            send(.serverFailed(reason: "server closed the connection")),
            [
                "serverFailed(server closed the connection)", "sendLocal(502)", "flushClient", "exchangeFinished",
                "armTimer(t=60.0s)", "flushServerIfNeeded", "resumeReading",
            ],
            "a POST is answered 502, never sent twice")
        recorder.picks = [.idleConnection]
        send(.requestHead(head("DELETE /order/1 HTTP/1.1\r\nHost: a\r\n\r\n")))
        send(.requestEnd)
        XCTAssertEqual(send(.serverFailed(reason: "server closed the connection")), ["connect"], "DELETE is idempotent")
    }

    func testAResponseThatBreaksOffClosesTheClientWithoutALocalAnswer() {
        forwardedGET()
        send(.responseHead(response(), framing: .length(2)))
        XCTAssertEqual(
            send(.serverFailed(reason: "server closed the connection")),
            ["serverFailed(server closed the connection, response started)"])
    }

    // MARK: timeouts

    func testResponseDeadlineGets504AndClose() {
        forwardedGET()
        advance(.seconds(30) - .nanoseconds(1))
        XCTAssertEqual(send(.timerFired), ["armTimer(t=30.0s)"], "an early wakeup waits for the deadline")
        advance(.nanoseconds(1))
        XCTAssertEqual(send(.timerFired), ["sendLocal(504, close)", "flushAndClose"])
        XCTAssertEqual(machine.state, .closed)
        XCTAssertEqual(send(.responseHead(response(), framing: .length(2))), [], "a late response goes nowhere")
    }

    func testResponseBodyMovesTheIdleDeadlineWithoutSchedulingAnything() {
        forwardedGET()
        advance(.seconds(1))
        send(.responseHead(response(extra: "Content-Length: 4\r\n"), framing: .length(4)))
        advance(.seconds(50))
        XCTAssertEqual(send(.responseBody(ByteBuffer(string: "ab"))), ["writeResponseBody(ab)"])
        advance(.seconds(10))
        XCTAssertEqual(send(.timerFired), ["armTimer(t=111.0s)"])
        advance(.seconds(50))
        XCTAssertEqual(send(.timerFired), ["close"], "a response stalled for the idle timeout ends the connection")
    }

    func testIdleTimeoutClosesAKeptAliveConnection() {
        forwardedGET()
        send(.responseHead(response(), framing: .length(2)))
        send(.responseBody(ByteBuffer(string: "ok")))
        send(.responseEnd(serverKeepAlive: true))
        advance(.seconds(59))
        XCTAssertEqual(send(.timerFired), ["armTimer(t=60.0s)"])
        advance(.seconds(1))
        XCTAssertEqual(send(.timerFired), ["close"])
        XCTAssertEqual(machine.state, .closed)
    }

    func testSlowRequestHeadGets408() {
        send(.activated)
        advance(.seconds(10))
        XCTAssertEqual(send(.timerFired), ["sendLocal(408, close)", "flushAndClose"])
    }

    // MARK: the client

    func testMalformedRequestGets400AndHeadTooLarge431() {
        XCTAssertEqual(send(.requestMalformed(.malformed("method"))), ["sendLocal(400, close)", "flushAndClose"])
        machine = HTTPProxyStateMachine(settings: machine.settings)
        XCTAssertEqual(send(.requestMalformed(.headTooLarge)), ["sendLocal(431, close)", "flushAndClose"])
    }

    func testMalformedBodyAfterTheResponseStartedJustCloses() {
        recorder.picks = [.newConnection]
        send(.requestHead(head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")))
        send(.serverConnected)
        send(.responseHead(response(), framing: .length(2)))
        XCTAssertEqual(send(.requestMalformed(.malformed("chunk size"))), ["close"])
    }

    func testClientClosingMidBody() {
        recorder.picks = [.newConnection]
        send(.requestHead(head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")))
        XCTAssertEqual(send(.requestBody(ByteBuffer(string: "01234"))), [], "queued while connecting")
        XCTAssertEqual(send(.clientClosed), [])
        XCTAssertEqual(machine.state, .closed)
        XCTAssertEqual(machine.queue.count, 0)
        XCTAssertEqual(send(.serverConnected), [], "the connection is not taken")
        XCTAssertEqual(send(.timerFired), [])
        XCTAssertFalse(machine.canRead(serverWritable: true))
    }

    func testBodyFlowsWhileTheServerCanTakeIt() {
        recorder.picks = [.newConnection]
        send(.requestHead(head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")))
        send(.requestBody(ByteBuffer(string: "01")))
        XCTAssertEqual(
            send(.serverConnected),
            [
                "attachNewConnection", "sendRequestHead", "writeQueuedBody(01)", "flushServer", "armTimer(t=30.0s)",
                "resumeReading",
            ])
        XCTAssertTrue(machine.canRead(serverWritable: true))
        XCTAssertFalse(machine.canRead(serverWritable: false), "backpressure from the server connection")
        XCTAssertEqual(send(.requestBody(ByteBuffer(string: "23456789"))), ["forwardBody(23456789)"])
        XCTAssertEqual(send(.requestEnd), [])
        XCTAssertTrue(machine.requestDone)
    }

    func testPipelinedRequestsAreAnsweredInOrder() {
        forwardedGET("/1")
        XCTAssertEqual(send(.requestHead(get("/2"))), [])
        XCTAssertEqual(send(.requestEnd), [])
        XCTAssertEqual(send(.requestHead(get("/3"))), [])
        XCTAssertEqual(send(.requestEnd), [])
        XCTAssertEqual(machine.queue.count, 4)
        XCTAssertTrue(machine.canRead(serverWritable: false), "the backlog is below its limit")
        send(.responseHead(response(), framing: .length(2)))
        send(.responseBody(ByteBuffer(string: "ok")))
        recorder.picks = [.idleConnection]
        XCTAssertEqual(
            send(.responseEnd(serverKeepAlive: true)),
            [
                "completeResponse(reusable)", "flushClient", "exchangeFinished", "armTimer(t=60.0s)",
                "startRequest(GET /2 HTTP/1.1)", "pick: idleConnection", "sendRequestHead", "flushServer",
                "armTimer(t=30.0s)", "resumeReading", "flushServerIfNeeded", "resumeReading",
            ])
        XCTAssertEqual(machine.queue.count, 2, "/3 waits for /2's response")
        XCTAssertTrue(machine.requestDone)
    }

    func testABacklogOfPipelinedPartsStopsReading() {
        forwardedGET()
        for _ in 0..<8 {
            send(.requestHead(get()))
            send(.requestEnd)
        }
        XCTAssertEqual(machine.queue.count, 16)
        XCTAssertFalse(machine.canRead(serverWritable: true))
    }

    func testHTTPSRedirect() {
        machine.settings.httpsRedirectPort = 8443
        XCTAssertEqual(
            send(.requestHead(get())),
            [
                "startRequest(GET / HTTP/1.1, redirect)", "sendLocal(301)", "flushClient", "armTimer(t=60.0s)",
                "resumeReading",
            ])
    }

    // MARK: drain

    func testDrainEndsTheExchangeInProgressWithConnectionClose() {
        forwardedGET()
        XCTAssertEqual(send(.drain), [], "busy: nothing to schedule")
        XCTAssertEqual(
            send(.responseHead(response(), framing: .length(2))),
            ["armTimer(t=60.0s)", "writeResponseHead(200, close)"])
        send(.responseBody(ByteBuffer(string: "ok")))
        XCTAssertEqual(
            send(.responseEnd(serverKeepAlive: true)),
            ["completeResponse(reusable)", "flushAndClose", "exchangeFinished"])
    }

    func testDrainGivesAnIdleConnectionOneMoreRequestAnsweredWithClose() {
        forwardedGET()
        send(.responseHead(response(), framing: .length(2)))
        send(.responseEnd(serverKeepAlive: true))
        advance(.seconds(10))
        XCTAssertEqual(send(.drain), ["armTimer(t=11.0s)"], "1 s of grace")
        recorder.picks = [.idleConnection]
        send(.requestHead(get()))
        send(.requestEnd)
        XCTAssertEqual(
            send(.responseHead(response(), framing: .length(2))),
            ["armTimer(t=70.0s)", "writeResponseHead(200, close)"])
        advance(.seconds(59) + .milliseconds(500))
        XCTAssertEqual(send(.drain), [], "busy again")
    }

    func testDrainNearTheIdleTimeoutKeepsTheEarlierDeadline() {
        forwardedGET()
        send(.responseHead(response(), framing: .length(2)))
        send(.responseEnd(serverKeepAlive: true))
        advance(.seconds(59) + .milliseconds(500))
        XCTAssertEqual(send(.drain), ["armTimer(t=60.0s)"])
        advance(.milliseconds(500))
        XCTAssertEqual(send(.timerFired), ["close"])
    }
}
