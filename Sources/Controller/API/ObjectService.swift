import Foundation
import StarlingModel

/// The tenant a request works in (from `X-Avi-Tenant` / `X-Avi-Tenant-UUID`, else the user's default
/// tenant) and who makes it (for the audit trail). Authorization happens before a scope reaches the
/// object service (``Principal/authorize(_:_:in:)``); the service keeps tenants apart.
public struct Scope: Sendable, Hashable {
    /// Tenant uuid (`admin` for the admin tenant, as in Avi).
    public var tenant: String
    public var userUUID: String?
    var actor: AuditLog.Actor

    init(tenant: String = "admin", userUUID: String? = nil, actor: AuditLog.Actor = .system) {
        self.tenant = tenant
        self.userUUID = userUUID
        self.actor = actor
    }
}

/// CRUD on API objects (DESIGN §3.2) over the store: strict decoding and validation, refs by name or
/// URL normalized to `/api/<type>/<uuid>`, unique names, 409 while referenced, tenant scoping, and the
/// type-specific rules (user passwords are write-only hashes; serviceengine objects come only from
/// registration and only their group, name and description may change; predefined roles are fixed and a
/// custom role cannot grant writes reserved to System-Admin). Every write lands with its audit row.
struct ObjectService: Sendable {
    let store: any ControllerStore
    let hasher: PasswordHasher
    /// Seals certificate keys in the store (``SecretBox``).
    let secrets: SecretBox
    /// Wall-clock seconds since the epoch (for `_last_modified`).
    let wallClock: @Sendable () -> Double

    static let admin = "admin"

    // MARK: Reads

    struct ListQuery: Sendable {
        var name: String?
        var page = 1
        var pageSize = 25
        var fields: Set<String>?
        var includeName = false
        /// Only these uuids (the tenants a user may see).
        var only: Set<String>?
    }

    func list(_ kind: ObjectKind, scope: Scope, query: ListQuery, base: String) async throws -> JSONValue {
        let tenants = kind.global ? nil : Self.visible(scope, kind)
        let objects = try await store.read { tx in
            try tx.objects(type: kind.name, tenants: tenants, name: query.name)
        }.filter { o in query.only?.contains(o.uuid) ?? true }
        let start = (query.page - 1) * query.pageSize
        let slice = start < objects.count ? Array(objects[start..<min(objects.count, start + query.pageSize)]) : []
        var results: [JSONValue] = []
        for o in slice {
            results.append(
                try await present(
                    kind.hidingWriteOnly(o.json), base: base, fields: query.fields, includeName: query.includeName))
        }
        var out: [String: JSONValue] = ["count": .int(Int64(objects.count)), "results": .array(results)]
        if start + query.pageSize < objects.count {
            var next = "\(base)/api/\(kind.name)?page=\(query.page + 1)&page_size=\(query.pageSize)"
            if let n = query.name { next += "&name=\(Self.percentEncode(n))" }
            out["next"] = .string(next)
        }
        return .object(out)
    }

    func get(
        _ kind: ObjectKind, uuid: String, scope: Scope, base: String, fields: Set<String>? = nil,
        includeName: Bool = false
    ) async throws -> JSONValue {
        let o = try await store.read { tx in try Self.visibleObject(tx, kind, uuid, scope) }
        return try await present(kind.hidingWriteOnly(o.json), base: base, fields: fields, includeName: includeName)
    }

    /// Stored (relative) form of an object, for internal users.
    func stored(_ kind: ObjectKind, uuid: String, scope: Scope) async throws -> StoredObject {
        try await store.read { tx in try Self.visibleObject(tx, kind, uuid, scope) }
    }

    // MARK: Writes

    func create(_ kind: ObjectKind, body: JSONValue, scope: Scope) async throws -> StoredObject {
        guard kind.creatable else {
            throw APIError(405, "\(kind.name) objects are created when an SE registers (POST /api/se-agent/register)")
        }
        guard case .object(var members) = body else { throw APIError(400, "body: must be a JSON object") }
        for k in ["uuid", "url", "_last_modified"] { members[k] = nil }
        var password: String?
        if kind.account {
            guard case .string(let p) = members["password"] ?? .null else {
                throw APIError(400, "password: required")
            }
            password = p
        }
        let canonical = try Self.check(kind, .object(members))
        try kind.rule?(canonical)
        let hash = try await password.asyncMap { try await hasher.hashOffloaded($0) }
        let now = wallClock()
        return try await store.write { tx in
            let uuid = "\(kind.name)-\(Secrets.uuid4())"
            let stored = try prepared(kind, canonical, stored: nil, now: now)
            let o = try Self.insert(tx, kind, stored, uuid: uuid, scope: scope, passwordHash: hash, now: now)
            try AuditLog.record(
                tx, .create, actor: scope.actor, tenant: o.tenant, type: kind.name, uuid: o.uuid, name: o.name,
                new: o.json, now: now)
            return o
        }
    }

    /// PUT. A body that carries `_last_modified` is a copy read earlier: when the object changed since
    /// (another write landed in between), the PUT is refused with 412, as Avi does, so that no write is
    /// lost to a concurrent one.
    func replace(_ kind: ObjectKind, uuid: String, body: JSONValue, scope: Scope) async throws -> StoredObject {
        guard case .object(var members) = body else { throw APIError(400, "body: must be a JSON object") }
        let readVersion = try Self.lastModified(members["_last_modified"])
        for k in ["uuid", "url", "_last_modified"] { members[k] = nil }
        let password = members["password"]?.string
        let canonical = try Self.check(kind, .object(members))
        try kind.rule?(canonical)
        let hash = try await password.asyncMap { try await hasher.hashOffloaded($0) }
        let now = wallClock()
        return try await store.write { tx in
            let existing = try Self.visibleObject(tx, kind, uuid, scope)
            try Self.writable(existing, kind, scope)
            if let readVersion, let stored = existing.json["_last_modified"]?.string, stored != readVersion {
                throw APIError(
                    412,
                    "_last_modified: \(kind.name) \(existing.name) changed since this copy was read "
                        + "(\(readVersion), now \(stored)): read it again and reapply the change")
            }
            let stored = try prepared(kind, canonical, stored: existing.json, now: now)
            return try Self.updateAudited(tx, kind, existing, stored, scope: scope, passwordHash: hash, now: now)
        }
    }

    /// PATCH: Avi's `{"add": ..., "replace": ..., "delete": ...}` or a plain JSON merge.
    func patch(_ kind: ObjectKind, uuid: String, body: JSONValue, scope: Scope) async throws -> StoredObject {
        guard case .object(let ops) = body else { throw APIError(400, "body: must be a JSON object") }
        let password = (ops["replace"]?["password"] ?? ops["password"])?.string
        let hash = try await password.asyncMap { try await hasher.hashOffloaded($0) }
        let now = wallClock()
        return try await store.write { tx in
            let existing = try Self.visibleObject(tx, kind, uuid, scope)
            try Self.writable(existing, kind, scope)
            let merged = try Self.applyPatch(try opened(kind, existing.json), ops)
            var members = merged.object ?? [:]
            for k in ["uuid", "url", "_last_modified"] { members[k] = nil }
            let canonical = try Self.check(kind, .object(members))
            try kind.rule?(canonical)
            let stored = try prepared(kind, canonical, stored: existing.json, now: now)
            return try Self.updateAudited(tx, kind, existing, stored, scope: scope, passwordHash: hash, now: now)
        }
    }

    /// A user's own password change (`PUT /api/useraccount`, old password already checked): ends the
    /// user's other sessions.
    func changeOwnPassword(userUUID: String, password: String, keepSession: String?, actor: AuditLog.Actor) async throws
    {
        let hash = try await hasher.hashOffloaded(password)
        let now = wallClock()
        try await store.write { tx in
            guard let o = try tx.object(uuid: userUUID) else { throw APIError.notFound(User.objectType, userUUID) }
            try tx.setPasswordHash(hash, user: userUUID)
            try tx.deleteSessions(user: userUUID, except: keepSession)
            try AuditLog.record(
                tx, .passwordChange, actor: actor, tenant: o.tenant, type: User.objectType, uuid: o.uuid, name: o.name,
                old: o.json, new: o.json, now: now)
        }
    }

    func delete(_ kind: ObjectKind, uuid: String, scope: Scope) async throws {
        let now = wallClock()
        try await store.write { tx in
            let existing = try Self.visibleObject(tx, kind, uuid, scope)
            try Self.writable(existing, kind, scope)
            if let (t, n) = try tx.referrer(of: kind.name, uuid: uuid) {
                throw APIError(409, "\(kind.name) \(existing.name) is still referenced by \(t) \(n)")
            }
            if kind.protection == .tenants {
                guard uuid != Self.admin else { throw APIError(409, "the admin tenant cannot be deleted") }
                if let (t, n) = try tx.anyObject(inTenant: uuid) {
                    throw APIError(409, "tenant \(existing.name) still has objects (\(t) \(n))")
                }
            }
            if kind.account, uuid == scope.userUUID { throw APIError(409, "a user cannot delete itself") }
            for records in kind.cascade { try tx.deleteRecords(records, of: uuid) }
            try tx.deleteObject(uuid: uuid)
            try AuditLog.record(
                tx, .delete, actor: scope.actor, tenant: existing.tenant, type: kind.name, uuid: uuid,
                name: existing.name, old: existing.json, now: now)
        }
    }

    // MARK: Write helpers (inside a transaction)

    /// The stored form of a checked body: a certificate is checked against its key, described and its
    /// secrets sealed, a PKI profile's CA certificates are parsed (``CertificateImport``).
    func prepared(_ kind: ObjectKind, _ canonical: JSONValue, stored: JSONValue?, now: Double) throws -> JSONValue {
        switch kind.storedForm {
        case .certificate:
            return try CertificateImport.prepare(
                canonical, stored: stored, box: secrets, now: Date(timeIntervalSince1970: now))
        case .pkiProfile:
            try CertificateImport.checkAuthorities(try StrictJSON.decode(PKIProfile.self, from: canonical))
            return canonical
        case .canonical:
            return canonical
        }
    }

    /// A stored object with its sealed fields opened (the base a PATCH merges into).
    func opened(_ kind: ObjectKind, _ json: JSONValue) throws -> JSONValue {
        kind.writeOnly.isEmpty ? json : try CertificateImport.reveal(json, box: secrets)
    }

    /// The `_last_modified` a body carries (microseconds since the epoch, a string as Avi writes it, or a
    /// number), nil when absent.
    static func lastModified(_ value: JSONValue?) throws(APIError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let s)? where !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }: return s
        case .int(let i)? where i >= 0: return String(i)
        default: throw APIError(400, "_last_modified: expected the microseconds string the object was read with")
        }
    }

    /// `update` plus its audit row; a new password set for another user ends that user's sessions.
    static func updateAudited(
        _ tx: any StoreWriter, _ kind: ObjectKind, _ existing: StoredObject, _ canonical: JSONValue, scope: Scope,
        passwordHash: String?, now: Double
    ) throws -> StoredObject {
        let o = try update(tx, kind, existing, canonical, scope: scope, passwordHash: passwordHash, now: now)
        if passwordHash != nil, existing.uuid != scope.userUUID {
            try tx.deleteSessions(user: existing.uuid, except: nil)
        }
        try AuditLog.record(
            tx, passwordHash == nil ? .update : .passwordChange, actor: scope.actor, tenant: o.tenant, type: kind.name,
            uuid: o.uuid, name: o.name, old: existing.json, new: o.json, now: now)
        return o
    }

    static func check(_ kind: ObjectKind, _ json: JSONValue) throws(APIError) -> JSONValue {
        do {
            var out = try kind.check(json)
            if kind.account { out["password"] = nil }
            return out
        } catch {
            throw APIError(error)
        }
    }

    /// Inserts a new, already checked object.
    static func insert(
        _ tx: any StoreWriter, _ kind: ObjectKind, _ canonical: JSONValue, uuid: String, scope: Scope,
        passwordHash: String?, now: Double
    ) throws -> StoredObject {
        // A new object goes to the request's tenant (system-wide kinds to admin); a body tenant_ref may
        // only repeat that.
        let tenant = kind.global ? admin : scope.tenant
        try checkTenantRef(tx, canonical["tenant_ref"], expected: tenant)
        var json = try normalizeRefs(tx, canonical, path: "", tenant: tenant)
        let name = json["name"]?.string ?? ""
        if try tx.object(type: kind.name, tenant: tenant, name: name) != nil {
            throw APIError(409, "name: \(kind.name) \(name) already exists")
        }
        json["uuid"] = .string(uuid)
        json["url"] = .string("/api/\(kind.name)/\(uuid)")
        json["tenant_ref"] = .string("/api/tenant/\(tenant)")
        let micros = Int64(now * 1_000_000)
        json["_last_modified"] = .string(String(micros))
        if kind.account {
            guard let passwordHash else { throw APIError(400, "password: required") }
            let username = json["username"]?.string ?? name
            if try tx.credentials(username: username) != nil {
                throw APIError(409, "username: \(username) already exists")
            }
            try tx.insertUser(uuid: uuid, username: username, passwordHash: passwordHash)
        }
        let o = StoredObject(type: kind.name, uuid: uuid, tenant: tenant, name: name, json: json)
        try tx.putObject(o, lastModified: micros)
        return o
    }

    static func update(
        _ tx: any StoreWriter, _ kind: ObjectKind, _ existing: StoredObject, _ canonical: JSONValue, scope: Scope,
        passwordHash: String?, now: Double
    ) throws -> StoredObject {
        let tenant = existing.tenant
        try checkTenantRef(tx, canonical["tenant_ref"], expected: tenant)
        var json = try normalizeRefs(tx, canonical, path: "", tenant: tenant)
        if let fields = kind.writableFields {
            var kept = existing.json
            for k in fields { kept[k] = json[k] }
            json = kept
        }
        let name = json["name"]?.string ?? ""
        if let other = try tx.object(type: kind.name, tenant: tenant, name: name), other.uuid != existing.uuid {
            throw APIError(409, "name: \(kind.name) \(name) already exists")
        }
        if kind.protection == .tenants, existing.uuid == admin, name != admin {
            throw APIError(409, "name: the admin tenant cannot be renamed")
        }
        json["uuid"] = .string(existing.uuid)
        json["url"] = .string("/api/\(kind.name)/\(existing.uuid)")
        json["tenant_ref"] = .string("/api/tenant/\(tenant)")
        // Strictly later than the version replaced, even within one microsecond or after a clock step back:
        // `_last_modified` tells writes apart (412 above).
        let micros = max(
            Int64(now * 1_000_000), (existing.json["_last_modified"]?.string.flatMap { Int64($0) } ?? 0) + 1)
        json["_last_modified"] = .string(String(micros))
        if kind.account {
            let username = json["username"]?.string ?? name
            if let other = try tx.credentials(username: username)?.uuid, other != existing.uuid {
                throw APIError(409, "username: \(username) already exists")
            }
            try tx.setUsername(username, user: existing.uuid)
            if let passwordHash { try tx.setPasswordHash(passwordHash, user: existing.uuid) }
        }
        let o = StoredObject(type: kind.name, uuid: existing.uuid, tenant: tenant, name: name, json: json)
        try tx.putObject(o, lastModified: micros)
        return o
    }

    static func applyPatch(_ base: JSONValue, _ ops: [String: JSONValue]) throws -> JSONValue {
        let opKeys: Set<String> = ["add", "replace", "delete"]
        guard !ops.isEmpty, Set(ops.keys).isSubset(of: opKeys) else { return base.merging(.object(ops)) }
        var out = base
        if let r = ops["replace"] {
            guard r.object != nil else { throw APIError(400, "replace: must be an object") }
            out = out.merging(r)
        }
        if let a = ops["add"] {
            guard let members = a.object else { throw APIError(400, "add: must be an object") }
            for (k, v) in members {
                if case .array(let old) = out[k] ?? .null, case .array(let new) = v {
                    out[k] = .array(old + new)
                } else {
                    out[k] = v
                }
            }
        }
        if let d = ops["delete"] {
            guard let members = d.object else { throw APIError(400, "delete: must be an object") }
            for (k, v) in members {
                if case .array(let old) = out[k] ?? .null, case .array(let gone) = v {
                    out[k] = .array(old.filter { item in !gone.contains { sameItem(item, $0) } })
                } else {
                    out[k] = nil
                }
            }
        }
        return out
    }

    /// Whether a list element matches one named in a PATCH `delete`: equal, the same reference, or an
    /// object whose given members all match.
    static func sameItem(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if a == b { return true }
        if case .string(let x) = a, case .string(let y) = b, let rx = ObjectRef(x), let ry = ObjectRef(y) {
            return rx.type == ry.type && rx.key == ry.key
        }
        if case .object(let x) = a, case .object(let y) = b {
            return y.allSatisfy { k, v in x[k] == v }
        }
        return false
    }

    static func writable(_ o: StoredObject, _ kind: ObjectKind, _ scope: Scope) throws(APIError) {
        guard kind.global || o.tenant == scope.tenant else {
            throw APIError(403, "\(kind.name) \(o.name) belongs to tenant \(o.tenant): it is read-only from here")
        }
        if case .predefined(let names) = kind.protection, names.contains(o.name) {
            throw APIError(403, "role \(o.name) is predefined and cannot be changed or deleted")
        }
    }

    /// Tenants whose objects of `kind` a scope sees: its own, plus `admin`'s for the kinds shared from it.
    static func visible(_ scope: Scope, _ kind: ObjectKind) -> [String] {
        if kind.global || scope.tenant == admin { return [admin] }
        return kind.sharing == .tenantSharedFromAdmin ? [scope.tenant, admin] : [scope.tenant]
    }

    static func visibleObject(_ tx: any StoreReader, _ kind: ObjectKind, _ uuid: String, _ scope: Scope) throws
        -> StoredObject
    {
        guard let o = try tx.object(uuid: uuid), o.type == kind.name,
            kind.global || visible(scope, kind).contains(o.tenant)
        else { throw APIError.notFound(kind.name, uuid) }
        return o
    }

    /// 403 when a body `tenant_ref` names another tenant than `expected`: X-Avi-Tenant says where a request
    /// works, and access was checked for that tenant.
    static func checkTenantRef(_ tx: any StoreReader, _ ref: JSONValue?, expected: String) throws {
        guard let ref, ref != .null else { return }
        guard let s = ref.string else { throw APIError(400, "tenant_ref: expected a string") }
        let r = try resolveRef(tx, s, field: "tenant_ref", tenant: admin)
        guard let t = ObjectRef(r)?.uuid, t == expected else {
            throw APIError(
                403,
                "tenant_ref: names another tenant than the one this request works in (\(expected)); "
                    + "choose the tenant with X-Avi-Tenant")
        }
    }

    /// Rewrites every `*_ref` / `*_refs` (except the top-level `tenant_ref` and `url`) to
    /// `/api/<type>/<uuid>`, checking that each target exists and is visible: 400 naming the field.
    static func normalizeRefs(_ tx: any StoreReader, _ v: JSONValue, path: String, tenant: String) throws -> JSONValue {
        switch v {
        case .object(let members):
            var out = members
            for (k, child) in members {
                if path.isEmpty, k == "url" || k == "tenant_ref" { continue }
                let p = path.isEmpty ? k : "\(path).\(k)"
                if k.hasSuffix("_ref"), case .string(let s) = child {
                    out[k] = .string(try resolveRef(tx, s, field: p, tenant: tenant))
                } else if k.hasSuffix("_refs"), case .array(let items) = child {
                    var refs: [JSONValue] = []
                    for (i, item) in items.enumerated() {
                        guard case .string(let s) = item else { throw APIError(400, "\(p)[\(i)]: expected a string") }
                        refs.append(.string(try resolveRef(tx, s, field: "\(p)[\(i)]", tenant: tenant)))
                    }
                    out[k] = .array(refs)
                } else {
                    out[k] = try normalizeRefs(tx, child, path: p, tenant: tenant)
                }
            }
            return .object(out)
        case .array(let items):
            return .array(
                try items.enumerated().map { i, item in
                    try normalizeRefs(tx, item, path: "\(path)[\(i)]", tenant: tenant)
                })
        default:
            return v
        }
    }

    static func resolveRef(_ tx: any StoreReader, _ s: String, field: String, tenant: String) throws -> String {
        guard let r = ObjectRef(s) else {
            throw APIError(400, "\(field): \"\(s)\" is not a reference (/api/<type>/<uuid> or /api/<type>/?name=NAME)")
        }
        guard let kind = ObjectKind.all[r.type] else { throw APIError(400, "\(field): unknown object type \(r.type)") }
        var tenants = visible(Scope(tenant: tenant), kind)
        if let t = r.tenant, !kind.global {
            // A reference may name its tenant, but only one this object can see.
            guard let tu = try tenantUUID(tx, name: t), tenants.contains(tu) else {
                throw APIError(400, "\(field): no \(kind.name) visible in tenant \(t) from this tenant")
            }
            tenants = [tu]
        }
        switch r.key {
        case .uuid(let u):
            guard let o = try tx.object(uuid: u), o.type == kind.name, tenants.contains(o.tenant) else {
                throw APIError(400, "\(field): no \(kind.name) with uuid \(u)")
            }
            return "/api/\(kind.name)/\(o.uuid)"
        case .name(let n):
            for t in tenants {
                if let o = try tx.object(type: kind.name, tenant: t, name: n) { return "/api/\(kind.name)/\(o.uuid)" }
            }
            throw APIError(400, "\(field): no \(kind.name) named \"\(n)\"")
        }
    }

    static func tenantUUID(_ tx: any StoreReader, name: String) throws -> String? {
        try tx.object(type: Tenant.objectType, tenant: admin, name: name)?.uuid
    }

    // MARK: Presentation

    /// The API form of a stored object: `url` and refs made absolute (`http://host/api/pool/<uuid>`),
    /// `#name` appended with `include_name`, trimmed to `fields` (plus `uuid` and `url`) when asked.
    func present(_ json: JSONValue, base: String, fields: Set<String>?, includeName: Bool) async throws -> JSONValue {
        var v = json
        if let fields, case .object(let m) = v {
            v = .object(m.filter { fields.contains($0.key) || $0.key == "uuid" || $0.key == "url" })
        }
        var names: [String: String] = [:]
        if includeName {
            var uuids = Set<String>()
            Self.collectRefs(v, top: true, into: &uuids)
            let list = Array(uuids)
            names = try await store.read { tx in
                var out: [String: String] = [:]
                for u in list { if let o = try tx.object(uuid: u) { out[u] = o.name } }
                return out
            }
        }
        return Self.absolutize(v, base: base, names: includeName ? names : nil, top: true)
    }

    static func collectRefs(_ v: JSONValue, top: Bool, into out: inout Set<String>) {
        switch v {
        case .object(let m):
            for (k, c) in m {
                if k.hasSuffix("_ref"), let s = c.string, let u = ObjectRef(s)?.uuid {
                    out.insert(u)
                } else if k.hasSuffix("_refs"), case .array(let items) = c {
                    for i in items { if let s = i.string, let u = ObjectRef(s)?.uuid { out.insert(u) } }
                } else {
                    collectRefs(c, top: false, into: &out)
                }
            }
        case .array(let items):
            for i in items { collectRefs(i, top: false, into: &out) }
        default:
            break
        }
    }

    static func absolutize(_ v: JSONValue, base: String, names: [String: String]?, top: Bool) -> JSONValue {
        func fix(_ s: String) -> String {
            guard s.hasPrefix("/api/") else { return s }
            var out = base + s
            if let names, let u = ObjectRef(s)?.uuid, let n = names[u] { out += "#\(n)" }
            return out
        }
        switch v {
        case .object(let m):
            var out = m
            for (k, c) in m {
                if (k == "url" && top) || k.hasSuffix("_ref"), case .string(let s) = c {
                    out[k] = .string(k == "url" ? base + s : fix(s))
                } else if k.hasSuffix("_refs"), case .array(let items) = c {
                    out[k] = .array(items.map { i in i.string.map { .string(fix($0)) } ?? i })
                } else {
                    out[k] = absolutize(c, base: base, names: names, top: false)
                }
            }
            return .object(out)
        case .array(let items):
            return .array(items.map { absolutize($0, base: base, names: names, top: false) })
        default:
            return v
        }
    }

    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if c.isLetter && b < 128 || c.isNumber && b < 128 || "-._~".contains(c) {
                out.append(c)
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }
}

extension Optional {
    /// `map` with an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
