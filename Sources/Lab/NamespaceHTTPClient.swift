import Foundation
import IPAddresses
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import StarlingHTTP

/// A small HTTP/1.1 client for plain `http://` servers that exist only inside a network namespace (the lab's
/// controller and pool servers): every connection's socket is created inside the namespace. Everything
/// else (the SE agent, `starling ctl`) uses ``StarlingHTTP/HTTPClient``, which is AsyncHTTPClient's.
///
/// Each request has one deadline covering connect, send and the whole response. Connections are kept
/// alive and reused (at most ``maxIdleConnections`` idle ones); an idempotent request that finds its reused
/// connection closed by the server before any response byte is retried once on a fresh connection.
/// Cancelling the calling task closes the request's connection and throws ``HTTPClientError/Kind/cancelled``.
public final class NamespaceHTTPClient: Sendable {
    /// The scheme-less base: host (without brackets) and port.
    public let host: String
    /// The server's TCP port.
    public let port: Int
    /// The base URL as given (without a trailing slash).
    public let baseURL: String
    /// Idle connections kept for reuse.
    public let maxIdleConnections: Int
    /// The largest response body accepted (bytes); a larger one fails with `badResponse`.
    public let maxBodySize: Int

    /// The network namespace (`/run/netns/NAME`) connections are made from, if not the process's own.
    public let networkNamespace: String?
    /// `host` as an address when it is one (it must be, with `networkNamespace`).
    let hostAddress: IPAddress?

    private let group: any EventLoopGroup
    private let pool: ConnectionPool
    /// For `https://`: the TLS context (the server's certificate checked against `trustedPEM`, and its address
    /// against the certificate's names).
    private let tls: NIOSSLContext?

    /// Creates a client for `baseURL` (`http[s]://HOST[:PORT]`, HOST a name, an IPv4 address or `[IPv6]`;
    /// port 80 or 443 by default). Throws ``HTTPClientError`` of kind `badURL` for anything else (a path, a bad
    /// port). An `https://` client trusts only `trustedPEM` (the lab's cluster CA).
    ///
    /// With `networkNamespace` (Linux, needs CAP_SYS_ADMIN) every connection's socket is created inside that
    /// network namespace (a name under /run/netns, or a path), so a process can talk to a server that only
    /// exists there (the lab's controller); HOST must then be a numeric address.
    public init(
        baseURL: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxIdleConnections: Int = 4, maxBodySize: Int = 64 << 20, networkNamespace: String? = nil,
        trustedPEM: String? = nil
    ) throws {
        let (secure, host, port) = try Self.parseBaseURL(baseURL)
        if secure {
            do {
                var configuration = TLSConfiguration.makeClientConfiguration()
                configuration.trustRoots = .certificates(
                    try NIOSSLCertificate.fromPEMBytes(Array((trustedPEM ?? "").utf8)))
                tls = try NIOSSLContext(configuration: configuration)
            } catch {
                throw HTTPClientError(.tls, "TLS settings for \(baseURL): \(error)")
            }
        } else {
            tls = nil
        }
        let hostAddress = IPAddress(host)
        if networkNamespace != nil && hostAddress == nil {
            throw HTTPClientError(
                .badURL, "bad URL '\(baseURL)': the host must be an IP address when connecting from a namespace")
        }
        self.networkNamespace = networkNamespace
        self.hostAddress = hostAddress
        self.host = host
        self.port = port
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.group = eventLoopGroup
        self.maxIdleConnections = maxIdleConnections
        self.maxBodySize = maxBodySize
        self.pool = ConnectionPool(limit: maxIdleConnections)
    }

    /// Splits `http[s]://HOST[:PORT][/]` into whether it is https, host and port (``HTTPClient``'s rules).
    static func parseBaseURL(_ url: String) throws -> (secure: Bool, host: String, port: Int) {
        let (scheme, host, port) = try HTTPClient.parseBaseURL(url)
        return (scheme == "https", host, port)
    }

    /// `host:port` as shown in errors (`[v6]:port` for IPv6).
    var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Sends `method path` (path starting with `/`, query included) with `headers` and `body`, and returns
    /// the complete response, whatever its status. `Host`, `Content-Length` and `User-Agent` are added
    /// unless given. Throws ``HTTPClientError`` when no complete response arrives within `timeout`, the
    /// connection fails or closes early, or the response is malformed.
    public func request(
        _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(10)
    ) async throws -> HTTPResponse {
        guard path.hasPrefix("/"), !path.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
            throw HTTPClientError(.badRequest, "bad request path '\(path)': must start with '/' and have no spaces")
        }
        for (name, value) in headers
        where name.isEmpty || name.contains(where: { $0 == ":" || $0.isNewline || $0 == " " })
            || value.contains(where: \.isNewline)
        {
            throw HTTPClientError(.badRequest, "bad request header '\(name)'")
        }
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let head = makeHead(method: method, path: path, headers: headers, bodyLength: body?.count)
        let idempotent = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method.uppercased())
        // Only idempotent requests go over a reused connection: if the server closed it meanwhile, they can
        // be sent again safely.
        if idempotent, let channel = await pool.take() {
            do {
                return try await exchange(on: channel, head: head, body: body, deadline: deadline)
            } catch let error as HTTPClientError where error.kind == .connectionClosed {
                // The server closed the idle connection before answering: retry once on a fresh one.
            }
        }
        let channel = try await connect(deadline: deadline)
        return try await exchange(on: channel, head: head, body: body, deadline: deadline)
    }

    /// Closes every idle connection. Requests still running finish normally; their connections are closed
    /// instead of kept.
    public func shutdown() async {
        await pool.close()
    }

    private func makeHead(method: String, path: String, headers: [(String, String)], bodyLength: Int?)
        -> HTTPRequestHead
    {
        var fields = HTTPHeaders(headers)
        if !fields.contains(name: "Host") {
            fields.add(name: "Host", value: port == 80 ? (host.contains(":") ? "[\(host)]" : host) : authority)
        }
        if !fields.contains(name: "User-Agent") { fields.add(name: "User-Agent", value: "starling") }
        if !fields.contains(name: "Content-Length") && !fields.contains(name: "Transfer-Encoding") {
            if let bodyLength {
                fields.add(name: "Content-Length", value: String(bodyLength))
            } else if ["POST", "PUT", "PATCH"].contains(method.uppercased()) {
                fields.add(name: "Content-Length", value: "0")
            }
        }
        return HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: method.uppercased()), uri: path, headers: fields)
    }

    private func connect(deadline: NIODeadline) async throws -> any Channel {
        let remaining = deadline - .now()
        guard remaining > .zero else {
            throw HTTPClientError(.timeout, "timeout connecting to \(authority)")
        }
        let maxBody = maxBodySize
        let tls = self.tls
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(remaining)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // No server name (the lab reaches addresses): the certificate must name the address.
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(maxBodySize: maxBody))
                }
            }
        if let networkNamespace, let address = hostAddress {
            let (port, authority) = (self.port, self.authority)
            let fd: CInt
            do {
                fd = try await NIOThreadPool.singleton.runIfActive {
                    try NamespaceSocket.connect(
                        namespace: networkNamespace, address: address, port: port, timeout: remaining,
                        authority: authority)
                }
            } catch let error as HTTPClientError {
                throw error
            } catch {
                throw HTTPClientError(.connectFailed, "cannot connect to \(authority): \(error)")
            }
            do {
                return try await bootstrap.withConnectedSocket(fd).get()
            } catch {
                throw HTTPClientError(.connectFailed, "cannot connect to \(authority): \(error)")
            }
        }
        do {
            return try await bootstrap.connect(host: host, port: port).get()
        } catch {
            throw Self.connectError(error, authority: authority)
        }
    }

    /// Maps NIO's connect errors to one line.
    static func connectError(_ error: any Error, authority: String) -> HTTPClientError {
        var underlying = error
        if let multi = error as? NIOConnectionError {
            if let first = multi.connectionErrors.first {
                underlying = first.error
            } else if let dns = multi.dnsAAAAError ?? multi.dnsAError {
                return HTTPClientError(
                    .connectFailed, "cannot connect to \(authority): cannot resolve the host (\(dns))")
            }
        }
        if case .some(.connectTimeout) = underlying as? ChannelError {
            return HTTPClientError(.timeout, "timeout connecting to \(authority)")
        }
        if let io = underlying as? IOError {
            let reason: String
            switch io.errnoCode {
            case ECONNREFUSED: reason = "connection refused"
            case ENETUNREACH: reason = "network unreachable"
            case EHOSTUNREACH: reason = "host unreachable"
            case ETIMEDOUT: return HTTPClientError(.timeout, "timeout connecting to \(authority)")
            default: reason = "\(io)"
            }
            return HTTPClientError(.connectFailed, "cannot connect to \(authority): \(reason)")
        }
        return HTTPClientError(.connectFailed, "cannot connect to \(authority): \(underlying)")
    }

    /// Sends one request on `channel` and waits for its response; puts the channel back in the pool when
    /// the connection may be reused, else closes it.
    private func exchange(on channel: any Channel, head: HTTPRequestHead, body: [UInt8]?, deadline: NIODeadline)
        async throws -> HTTPResponse
    {
        let authority = self.authority
        let request = "\(head.method.rawValue) \(head.uri)"
        let future: EventLoopFuture<CompletedResponse> = channel.eventLoop.flatSubmit {
            let promise = channel.eventLoop.makePromise(of: CompletedResponse.self)
            do {
                let collector = try channel.pipeline.syncOperations.handler(type: ResponseCollector.self)
                collector.begin(promise, context: "\(request) to \(authority)")
            } catch {
                promise.fail(HTTPClientError(.connectionClosed, "connection to \(authority) is gone"))
                return promise.futureResult
            }
            let timer = channel.eventLoop.scheduleTask(deadline: deadline) {
                promise.fail(
                    HTTPClientError(.timeout, "timeout waiting for the response to \(request) from \(authority)"))
                channel.close(promise: nil)
            }
            promise.futureResult.whenComplete { _ in timer.cancel() }
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body, !body.isEmpty {
                channel.write(
                    HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil)).whenFailure { error in
                promise.fail(HTTPClientError(.connectionClosed, "cannot send \(request) to \(authority): \(error)"))
            }
            return promise.futureResult
        }
        let completed: CompletedResponse
        do {
            completed = try await withTaskCancellationHandler {
                try await future.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch let error as HTTPClientError {
            channel.close(promise: nil)
            if Task.isCancelled { throw HTTPClientError(.cancelled, "\(request) to \(authority) cancelled") }
            throw error
        } catch {
            channel.close(promise: nil)
            if Task.isCancelled { throw HTTPClientError(.cancelled, "\(request) to \(authority) cancelled") }
            throw HTTPClientError(.badResponse, "\(request) to \(authority): \(error)")
        }
        if completed.keepAlive && channel.isActive {
            await pool.give(channel)
        } else {
            channel.close(promise: nil)
        }
        return completed.response
    }
}

/// A response and whether its connection may carry another request.
private struct CompletedResponse: Sendable {
    var response: HTTPResponse
    var keepAlive: Bool
}

/// The idle connections of one client (one owner: this actor).
private actor ConnectionPool {
    private var idle: [any Channel] = []
    private var closed = false
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// The most recently used idle connection that is still open, or nil.
    func take() -> (any Channel)? {
        while let channel = idle.popLast() {
            if channel.isActive { return channel }
        }
        return nil
    }

    /// Keeps `channel` for reuse (closes it when the pool is full or closed).
    func give(_ channel: any Channel) {
        idle.removeAll { !$0.isActive }
        guard !closed, idle.count < limit else {
            channel.close(promise: nil)
            return
        }
        idle.append(channel)
    }

    /// Closes every idle connection and refuses new ones.
    func close() {
        closed = true
        for channel in idle { channel.close(promise: nil) }
        idle.removeAll()
    }
}

/// Collects one response at a time on a client connection and completes the current request's promise.
/// Lives on the channel's event loop; a response that arrives with no request pending closes the channel.
private final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let maxBodySize: Int
    private var promise: EventLoopPromise<CompletedResponse>?
    private var what = ""
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    private var receivedAnything = false

    init(maxBodySize: Int) { self.maxBodySize = maxBodySize }

    /// Starts waiting for the response to a request described by `context` (for errors).
    func begin(_ promise: EventLoopPromise<CompletedResponse>, context: String) {
        self.promise = promise
        what = context
        head = nil
        body = []
        receivedAnything = false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard promise != nil else {
            context.close(promise: nil)
            return
        }
        receivedAnything = true
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            // 1xx responses (other than 101) are interim: the real one follows.
            if responseHead.status.code >= 100 && responseHead.status.code < 200 && responseHead.status.code != 101 {
                return
            }
            head = responseHead
        case .body(var buffer):
            guard body.count + buffer.readableBytes <= maxBodySize else {
                finish(.failure(HTTPClientError(.badResponse, "\(what): body larger than \(maxBodySize) bytes")))
                context.close(promise: nil)
                return
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else {
                finish(.failure(HTTPClientError(.badResponse, "\(what): response ended without a status line")))
                context.close(promise: nil)
                return
            }
            let response = HTTPResponse(
                status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) }, body: body)
            finish(.success(CompletedResponse(response: response, keepAlive: head.isKeepAlive)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if promise != nil {
            if !receivedAnything, error is IOError {
                // A reset (ECONNRESET, EPIPE) before any response byte is the server closing the connection,
                // as channelInactive sees it when the close arrives as a FIN: the same retryable failure.
                finish(
                    .failure(
                        HTTPClientError(.connectionClosed, "\(what): connection reset before a response (\(error))")))
            } else {
                finish(.failure(HTTPClientError(.badResponse, "\(what): invalid HTTP response (\(error))")))
            }
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if promise != nil {
            if receivedAnything {
                finish(.failure(HTTPClientError(.badResponse, "\(what): connection closed mid-response")))
            } else {
                finish(.failure(HTTPClientError(.connectionClosed, "\(what): connection closed before a response")))
            }
        }
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<CompletedResponse, HTTPClientError>) {
        guard let promise else { return }
        self.promise = nil
        head = nil
        body = []
        switch result {
        case .success(let response): promise.succeed(response)
        case .failure(let error): promise.fail(error)
        }
    }
}

/// TCP connections opened from inside another network namespace: the socket is created while the calling
/// thread has joined the namespace (`setns`), then the thread returns to its own namespace at once; the socket
/// stays in the namespace it was created in. Blocking: run it on a thread pool.
enum NamespaceSocket {
    /// A connected, non-blocking TCP socket to `address:port` created inside `namespace`.
    static func connect(namespace: String, address: IPAddress, port: Int, timeout: TimeAmount, authority: String)
        throws
        -> CInt
    {
        #if os(Linux)
            func failure(_ what: String, _ code: Int32 = errno) -> HTTPClientError {
                HTTPClientError(
                    .connectFailed,
                    "cannot connect to \(authority) from network namespace \(namespace): \(what)\(code == 0 ? "" : ": " + String(cString: strerror(code)))"
                )
            }
            var storage = sockaddr_storage()
            let length: socklen_t
            let family: Int32
            switch address {
            case .v4(let a):
                var v4 = sockaddr_in()
                v4.sin_addr.s_addr = a.rawValue.bigEndian
                v4.sin_family = sa_family_t(AF_INET)
                v4.sin_port = in_port_t(UInt16(port).bigEndian)
                withUnsafeBytes(of: v4) { bytes in
                    withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
                }
                length = socklen_t(MemoryLayout<sockaddr_in>.size)
                family = AF_INET
            case .v6(let a):
                var v6 = sockaddr_in6()
                withUnsafeMutableBytes(of: &v6.sin6_addr) { $0.copyBytes(from: a.bytes) }
                v6.sin6_family = sa_family_t(AF_INET6)
                v6.sin6_port = in_port_t(UInt16(port).bigEndian)
                withUnsafeBytes(of: v6) { bytes in
                    withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
                }
                length = socklen_t(MemoryLayout<sockaddr_in6>.size)
                family = AF_INET6
            }
            let path = namespace.hasPrefix("/") ? namespace : "/run/netns/\(namespace)"
            let target = open(path, O_RDONLY | O_CLOEXEC)
            guard target >= 0 else { throw failure("cannot open \(path)") }
            defer { close(target) }
            let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            guard original >= 0 else { throw failure("cannot open /proc/thread-self/ns/net") }
            defer { close(original) }
            guard setns(target) == 0 else { throw failure("setns") }
            let fd = socket(
                family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            let socketErrno = errno
            // This thread must not stay in the other namespace.
            precondition(setns(original) == 0, "cannot return to the original network namespace")
            guard fd >= 0 else { throw failure("socket", socketErrno) }
            var connected = false
            defer { if !connected { close(fd) } }
            let result = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
            }
            if result != 0 {
                guard errno == EINPROGRESS else { throw connectError(errno, authority: authority) }
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let milliseconds = Int32(clamping: max(timeout.nanoseconds / 1_000_000, 1))
                let ready = poll(&poller, 1, milliseconds)
                if ready == 0 { throw HTTPClientError(.timeout, "timeout connecting to \(authority)") }
                guard ready > 0 else { throw failure("poll") }
                var code: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &size)
                if code != 0 { throw connectError(code, authority: authority) }
            }
            connected = true
            return fd
        #else
            throw HTTPClientError(.connectFailed, "network namespaces exist only on Linux")
        #endif
    }

    #if os(Linux)
        /// setns(2) for network namespaces (glibc declares it only under _GNU_SOURCE, so it is looked up).
        private static func setns(_ fd: CInt) -> CInt {
            typealias Function = @convention(c) (CInt, CInt) -> CInt
            guard let symbol = dlsym(nil, "setns") else {
                errno = ENOSYS
                return -1
            }
            let cloneNewNet: CInt = 0x4000_0000  // CLONE_NEWNET
            return unsafeBitCast(symbol, to: Function.self)(fd, cloneNewNet)
        }
    #endif

    private static func connectError(_ code: Int32, authority: String) -> HTTPClientError {
        switch code {
        case ECONNREFUSED: return HTTPClientError(.connectFailed, "cannot connect to \(authority): connection refused")
        case ETIMEDOUT: return HTTPClientError(.timeout, "timeout connecting to \(authority)")
        case ENETUNREACH: return HTTPClientError(.connectFailed, "cannot connect to \(authority): network unreachable")
        case EHOSTUNREACH: return HTTPClientError(.connectFailed, "cannot connect to \(authority): host unreachable")
        default:
            return HTTPClientError(.connectFailed, "cannot connect to \(authority): \(String(cString: strerror(code)))")
        }
    }
}
