import Foundation
import StarlingModel

/// ``StoreReader`` and ``StoreWriter`` over a snapshot of an ``EtcdStore``'s mirror, with the
/// transaction's own writes on top (`writes`, keys relative to `c/`; nil deletes) until the store commits
/// them. Reads see the transaction's writes.
final class EtcdTransaction: StoreWriter {
    let base: MirrorSnapshot
    private(set) var writes: [String: String?] = [:]
    /// Objects written here (nil: deleted), parsed.
    private var objectWrites: [String: ObjectEntry?] = [:]
    /// Audit rows appended here, with their sequence numbers.
    private(set) var audit: [(seq: Int64, text: String)] = []

    init(base: MirrorSnapshot) { self.base = base }

    // MARK: Keys

    private func value(_ key: String) -> String? {
        if let written = writes[key] { return written }
        return base.kvs[key]?.value
    }

    private func set(_ key: String, _ value: String?) { writes[key] = .some(value) }

    /// The keys under `prefix` (relative), with the transaction's writes, sorted.
    private func keys(under prefix: String) -> [String] {
        var keys = Set(base.kvs.keys.filter { $0.hasPrefix(prefix) })
        for (k, v) in writes where k.hasPrefix(prefix) {
            if v == nil { keys.remove(k) } else { keys.insert(k) }
        }
        return keys.sorted()
    }

    private func decode<T: Decodable>(_: T.Type, _ key: String) -> T? {
        value(key).flatMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }

    private func encode(_ v: some Encodable) -> String { JSONText.encode(v) }

    // MARK: API objects

    private func entry(_ uuid: String) -> ObjectEntry? {
        if let written = objectWrites[uuid] { return written }
        return base.objects[uuid]
    }

    /// Every object, with the transaction's writes.
    private var allEntries: [ObjectEntry] {
        var all = base.objects
        for (uuid, e) in objectWrites { all[uuid] = e }
        return Array(all.values)
    }

    func object(uuid: String) throws -> StoredObject? { try entry(uuid)?.object() }

    func object(type: String, tenant: String, name: String) throws -> StoredObject? {
        let key = ObjectEntry.nameKey(type, tenant, name)
        if let written = objectWrites.values.first(where: { $0?.nameKey == key }), let e = written {
            return try e.object()
        }
        guard let uuid = base.names[key], let e = entry(uuid), e.nameKey == key else { return nil }
        return try e.object()
    }

    private func entries(type: String) -> [ObjectEntry] {
        allEntries.filter { $0.type == type }.sorted { ($0.name, $0.uuid) < ($1.name, $1.uuid) }
    }

    func objects(type: String, tenants: [String]?, name: String?) throws -> [StoredObject] {
        try entries(type: type).filter { e in
            (tenants.map { $0.contains(e.tenant) } ?? true) && (name.map { $0 == e.name } ?? true)
        }.map { try $0.object() }
    }

    func rawObjects(type: String) throws -> [RawStoredObject] { entries(type: type).map(\.raw) }

    func objectCounts() throws -> [(type: String, count: Int)] {
        Dictionary(grouping: allEntries, by: \.type).map { (type: $0.key, count: $0.value.count) }
            .sorted { $0.type < $1.type }
    }

    func referrer(of type: String, uuid: String) throws -> (type: String, name: String)? {
        let ref = "\"/api/\(type)/\(uuid)\""
        return allEntries.filter { $0.uuid != uuid && $0.text.contains(ref) }
            .min { ($0.type, $0.name) < ($1.type, $1.name) }.map { ($0.type, $0.name) }
    }

    func anyObject(inTenant tenant: String) throws -> (type: String, name: String)? {
        allEntries.filter { $0.tenant == tenant }.min { ($0.type, $0.name) < ($1.type, $1.name) }
            .map { ($0.type, $0.name) }
    }

    func putObject(_ o: StoredObject, lastModified: Int64) throws {
        let e = ObjectEntry(o, lastModified: lastModified)
        objectWrites[o.uuid] = .some(e)
        set("objects/" + o.uuid, e.stored)
    }

    func deleteObject(uuid: String) throws {
        objectWrites[uuid] = .some(nil)
        set("objects/" + uuid, nil)
    }

    func deleteRecords(_ records: DependentRecords, of uuid: String) throws {
        switch records {
        case .seSecret: set("se_secrets/" + uuid, nil)
        case .seDesiredState: set("desired/" + uuid, nil)
        case .vsScale: set("vs_scale/" + uuid, nil)
        case .userCredentials: set("users/" + uuid, nil)
        case .userSessions: try deleteSessions(user: uuid, except: nil)
        }
    }

    // MARK: Accounts and SE credentials

    private struct Credentials: Codable {
        var username: String
        var password_hash: String
    }

    func credentials(username: String) throws -> (uuid: String, passwordHash: String)? {
        for key in keys(under: "users/") {
            if let c = decode(Credentials.self, key), c.username == username {
                return (String(key.dropFirst("users/".count)), c.password_hash)
            }
        }
        return nil
    }

    func insertUser(uuid: String, username: String, passwordHash: String) throws {
        set("users/" + uuid, encode(Credentials(username: username, password_hash: passwordHash)))
    }

    func setUsername(_ username: String, user: String) throws {
        guard var c = decode(Credentials.self, "users/" + user) else { return }
        c.username = username
        set("users/" + user, encode(c))
    }

    func setPasswordHash(_ hash: String, user: String) throws {
        guard var c = decode(Credentials.self, "users/" + user) else { return }
        c.password_hash = hash
        set("users/" + user, encode(c))
    }

    func session(id: String) throws -> SessionRecord? { decode(SessionRecord.self, "sessions/" + id) }

    func insertSession(_ session: SessionRecord) throws { set("sessions/" + session.id, encode(session)) }

    func touchSession(id: String, at time: Double) throws {
        guard var s = try session(id: id) else { return }
        s.lastUsed = time
        set("sessions/" + id, encode(s))
    }

    func deleteSession(id: String) throws { set("sessions/" + id, nil) }

    private func deleteSessions(where drop: (SessionRecord) -> Bool) {
        for key in keys(under: "sessions/") {
            if let s = decode(SessionRecord.self, key), drop(s) { set(key, nil) }
        }
    }

    func deleteSessions(user: String, except keep: String?) throws {
        deleteSessions { $0.user == user && $0.id != keep }
    }

    func deleteSessions(createdBefore: Double, usedBefore: Double) throws {
        deleteSessions { $0.created < createdBefore || $0.lastUsed < usedBefore }
    }

    func joinToken(_ token: String) throws -> JoinTokenRecord? { decode(JoinTokenRecord.self, "join_tokens/" + token) }

    func insertJoinToken(_ token: String, expires: Double) throws {
        set("join_tokens/" + token, encode(JoinTokenRecord(token: token, expires: expires)))
    }

    func bindJoinToken(_ token: String, seName: String, seUUID: String) throws {
        guard var t = try joinToken(token) else { return }
        t.seName = seName
        t.seUUID = seUUID
        set("join_tokens/" + token, encode(t))
    }

    private struct SESecret: Codable {
        var digest: String
        var token: String
    }

    func seSecretDigest(se: String) throws -> String? { decode(SESecret.self, "se_secrets/" + se)?.digest }

    func allCredentials() throws -> [UserCredentials] {
        keys(under: "users/").compactMap { key in
            decode(Credentials.self, key).map {
                UserCredentials(
                    uuid: String(key.dropFirst("users/".count)), username: $0.username, password_hash: $0.password_hash)
            }
        }.sorted { $0.username < $1.username }
    }

    func allJoinTokens() throws -> [JoinTokenRecord] {
        keys(under: "join_tokens/").compactMap { decode(JoinTokenRecord.self, $0) }
    }

    func allSESecrets() throws -> [SESecretRecord] {
        keys(under: "se_secrets/").compactMap { key in
            decode(SESecret.self, key).map {
                SESecretRecord(se: String(key.dropFirst("se_secrets/".count)), digest: $0.digest, token: $0.token)
            }
        }
    }

    func clearConfiguration() throws {
        for prefix in [
            "objects/", "users/", "sessions/", "join_tokens/", "se_secrets/", "placement/", "vs_scale/", "groups/",
            "desired/",
        ] {
            for key in keys(under: prefix) { set(key, nil) }
        }
        for key in ["positions", "decisions"] where value(key) != nil { set(key, nil) }
        for uuid in Set(base.objects.keys).union(objectWrites.keys) { objectWrites[uuid] = .some(nil) }
    }

    func setSESecret(se: String, digest: String, token: String) throws {
        set("se_secrets/" + se, encode(SESecret(digest: digest, token: token)))
    }

    // MARK: Bookkeeping

    func meta(_ key: String) throws -> String? { value("meta/" + key) }

    func setMeta(_ key: String, _ value: String) throws { set("meta/" + key, value) }

    func nextVersion() throws -> Int {
        let v = (try meta("version").flatMap(Int.init) ?? 0) + 1
        try setMeta("version", String(v))
        return v
    }

    func appendAudit(_ record: AuditRecord) throws {
        let seq = (try meta("audit_seq").flatMap(Int64.init) ?? 0) + 1
        try setMeta("audit_seq", String(seq))
        audit.append((seq, encode(record)))
    }

    // MARK: Reconciler

    private struct Group: Codable {
        var epoch: Int
        var members: [ScaleoutGroup.Member]
    }

    private struct Position: Codable {
        var group: String
        var position: Int
    }

    func reconcilerRecords() throws -> ReconcilerRecords {
        var out = ReconcilerRecords()
        for key in keys(under: "placement/") {
            out.placement[String(key.dropFirst("placement/".count))] = decode([String].self, key) ?? []
        }
        for key in keys(under: "desired/") {
            if let d = decode(SEDesiredState.self, key) { out.desired.append(d) }
        }
        for key in keys(under: "vs_scale/") {
            if let n = value(key).flatMap(Int.init) { out.scale[String(key.dropFirst("vs_scale/".count))] = n }
        }
        for (se, p) in decode([String: Position].self, "positions") ?? [:] {
            out.positions[se] = ScaleoutPositions.Assignment(group: p.group, position: p.position)
        }
        for key in keys(under: "groups/") {
            if let g = decode(Group.self, key) {
                out.groups[String(key.dropFirst("groups/".count))] = (g.epoch, g.members)
            }
        }
        return out
    }

    func setScale(vs: String, desired: Int) throws { set("vs_scale/" + vs, String(desired)) }

    func setPlacement(vs: String, ses: [String]?) throws { set("placement/" + vs, ses.map { encode($0) }) }

    func replaceScaleoutPositions(_ positions: [String: ScaleoutPositions.Assignment]) throws {
        set("positions", encode(positions.mapValues { Position(group: $0.group, position: $0.position) }))
    }

    func setScaleoutGroup(_ group: String, epoch: Int, members: [ScaleoutGroup.Member]) throws {
        set("groups/" + group, encode(Group(epoch: epoch, members: members)))
    }

    func replaceDecisions(_ decisions: [PlacementDecision]) throws {
        set(
            "decisions",
            encode(
                decisions.map { d in
                    [
                        "vs": d.vs, "se": d.se ?? "", "kind": d.kind.rawValue, "cause": d.cause.rawValue,
                        "reason": d.reason,
                    ]
                }))
    }

    func putDesiredState(_ state: SEDesiredState) throws { set("desired/" + state.se_uuid, encode(state)) }
}
