import StarlingModel

/// An API failure with its HTTP status; the response body is `{"error": message}` (DESIGN §3.2).
public struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int
    public var message: String
    /// Seconds for a `Retry-After` header (429).
    public var retryAfter: Int?

    public init(_ status: Int, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    /// 400 naming the field.
    public init(_ e: ModelError) { self.init(400, e.description) }

    public var description: String { "\(status): \(message)" }

    static func notFound(_ type: String, _ uuid: String) -> APIError { APIError(404, "\(type) \(uuid) not found") }
}
