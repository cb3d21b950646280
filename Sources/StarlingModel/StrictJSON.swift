import Foundation

/// Strict JSON decoding for API writes and config files: every failure becomes a ``ModelError`` naming
/// the field (`servers[1].port: expected an integer`), and members the type does not have are refused.
public enum StrictJSON {
    /// The encoder used for API responses and the store: sorted keys, slashes unescaped.
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// Parses bytes as JSON; a ModelError on field `body` when they are not.
    public static func parse(_ data: Data) throws(ModelError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw ModelError(field: "body", message: "malformed JSON")
        }
    }

    /// Decodes a typed value from a JSON value, refusing unknown members (``unknownField(in:for:)``).
    public static func decode<T: Decodable>(_ type: T.Type, from json: JSONValue) throws(ModelError) -> T {
        let value: T
        do {
            let data = try encoder().encode(json)
            value = try JSONDecoder().decode(T.self, from: data)
        } catch let e as DecodingError {
            throw modelError(e)
        } catch {
            throw ModelError(field: "body", message: "\(error)")
        }
        if let f = unknownField(in: json, for: value) {
            throw ModelError(field: f, message: "unknown field")
        }
        return value
    }

    /// Parses and decodes in one step.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(ModelError) -> T {
        try decode(type, from: try parse(data))
    }

    /// The dotted path of the first member of `json` (sorted, depth first) that `value`'s type has no
    /// stored property for; nil when there is none. Property names are the JSON names in this module.
    public static func unknownField(in json: JSONValue, for value: Any, path: String = "") -> String? {
        guard let target = unwrap(value) else { return nil }
        switch json {
        case .object(let members):
            let m = Mirror(reflecting: target)
            guard m.displayStyle == .struct || m.displayStyle == .class else { return nil }
            var children: [String: Any] = [:]
            for c in m.children { if let l = c.label { children[l] = c.value } }
            for key in members.keys.sorted() {
                let p = path.isEmpty ? key : "\(path).\(key)"
                guard let child = children[key] else { return p }
                if let f = unknownField(in: members[key]!, for: child, path: p) { return f }
            }
            return nil
        case .array(let items):
            let m = Mirror(reflecting: target)
            guard m.displayStyle == .collection else { return nil }
            for (i, (item, child)) in zip(items, m.children.map(\.value)).enumerated() {
                if let f = unknownField(in: item, for: child, path: "\(path)[\(i)]") { return f }
            }
            return nil
        default:
            return nil
        }
    }

    private static func unwrap(_ v: Any) -> Any? {
        let m = Mirror(reflecting: v)
        guard m.displayStyle == .optional else { return v }
        guard let inner = m.children.first?.value else { return nil }
        return unwrap(inner)
    }

    /// `servers[1].port` from a coding path.
    public static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for k in keys {
            if let i = k.intValue {
                out += "[\(i)]"
            } else {
                out += out.isEmpty ? k.stringValue : ".\(k.stringValue)"
            }
        }
        return out
    }

    /// A field-naming error for a decoding failure.
    public static func modelError(_ e: DecodingError) -> ModelError {
        switch e {
        case .typeMismatch(let type, let ctx):
            return ModelError(field: fieldOr(ctx.codingPath), message: "expected \(describe(type))")
        case .valueNotFound(let type, let ctx):
            return ModelError(field: fieldOr(ctx.codingPath), message: "must be \(describe(type)), not null")
        case .keyNotFound(let key, let ctx):
            return ModelError(field: path(ctx.codingPath + [key]), message: "required")
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return ModelError(field: "body", message: "malformed JSON") }
            return ModelError(field: path(ctx.codingPath), message: ctx.debugDescription)
        @unknown default:
            return ModelError(field: "body", message: "\(e)")
        }
    }

    private static func fieldOr(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "body" : path(keys)
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is UInt32.Type, is Int32.Type, is UInt16.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}
