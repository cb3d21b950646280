import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The client of the management plane (the SE agent's calls to the controller, `starling ctl`, the appliance
/// banner): one base URL, `http://` or `https://`, over AsyncHTTPClient (its connection pool, deadlines and
/// TLS), answering whole ``HTTPResponse``s and one-line ``HTTPClientError``s.
///
/// Each request has one deadline covering connect, TLS, send and the whole response. Redirects are not
/// followed (the caller sees them). Cancelling the calling task cancels the request with
/// ``HTTPClientError/Kind/cancelled``.
public final class HTTPClient: Sendable {
    /// How an `https://` client trusts the server and proves who it is.
    public struct TLS: Sendable {
        /// PEM certificates trusted as roots besides the system's (the cluster CA); empty: the system's only.
        public var trustedPEM: String = ""
        /// Whether the system's roots count too (an operator's certificate from a public or company CA).
        public var systemRoots = true
        /// False only to read a certificate that is checked another way (its hash, as a join token carries).
        public var verifyServer = true
        /// The client certificate chain and key (PEM) presented for mutual TLS.
        public var clientCertificatePEM: String?
        public var clientKeyPEM: String?

        public init(
            trustedPEM: String = "", systemRoots: Bool = true, verifyServer: Bool = true,
            clientCertificatePEM: String? = nil, clientKeyPEM: String? = nil
        ) {
            self.trustedPEM = trustedPEM
            self.systemRoots = systemRoots
            self.verifyServer = verifyServer
            self.clientCertificatePEM = clientCertificatePEM
            self.clientKeyPEM = clientKeyPEM
        }

        /// The system's CA bundle, when the system has one.
        static let systemBundle: String? = [
            "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem",
        ].first { FileManager.default.fileExists(atPath: $0) }

        /// NIOSSL's client configuration for these settings; throws for a PEM that does not parse.
        func configuration() throws -> TLSConfiguration {
            var c = TLSConfiguration.makeClientConfiguration()
            c.minimumTLSVersion = .tlsv12
            if !verifyServer {
                c.certificateVerification = .none
            } else {
                let roots = trustedPEM.isEmpty ? [] : try NIOSSLCertificate.fromPEMBytes(Array(trustedPEM.utf8))
                if roots.isEmpty {
                    c.trustRoots = .default
                } else {
                    c.trustRoots = .certificates(roots)
                    // The system's bundle too, where there is one (the appliance has none: its SEs trust the
                    // cluster CA alone, and a missing bundle must not fail the handshake).
                    if systemRoots, let bundle = Self.systemBundle { c.additionalTrustRoots = [.file(bundle)] }
                }
            }
            if let cert = clientCertificatePEM, let key = clientKeyPEM {
                c.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(cert.utf8)).map { .certificate($0) }
                c.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem))
            }
            return c
        }
    }

    /// The host (without brackets).
    public let host: String
    /// The server's TCP port.
    public let port: Int
    /// The base URL as given (without a trailing slash).
    public let baseURL: String
    /// Whether the base URL is `https://`.
    public let isTLS: Bool
    /// The largest response body accepted (bytes); a larger one fails with `badResponse`.
    public let maxBodySize: Int
    private let tlsConfiguration: Mutex<TLSConfiguration?>

    /// Creates a client for `baseURL` (`http://HOST[:PORT]` or `https://HOST[:PORT]`, HOST a name, an IPv4
    /// address or `[IPv6]`; port 80 or 443 by default). Throws ``HTTPClientError`` of kind `badURL` for
    /// anything else (a path, a bad port), and of kind `tls` when `tls` holds a PEM that does not parse.
    public init(baseURL: String, tls: TLS? = nil, maxBodySize: Int = 64 << 20) throws {
        let (scheme, host, port) = try Self.parseBaseURL(baseURL)
        self.host = host
        self.port = port
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = scheme + "://" + (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        self.isTLS = scheme == "https"
        self.maxBodySize = maxBodySize
        tlsConfiguration = Mutex(nil)
        if isTLS { try use(tls ?? TLS()) }
    }

    /// Replaces the TLS settings of an `https://` client (an SE that got its client certificate); requests
    /// under way keep theirs. Throws ``HTTPClientError`` of kind `tls` for a PEM that does not parse.
    public func use(_ tls: TLS) throws {
        let configuration: TLSConfiguration
        do {
            configuration = try tls.configuration()
        } catch {
            throw HTTPClientError(.tls, "TLS settings for \(baseURL): \(error)")
        }
        tlsConfiguration.withLock { $0 = configuration }
    }

    /// The process's one AsyncHTTPClient (never shut down: it lives as long as the process); requests carry
    /// their own TLS settings, and its pool keeps connections per server and settings.
    private static let engine: AsyncHTTPClient.HTTPClient = {
        var configuration = AsyncHTTPClient.HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.httpVersion = .http1Only
        configuration.timeout = .init(connect: .seconds(10), read: nil)
        // A refused connect fails the request at once (the SE agent then tries the next controller node).
        configuration.connectionPool.retryConnectionEstablishment = false
        return AsyncHTTPClient.HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Splits `http[s]://HOST[:PORT][/]` into scheme (`http` or `https`), host (without brackets) and port
    /// (80 or 443 by default); throws ``HTTPClientError`` of kind `badURL` naming what is wrong.
    public static func parseBaseURL(_ url: String) throws -> (scheme: String, host: String, port: Int) {
        func bad(_ why: String) -> HTTPClientError {
            HTTPClientError(.badURL, "bad URL '\(url)': \(why) (expected http://HOST[:PORT] or https://HOST[:PORT])")
        }
        let lower = url.lowercased()
        let scheme: String
        if lower.hasPrefix("http://") {
            scheme = "http"
        } else if lower.hasPrefix("https://") {
            scheme = "https"
        } else {
            throw bad("scheme must be http or https")
        }
        var rest = Substring(url.dropFirst(scheme.count + 3))
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("/") || rest.contains("?") || rest.contains("#") { throw bad("a path is not allowed") }
        if rest.contains("@") { throw bad("user info is not allowed") }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw bad("unclosed '[' in the host") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad("unexpected text after ']'") }
                portText = after.dropFirst()
            }
        } else {
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw bad("an IPv6 host must be in brackets") }
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
        }
        guard !host.isEmpty else { throw bad("empty host") }
        var port = scheme == "https" ? 443 : 80
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw bad("port '\(portText)' is not 1-65535")
            }
            port = value
        }
        return (scheme, String(host), port)
    }

    /// `host:port` as shown in errors (`[v6]:port` for IPv6).
    public var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Sends `method path` (path starting with `/`, query included) with `headers` and `body`, and returns
    /// the complete response, whatever its status. `Content-Length` and `User-Agent` are added unless given.
    /// Throws ``HTTPClientError`` when no complete response arrives within `timeout`, the connection or its
    /// TLS fails, it closes early, or the response is malformed.
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
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = HTTPMethod(rawValue: method.uppercased())
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !request.headers.contains(name: "User-Agent") { request.headers.add(name: "User-Agent", value: "starling") }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        } else if ["POST", "PUT", "PATCH"].contains(method.uppercased()) {
            request.body = .bytes(ByteBuffer())
        }
        request.tlsConfiguration = isTLS ? tlsConfiguration.withLock { $0 } : nil
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        // A kept-alive connection the server closed while idle can take the next request before the pool
        // notices: an idempotent request that finds its connection closed before any answer goes once more.
        let idempotent = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method.uppercased())
        do {
            return try await send(request, deadline: deadline)
        } catch let error as HTTPClientError where error.kind == .connectionClosed && idempotent && !Task.isCancelled {
            return try await send(request, deadline: deadline)
        }
    }

    /// One attempt of ``request(_:_:headers:body:timeout:)``.
    private func send(_ request: HTTPClientRequest, deadline: NIODeadline) async throws -> HTTPResponse {
        let what = "\(request.method.rawValue) \(request.url.dropFirst(baseURL.count))"
        do {
            let response = try await Self.engine.execute(request, deadline: deadline)
            var bytes: [UInt8] = []
            for try await chunk in response.body {
                guard bytes.count + chunk.readableBytes <= maxBodySize else {
                    throw HTTPClientError(
                        .badResponse, "\(what) to \(authority): body larger than \(maxBodySize) bytes")
                }
                bytes += chunk.readableBytesView
            }
            return HTTPResponse(
                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: bytes)
        } catch let error as HTTPClientError {
            throw error
        } catch {
            if Task.isCancelled { throw HTTPClientError(.cancelled, "\(what) to \(authority) cancelled") }
            throw Self.describe(error, what: what, authority: authority)
        }
    }

    /// Kept for callers that stop a client: the connections belong to the process's pool, which closes
    /// idle ones by itself.
    public func shutdown() async {}

    /// One line for an AsyncHTTPClient, NIO or TLS failure.
    static func describe(_ error: any Error, what: String, authority: String) -> HTTPClientError {
        if let e = error as? AsyncHTTPClient.HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return HTTPClientError(.timeout, "timeout waiting for the response to \(what) from \(authority)")
            case .connectTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout:
                return HTTPClientError(.timeout, "timeout connecting to \(authority)")
            case .remoteConnectionClosed:
                return HTTPClientError(
                    .connectionClosed, "\(what) to \(authority): connection closed before a response")
            case .cancelled:
                return HTTPClientError(.cancelled, "\(what) to \(authority) cancelled")
            default:
                return HTTPClientError(.badResponse, "\(what) to \(authority): \(e)")
            }
        }
        if error is NIOSSLError || error is BoringSSLError {
            let text = "\(error)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return HTTPClientError(
                    .tls, "TLS with \(authority): its certificate is not trusted (the CA given does not sign it)")
            }
            return HTTPClientError(.tls, "TLS with \(authority) failed: \(text)")
        }
        if error is CancellationError { return HTTPClientError(.cancelled, "\(what) to \(authority) cancelled") }
        switch error as? ChannelError {
        case .ioOnClosedChannel?, .alreadyClosed?, .eof?, .outputClosed?:
            // The connection (a kept-alive one the server closed) was gone before an answer.
            return HTTPClientError(.connectionClosed, "\(what) to \(authority): connection closed before a response")
        default:
            break
        }
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
            case ECONNRESET, EPIPE:
                return HTTPClientError(.connectionClosed, "\(what) to \(authority): connection reset (\(io))")
            default: reason = "\(io)"
            }
            return HTTPClientError(.connectFailed, "cannot connect to \(authority): \(reason)")
        }
        if underlying is NIOConnectionError || underlying is SocketAddressError {
            return HTTPClientError(.connectFailed, "cannot connect to \(authority): \(underlying)")
        }
        return HTTPClientError(.badResponse, "\(what) to \(authority): invalid HTTP response (\(error))")
    }
}
