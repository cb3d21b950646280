import StarlingModel
import Synchronization

/// Logins, sessions, HTTP Basic auth and the principal behind a request, over the `users`, `sessions` and
/// `objects` tables. Every time comes from the controller's injected wall clock.
///
/// - Password checks run PBKDF2 (tens of milliseconds by design). An unknown user name is checked against
///   a dummy hash of the same cost, so both answers take the same work (no timing oracle). Successful
///   checks are remembered in memory, keyed by a digest of the stored hash and the presented password, so
///   a client sending Basic auth on every request does not pay PBKDF2 each time; a new password changes the
///   stored hash and so invalidates the memory.
/// - Failed checks feed a ``LoginThrottle`` (per user name and per source address): past its limit an
///   attempt is refused with 429 before any password is checked.
/// - A session ends `idleTimeout` seconds after its last use and `lifetime` seconds after login, whichever
///   comes first, or at logout. Its last use is written at most every `touchInterval` seconds, so an idle
///   session may end up to that much early.
final class AuthService: Sendable {
    /// From ``ControllerConfiguration``, which holds the defaults.
    struct Settings: Sendable {
        var idleTimeout: Double
        var lifetime: Double
        var userLimit: LoginThrottle.Limit
        var sourceLimit: LoginThrottle.Limit
    }

    let store: any ControllerStore
    let settings: Settings
    let now: @Sendable () -> Double
    private let dummyHash: String
    private let verified = Mutex<Set<String>>([])
    private let throttle: Mutex<LoginThrottle>

    var touchInterval: Double { min(60, settings.idleTimeout / 10) }

    /// The algorithm and cost of the dummy hash (`pbkdf2_sha256$<iterations>$`), for tests.
    var dummyHashParameters: String { dummyHash.split(separator: "$").prefix(2).joined(separator: "$") + "$" }

    init(store: any ControllerStore, hasher: PasswordHasher, settings: Settings, now: @escaping @Sendable () -> Double)
    {
        self.store = store
        self.settings = settings
        self.now = now
        dummyHash = hasher.hash(Secrets.token())
        throttle = Mutex(LoginThrottle(perUser: settings.userLimit, perSource: settings.sourceLimit))
    }

    /// The user uuid when `username`/`password` are right; 401 when not, 429 while throttled.
    func check(username: String, password: String, source: String) async throws -> String {
        let t = now()
        if let wait = throttle.withLock({ $0.retryAfter(user: username, source: source, now: t) }) {
            throw APIError(
                429,
                "too many failed logins for this user or from this address: try again in \(Int(wait.rounded(.up))) s",
                retryAfter: Int(wait.rounded(.up)))
        }
        let row = try await store.read { tx in try tx.credentials(username: username) }
        if let (uuid, hash) = row {
            let key = Secrets.digest(hash + "\u{0}" + password)
            if verified.withLock({ $0.contains(key) }) { return uuid }
            if try await PasswordHasher.verifyOffloaded(password, against: hash) {
                verified.withLock { set in
                    if set.count > 10_000 { set.removeAll() }
                    set.insert(key)
                }
                throttle.withLock { $0.recordSuccess(user: username) }
                return uuid
            }
        } else {
            // The same PBKDF2 work as for a known name.
            _ = try await PasswordHasher.verifyOffloaded(password, against: dummyHash)
        }
        throttle.withLock { $0.recordFailure(user: username, source: source, now: t) }
        throw APIError(401, "invalid credentials")
    }

    /// A new session: (session id, CSRF token).
    func login(userUUID: String) async throws -> (session: String, csrf: String) {
        let id = Secrets.token()
        let csrf = Secrets.token()
        let t = now()
        let (idle, lifetime) = (settings.idleTimeout, settings.lifetime)
        try await store.write { tx in
            try tx.deleteSessions(createdBefore: t - lifetime, usedBefore: t - idle)
            try tx.insertSession(
                SessionRecord(id: id, csrf: csrf, user: userUUID, created: t, lastUsed: t, expires: t + lifetime))
        }
        return (id, csrf)
    }

    /// The session's user and CSRF token while it lives; an expired session is removed.
    func session(_ id: String) async throws -> (user: String, csrf: String)? {
        let t = now()
        let row = try await store.read { tx in try tx.session(id: id) }
        guard let row else { return nil }
        let (created, lastUsed) = (row.created, row.lastUsed)
        if t - created > settings.lifetime || t - lastUsed > settings.idleTimeout {
            try await logout(id)
            return nil
        }
        if t - lastUsed >= touchInterval {
            try await store.write { tx in try tx.touchSession(id: id, at: t) }
        }
        return (row.user, row.csrf)
    }

    func logout(_ id: String) async throws {
        try await store.write { tx in try tx.deleteSession(id: id) }
    }

    /// A new join token valid for `lifetime` seconds, with its audit row in the same transaction:
    /// `<secret>.<SHA-256 of the cluster CA>` (an SE checks the CA it is given against the hash, as with
    /// kubeadm's `--discovery-token-ca-cert-hash`).
    func newJoinToken(actor: AuditLog.Actor, caFingerprint: String, lifetime: Double = 24 * 3600) async throws
        -> String
    {
        let token = Secrets.token(bytes: 24) + "." + caFingerprint
        let t = now()
        try await store.write { tx in
            try tx.insertJoinToken(token, expires: t + lifetime)
            try AuditLog.record(
                tx, .action, actor: actor, tenant: ObjectService.admin, type: ServiceEngine.objectType, uuid: "",
                name: "", new: .object(["action": .string("join token generated")]), now: t)
        }
        return token
    }

    /// The user behind a request with its access resolved; nil when the user no longer exists.
    func principal(userUUID: String) async throws -> Principal? {
        try await store.read { tx in try Self.principal(tx, userUUID: userUUID) }
    }

    static func principal(_ tx: any StoreReader, userUUID: String) throws -> Principal? {
        guard let o = try tx.object(uuid: userUUID), o.type == User.objectType else { return nil }
        let user = try o.decode(User.self)
        var grants: [Principal.Grant] = []
        for entry in user.access ?? [] {
            guard let roleUUID = entry.role_ref.flatMap({ ObjectRef($0)?.uuid }),
                let roleObject = try tx.object(uuid: roleUUID), roleObject.type == Role.objectType
            else { continue }
            let role = try roleObject.decode(Role.self)
            var privileges: [String: Role.Access] = [:]
            for p in role.privileges ?? [] { privileges[p.resource] = max(privileges[p.resource] ?? .noAccess, p.type) }
            let tenant = entry.all_tenants == true ? nil : entry.tenant_ref.flatMap { ObjectRef($0)?.uuid }
            if entry.all_tenants != true, tenant == nil { continue }
            grants.append(.init(tenant: tenant, role: role.name, privileges: privileges))
        }
        return Principal(
            userUUID: userUUID, username: user.loginName, superuser: user.is_superuser == true, grants: grants,
            defaultTenant: user.default_tenant_ref.flatMap { ObjectRef($0)?.uuid })
    }
}
