import Foundation
import Yams

/// A JSON value as `starling ctl` reads it from the API and from object files.
enum CtlJSON: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([CtlJSON])
    case object([String: CtlJSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([CtlJSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: CtlJSON].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Parses JSON bytes.
    static func parse(_ bytes: [UInt8]) throws -> CtlJSON {
        try JSONDecoder().decode(CtlJSON.self, from: Data(bytes))
    }

    /// Pretty JSON text (sorted keys, slashes unescaped) without a trailing newline.
    var pretty: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// Compact JSON bytes (sorted keys), for request bodies.
    var compactBytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { Array($0) } ?? Array("null".utf8)
    }

    /// Member `key` of an object (nil for anything else or a missing key).
    subscript(key: String) -> CtlJSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The members, when this is an object.
    var object: [String: CtlJSON]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements, when this is an array.
    var array: [CtlJSON]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The text, when this is a string.
    var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// A short, human form: strings bare, scalars as JSON, containers as compact JSON.
    var display: String {
        switch self {
        case .null: return "-"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return s
        case .array, .object: return String(decoding: compactBytes, as: UTF8.self)
        }
    }

    /// True for null, bool, numbers and strings.
    var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }
}

/// Reads the objects of `starling ctl create -f FILE`: JSON or YAML, one object, a list of objects, or several
/// YAML documents (one object or list each).
enum ObjectFile {
    /// YAML 1.2 core-schema scalars: `yes`, `on`, `010`, `1:30` and dates stay strings (JSON compatible).
    static let resolver: Resolver = {
        var r = Resolver.default.removing(.timestamp)
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

    /// The objects in `text`; `source` names the file in errors.
    static func objects(from text: String, source: String) throws(CtlError) -> [[String: CtlJSON]] {
        let documents: [CtlJSON]
        do {
            var sequence = try compose_all(yaml: text, resolver)
            var nodes: [Node] = []
            while let node = sequence.next() { nodes.append(node) }
            if let error = sequence.error { throw error }
            documents = try nodes.map { try json(from: $0) }
        } catch let error as CtlError {
            throw CtlError.usage("\(source): \(error.message)")
        } catch {
            throw CtlError.usage("\(source): not valid JSON or YAML: \(oneLine(error))")
        }
        var objects: [[String: CtlJSON]] = []
        for (index, document) in documents.enumerated() {
            switch document {
            case .object(let members):
                objects.append(members)
            case .array(let elements):
                for (position, element) in elements.enumerated() {
                    guard let members = element.object else {
                        throw CtlError.usage("\(source): item \(position) of the list is not an object")
                    }
                    objects.append(members)
                }
            case .null:
                continue  // an empty document (e.g. a trailing `---`)
            default:
                throw CtlError.usage("\(source): document \(index + 1) is not an object or a list of objects")
            }
        }
        if objects.isEmpty { throw CtlError.usage("\(source): no object in the file") }
        return objects
    }

    /// Converts a YAML node to JSON, with the core-schema tags of ``resolver``.
    static func json(from node: Node) throws -> CtlJSON {
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
            var members: [String: CtlJSON] = [:]
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    throw CtlError.usage(
                        "a mapping key is not a plain string (line \((key.mark?.line).map(String.init) ?? "?"))")
                }
                members[keyScalar.string] = try json(from: value)
            }
            return .object(members)
        case .sequence(let sequence):
            return .array(try sequence.map { try json(from: $0) })
        case .alias:
            throw CtlError.usage("YAML aliases are not supported")
        }
    }

    /// The first line of an error's description.
    static func oneLine(_ error: any Error) -> String {
        String("\(error)".split(separator: "\n").first ?? "")
    }
}
