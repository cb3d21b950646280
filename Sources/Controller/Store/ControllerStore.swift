import Foundation
import StarlingModel

/// The controller's shared state behind one interface: every read and write the API, the auth and agent
/// services and the reconciler make goes through a `StoreReader` or `StoreWriter` in one transaction, as
/// typed operations. No SQL lives outside the store's implementation (``SQLiteStore``), so a second
/// implementation (a cluster store) replaces one file, not six.
///
/// Analytics (time series, request logs) are not part of it: they are written at heartbeat rate and read
/// by the node that serves the query, so they stay in the node-local database (``SQLiteStore/local``).
protocol ControllerStore: Sendable {
    /// Runs `body` on a consistent snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T) async throws -> T
    /// Runs `body` in one write transaction: all of its writes land, or none. A store may run `body` more
    /// than once (when another write landed first, it runs again on the newer state), so `body` changes
    /// nothing but the transaction.
    func write<T: Sendable>(_ body: @escaping @Sendable (any StoreWriter) throws -> T) async throws -> T
    /// `read` without suspending (the reconciler's snapshot and its runtime views).
    func readNow<T>(_ body: (any StoreReader) throws -> T) throws -> T
    /// One page of the audit trail, newest first, with the count of all rows that match.
    func auditPage(_ query: AuditQuery) async throws -> (count: Int, records: [AuditRecord])
}

/// Reads of the shared state inside a transaction.
protocol StoreReader {
    // MARK: API objects

    /// The object with this uuid, of any type.
    func object(uuid: String) throws -> StoredObject?
    /// The object of `type` named `name` in `tenant` (names are unique per type and tenant).
    func object(type: String, tenant: String, name: String) throws -> StoredObject?
    /// The objects of `type`, by name then uuid; only those in `tenants` and named `name` when given.
    func objects(type: String, tenants: [String]?, name: String?) throws -> [StoredObject]
    /// The objects of `type` as stored JSON text, by name then uuid (the reconciler decodes only what changed).
    func rawObjects(type: String) throws -> [RawStoredObject]
    /// How many objects there are of each type.
    func objectCounts() throws -> [(type: String, count: Int)]
    /// The first object (by type, then name) other than `uuid` that holds `/api/<type>/<uuid>` as a reference.
    func referrer(of type: String, uuid: String) throws -> (type: String, name: String)?
    /// Any object in tenant `tenant` (a tenant is deleted only when empty).
    func anyObject(inTenant tenant: String) throws -> (type: String, name: String)?

    // MARK: Accounts and SE credentials

    /// The uuid and password hash of the user who logs in as `username`.
    func credentials(username: String) throws -> (uuid: String, passwordHash: String)?
    func session(id: String) throws -> SessionRecord?
    func joinToken(_ token: String) throws -> JoinTokenRecord?
    /// The digest of the secret the SE was given at registration.
    func seSecretDigest(se: String) throws -> String?
    /// Every user's login name and password hash (a backup).
    func allCredentials() throws -> [UserCredentials]
    /// Every join token (a backup).
    func allJoinTokens() throws -> [JoinTokenRecord]
    /// Every SE's secret digest and the token it registered with (a backup).
    func allSESecrets() throws -> [SESecretRecord]

    // MARK: Bookkeeping

    func meta(_ key: String) throws -> String?

    // MARK: Reconciler

    /// What the reconciler keeps between passes and restarts.
    func reconcilerRecords() throws -> ReconcilerRecords
}

/// Writes of the shared state inside a transaction (reads see the transaction's own writes).
protocol StoreWriter: StoreReader {
    // MARK: API objects

    /// Inserts or replaces the object with `o.uuid`.
    func putObject(_ o: StoredObject, lastModified: Int64) throws
    func deleteObject(uuid: String) throws
    /// Removes what the store keeps beside an object, when the object goes.
    func deleteRecords(_ records: DependentRecords, of uuid: String) throws

    // MARK: Accounts and SE credentials

    func insertUser(uuid: String, username: String, passwordHash: String) throws
    func setUsername(_ username: String, user: String) throws
    func setPasswordHash(_ hash: String, user: String) throws
    func insertSession(_ session: SessionRecord) throws
    func touchSession(id: String, at time: Double) throws
    func deleteSession(id: String) throws
    /// Ends every session of `user` but `keep`.
    func deleteSessions(user: String, except keep: String?) throws
    /// Ends the sessions that began before `createdBefore` or were last used before `usedBefore`.
    func deleteSessions(createdBefore: Double, usedBefore: Double) throws
    func insertJoinToken(_ token: String, expires: Double) throws
    /// Marks a join token used by SE `seName` (`seUUID`): from then on it registers that SE only.
    func bindJoinToken(_ token: String, seName: String, seUUID: String) throws
    func setSESecret(se: String, digest: String, token: String) throws
    /// Removes the whole configuration: objects, users, sessions, join tokens, SE secrets and the
    /// reconciler's records (before a restore). The version counter and the audit trail stay.
    func clearConfiguration() throws

    // MARK: Bookkeeping

    func setMeta(_ key: String, _ value: String) throws
    /// The next value of the store-wide version counter (monotonic across restarts).
    func nextVersion() throws -> Int
    /// Appends a row to the audit trail (the oldest rows beyond ``AuditLog/maxRows`` go).
    func appendAudit(_ record: AuditRecord) throws

    // MARK: Reconciler

    /// The desired scale-out of a virtual service (`scaleout`/`scalein`).
    func setScale(vs: String, desired: Int) throws
    /// Where a virtual service is placed; nil removes its row.
    func setPlacement(vs: String, ses: [String]?) throws
    func replaceScaleoutPositions(_ positions: [String: ScaleoutPositions.Assignment]) throws
    func setScaleoutGroup(_ group: String, epoch: Int, members: [ScaleoutGroup.Member]) throws
    func replaceDecisions(_ decisions: [PlacementDecision]) throws
    func putDesiredState(_ state: SEDesiredState) throws
}

extension StoreReader {
    func objects(type: String) throws -> [StoredObject] { try objects(type: type, tenants: nil, name: nil) }
}

/// An object as stored, its JSON not decoded.
struct RawStoredObject: Sendable, Hashable {
    var type: String
    var uuid: String
    var tenant: String
    var text: String
}

/// A console or API session.
struct SessionRecord: Sendable, Hashable, Codable {
    var id: String
    var csrf: String
    var user: String
    var created: Double
    var lastUsed: Double
    var expires: Double
}

/// A user's login name and password hash.
struct UserCredentials: Sendable, Hashable, Codable {
    var uuid: String
    var username: String
    var password_hash: String
}

/// An SE's secret digest and the join token it registered with.
struct SESecretRecord: Sendable, Hashable, Codable {
    var se: String
    var digest: String
    var token: String
}

/// A join token and, once used, the SE it belongs to.
struct JoinTokenRecord: Sendable, Hashable, Codable {
    var token: String
    var expires: Double
    var seName: String?
    var seUUID: String?
}

/// One row of the audit trail (``AuditLog``); `old` and `new` are the object's JSON text.
struct AuditRecord: Sendable, Hashable, Codable {
    var time: Double
    var event: String
    var user: String
    var clientIP: String
    var tenant: String
    var type: String
    var uuid: String
    var name: String
    var old: String?
    var new: String?
}

/// Which audit rows a reader asks for.
struct AuditQuery: Sendable, Hashable {
    var tenant: String
    /// Object types the reader may read in the tenant.
    var types: [String]
    var objUUID: String?
    var objType: String?
    var user: String?
    var page = 1
    var pageSize = 25
}

/// Records kept beside an object that go with it.
enum DependentRecords: Sendable, Hashable {
    /// An SE's secret.
    case seSecret
    /// An SE's last desired state.
    case seDesiredState
    /// A virtual service's desired scale-out.
    case vsScale
    /// A user's login name and password hash.
    case userCredentials
    /// A user's sessions.
    case userSessions
}

/// What the reconciler keeps in the store.
struct ReconcilerRecords: Sendable {
    /// Virtual service uuid → SE uuids.
    var placement: [String: [String]] = [:]
    /// Each SE's last desired state.
    var desired: [SEDesiredState] = []
    /// Virtual service uuid → desired scale-out.
    var scale: [String: Int] = [:]
    /// SE uuid → its position in its scale-out group.
    var positions: [String: ScaleoutPositions.Assignment] = [:]
    /// Scale-out group → its epoch and members.
    var groups: [String: (epoch: Int, members: [ScaleoutGroup.Member])] = [:]
}

/// An API object as stored: its type, uuid, tenant, name and JSON (refs relative, `/api/<type>/<uuid>`).
public struct StoredObject: Sendable, Hashable {
    public var type: String
    public var uuid: String
    public var tenant: String
    public var name: String
    public var json: JSONValue

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
