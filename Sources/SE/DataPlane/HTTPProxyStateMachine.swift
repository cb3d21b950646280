import NIOCore

/// A request as the client side sees it: the head, body bytes (as framed on the wire), the end.
enum HTTPRequestPart {
    case head(HTTPHead)
    case body(ByteBuffer)
    case end
}

/// Executes what ``HTTPProxyStateMachine`` decides: `HTTPFrontHandler` on a client connection, a recorder
/// in tests. Neither method may call back into the machine (it is in the middle of `handle`).
protocol HTTPProxyExecutor: AnyObject {
    /// Does one action, in the order the machine gives them.
    func execute(_ action: HTTPProxyStateMachine.Action)
    /// Picks a server for the current request among those not tried for it yet, and takes its idle
    /// keep-alive connection when it has one.
    func pickServer() -> HTTPProxyStateMachine.ServerPick
}

/// The per-connection logic of the HTTP/1.1 reverse proxy (the client side), as a pure state machine
/// (STYLE "State machines are structs"): request parts, server connection outcomes, response parts,
/// timer expiries and drain come in with the time; `HTTPFrontHandler` executes the actions (sockets,
/// the server pool, stats, logs, the timer). No channel, no clock.
///
/// - Requests are handled one at a time. Parts that cannot be handled yet (pipelined requests, a body
///   arriving while the server connection opens) wait in `queue` and are replayed in order.
/// - A server is picked per request (at most ``maxConnectAttempts`` tries, skipping servers tried for
///   it); a kept-alive server connection that closes as the request goes out (no body, nothing answered
///   yet) is retried once more on a new connection to the same server when the method is idempotent
///   (RFC 9112 §9.3.1); a POST gets 502 instead.
/// - Local answers: 301 (`http_to_https`), 400 (malformed), 408 (head too slow), 431 (head too big),
///   502 (no server accepted, bad response), 503 (no server up), 504 (server too slow).
/// - One deadline covers the header, keep-alive idle and server response timeouts; a request only
///   moves it (`nextDeadline`), and the executor schedules a wakeup only when it comes earlier.
///
/// `handle` takes the executor instead of returning a list, so that no event allocates: actions go out
/// one by one, in order, as the machine decides them.
struct HTTPProxyStateMachine {
    /// Most server connection tries per request.
    static let maxConnectAttempts = 3
    /// Most request parts kept while a request waits for its server or the previous response.
    static let maxQueuedParts = 16
    /// How long a connection idle when the drain starts may still send a request.
    static let drainIdleGrace = TimeAmount.seconds(1)

    /// Where the connection is.
    enum State: Equatable {
        /// Waiting for a request head.
        case idle
        /// Connecting to a server for the current request; parts wait in `queue`.
        case connecting
        /// The request goes (or went) to the server; waiting for or relaying the response.
        case forwarding
        /// A local response was sent before the request's end: dropping the rest of the request.
        case discarding
        case closed
    }

    /// What the one timer is counting.
    enum TimerKind: Equatable {
        case none, header, idle, response
    }

    /// The service's timeouts and redirect, read again at every event (a service update changes them).
    struct Settings: Equatable {
        var requestHeaderTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var serverResponseTimeout: TimeAmount
        /// `http_to_https` on a plain listener: answer every request with a redirect to this port.
        var httpsRedirectPort: Int?
    }

    /// How `pickServer` went.
    enum ServerPick: Equatable {
        /// No server left to try.
        case none
        /// A server with an idle keep-alive connection, now attached to this client.
        case idleConnection
        /// A server without one: open a connection (`.connect`).
        case newConnection
    }

    /// A response the SE writes itself, with a short text body.
    enum LocalResponse: Equatable {
        /// 301 to `https://<host>[:port]<target>`.
        case redirect(port: Int)
        case badRequest
        case requestTimeout
        case headTooLarge
        case noServerAccepted
        case badResponse
        case noServerUp
        case gatewayTimeout

        var status: Int {
            switch self {
            case .redirect: 301
            case .badRequest: 400
            case .requestTimeout: 408
            case .headTooLarge: 431
            case .noServerAccepted, .badResponse: 502
            case .noServerUp: 503
            case .gatewayTimeout: 504
            }
        }

        var reason: StaticString {
            switch self {
            case .redirect: "Moved Permanently"
            case .badRequest: "Bad Request"
            case .requestTimeout: "Request Timeout"
            case .headTooLarge: "Request Header Fields Too Large"
            case .noServerAccepted, .badResponse: "Bad Gateway"
            case .noServerUp: "Service Unavailable"
            case .gatewayTimeout: "Gateway Timeout"
            }
        }

        /// The body (a redirect's is its location, made by the executor).
        var text: String {
            switch self {
            case .redirect: ""
            case .badRequest: "400 Bad Request: malformed request\n"
            case .requestTimeout: "408 Request Timeout: the request head did not arrive in time\n"
            case .headTooLarge: "431 Request Header Fields Too Large\n"
            case .noServerAccepted: "502 Bad Gateway: no server accepted the connection\n"
            case .badResponse: "502 Bad Gateway: the server did not send a valid response\n"
            case .noServerUp: "503 Service Unavailable: no server is up\n"
            case .gatewayTimeout: "504 Gateway Timeout: the server did not answer in time\n"
            }
        }
    }

    /// What happened.
    enum Event {
        /// The client connection is up.
        case activated
        /// Request parts as the codec cut them from the client's bytes.
        case requestHead(HTTPHead)
        case requestBody(ByteBuffer)
        case requestEnd
        /// The client's bytes are not a valid request (the codec's verdict).
        case requestMalformed(HTTPCodecError)
        /// The connection opened by `.connect` is up (the executor holds it until `.attachNewConnection`).
        case serverConnected
        /// The connection opened by `.connect` failed.
        case serverConnectFailed(reason: String)
        /// Response parts from the server connection.
        case responseHead(HTTPHead, framing: HTTPBodyFraming)
        case responseBody(ByteBuffer)
        case responseEnd(serverKeepAlive: Bool)
        /// The server connection closed or failed before the response ended.
        case serverFailed(reason: String)
        /// The timer set by `.armTimer` went off.
        case timerFired
        /// The client connection failed (I/O error).
        case clientError
        /// The client connection is gone.
        case clientClosed
        /// The SE drains: end the exchange in progress with `Connection: close`.
        case drain
    }

    /// What the executor must do.
    enum Action {
        /// Make sure a wakeup (`.timerFired`) comes no later than this.
        case armTimer(NIODeadline)
        /// A request starts: count it, keep its head for the log, write the head for the server (unless
        /// redirected), forget the servers tried for the previous one.
        case startRequest(HTTPHead, redirect: Bool)
        /// Open a new connection to the current server.
        case connect
        /// Take the connection of `.serverConnected` for the current request.
        case attachNewConnection
        /// Connecting to the current server failed: count and log it, give the server back.
        case serverUnreachable(reason: String)
        /// Send the request head on the server connection, the next response answering a HEAD request
        /// or going to an HTTP/1.0 client (dechunked).
        case sendRequestHead(requestWasHEAD: Bool, dechunk: Bool)
        /// A request body part that waited: write it to the server (the flush follows).
        case writeQueuedBody(ByteBuffer)
        /// A request body part as it came: write it to the server, flush at the end of the read.
        case forwardBody(ByteBuffer)
        case flushServer
        /// Flush the server connection if body parts were written without a flush.
        case flushServerIfNeeded
        /// Pass an informational (1xx) head on to the client.
        case forwardInformational(HTTPHead)
        /// Write the final response head to the client.
        case writeResponseHead(HTTPHead, keepAlive: Bool)
        case writeResponseBody(ByteBuffer)
        /// The response ended: record it (latency, log) and give the server and its connection back
        /// (`reusable`: to the idle pool).
        case completeResponse(reusable: Bool)
        /// The server failed the request: count it, give the server back; `responseStarted`: part of the
        /// response is out, so log the request as broken off and close the client connection.
        case serverFailed(reason: String, responseStarted: Bool)
        /// Close the server connection, give the server back, write (and log) a local response.
        case sendLocal(LocalResponse, keepAlive: Bool)
        case flushClient
        /// Close the client connection once what was written is out.
        case flushAndClose
        /// Close the client connection now.
        case close
        /// The exchange is over (the log entry's head is no longer needed).
        case exchangeFinished
        /// Reading from the client may go on (`canRead`).
        case resumeReading
    }

    private(set) var state = State.idle
    /// Parts that arrived before they could be handled, in order (RFC 9112 §9.3.2: responses to
    /// pipelined requests MUST be sent "in the same order that the requests were received").
    private(set) var queue = CircularBuffer<HTTPRequestPart>(initialCapacity: 4)
    var settings: Settings

    // The current exchange.
    private(set) var keepAlive = true
    /// The client's HTTP/1.x minor version.
    private(set) var clientMinor: UInt8 = 1
    private var requestIsHEAD = false
    private var requestIdempotent = false
    private(set) var requestDone = false
    private(set) var responseStarted = false
    private var sawBody = false
    private var reused = false
    private(set) var attempts = 0
    private(set) var draining = false

    // The timer.
    private(set) var timerKind = TimerKind.none
    /// When the running timeout expires (the executor's wakeup may come earlier).
    private(set) var deadline = NIODeadline.distantFuture

    init(settings: Settings) {
        self.settings = settings
    }

    /// Whether to read more from the client now: a backlog of pipelined or early parts, or a server
    /// connection that cannot take more (`serverWritable`), stops it; waiting for a server or a response
    /// does not (pausing and resuming costs two `epoll_ctl` calls per request).
    func canRead(serverWritable: @autoclosure () -> Bool) -> Bool {
        switch state {
        case .idle, .discarding: true
        case .closed: false
        case .connecting: queue.count < Self.maxQueuedParts
        case .forwarding: requestDone ? queue.count < Self.maxQueuedParts : serverWritable()
        }
    }

    /// Feeds one event at time `now`; the actions go to `executor` in order.
    mutating func handle<E: HTTPProxyExecutor>(_ event: Event, now: NIODeadline, executor: E) {
        switch event {
        case .activated:
            arm(.header, after: settings.requestHeaderTimeout, now: now, executor)
        case .requestHead(let head):
            receive(.head(head), queued: false, now: now, executor)
        case .requestBody(let body):
            receive(.body(body), queued: false, now: now, executor)
        case .requestEnd:
            receive(.end, queued: false, now: now, executor)
        case .requestMalformed(let error):
            requestRefused(error, now: now, executor)
        case .serverConnected:
            guard state == .connecting else { return }
            executor.execute(.attachNewConnection)
            state = .forwarding
            sendHeadAndQueuedBody(now: now, executor)
        case .serverConnectFailed(let reason):
            guard state == .connecting else { return }
            executor.execute(.serverUnreachable(reason: reason))
            forwardToNextServer(now: now, executor)
        case .responseHead(let head, let framing):
            responseHead(head, framing: framing, now: now, executor)
        case .responseBody(let body):
            guard state == .forwarding else { return }
            deadline = now + settings.idleTimeout
            executor.execute(.writeResponseBody(body))
        case .responseEnd(let serverKeepAlive):
            guard state == .forwarding else { return }
            executor.execute(.completeResponse(reusable: serverKeepAlive && requestDone))
            // The server answered before the request ended: the rest of it cannot be told apart from the
            // next request, so close after this response.
            if !requestDone { keepAlive = false }
            if keepAlive {
                executor.execute(.flushClient)
            } else {
                flushAndClose(executor)
            }
            finishExchange(now: now, executor)
        case .serverFailed(let reason):
            serverFailed(reason: reason, now: now, executor)
        case .timerFired:
            timerFired(now: now, executor)
        case .clientError:
            state = .closed
            executor.execute(.close)
        case .clientClosed:
            state = .closed
            queue.removeAll()
        case .drain:
            draining = true
            keepAlive = false
            // A connection idle now gets `drainIdleGrace` (or what is left of its idle timeout, if less)
            // for one more request, answered with `Connection: close`: closing it at once races a request
            // already on its way, which the client then sees reset.
            if state == .idle && queue.isEmpty {
                arm(.idle, after: min(Self.drainIdleGrace, max(.zero, deadline - now)), now: now, executor)
            }
        }
    }

    // MARK: requests in

    /// One request part (`queued`: taken from the front of `queue`, so the parts still there are after it).
    private mutating func receive<E: HTTPProxyExecutor>(
        _ part: HTTPRequestPart, queued: Bool, now: NIODeadline, _ executor: E
    ) {
        let inOrder = queued || queue.isEmpty
        switch part {
        case .head(let head):
            if state == .idle && inOrder {
                startRequest(head, now: now, executor)
            } else {
                queue.append(part)
            }
        case .body(let body):
            switch state {
            case .forwarding where !requestDone && inOrder:
                sawBody = true
                executor.execute(.forwardBody(body))
            case .discarding:
                break
            default:
                queue.append(part)
            }
        case .end:
            switch state {
            case .forwarding where !requestDone && inOrder:
                requestDone = true
            case .discarding:
                requestDone = true
                finishExchange(now: now, executor)
            default:
                queue.append(part)
            }
        }
    }

    private mutating func startRequest<E: HTTPProxyExecutor>(_ head: HTTPHead, now: NIODeadline, _ executor: E) {
        let redirect = settings.httpsRedirectPort
        executor.execute(.startRequest(head, redirect: redirect != nil))
        clientMinor = head.info.minorVersion
        // RFC 9112 §9.6: "A server that receives a "close" connection option MUST initiate closure of the
        // connection ... after it sends the final response to the request that contained the "close"
        // connection option."
        keepAlive = head.info.keepAlive && !draining
        requestIsHEAD = head.info.isHEAD
        requestIdempotent = head.info.isIdempotent
        requestDone = false
        responseStarted = false
        sawBody = false
        attempts = 0
        timerKind = .none
        if let redirect {
            sendLocal(.redirect(port: redirect), now: now, executor)
            return
        }
        forwardToNextServer(now: now, executor)
    }

    // MARK: choosing and reaching a server

    private mutating func forwardToNextServer<E: HTTPProxyExecutor>(now: NIODeadline, _ executor: E) {
        guard attempts < Self.maxConnectAttempts else {
            sendLocal(.noServerAccepted, now: now, executor)
            return
        }
        switch executor.pickServer() {
        case .none:
            sendLocal(attempts == 0 ? .noServerUp : .noServerAccepted, now: now, executor)
        case .idleConnection:
            attempts += 1
            reused = true
            state = .forwarding
            sendHeadAndQueuedBody(now: now, executor)
        case .newConnection:
            attempts += 1
            reused = false
            state = .connecting
            executor.execute(.connect)
        }
    }

    private mutating func sendHeadAndQueuedBody<E: HTTPProxyExecutor>(now: NIODeadline, _ executor: E) {
        executor.execute(.sendRequestHead(requestWasHEAD: requestIsHEAD, dechunk: clientMinor == 0))
        // Parts of this request that arrived while connecting; stop at the next request's head.
        while let part = queue.first {
            if case .head = part { break }
            queue.removeFirst()
            switch part {
            case .body(let b):
                sawBody = true
                executor.execute(.writeQueuedBody(b))
            case .end:
                requestDone = true
            case .head:
                break
            }
        }
        executor.execute(.flushServer)
        arm(.response, after: settings.serverResponseTimeout, now: now, executor)
        executor.execute(.resumeReading)
    }

    private mutating func serverFailed<E: HTTPProxyExecutor>(reason: String, now: NIODeadline, _ executor: E) {
        guard state == .forwarding else { return }
        // RFC 9112 §9.3.1: "A proxy MUST NOT automatically retry non-idempotent requests."
        if !responseStarted && reused && !sawBody && requestDone && requestIdempotent
            && attempts < Self.maxConnectAttempts
        {
            // A kept-alive connection the server closed as we sent the request (it had not seen it): send
            // an idempotent request again to the same server on a new connection.
            attempts += 1
            reused = false
            state = .connecting
            executor.execute(.connect)
            return
        }
        executor.execute(.serverFailed(reason: reason, responseStarted: responseStarted))
        // Part of the response is out: the client can only learn of the failure by the close.
        if responseStarted { return }
        sendLocal(.badResponse, now: now, executor)
    }

    // MARK: responses out

    private mutating func responseHead<E: HTTPProxyExecutor>(
        _ head: HTTPHead, framing: HTTPBodyFraming, now: NIODeadline, _ executor: E
    ) {
        guard state == .forwarding else { return }
        if head.info.status < 200 {
            // RFC 9110 §15.2: "A proxy MUST forward 1xx responses unless the proxy itself requested the
            // generation of the 1xx response." The final response follows.
            executor.execute(.forwardInformational(head))
            return
        }
        responseStarted = true
        // From here on, a response that stalls for the idle timeout ends the connection.
        arm(.idle, after: settings.idleTimeout, now: now, executor)
        // A body that ends at the close cannot be followed by another response; an HTTP/1.0 client can
        // only keep the connection when the length is known (a chunked body reaches it without framing:
        // RFC 9112 §6.1, a server "MUST NOT send a response containing Transfer-Encoding unless the
        // corresponding request indicates HTTP/1.1").
        if framing == .untilClose { keepAlive = false }
        if clientMinor == 0 && keepAlive && head.info.contentLength == nil { keepAlive = false }
        executor.execute(.writeResponseHead(head, keepAlive: keepAlive))
    }

    // MARK: local responses

    private mutating func sendLocal<E: HTTPProxyExecutor>(
        _ response: LocalResponse, close: Bool = false, now: NIODeadline, _ executor: E
    ) {
        guard state != .closed else { return }
        if close { keepAlive = false }
        responseStarted = true
        executor.execute(.sendLocal(response, keepAlive: keepAlive))
        if !keepAlive {
            flushAndClose(executor)
            return
        }
        executor.execute(.flushClient)
        if requestDone {
            finishExchange(now: now, executor)
        } else {
            state = .discarding
            // The rest of the request must come within the idle timeout.
            arm(.idle, after: settings.idleTimeout, now: now, executor)
            replayQueue(now: now, executor)
            executor.execute(.resumeReading)
        }
    }

    /// The client sent something that is not a valid request: 431 or 400, then close.
    private mutating func requestRefused<E: HTTPProxyExecutor>(
        _ error: HTTPCodecError, now: NIODeadline, _ executor: E
    ) {
        guard state != .closed else { return }
        guard !responseStarted || state == .idle else {
            state = .closed
            executor.execute(.close)
            return
        }
        keepAlive = false
        sendLocal(error == .headTooLarge ? .headTooLarge : .badRequest, close: true, now: now, executor)
    }

    private mutating func flushAndClose<E: HTTPProxyExecutor>(_ executor: E) {
        state = .closed
        executor.execute(.flushAndClose)
    }

    /// The exchange is over: wait for the next request (or close when we must).
    private mutating func finishExchange<E: HTTPProxyExecutor>(now: NIODeadline, _ executor: E) {
        executor.execute(.exchangeFinished)
        guard state != .closed else { return }
        if !keepAlive || draining {
            state = .closed
            executor.execute(.close)
            return
        }
        state = .idle
        arm(.idle, after: settings.idleTimeout, now: now, executor)
        replayQueue(now: now, executor)
        executor.execute(.flushServerIfNeeded)
        executor.execute(.resumeReading)
    }

    /// Handles the queued parts that can be handled now: the rest of a request whose answer is already
    /// out, requests the client pipelined while the previous one ran.
    private mutating func replayQueue<E: HTTPProxyExecutor>(now: NIODeadline, _ executor: E) {
        while let part = queue.first, canTakeQueued(part) {
            queue.removeFirst()
            receive(part, queued: true, now: now, executor)
        }
    }

    private func canTakeQueued(_ part: HTTPRequestPart) -> Bool {
        switch part {
        case .head: state == .idle
        case .body, .end: (state == .forwarding && !requestDone) || state == .discarding
        }
    }

    // MARK: timer

    private mutating func arm<E: HTTPProxyExecutor>(
        _ kind: TimerKind, after: TimeAmount, now: NIODeadline, _ executor: E
    ) {
        timerKind = kind
        deadline = now + after
        executor.execute(.armTimer(deadline))
    }

    private mutating func timerFired<E: HTTPProxyExecutor>(now: NIODeadline, _ executor: E) {
        guard state != .closed, timerKind != .none else { return }
        if now < deadline {
            // The deadline moved on since the wakeup was set.
            executor.execute(.armTimer(deadline))
            return
        }
        switch timerKind {
        case .none:
            break
        case .header:
            keepAlive = false
            sendLocal(.requestTimeout, close: true, now: now, executor)
        case .idle:
            state = .closed
            executor.execute(.close)
        case .response:
            keepAlive = false
            sendLocal(.gatewayTimeout, close: true, now: now, executor)
        }
    }
}
