import Foundation
import StarlingModel

/// The whole configuration as one JSON document, and back (`GET /api/configuration/export`,
/// `POST /api/configuration/import`, `starling ctl backup|restore`), through the store interface, so a
/// backup of one store restores into the other (the migration from SQLite to etcd).
///
/// Shape (after Avi's configuration export): `META` (format, version, time), then one key per object type
/// with the objects in their stored form (refs as `/api/<type>/<uuid>`, uuids kept, certificate keys sealed
/// as stored), then `_credentials` (users' password hashes, join tokens, SE secret digests) and
/// `_reconciler` (placement, scale-out, desired states and their versions), so that SEs keep their
/// registrations and a restore changes no placement. The file holds password hashes and join tokens: keep
/// it private (`ctl backup` writes it mode 0600). Sealed keys open only with the secrets key of the
/// controller that sealed them: restore with a copy of its key file.
enum ConfigurationBackup {
    static let format = "starling-configuration-v1"

    static func export(_ tx: any StoreReader, now: Double) throws -> JSONValue {
        var out: [String: JSONValue] = [
            "META": .object([
                "format": .string(format), "version": ControllerAPI.version["Version"] ?? .null,
                "exported_at": .string(AuditLog.timestamp(Int64(now * 1_000_000))),
            ])
        ]
        for type in ObjectKind.all.keys.sorted() {
            let objects = try tx.objects(type: type)
            if !objects.isEmpty { out[type] = .array(objects.map(\.json)) }
        }
        out["_credentials"] = .object([
            "users": JSONValue.from(try tx.allCredentials()), "join_tokens": JSONValue.from(try tx.allJoinTokens()),
            "se_secrets": JSONValue.from(try tx.allSESecrets()),
        ])
        let r = try tx.reconcilerRecords()
        out["_reconciler"] = .object([
            "placement": JSONValue.from(r.placement), "scale": JSONValue.from(r.scale),
            "positions": .object(
                r.positions.mapValues { .object(["group": .string($0.group), "position": .int(Int64($0.position))]) }),
            "groups": .object(
                r.groups.mapValues { .object(["epoch": .int(Int64($0.epoch)), "members": JSONValue.from($0.members)]) }),
            "desired": JSONValue.from(r.desired.sorted { $0.se_uuid < $1.se_uuid }),
        ])
        return .object(out)
    }

    /// What a backup holds, checked before anything is written.
    struct Contents: Sendable {
        var objects: [StoredObject] = []
        var credentials: [UserCredentials] = []
        var joinTokens: [JoinTokenRecord] = []
        var seSecrets: [SESecretRecord] = []
        var records = ReconcilerRecords()
    }

    /// Reads a backup; 400 naming the field when it is not one, or when its sealed keys do not open with
    /// `box` (another controller's secrets key).
    static func read(_ backup: JSONValue, box: SecretBox) throws(APIError) -> Contents {
        guard case .object(let top) = backup else {
            throw APIError(400, "body: expected a configuration backup object")
        }
        guard top["META"]?["format"]?.string == format else {
            throw APIError(400, "META.format: not a Starling configuration backup (\(format))")
        }
        var contents = Contents()
        for (key, value) in top.sorted(by: { $0.key < $1.key }) where key != "META" && !key.hasPrefix("_") {
            guard let kind = ObjectKind.all[key] else { throw APIError(400, "\(key): unknown object type") }
            guard case .array(let items) = value else { throw APIError(400, "\(key): expected a list of objects") }
            for (i, json) in items.enumerated() {
                let field = "\(key)[\(i)]"
                guard let uuid = json["uuid"]?.string, !uuid.isEmpty else {
                    throw APIError(400, "\(field).uuid: required")
                }
                guard let name = json["name"]?.string else { throw APIError(400, "\(field).name: required") }
                guard let tenant = json["tenant_ref"]?.string.flatMap({ ObjectRef($0)?.uuid }) else {
                    throw APIError(400, "\(field).tenant_ref: expected /api/tenant/<uuid>")
                }
                if !kind.writeOnly.isEmpty {
                    do {
                        _ = try CertificateImport.reveal(json, box: box)
                    } catch {
                        throw APIError(
                            400,
                            "\(field): \(kind.name) \(name) is sealed with another secrets key: restore with a copy "
                                + "of the key file of the controller that made the backup (--secrets-key-file)")
                    }
                }
                contents.objects.append(StoredObject(type: key, uuid: uuid, tenant: tenant, name: name, json: json))
            }
        }
        guard contents.objects.contains(where: { $0.type == Tenant.objectType && $0.uuid == ObjectService.admin })
        else {
            throw APIError(400, "tenant: the backup has no admin tenant")
        }
        do {
            let credentials = top["_credentials"] ?? .object([:])
            contents.credentials = try decode([UserCredentials].self, credentials["users"])
            contents.joinTokens = try decode([JoinTokenRecord].self, credentials["join_tokens"])
            contents.seSecrets = try decode([SESecretRecord].self, credentials["se_secrets"])
            let r = top["_reconciler"] ?? .object([:])
            contents.records.placement = try decode([String: [String]].self, r["placement"])
            contents.records.scale = try decode([String: Int].self, r["scale"])
            struct Position: Decodable {
                var group: String
                var position: Int
            }
            struct Group: Decodable {
                var epoch: Int
                var members: [ScaleoutGroup.Member]
            }
            contents.records.positions = try decode([String: Position].self, r["positions"]).mapValues {
                ScaleoutPositions.Assignment(group: $0.group, position: $0.position)
            }
            contents.records.groups = try decode([String: Group].self, r["groups"]).mapValues { ($0.epoch, $0.members) }
            contents.records.desired = try decode([SEDesiredState].self, r["desired"])
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(400, "_credentials/_reconciler: \(error)")
        }
        return contents
    }

    private static func decode<T: Decodable & ExpressibleByEmpty>(_: T.Type, _ value: JSONValue?) throws -> T {
        guard let value, value != .null else { return T.empty }
        return try JSONDecoder().decode(T.self, from: Data(JSONText.encode(value).utf8))
    }

    /// Replaces the whole configuration with `contents` in one write (sessions end; the version counter
    /// stays ahead of every restored desired state's version, so the SEs take what comes next).
    static func restore(_ tx: any StoreWriter, _ contents: Contents, now: Double) throws {
        try tx.clearConfiguration()
        let micros = Int64(now * 1_000_000)
        for o in contents.objects {
            try tx.putObject(o, lastModified: o.json["_last_modified"]?.string.flatMap { Int64($0) } ?? micros)
        }
        for u in contents.credentials {
            try tx.insertUser(uuid: u.uuid, username: u.username, passwordHash: u.password_hash)
        }
        for t in contents.joinTokens {
            try tx.insertJoinToken(t.token, expires: t.expires)
            if let name = t.seName, let se = t.seUUID { try tx.bindJoinToken(t.token, seName: name, seUUID: se) }
        }
        for s in contents.seSecrets { try tx.setSESecret(se: s.se, digest: s.digest, token: s.token) }
        let r = contents.records
        for (vs, ses) in r.placement { try tx.setPlacement(vs: vs, ses: ses) }
        for (vs, n) in r.scale { try tx.setScale(vs: vs, desired: n) }
        try tx.replaceScaleoutPositions(r.positions)
        for (g, group) in r.groups { try tx.setScaleoutGroup(g, epoch: group.epoch, members: group.members) }
        for d in r.desired { try tx.putDesiredState(d) }
        let highest = r.desired.map(\.version).max() ?? 0
        if (try tx.meta("version").flatMap(Int.init) ?? 0) < highest { try tx.setMeta("version", String(highest)) }
    }
}

/// A value for a part a backup may leave out.
protocol ExpressibleByEmpty { static var empty: Self { get } }
extension Array: ExpressibleByEmpty { static var empty: Self { [] } }
extension Dictionary: ExpressibleByEmpty { static var empty: Self { [:] } }
