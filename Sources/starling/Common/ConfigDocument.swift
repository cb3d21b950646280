import Foundation
import StarlingModel
import Yams

/// A configuration error: one line naming the field at fault (`peers[0].hold_time: must be 0 or 3…65535`).
struct ConfigError: Error, Equatable, CustomStringConvertible {
    var field: String
    var message: String
    var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

/// The one reader of the documents Starling's commands take: `starling bgp --config`, `starling se --config`,
/// `starling appliance` and `starling ctl create|update -f`. JSON is read as YAML's subset.
///
/// One policy for all of them:
/// - **YAML 1.2 core schema**: only `true`/`false` are booleans and only decimal, `0o` and `0x` numbers are
///   numbers, so `yes`, `on`, `1:30` (base 60 in YAML 1.1) and dates stay the strings they look like.
/// - **Limits**: at most ``Limits/bytes`` of text and ``Limits/nodes`` values, counting every copy a YAML alias
///   makes (aliases are how a small document expands into a huge one, a "billion laughs").
/// - **Errors** name the field: a decode error becomes `field.path: expected a number in range`, an unknown
///   key `field.path: unknown setting (known here: …)`.
///
/// Typed settings are decoded from the composed node (``decode(_:from:)``), so a field declared as a string
/// keeps the scalar's text (`password: 0123` stays "0123"); untyped documents (API objects) become a
/// ``JSONValue`` with the core schema's types (``json(from:)``).
enum ConfigDocument {
    /// Bounds on one input.
    struct Limits: Sendable {
        /// The most bytes of text.
        var bytes: Int
        /// The most values (scalars, mappings, sequences and keys), all documents together.
        var nodes: Int

        /// Settings files and object files: far above any real one, far below what hurts.
        static let standard = Limits(bytes: 16 << 20, nodes: 2_000_000)
    }

    /// YAML 1.2 core-schema scalars: `yes`, `on`, `010` as octal, `1:30` and dates are not special.
    static let resolver: Yams.Resolver = {
        var r = Yams.Resolver.default.removing(.timestamp)
        // swift-format-ignore: NeverUseForceTry
        r = try! r.replacing(.bool, with: "^(?:true|True|TRUE|false|False|FALSE)$")
        r = try! r.replacing(.int, with: "^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
        r = try! r.replacing(
            .float,
            with:
                "^(?:[-+]?(?:\\.[0-9]+|[0-9]+(?:\\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN))$"
        )
        return r
    }()

    /// Every document in `text` (YAML `---` separated), checked against `limits`; empty documents are left out.
    static func documents(_ text: String, limits: Limits = .standard) throws(ConfigError) -> [Node] {
        guard text.utf8.count <= limits.bytes else {
            throw ConfigError(field: "", message: "the document is larger than \(limits.bytes) bytes")
        }
        var nodes: [Node] = []
        do {
            var sequence = try compose_all(yaml: text, resolver)
            while let node = sequence.next() { nodes.append(node) }
            if let error = sequence.error { throw error }
        } catch {
            throw ConfigError(field: "", message: "not valid YAML or JSON: \(oneLine(error))")
        }
        try checkSize(nodes, limits: limits)
        return nodes.filter { !$0.isEmptyDocument }
    }

    /// The one document in `text` (nil when it is empty); several documents are an error.
    static func document(_ text: String, limits: Limits = .standard) throws(ConfigError) -> Node? {
        let all = try documents(text, limits: limits)
        guard all.count <= 1 else {
            throw ConfigError(field: "", message: "expected one document, found \(all.count) (separated by ---)")
        }
        return all.first
    }

    /// Decodes a typed settings document, mapping decode errors to `field: reason`.
    static func decode<T: Decodable>(_ type: T.Type, from node: Node) throws(ConfigError) -> T {
        do {
            return try YAMLDecoder().decode(type, from: node)
        } catch let error as DecodingError {
            throw describe(error)
        } catch {
            throw ConfigError(field: "", message: oneLine(error))
        }
    }

    /// Refuses keys of the mapping `node` not in `allowed`, so a typo (`hold-time`, `pasive`) is an error rather
    /// than a silently ignored setting. Nothing happens when `node` is not a mapping (decoding says so).
    static func checkKeys(_ node: Node?, allowed: Set<String>, path: String) throws(ConfigError) {
        guard let mapping = node?.mapping else { return }
        for key in mapping.keys.map({ $0.string ?? "\($0)" }).sorted() where !allowed.contains(key) {
            throw ConfigError(
                field: path.isEmpty ? key : "\(path).\(key)",
                message: "unknown setting (known here: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// The JSON form of a composed node, with the core schema's types.
    static func json(from node: Node) throws(ConfigError) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case Tag.Name.null: return .null
            case Tag.Name.bool: return .bool(node.bool ?? false)
            case Tag.Name.int:
                if let value = Int64(scalar.string) { return .int(value) }
                if let value = node.int { return .int(Int64(value)) }
                return .string(scalar.string)
            case Tag.Name.float:
                return node.float.map { .double($0) } ?? .string(scalar.string)
            default:
                return .string(scalar.string)
            }
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    throw ConfigError(
                        field: "",
                        message:
                            "a mapping key is not a plain string (line \((key.mark?.line).map(String.init) ?? "?"))")
                }
                members[keyScalar.string] = try json(from: value)
            }
            return .object(members)
        case .sequence(let sequence):
            var elements: [JSONValue] = []
            elements.reserveCapacity(sequence.count)
            for element in sequence { elements.append(try json(from: element)) }
            return .array(elements)
        case .alias:
            throw ConfigError(field: "", message: "unresolved YAML alias")
        }
    }

    /// `field.path: reason` for a decode error.
    static func describe(_ error: DecodingError) -> ConfigError {
        switch error {
        case .keyNotFound(let key, let ctx):
            return ConfigError(field: path(ctx.codingPath + [key]), message: "is required")
        case .typeMismatch(let type, let ctx):
            return ConfigError(field: path(ctx.codingPath), message: "expected \(describeType(type))")
        case .valueNotFound(let type, let ctx):
            return ConfigError(field: path(ctx.codingPath), message: "expected \(describeType(type)), found null")
        case .dataCorrupted(let ctx):
            let p = path(ctx.codingPath)
            if p.isEmpty {
                return ConfigError(field: "", message: "not valid YAML or JSON: \(oneLine(ctx.debugDescription))")
            }
            return ConfigError(field: p, message: "invalid value (\(oneLine(ctx.debugDescription)))")
        @unknown default:
            return ConfigError(field: "", message: oneLine(error))
        }
    }

    /// `peers[0].bfd.min_tx_ms` for a coding path.
    static func path(_ keys: [any CodingKey]) -> String {
        var s = ""
        for k in keys {
            if let i = k.intValue {
                s += "[\(i)]"
            } else {
                s += s.isEmpty ? k.stringValue : ".\(k.stringValue)"
            }
        }
        return s
    }

    /// What a field of `type` takes, in words (optional fields as their wrapped type).
    static func describeType(_ type: Any.Type) -> String {
        var name = "\(type)"
        while name.hasPrefix("Optional<") { name = String(name.dropFirst("Optional<".count).dropLast()) }
        switch name {
        case "Int", "Int64", "Int32", "UInt", "UInt64", "UInt32", "UInt16", "UInt8", "Double":
            return "a number in range"
        case "String": return "a string"
        case "Bool": return "true or false"
        case "Scalar": return "a single value, not a list or a mapping"  // Yams found a collection
        default: return name.hasPrefix("Array<") ? "a list" : "an object"
        }
    }

    /// A value's description on one line.
    static func oneLine(_ value: Any) -> String {
        "\(value)".split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func checkSize(_ roots: [Node], limits: Limits) throws(ConfigError) {
        var count = 0
        var pending = roots
        while let node = pending.popLast() {
            count += 1
            guard count <= limits.nodes else {
                throw ConfigError(
                    field: "",
                    message: "the document has more than \(limits.nodes) values (counting what its aliases repeat)")
            }
            switch node {
            case .scalar: break
            case .mapping(let mapping):
                for (key, value) in mapping {
                    pending.append(key)
                    pending.append(value)
                }
            case .sequence(let sequence): pending.append(contentsOf: sequence)
            case .alias: throw ConfigError(field: "", message: "unresolved YAML alias")
            }
        }
    }
}

extension Node {
    /// A document with nothing in it (an empty file, a trailing `---`).
    fileprivate var isEmptyDocument: Bool {
        if case .scalar(let scalar) = self { return scalar.string.isEmpty && Tag.Name(rawValue: tag.rawValue) == .null }
        return false
    }
}
