import Foundation
import GRDB
import StarlingModel

/// The single-node store: SQLite through GRDB in `<data-dir>/controller.sqlite` (WAL, migrations with
/// `DatabaseMigrator`). Every write is one transaction, so an API write and its checks (name taken, refs
/// exist, still referenced) see one consistent state. The same file holds the node-local analytics
/// (``local``).
///
/// Tables: `objects` (every API object as JSON, unique per type, tenant and name), `users` (password
/// hashes), `sessions` (with login and last-use times), `join_tokens`, `se_secrets`, `placement`,
/// `vs_scale`, `decisions`, `se_desired` (each SE's last desired state and version), `scaleout_positions`,
/// `scaleout_groups`, `audit` (every write: who, when, tenant, object, before and after), `meta` (the
/// version counter), and for analytics `metrics` and `request_logs`.
final class SQLiteStore: ControllerStore {
    let pool: DatabasePool

    /// Opens (creating and migrating when needed) the store in `directory`.
    init(directory: String) throws {
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

    func write<T: Sendable>(_ body: @escaping @Sendable (any StoreWriter) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    func readNow<T>(_ body: (any StoreReader) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    func auditPage(_ query: AuditQuery) async throws -> (count: Int, records: [AuditRecord]) {
        try await pool.read { db in try SQLiteTransaction(db: db).auditPage(query) }
    }

    /// The node-local analytics tables (`metrics`, `request_logs`), in their own transactions.
    var local: LocalDatabase { LocalDatabase(pool: pool) }
}

/// The node-local analytics tables of a ``SQLiteStore``: SQL for them stays with the analytics code.
struct LocalDatabase: Sendable {
    let pool: DatabasePool

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    func writeNow<T>(_ body: (Database) throws -> T) throws -> T { try pool.write(body) }

    func readNow<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }
}

extension StoredObject {
    init(row: Row) throws {
        self.init(
            type: row["type"], uuid: row["uuid"], tenant: row["tenant"], name: row["name"],
            json: try JSONDecoder().decode(JSONValue.self, from: Data((row["json"] as String).utf8)))
    }
}
