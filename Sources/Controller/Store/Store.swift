import Foundation
import GRDB
import StarlingModel

/// The controller's configuration store: SQLite through GRDB in `<data-dir>/controller.sqlite` (WAL,
/// migrations with `DatabaseMigrator`). Every write is one transaction (`write(_:)`), so an API write
/// and its checks (name taken, refs exist, still referenced) see one consistent state.
///
/// Tables: `objects` (every API object as JSON, unique per type, tenant and name), `users` (password
/// hashes), `sessions` (with login and last-use times), `join_tokens`, `se_secrets`, `placement`,
/// `vs_scale`, `decisions`, `se_desired` (each SE's last desired state and version), `audit` (every
/// write: who, when, tenant, object, before and after) and `meta` (the version counter).
public final class Store: Sendable {
    let pool: DatabasePool

    /// Opens (creating and migrating when needed) the store in `directory`.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var config = Configuration()
        config.busyMode = .timeout(5)
        pool = try DatabasePool(path: directory + "/controller.sqlite", configuration: config)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE objects (
                        uuid TEXT PRIMARY KEY NOT NULL, type TEXT NOT NULL, tenant TEXT NOT NULL,
                        name TEXT NOT NULL, json TEXT NOT NULL, last_modified INTEGER NOT NULL,
                        UNIQUE (type, tenant, name));
                    CREATE INDEX objects_type ON objects(type, name);
                    CREATE TABLE users (
                        uuid TEXT PRIMARY KEY NOT NULL, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL);
                    CREATE TABLE sessions (
                        id TEXT PRIMARY KEY NOT NULL, csrf TEXT NOT NULL, user_uuid TEXT NOT NULL,
                        expires REAL NOT NULL);
                    CREATE TABLE join_tokens (
                        token TEXT PRIMARY KEY NOT NULL, expires REAL NOT NULL, se_name TEXT, se_uuid TEXT);
                    CREATE TABLE se_secrets (
                        se_uuid TEXT PRIMARY KEY NOT NULL, secret_digest TEXT NOT NULL, token TEXT NOT NULL);
                    CREATE TABLE placement (vs_uuid TEXT PRIMARY KEY NOT NULL, se_uuids TEXT NOT NULL);
                    CREATE TABLE vs_scale (vs_uuid TEXT PRIMARY KEY NOT NULL, desired INTEGER NOT NULL);
                    CREATE TABLE decisions (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT, vs_uuid TEXT NOT NULL, se_uuid TEXT,
                        kind TEXT NOT NULL, cause TEXT NOT NULL, reason TEXT NOT NULL);
                    CREATE TABLE se_desired (
                        se_uuid TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, json TEXT NOT NULL);
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                    """)
        }
        m.registerMigration("v2: session times, audit trail") { db in
            // Sessions from before have no login or last-use time: they end (log in again).
            try db.execute(
                sql: """
                    DELETE FROM sessions;
                    ALTER TABLE sessions ADD COLUMN created REAL NOT NULL DEFAULT 0;
                    ALTER TABLE sessions ADD COLUMN last_used REAL NOT NULL DEFAULT 0;
                    CREATE INDEX sessions_user ON sessions(user_uuid);
                    CREATE TABLE audit (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, event TEXT NOT NULL,
                        user TEXT NOT NULL, client_ip TEXT NOT NULL, tenant TEXT NOT NULL, obj_type TEXT NOT NULL,
                        obj_uuid TEXT NOT NULL, obj_name TEXT NOT NULL, old_json TEXT, new_json TEXT);
                    CREATE INDEX audit_tenant ON audit(tenant, seq);
                    CREATE INDEX audit_obj ON audit(obj_uuid, seq);
                    """)
        }
        m.registerMigration("v3: scale-out positions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE scaleout_positions (
                        se_uuid TEXT PRIMARY KEY NOT NULL, group_uuid TEXT NOT NULL, position INTEGER NOT NULL,
                        UNIQUE (group_uuid, position));
                    CREATE TABLE scaleout_groups (
                        group_uuid TEXT PRIMARY KEY NOT NULL, epoch INTEGER NOT NULL, members TEXT NOT NULL);
                    """)
        }
        m.registerMigration("v4: analytics samples") { db in
            try db.execute(
                sql: """
                    CREATE TABLE metrics (
                        entity TEXT NOT NULL, step INTEGER NOT NULL, start INTEGER NOT NULL, sample TEXT NOT NULL,
                        PRIMARY KEY (entity, step, start));
                    CREATE INDEX metrics_age ON metrics(step, start);
                    """)
        }
        m.registerMigration("v5: request logs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE request_logs (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, vs TEXT NOT NULL, ts INTEGER NOT NULL,
                        se TEXT NOT NULL, se_name TEXT NOT NULL, client_ip TEXT NOT NULL, method TEXT NOT NULL,
                        uri_path TEXT NOT NULL, response_code INTEGER NOT NULL, total_time REAL NOT NULL,
                        server_ip TEXT NOT NULL, significant INTEGER NOT NULL, json TEXT NOT NULL);
                    CREATE INDEX request_logs_vs ON request_logs(vs, ts);
                    """)
        }
        return m
    }

    /// Runs `body` in one write transaction.
    public func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.write(body)
    }

    /// Runs `body` on a consistent snapshot.
    public func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }
}

/// One row of `objects`.
public struct StoredObject: Sendable, Hashable {
    public var type: String
    public var uuid: String
    public var tenant: String
    public var name: String
    public var json: JSONValue

    init(row: Row) throws {
        type = row["type"]
        uuid = row["uuid"]
        tenant = row["tenant"]
        name = row["name"]
        let text: String = row["json"]
        json = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    public init(type: String, uuid: String, tenant: String, name: String, json: JSONValue) {
        self.type = type
        self.uuid = uuid
        self.tenant = tenant
        self.name = name
        self.json = json
    }

    /// Decodes the typed object.
    public func decode<T: AviObject>(_: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(JSONText.encode(json).utf8))
    }
}

/// JSON text for the store and responses.
enum JSONText {
    static func encode(_ v: some Encodable) -> String {
        // Encoding our own value types and JSONValue cannot fail (no non-finite doubles are produced).
        (try? String(decoding: StrictJSON.encoder().encode(v), as: UTF8.self)) ?? "null"
    }
}

extension Database {
    func object(uuid: String) throws -> StoredObject? {
        try Row.fetchOne(self, sql: "SELECT * FROM objects WHERE uuid = ?", arguments: [uuid]).map(StoredObject.init)
    }

    func object(type: String, tenant: String, name: String) throws -> StoredObject? {
        try Row.fetchOne(
            self, sql: "SELECT * FROM objects WHERE type = ? AND tenant = ? AND name = ?",
            arguments: [type, tenant, name]
        ).map(StoredObject.init)
    }

    func objects(type: String) throws -> [StoredObject] {
        try Row.fetchAll(self, sql: "SELECT * FROM objects WHERE type = ? ORDER BY name, uuid", arguments: [type])
            .map(StoredObject.init)
    }

    func putObject(_ o: StoredObject, lastModified: Int64) throws {
        try execute(
            sql: """
                INSERT INTO objects (uuid, type, tenant, name, json, last_modified) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(uuid) DO UPDATE SET tenant = excluded.tenant, name = excluded.name,
                json = excluded.json, last_modified = excluded.last_modified
                """,
            arguments: [o.uuid, o.type, o.tenant, o.name, JSONText.encode(o.json), lastModified])
    }

    func deleteObject(uuid: String) throws {
        try execute(sql: "DELETE FROM objects WHERE uuid = ?", arguments: [uuid])
    }

    /// The first object (type, name) whose JSON holds `/api/<type>/<uuid>` as a reference.
    func referrer(of type: String, uuid: String) throws -> (type: String, name: String)? {
        let pattern = "%\"/api/\(type)/\(uuid)\"%"
        guard
            let row = try Row.fetchOne(
                self, sql: "SELECT type, name FROM objects WHERE uuid != ? AND json LIKE ? ORDER BY type, name LIMIT 1",
                arguments: [uuid, pattern])
        else { return nil }
        return (row["type"], row["name"])
    }

    func meta(_ key: String) throws -> String? {
        try String.fetchOne(self, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
    }

    func setMeta(_ key: String, _ value: String) throws {
        try execute(
            sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [key, value])
    }

    /// The next value of the store-wide version counter (monotonic across restarts).
    func nextVersion() throws -> Int {
        let v = (try meta("version").flatMap(Int.init) ?? 0) + 1
        try setMeta("version", String(v))
        return v
    }
}

extension Store {
    /// Synchronous write, for the reconciler actor (keeps a reconcile pass atomic: no suspension inside).
    func writeNow<T>(_ body: (Database) throws -> T) throws -> T { try pool.write(body) }

    /// Synchronous read, for the reconciler actor.
    func readNow<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }
}
