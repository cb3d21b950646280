/// A reference between API objects, parsed: Avi writes them as URLs, `https://host/api/pool/pool-1234`
/// (optionally `#name`) or `/api/pool/pool-1234`, and accepts `/api/pool/?name=NAME` on write.
public struct ObjectRef: Sendable, Hashable, CustomStringConvertible {
    /// How the reference names its target.
    public enum Key: Sendable, Hashable {
        case uuid(String)
        case name(String)
    }

    /// The object type (`pool`).
    public var type: String
    public var key: Key
    /// A `tenant=` query parameter, if any (`/api/pool?tenant=admin&name=p`).
    public var tenant: String?

    public init(type: String, key: Key, tenant: String? = nil) {
        self.type = type
        self.key = key
        self.tenant = tenant
    }

    /// Parses a reference; nil when the string is not one.
    public init?(_ string: String) {
        var s = Substring(string)
        if let r = s.range(of: "://") {
            // Absolute URL: drop scheme and authority.
            let rest = s[r.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            s = rest[slash...]
        }
        if let hash = s.firstIndex(of: "#") { s = s[..<hash] }
        var query: Substring = ""
        if let q = s.firstIndex(of: "?") {
            query = s[s.index(after: q)...]
            s = s[..<q]
        }
        let parts = s.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0] == "api", parts.count <= 3 else { return nil }
        let type = String(parts[1])
        guard !type.isEmpty else { return nil }
        var name: String?
        var tenant: String?
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2 else { continue }
            let value = Self.percentDecode(kv[1])
            if kv[0] == "name" { name = value } else if kv[0] == "tenant" { tenant = value }
        }
        if parts.count == 3 {
            guard name == nil else { return nil }
            self.init(type: type, key: .uuid(Self.percentDecode(parts[2])), tenant: tenant)
        } else {
            guard let name, !name.isEmpty else { return nil }
            self.init(type: type, key: .name(name), tenant: tenant)
        }
    }

    /// The uuid, when the reference is by uuid.
    public var uuid: String? {
        if case .uuid(let u) = key { return u }
        return nil
    }

    /// The name, when the reference is by name.
    public var name: String? {
        if case .name(let n) = key { return n }
        return nil
    }

    /// `/api/<type>/<uuid>` or `/api/<type>/?name=<name>`.
    public var description: String {
        switch key {
        case .uuid(let u): return "/api/\(type)/\(u)"
        case .name(let n): return "/api/\(type)/?name=\(n)"
        }
    }

    /// Decodes `%XX` escapes and `+` (form encoding).
    public static func percentDecode(_ s: Substring) -> String {
        guard s.contains("%") || s.contains("+") else { return String(s) }
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%"), it.count >= 2,
                let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
