/// What every Avi-shaped API object has: the common fields (`uuid`, `name`, `url`, `tenant_ref`,
/// `_last_modified`, `description`), its type name in URLs (`/api/<objectType>`), and validation.
///
/// Stored property names are Avi's JSON field names, so `Codable` synthesis gives Avi's JSON and
/// `Mirror` sees the same names (used by ``JSONValue/unknownField(for:)`` to refuse unknown fields).
public protocol AviObject: Codable, Sendable, Hashable {
    /// The type as it appears in URLs: `pool` for `/api/pool`.
    static var objectType: String { get }
    /// `<type>-<uuid4>`; assigned by the controller.
    var uuid: String? { get set }
    /// Unique per type and tenant.
    var name: String { get set }
    /// `https://<controller>/api/<type>/<uuid>`; assigned by the controller.
    var url: String? { get set }
    /// The tenant the object belongs to; assigned by the controller from `X-Avi-Tenant` when absent.
    var tenant_ref: String? { get set }
    /// Microseconds since the epoch of the last write, as a string (Avi's shape).
    var _last_modified: String? { get set }
    /// Free text.
    var description: String? { get set }
    /// Checks what the API must refuse with a 400 naming the field (`servers[1].port: ...`).
    func validate() throws(ModelError)
}

extension AviObject {
    /// The check every object shares: a non-empty name without control characters.
    public func validateName() throws(ModelError) {
        guard !name.isEmpty else { throw ModelError(field: "name", message: "must not be empty") }
        guard name.count <= 256 else { throw ModelError(field: "name", message: "must be at most 256 characters") }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw ModelError(field: "name", message: "must not contain control characters")
        }
    }
}

/// An Avi enumeration value carried as a string (`LB_ALGORITHM_ROUND_ROBIN`). Decoding an unknown value
/// fails with a message listing the accepted ones, so the API's 400 names the field and the choices.
public protocol AviEnum: RawRepresentable, CaseIterable, Codable, Sendable, Hashable where RawValue == String {}

extension AviEnum {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let value = Self(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "unknown value \"\(raw)\"; expected one of "
                    + Self.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Range checks shared by the object types.
enum Check {
    static func range<T: Comparable>(_ v: T?, _ r: ClosedRange<T>, _ field: String) throws(ModelError) {
        if let v, !r.contains(v) {
            throw ModelError(field: field, message: "must be \(r.lowerBound)-\(r.upperBound)")
        }
    }

    static func port(_ v: Int?, _ field: String) throws(ModelError) { try range(v, 1...65535, field) }

    static func ref(_ v: String?, _ type: String, _ field: String) throws(ModelError) {
        guard let v else { return }
        guard let r = ObjectRef(v) else {
            throw ModelError(
                field: field, message: "\"\(v)\" is not a reference (/api/\(type)/<uuid> or /api/\(type)/?name=NAME)")
        }
        guard r.type == type else {
            throw ModelError(field: field, message: "must refer to a \(type), not a \(r.type)")
        }
    }

    static func refs(_ v: [String]?, _ type: String, _ field: String) throws(ModelError) {
        for (i, r) in (v ?? []).enumerated() { try ref(r, type, "\(field)[\(i)]") }
    }
}
