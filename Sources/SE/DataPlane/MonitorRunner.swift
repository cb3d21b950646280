import NIOCore
import NIOPosix
import NIOSSL

/// Runs one `HealthCheck` (one server, one monitor) on one event loop: the edge that owns the timer
/// and the probe connections, feeds their outcome into the state machine and executes its actions.
/// Every report goes to `onReport` (on the loop).
///
/// - TCP: the check passes when the connection is established.
/// - HTTP: sends the monitor's request (`GET /health HTTP/1.0` plus `Host` and the final CRLF CRLF),
///   reads the response head with the proxy's parser (`HTTPHeadParser`; 1xx heads are skipped) and passes
///   when the code is one of the expected ones. A head the proxy would refuse fails the check.
/// - HTTPS: the same over TLS (a failed handshake fails the check).
final class MonitorRunner: @unchecked Sendable {
    // @unchecked: every mutable field is touched only on `loop`.
    let loop: any EventLoop
    let serverKey: String
    let monitor: MonitorConfig
    private let address: SocketAddress
    private let source: SocketAddress?
    private let onReport: @Sendable (_ up: Bool, _ reason: String) -> Void
    private var machine: HealthCheck
    private var timer: Scheduled<Void>?
    private var channels: [UInt64: any Channel] = [:]
    private var stopped = false

    init(
        loop: any EventLoop, serverKey: String, address: SocketAddress, source: SocketAddress?,
        monitor: MonitorConfig, inheritedUp: Bool = false,
        onReport: @escaping @Sendable (_ up: Bool, _ reason: String) -> Void
    ) {
        self.loop = loop
        self.serverKey = serverKey
        self.monitor = monitor
        self.address = address
        self.source = source
        self.onReport = onReport
        self.machine = HealthCheck(monitor: monitor, inheritedUp: inheritedUp)
    }

    /// Starts checking (the first check at once).
    func start() {
        loop.execute { self.handle(.start) }
    }

    /// Stops checking and closes any probe in flight; no report follows.
    func stop() {
        loop.execute {
            self.stopped = true
            self.timer?.cancel()
            self.timer = nil
            for c in self.channels.values { c.close(promise: nil) }
            self.channels = [:]
        }
    }

    private func handle(_ event: HealthCheck.Event) {
        guard !stopped else { return }
        for action in machine.handle(event, now: .now()) {
            switch action {
            case .startCheck(let id): startCheck(id)
            case .abandonCheck(let id): channels.removeValue(forKey: id)?.close(promise: nil)
            case .report(let up, let reason): onReport(up, reason)
            }
        }
        timer?.cancel()
        timer = nil
        if let wake = machine.nextWakeup {
            timer = loop.scheduleTask(deadline: wake) { self.handle(.tick) }
        }
    }

    private func startCheck(_ id: UInt64) {
        let result = loop.makePromise(of: (Bool, String).self)
        var boundProbe: NIOLoopBound<HTTPProbeHandler>?
        var tls: (context: NIOSSLContext, serverName: String?)?
        switch monitor.kind {
        case .tcp:
            break
        case .http(let request, let codes):
            let probe = HTTPProbeHandler(
                request: Self.requestBytes(request, host: serverKey), expected: codes, result: result)
            boundProbe = NIOLoopBound(probe, eventLoop: loop)
        case .https(let request, let codes, let serverName):
            guard let context = Self.tlsContext else {
                result.succeed((false, "no TLS context"))
                result.futureResult.whenSuccess { passed, detail in
                    self.handle(.checkEnded(id: id, passed: passed, detail: detail))
                }
                return
            }
            let probe = HTTPProbeHandler(
                request: Self.requestBytes(request, host: serverName ?? serverKey), expected: codes, result: result)
            boundProbe = NIOLoopBound(probe, eventLoop: loop)
            tls = (context, serverName)
        }
        let probeForInit = boundProbe
        let tlsForInit = tls
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(monitor.timeout))
            .channelInitializer { channel in
                guard let boundProbe = probeForInit else { return channel.eventLoop.makeSucceededVoidFuture() }
                do {
                    if let tlsForInit {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tlsForInit.context, serverHostname: tlsForInit.serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(boundProbe.value)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        bootstrap = bootstrap.bindingSource(source)
        let probe = boundProbe
        bootstrap.connect(to: address).hop(to: loop).whenComplete { outcome in
            switch outcome {
            case .failure(let error):
                result.succeed((false, Self.describe(error)))
            case .success(let channel):
                if self.stopped || self.machine.checkInFlight != id {
                    channel.close(promise: nil)
                    result.succeed((false, "abandoned"))
                    return
                }
                if let probe {
                    if probe.value.isDone { channel.close(promise: nil) } else { self.channels[id] = channel }
                } else {
                    channel.close(promise: nil)
                    result.succeed((true, "connect ok"))
                }
            }
        }
        result.futureResult.whenSuccess { passed, detail in
            self.channels.removeValue(forKey: id)?.close(promise: nil)
            self.handle(.checkEnded(id: id, passed: passed, detail: detail))
        }
    }

    /// The TLS client context of HTTPS monitors (one for the process: no certificate check, TLS 1.2+).
    static let tlsContext: NIOSSLContext? = {
        var c = TLSConfiguration.makeClientConfiguration()
        c.certificateVerification = .none
        c.applicationProtocols = ["http/1.1"]
        return try? NIOSSLContext(configuration: c)
    }()

    /// The monitor's request line with `Host` (unless given) and the closing empty line.
    static func requestBytes(_ request: String, host: String) -> String {
        var text = request
        // Avi lets users write the CRLFs as escapes.
        text = text.replacingEscapes()
        while text.hasSuffix("\r\n") || text.hasSuffix("\n") { text.removeLast() }
        // "\r\n" is one Character in Swift: split on either line end.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if lines.isEmpty || lines[0].isEmpty { lines = ["GET / HTTP/1.0"] }
        if !lines.dropFirst().contains(where: { $0.lowercased().hasPrefix("host:") }) {
            lines.insert("Host: \(host)", at: 1)
        }
        if lines[0].hasSuffix("HTTP/1.1"),
            !lines.dropFirst().contains(where: { $0.lowercased().hasPrefix("connection:") })
        {
            lines.append("Connection: close")
        }
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// `connect refused`, `connect timeout`, ... for a failed connect.
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case 111: return "connect refused"
            case 113: return "no route to host"
            case 101: return "network unreachable"
            case 110: return "connect timeout"
            default: return "connect failed: \(io)"
            }
        }
        if let ce = error as? ChannelError, case .connectTimeout = ce { return "connect timeout" }
        if let nce = error as? NIOConnectionError, let first = nce.connectionErrors.first {
            return describe(first.error)
        }
        return "connect failed: \(error)"
    }
}

extension String {
    /// `\r` and `\n` written as two characters become the control characters.
    fileprivate func replacingEscapes() -> String {
        guard contains("\\") else { return self }
        var out = ""
        var it = makeIterator()
        while let c = it.next() {
            guard c == "\\" else {
                out.append(c)
                continue
            }
            switch it.next() {
            case "r": out.append("\r")
            case "n": out.append("\n")
            case let other?: out.append(c); out.append(other)
            case nil: out.append(c)
            }
        }
        return out
    }
}

/// Sends an HTTP monitor's request and judges the head of the answer, read with the proxy's own parser
/// (`HTTPHeadParser`, the one `HTTPBackHandler` uses): a response head the proxy would refuse (and answer
/// the client with 502) fails the check too.
final class HTTPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The largest response head read, as for the proxy.
    static let maxHead = HTTPBackHandler.maxResponseHead

    private let request: String
    private let expected: [ExpectedCode]
    private let result: EventLoopPromise<(Bool, String)>
    /// Bytes of a head not complete yet.
    private var received: ByteBuffer?
    private var scanned = 0
    private var done = false

    /// Whether the outcome is known.
    var isDone: Bool { done }

    init(request: String, expected: [ExpectedCode], result: EventLoopPromise<(Bool, String)>) {
        self.request = request
        self.expected = expected
        self.result = result
    }

    func channelActive(context: ChannelHandlerContext) {
        var buf = context.channel.allocator.buffer(capacity: request.utf8.count)
        buf.writeString(request)
        context.writeAndFlush(wrapOutboundOut(buf), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var buf = unwrapInboundIn(data)
        if var r = received {
            r.writeBuffer(&buf)
            buf = r
        }
        received = nil
        if let outcome = Self.judge(&buf, scanned: &scanned, expected: expected) {
            finish(outcome)
        } else {
            received = buf
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if (received?.readableBytes ?? 0) > 0 {
            finish((false, "connection closed before the end of the response head"))
        } else {
            finish((false, "connection closed without a response"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish((false, "read failed: \(error)"))
        context.close(promise: nil)
    }

    private func finish(_ outcome: (Bool, String)) {
        guard !done else { return }
        done = true
        received = nil
        result.succeed(outcome)
    }

    /// Reads response heads off `buffer` with the proxy's parser and judges the first final one: nil while
    /// more bytes are needed (`scanned` remembers how far the search went).
    static func judge(_ buffer: inout ByteBuffer, scanned: inout Int, expected: [ExpectedCode]) -> (Bool, String)? {
        while true {
            let before = buffer
            let head: HTTPHead?
            do {
                head = try HTTPHeadParser.parse(&buffer, isRequest: false, limit: maxHead, scanned: &scanned)
            } catch {
                return (false, describe(error, head: before))
            }
            guard let head else { return nil }
            // RFC 9110 §15.2: "A client MUST be able to parse one or more 1xx responses received prior to a
            // final response, even if the client does not expect one." Skipped, as the proxy passes them on.
            if head.info.status < 200 { continue }
            return judge(status: head.info.status, expected: expected)
        }
    }

    /// `HTTP/1.1 200 OK` (without or with its CR) → pass when 200 is expected; judged by the same parser
    /// as a whole head.
    static func judge(statusLine: [UInt8], expected: [ExpectedCode]) -> (Bool, String) {
        var line = statusLine
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        var buffer = ByteBuffer(bytes: line + Array("\r\n\r\n".utf8))
        var scanned = 0
        return judge(&buffer, scanned: &scanned, expected: expected)
            ?? (false, "bad status line \"\(String(decoding: line.prefix(40), as: UTF8.self))\"")
    }

    /// The reason names the code and the classes.
    static func judge(status code: Int, expected: [ExpectedCode]) -> (Bool, String) {
        let classes = expected.isEmpty ? "HTTP_ANY" : expected.map(\.description).joined(separator: ",")
        if expected.accepts(code) { return (true, "HTTP \(code)") }
        return (false, "HTTP \(code) not in \(classes)")
    }

    /// `bad status line "SSH-2.0-OpenSSH"`, `bad response head (header field name)`, ...
    static func describe(_ error: HTTPCodecError, head: ByteBuffer) -> String {
        switch error {
        case .headTooLarge:
            return "no complete response head in the first \(maxHead) bytes"
        case .malformed(let part) where ["version", "status line", "status code"].contains(part):
            let bytes = head.readableBytesView.prefix(64).prefix { $0 != 13 && $0 != 10 }
            return "bad status line \"\(String(decoding: bytes.prefix(40), as: UTF8.self))\""
        case .malformed(let part):
            return "bad response head (\(part))"
        }
    }
}
