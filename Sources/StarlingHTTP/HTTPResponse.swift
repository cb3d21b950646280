import Foundation

/// A complete HTTP response: status, headers in arrival order, and the whole body.
public struct HTTPResponse: Sendable {
    /// The status code (200, 404, ...).
    public var status: Int
    /// Every header field, in the order received (names as sent by the server).
    public var headers: [(String, String)]
    /// The body (empty when there is none).
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (compared case-insensitively), or nil.
    public func header(_ name: String) -> String? {
        let key = name.lowercased()
        return headers.first { $0.0.lowercased() == key }?.1
    }

    /// The cookies set by the response: `Set-Cookie: NAME=VALUE; attributes` → `[NAME: VALUE]`
    /// (a later header for the same name wins).
    public var setCookies: [String: String] {
        var cookies: [String: String] = [:]
        for (name, value) in headers where name.lowercased() == "set-cookie" {
            let pair = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let cookie = pair[..<equals].trimmingCharacters(in: .whitespaces)
            guard !cookie.isEmpty else { continue }
            var content = pair[pair.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if content.count >= 2, content.hasPrefix("\""), content.hasSuffix("\"") {
                content = String(content.dropFirst().dropLast())
            }
            cookies[cookie] = content
        }
        return cookies
    }

    /// The body as UTF-8 text (invalid sequences repaired).
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Why an HTTP request failed, with a one-line description.
public struct HTTPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        /// The base URL is not `http://HOST[:PORT]`.
        public static let badURL = Kind(description: "bad URL")
        /// The TCP connection could not be made (refused, unreachable, name not resolved).
        public static let connectFailed = Kind(description: "connect failed")
        /// No complete response arrived before the request's deadline.
        public static let timeout = Kind(description: "timeout")
        /// The server sent something that is not a valid HTTP/1.x response.
        public static let badResponse = Kind(description: "bad response")
        /// The server closed the connection before the response was complete.
        public static let connectionClosed = Kind(description: "connection closed")
        /// The calling task was cancelled, or the client was shut down.
        public static let cancelled = Kind(description: "cancelled")
        /// The request itself is invalid (path, header).
        public static let badRequest = Kind(description: "bad request")
        /// TLS failed: the server's certificate is not trusted, the handshake failed, or the TLS settings
        /// (certificates, key) do not parse.
        public static let tls = Kind(description: "TLS failed")

        public let description: String
    }

    /// The kind of failure.
    public var kind: Kind
    /// A one-line explanation naming the server and what went wrong.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
