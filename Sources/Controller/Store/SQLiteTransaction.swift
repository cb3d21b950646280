import Foundation
import GRDB
import StarlingModel

/// ``StoreReader`` and ``StoreWriter`` over one GRDB transaction of a ``SQLiteStore``.
struct SQLiteTransaction: StoreWriter {
    let db: Database

    // MARK: API objects

    func object(uuid: String) throws -> StoredObject? {
        try Row.fetchOne(db, sql: "SELECT * FROM objects WHERE uuid = ?", arguments: [uuid]).map(StoredObject.init)
    }

    func object(type: String, tenant: String, name: String) throws -> StoredObject? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM objects WHERE type = ? AND tenant = ? AND name = ?",
            arguments: [type, tenant, name]
        ).map(StoredObject.init)
    }

    func objects(type: String, tenants: [String]?, name: String?) throws -> [StoredObject] {
        var sql = "SELECT * FROM objects WHERE type = ?"
        var args: [(any DatabaseValueConvertible)?] = [type]
        if let tenants {
            sql += " AND tenant IN (\(tenants.map { _ in "?" }.joined(separator: ",")))"
            args += tenants.map { $0 as (any DatabaseValueConvertible)? }
        }
        if let name {
            sql += " AND name = ?"
            args.append(name)
        }
        sql += " ORDER BY name, uuid"
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(StoredObject.init)
    }

    func rawObjects(type: String) throws -> [RawStoredObject] {
        try Row.fetchAll(
            db, sql: "SELECT type, uuid, tenant, json FROM objects WHERE type = ? ORDER BY name, uuid",
            arguments: [type]
        ).map { RawStoredObject(type: $0["type"], uuid: $0["uuid"], tenant: $0["tenant"], text: $0["json"]) }
    }

    func objectCounts() throws -> [(type: String, count: Int)] {
        try Row.fetchAll(db, sql: "SELECT type, COUNT(*) AS n FROM objects GROUP BY type ORDER BY type").map {
            (type: $0["type"] as String, count: $0["n"] as Int)
        }
    }

    func referrer(of type: String, uuid: String) throws -> (type: String, name: String)? {
        let pattern = "%\"/api/\(type)/\(uuid)\"%"
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT type, name FROM objects WHERE uuid != ? AND json LIKE ? ORDER BY type, name LIMIT 1",
                arguments: [uuid, pattern])
        else { return nil }
        return (row["type"], row["name"])
    }

    func anyObject(inTenant tenant: String) throws -> (type: String, name: String)? {
        try Row.fetchOne(
            db, sql: "SELECT type, name FROM objects WHERE tenant = ? ORDER BY type, name LIMIT 1", arguments: [tenant]
        ).map { (type: $0["type"], name: $0["name"]) }
    }

    func putObject(_ o: StoredObject, lastModified: Int64) throws {
        try db.execute(
            sql: """
                INSERT INTO objects (uuid, type, tenant, name, json, last_modified) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(uuid) DO UPDATE SET tenant = excluded.tenant, name = excluded.name,
                json = excluded.json, last_modified = excluded.last_modified
                """,
            arguments: [o.uuid, o.type, o.tenant, o.name, JSONText.encode(o.json), lastModified])
    }

    func deleteObject(uuid: String) throws {
        try db.execute(sql: "DELETE FROM objects WHERE uuid = ?", arguments: [uuid])
    }

    func deleteRecords(_ records: DependentRecords, of uuid: String) throws {
        let (table, column) =
            switch records {
            case .seSecret: ("se_secrets", "se_uuid")
            case .seDesiredState: ("se_desired", "se_uuid")
            case .vsScale: ("vs_scale", "vs_uuid")
            case .userCredentials: ("users", "uuid")
            case .userSessions: ("sessions", "user_uuid")
            }
        try db.execute(sql: "DELETE FROM \(table) WHERE \(column) = ?", arguments: [uuid])
    }

    // MARK: Accounts and SE credentials

    func credentials(username: String) throws -> (uuid: String, passwordHash: String)? {
        try Row.fetchOne(db, sql: "SELECT uuid, password_hash FROM users WHERE username = ?", arguments: [username])
            .map { (uuid: $0["uuid"], passwordHash: $0["password_hash"]) }
    }

    func insertUser(uuid: String, username: String, passwordHash: String) throws {
        try db.execute(
            sql: "INSERT INTO users (uuid, username, password_hash) VALUES (?, ?, ?)",
            arguments: [uuid, username, passwordHash])
    }

    func setUsername(_ username: String, user: String) throws {
        try db.execute(sql: "UPDATE users SET username = ? WHERE uuid = ?", arguments: [username, user])
    }

    func setPasswordHash(_ hash: String, user: String) throws {
        try db.execute(sql: "UPDATE users SET password_hash = ? WHERE uuid = ?", arguments: [hash, user])
    }

    func session(id: String) throws -> SessionRecord? {
        try Row.fetchOne(
            db, sql: "SELECT id, csrf, user_uuid, created, last_used, expires FROM sessions WHERE id = ?",
            arguments: [id]
        ).map {
            SessionRecord(
                id: $0["id"], csrf: $0["csrf"], user: $0["user_uuid"], created: $0["created"],
                lastUsed: $0["last_used"], expires: $0["expires"])
        }
    }

    func insertSession(_ s: SessionRecord) throws {
        try db.execute(
            sql: "INSERT INTO sessions (id, csrf, user_uuid, expires, created, last_used) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [s.id, s.csrf, s.user, s.expires, s.created, s.lastUsed])
    }

    func touchSession(id: String, at time: Double) throws {
        try db.execute(sql: "UPDATE sessions SET last_used = ? WHERE id = ?", arguments: [time, id])
    }

    func deleteSession(id: String) throws {
        try db.execute(sql: "DELETE FROM sessions WHERE id = ?", arguments: [id])
    }

    func deleteSessions(user: String, except keep: String?) throws {
        try db.execute(sql: "DELETE FROM sessions WHERE user_uuid = ? AND id IS NOT ?", arguments: [user, keep])
    }

    func deleteSessions(createdBefore: Double, usedBefore: Double) throws {
        try db.execute(
            sql: "DELETE FROM sessions WHERE created < ? OR last_used < ?", arguments: [createdBefore, usedBefore])
    }

    func joinToken(_ token: String) throws -> JoinTokenRecord? {
        try Row.fetchOne(
            db, sql: "SELECT token, expires, se_name, se_uuid FROM join_tokens WHERE token = ?", arguments: [token]
        ).map {
            JoinTokenRecord(token: $0["token"], expires: $0["expires"], seName: $0["se_name"], seUUID: $0["se_uuid"])
        }
    }

    func insertJoinToken(_ token: String, expires: Double) throws {
        try db.execute(sql: "INSERT INTO join_tokens (token, expires) VALUES (?, ?)", arguments: [token, expires])
    }

    func bindJoinToken(_ token: String, seName: String, seUUID: String) throws {
        try db.execute(
            sql: "UPDATE join_tokens SET se_name = ?, se_uuid = ? WHERE token = ?", arguments: [seName, seUUID, token])
    }

    func seSecretDigest(se: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT secret_digest FROM se_secrets WHERE se_uuid = ?", arguments: [se])
    }

    func allCredentials() throws -> [UserCredentials] {
        try Row.fetchAll(db, sql: "SELECT uuid, username, password_hash FROM users ORDER BY username").map {
            UserCredentials(uuid: $0["uuid"], username: $0["username"], password_hash: $0["password_hash"])
        }
    }

    func allJoinTokens() throws -> [JoinTokenRecord] {
        try Row.fetchAll(db, sql: "SELECT token, expires, se_name, se_uuid FROM join_tokens ORDER BY token").map {
            JoinTokenRecord(token: $0["token"], expires: $0["expires"], seName: $0["se_name"], seUUID: $0["se_uuid"])
        }
    }

    func allSESecrets() throws -> [SESecretRecord] {
        try Row.fetchAll(db, sql: "SELECT se_uuid, secret_digest, token FROM se_secrets ORDER BY se_uuid").map {
            SESecretRecord(se: $0["se_uuid"], digest: $0["secret_digest"], token: $0["token"])
        }
    }

    func clearConfiguration() throws {
        for table in [
            "objects", "users", "sessions", "join_tokens", "se_secrets", "placement", "vs_scale", "decisions",
            "se_desired", "scaleout_positions", "scaleout_groups",
        ] {
            try db.execute(sql: "DELETE FROM \(table)")
        }
    }

    func setSESecret(se: String, digest: String, token: String) throws {
        try db.execute(
            sql: "INSERT INTO se_secrets (se_uuid, secret_digest, token) VALUES (?, ?, ?) "
                + "ON CONFLICT(se_uuid) DO UPDATE SET secret_digest = excluded.secret_digest, token = excluded.token",
            arguments: [se, digest, token])
    }

    // MARK: Bookkeeping

    func meta(_ key: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
    }

    func setMeta(_ key: String, _ value: String) throws {
        try db.execute(
            sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [key, value])
    }

    func nextVersion() throws -> Int {
        let v = (try meta("version").flatMap(Int.init) ?? 0) + 1
        try setMeta("version", String(v))
        return v
    }

    func appendAudit(_ r: AuditRecord) throws {
        try db.execute(
            sql: """
                INSERT INTO audit (time, event, user, client_ip, tenant, obj_type, obj_uuid, obj_name, old_json, new_json)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [r.time, r.event, r.user, r.clientIP, r.tenant, r.type, r.uuid, r.name, r.old, r.new])
        let seq = db.lastInsertedRowID
        if seq % 500 == 0 {
            try db.execute(sql: "DELETE FROM audit WHERE seq <= ?", arguments: [seq - Int64(AuditLog.maxRows)])
        }
    }

    func auditPage(_ q: AuditQuery) throws -> (count: Int, records: [AuditRecord]) {
        var sql = "FROM audit WHERE tenant = ?"
        var args: [(any DatabaseValueConvertible)?] = [q.tenant]
        let types = q.objType.map { t in q.types.filter { $0 == t } } ?? q.types
        sql += " AND obj_type IN (\(types.map { _ in "?" }.joined(separator: ",")))"
        args += types.map { $0 as (any DatabaseValueConvertible)? }
        if types.isEmpty { sql += " AND 0" }
        if let u = q.objUUID {
            sql += " AND obj_uuid = ?"
            args.append(u)
        }
        if let u = q.user {
            sql += " AND user = ?"
            args.append(u)
        }
        let arguments = StatementArguments(args)
        let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) " + sql, arguments: arguments) ?? 0
        let rows = try Row.fetchAll(
            db, sql: "SELECT * " + sql + " ORDER BY seq DESC LIMIT ? OFFSET ?",
            arguments: arguments + [q.pageSize, (q.page - 1) * q.pageSize])
        return (
            count,
            rows.map {
                AuditRecord(
                    time: $0["time"], event: $0["event"], user: $0["user"], clientIP: $0["client_ip"],
                    tenant: $0["tenant"], type: $0["obj_type"], uuid: $0["obj_uuid"], name: $0["obj_name"],
                    old: $0["old_json"], new: $0["new_json"])
            }
        )
    }

    // MARK: Reconciler

    func reconcilerRecords() throws -> ReconcilerRecords {
        var out = ReconcilerRecords()
        let decoder = JSONDecoder()
        for r in try Row.fetchAll(db, sql: "SELECT vs_uuid, se_uuids FROM placement") {
            out.placement[r["vs_uuid"]] =
                (try? decoder.decode([String].self, from: Data((r["se_uuids"] as String).utf8))) ?? []
        }
        for text in try String.fetchAll(db, sql: "SELECT json FROM se_desired") {
            if let d = try? decoder.decode(SEDesiredState.self, from: Data(text.utf8)) { out.desired.append(d) }
        }
        for r in try Row.fetchAll(db, sql: "SELECT vs_uuid, desired FROM vs_scale") {
            out.scale[r["vs_uuid"]] = r["desired"]
        }
        for r in try Row.fetchAll(db, sql: "SELECT se_uuid, group_uuid, position FROM scaleout_positions") {
            out.positions[r["se_uuid"]] = ScaleoutPositions.Assignment(group: r["group_uuid"], position: r["position"])
        }
        for r in try Row.fetchAll(db, sql: "SELECT group_uuid, epoch, members FROM scaleout_groups") {
            let text: String = r["members"]
            let members = (try? decoder.decode([ScaleoutGroup.Member].self, from: Data(text.utf8))) ?? []
            out.groups[r["group_uuid"]] = (r["epoch"], members)
        }
        return out
    }

    func setScale(vs: String, desired: Int) throws {
        try db.execute(
            sql: "INSERT INTO vs_scale (vs_uuid, desired) VALUES (?, ?) "
                + "ON CONFLICT(vs_uuid) DO UPDATE SET desired = excluded.desired",
            arguments: [vs, desired])
    }

    func setPlacement(vs: String, ses: [String]?) throws {
        if let ses {
            try db.execute(
                sql: "INSERT INTO placement (vs_uuid, se_uuids) VALUES (?, ?) "
                    + "ON CONFLICT(vs_uuid) DO UPDATE SET se_uuids = excluded.se_uuids",
                arguments: [vs, JSONText.encode(ses)])
        } else {
            try db.execute(sql: "DELETE FROM placement WHERE vs_uuid = ?", arguments: [vs])
        }
    }

    func replaceScaleoutPositions(_ positions: [String: ScaleoutPositions.Assignment]) throws {
        try db.execute(sql: "DELETE FROM scaleout_positions")
        for (se, a) in positions {
            try db.execute(
                sql: "INSERT INTO scaleout_positions (se_uuid, group_uuid, position) VALUES (?, ?, ?)",
                arguments: [se, a.group, a.position])
        }
    }

    func setScaleoutGroup(_ group: String, epoch: Int, members: [ScaleoutGroup.Member]) throws {
        try db.execute(
            sql: "INSERT INTO scaleout_groups (group_uuid, epoch, members) VALUES (?, ?, ?) "
                + "ON CONFLICT(group_uuid) DO UPDATE SET epoch = excluded.epoch, members = excluded.members",
            arguments: [group, epoch, JSONText.encode(members)])
    }

    func replaceDecisions(_ decisions: [PlacementDecision]) throws {
        try db.execute(sql: "DELETE FROM decisions")
        for d in decisions {
            try db.execute(
                sql: "INSERT INTO decisions (vs_uuid, se_uuid, kind, cause, reason) VALUES (?, ?, ?, ?, ?)",
                arguments: [d.vs, d.se, d.kind.rawValue, d.cause.rawValue, d.reason])
        }
    }

    func putDesiredState(_ state: SEDesiredState) throws {
        try db.execute(
            sql: "INSERT INTO se_desired (se_uuid, version, json) VALUES (?, ?, ?) "
                + "ON CONFLICT(se_uuid) DO UPDATE SET version = excluded.version, json = excluded.json",
            arguments: [state.se_uuid, state.version, JSONText.encode(state)])
    }
}
