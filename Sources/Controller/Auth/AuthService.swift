import GRDB
import StarlingModel
import Synchronization

/// Logins, sessions and HTTP Basic auth over the `users` and `sessions` tables.
///
/// Password checks run PBKDF2 (tens of milliseconds by design); successful Basic-auth checks are
/// remembered in memory, keyed by a digest of the stored hash and the presented password, so a client
/// that sends Basic auth on every request does not pay it every time. Changing the password changes the
/// stored hash and so invalidates the memory.
final class AuthService: Sendable {
    let store: Store
    /// Session lifetime in seconds.
    let sessionLifetime: Double
    private let verified = Mutex<Set<String>>([])

    init(store: Store, sessionLifetime: Double = 24 * 3600) {
        self.store = store
        self.sessionLifetime = sessionLifetime
    }

    /// The user uuid when `username`/`password` are right.
    func check(username: String, password: String) async throws -> String? {
        let row = try await store.read { db -> (String, String)? in
            try Row.fetchOne(db, sql: "SELECT uuid, password_hash FROM users WHERE username = ?", arguments: [username])
                .map { ($0["uuid"], $0["password_hash"]) }
        }
        guard let (uuid, hash) = row else { return nil }
        let key = Secrets.digest(hash + "\u{0}" + password)
        if verified.withLock({ $0.contains(key) }) { return uuid }
        guard PasswordHasher.verify(password, against: hash) else { return nil }
        verified.withLock { set in
            if set.count > 10_000 { set.removeAll() }
            set.insert(key)
        }
        return uuid
    }

    /// A new session: (session id, CSRF token).
    func login(userUUID: String, now: Double) async throws -> (session: String, csrf: String) {
        let id = Secrets.token()
        let csrf = Secrets.token()
        let expires = now + sessionLifetime
        try await store.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires < ?", arguments: [now])
            try db.execute(
                sql: "INSERT INTO sessions (id, csrf, user_uuid, expires) VALUES (?, ?, ?, ?)",
                arguments: [id, csrf, userUUID, expires])
        }
        return (id, csrf)
    }

    /// The session's user and CSRF token, if it exists and has not expired.
    func session(_ id: String, now: Double) async throws -> (user: String, csrf: String)? {
        try await store.read { db -> (user: String, csrf: String)? in
            try Row.fetchOne(
                db, sql: "SELECT user_uuid, csrf FROM sessions WHERE id = ? AND expires >= ?", arguments: [id, now]
            ).map { (user: $0["user_uuid"], csrf: $0["csrf"]) }
        }
    }

    func logout(_ id: String) async throws {
        try await store.write { db in try db.execute(sql: "DELETE FROM sessions WHERE id = ?", arguments: [id]) }
    }

    /// A new join token valid for `lifetime` seconds.
    func newJoinToken(now: Double, lifetime: Double = 24 * 3600) async throws -> String {
        let token = Secrets.token(bytes: 24)
        try await store.write { db in
            try db.execute(
                sql: "INSERT INTO join_tokens (token, expires) VALUES (?, ?)", arguments: [token, now + lifetime])
        }
        return token
    }
}
