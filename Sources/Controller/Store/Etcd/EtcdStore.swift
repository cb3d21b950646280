import Foundation
import Logging
import StarlingModel
import Synchronization

/// The cluster store: the controller's shared state in etcd, so that every controller node of a cluster
/// reads and writes one configuration.
///
/// Each node keeps a mirror of the state in memory: loaded with one range read at open, then kept current by
/// a watch from the revision it was read at. Reads run on the mirror (no round trip; a node sees another
/// node's write once the watch brings it, a few milliseconds later). A write transaction runs its body on
/// the mirror with an overlay of its own writes, then commits them in one etcd transaction that also moves
/// one key (`c/txn`) and holds only if that key is where the mirror saw it: two writes from any nodes
/// conflict there, and the one that lands second runs again on the state that includes the first. So a
/// write's checks (name taken, still referenced, `_last_modified`) always see the latest state, and no
/// write is lost. A write returns once this node's mirror has it (a read after a write sees it).
///
/// Keys, under `prefix` (`/starling/` by default): `c/objects/<uuid>` (a header line with type, tenant,
/// name and last-modified time, then the object's JSON), `c/users/<uuid>`, `c/sessions/<id>`,
/// `c/join_tokens/<token>`, `c/se_secrets/<se>`, `c/meta/<key>`, `c/placement/<vs>`, `c/vs_scale/<vs>`,
/// `c/positions`, `c/groups/<group>`, `c/decisions`, `c/desired/<se>`; and, outside the mirror,
/// `audit/<seq>` (the audit trail, read page by page from etcd). etcd must allow transactions of a
/// reconcile pass's size: run it with `--max-txn-ops 4096` or more.
final class EtcdStore: ControllerStore {
    let client: EtcdClient
    let prefix: String
    let logger: Logger
    private let mirror: Mutex<Mirror>
    private let watcher = Mutex<Task<Void, Never>?>(nil)

    /// Most audit rows kept in etcd (fewer than SQLite's: they are replicated to every member).
    static let auditRows = 10_000

    private init(client: EtcdClient, prefix: String, logger: Logger, mirror: Mirror) {
        self.client = client
        self.prefix = prefix
        self.logger = logger
        self.mirror = Mutex(mirror)
    }

    /// Reads the whole state under `prefix` and starts following it.
    static func open(client: EtcdClient, prefix: String = "/starling/", logger: Logger) async throws -> EtcdStore {
        let store = EtcdStore(client: client, prefix: prefix, logger: logger, mirror: Mirror())
        let revision = try await store.reload()
        store.follow(from: revision + 1)
        return store
    }

    /// Stops following etcd (the store answers from what it has until it is dropped) and ends this node's
    /// membership (its lease: its node entry goes, and so does the leadership if it holds it).
    func close() {
        watcher.withLock { task in
            task?.cancel()
            task = nil
        }
        campaigner.withLock { task in
            task?.cancel()
            task = nil
        }
        if let lease = memberLease.withLock({ $0 }) { Task { [client] in try? await client.revoke(lease) } }
    }

    /// ``close()``, and revokes the lease before returning, so that another node takes the leadership at once
    /// instead of after the lease's time to live.
    func shutdown() async {
        let lease = memberLease.withLock { lease in
            defer { lease = nil }
            return lease
        }
        close()
        if let lease { try? await client.revoke(lease) }
    }

    // MARK: Membership and leadership

    /// A controller node as the cluster lists it.
    struct Member: Codable, Sendable, Hashable {
        var name: String
        /// Where its API listens (`host:port`), empty when unknown.
        var address: String
        /// Seconds since the epoch when it joined.
        var up_since: Double
    }

    /// The lease this node's membership and leadership hang on.
    private let memberLease = Mutex<Int64?>(nil)
    private let campaigner = Mutex<Task<Void, Never>?>(nil)
    private let leading = Mutex(false)
    /// Seconds a node's lease outlives its last renewal: how long a dead leader holds the leadership.
    static let leaseTTL = 5

    /// Whether this node leads now.
    var isLeader: Bool { leading.withLock { $0 } }

    /// Joins the cluster as `member` and runs for leader until the store is closed: the leader is the node
    /// whose name is at the key `leader`, put there on its lease (renewed every `leaseTTL`/3 s), so it goes
    /// by itself `leaseTTL` s after the leader dies, or at once when it stops. Every node registers under
    /// `nodes/<name>` on the same lease. A follower tries to take the key every second. `changed` hears
    /// each change of this node's role (true: it leads), one at a time, in order.
    func campaign(as member: Member, changed: @escaping @Sendable (Bool) async -> Void) async throws {
        let leaderKey = prefix + "leader"
        let memberKey = prefix + "nodes/" + member.name
        func join() async throws -> Int64 {
            let lease = try await client.grantLease(ttl: Self.leaseTTL)
            try await client.put(memberKey, JSONText.encode(member), lease: lease)
            memberLease.withLock { $0 = lease }
            return lease
        }
        var lease = try await join()
        let task = Task { [weak self, client, logger] in
            var leads = false
            var lastRenewal = ContinuousClock.now
            while !Task.isCancelled {
                guard let self else { return }
                do {
                    if ContinuousClock.now - lastRenewal >= .seconds(Double(Self.leaseTTL) / 3) {
                        lastRenewal = ContinuousClock.now
                        if try await client.keepAlive(lease) == 0 {
                            // The lease expired (etcd out of reach for longer than its TTL): whatever this node
                            // held is gone. Join again and run again.
                            logger.error("this controller node's lease in etcd expired; joining again")
                            if leads {
                                leads = false
                                self.leading.withLock { $0 = false }
                                await changed(false)
                            }
                            lease = try await join()
                        }
                    }
                    if !leads {
                        let outcome = try await client.txn(
                            [.createRevision(leaderKey, equals: 0)],
                            success: [.put(leaderKey, member.name, lease: lease)])
                        if outcome.succeeded {
                            leads = true
                            self.leading.withLock { $0 = true }
                            logger.notice(
                                "this controller node leads the cluster", metadata: ["node": "\(member.name)"])
                            await changed(true)
                        }
                    }
                } catch {
                    logger.warning("etcd campaign: \(error)")
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        campaigner.withLock { $0 = task }
    }

    /// The leader's name, nil when none.
    func leader() async throws -> String? { try await client.range(prefix + "leader").kvs.first?.value }

    /// The nodes that are members now (their leases live), by name.
    func members() async throws -> [Member] {
        try await client.range(prefix + "nodes/", end: EtcdClient.prefixEnd(prefix + "nodes/")).kvs.compactMap {
            try? JSONDecoder().decode(Member.self, from: Data($0.value.utf8))
        }
    }

    /// Called after the watch brought a change of API objects (another node's write, or this node's).
    private let objectsChanged = Mutex<(@Sendable () -> Void)?>(nil)

    /// Sets what runs when the watch brings a change of API objects.
    func onObjectsChanged(_ action: @escaping @Sendable () -> Void) { objectsChanged.withLock { $0 = action } }

    private var configPrefix: String { prefix + "c/" }

    /// Loads the mirror afresh; returns the revision the mirror is at after it.
    @discardableResult
    private func reload() async throws -> Int64 {
        let all = try await client.range(configPrefix, end: EtcdClient.prefixEnd(configPrefix))
        var fresh = Mirror()
        fresh.revision = all.revision
        for kv in all.kvs { fresh.apply(String(kv.key.dropFirst(configPrefix.count)), kv.value, mod: kv.modRevision) }
        return mirror.withLock { m in
            // A mirror the watch already moved past this read stays: replacing it would lose what the watch
            // applied after the read's revision.
            guard fresh.revision > m.revision else { return m.revision }
            let (waiters, next) = (m.waiters, m.nextWaiter)
            m = fresh
            m.waiters = waiters
            m.nextWaiter = next
            m.wakeReached()
            return m.revision
        }
    }

    /// Applies the watch's changes to the mirror until the store is closed; reloads and watches anew
    /// when the stream breaks (etcd restarted, the revision was compacted).
    private func follow(from start: Int64) {
        let task = Task { [weak self] in
            var next = start
            while !Task.isCancelled {
                guard let self else { return }
                do {
                    for try await batch in self.client.watch(
                        self.configPrefix, end: EtcdClient.prefixEnd(self.configPrefix), from: next)
                    {
                        let objects = batch.events.contains { $0.kv.key.hasPrefix(self.configPrefix + "objects/") }
                        self.mirror.withLock { m in
                            for e in batch.events {
                                let key = String(e.kv.key.dropFirst(self.configPrefix.count))
                                if e.deleted { m.remove(key) } else { m.apply(key, e.kv.value, mod: e.kv.modRevision) }
                            }
                            m.revision = max(m.revision, batch.revision)
                            m.wakeReached()
                        }
                        next = batch.revision + 1
                        if objects, let action = self.objectsChanged.withLock({ $0 }) { action() }
                    }
                } catch {
                    if Task.isCancelled { return }
                    self.logger.warning("etcd watch ended; reading the state again", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .milliseconds(500))
                    if let revision = try? await self.reload() { next = revision + 1 }
                }
            }
        }
        watcher.withLock { $0 = task }
    }

    /// Suspends until the mirror has reached `revision` (reloads it when the watch does not bring it in 2 s).
    private func caughtUp(to revision: Int64) async throws {
        let reached = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let id = mirror.withLock { m -> UInt64? in
                if m.revision >= revision { return nil }
                m.nextWaiter += 1
                m.waiters[m.nextWaiter] = (revision, c)
                return m.nextWaiter
            }
            guard let id else { return c.resume(returning: true) }
            Task { [weak self] in
                try? await Task.sleep(for: .seconds(2))
                self?.mirror.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: false)
            }
        }
        if !reached { try await reload() }
    }

    // MARK: ControllerStore

    func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReader) throws -> T) async throws -> T {
        try readNow(body)
    }

    func readNow<T>(_ body: (any StoreReader) throws -> T) throws -> T {
        try body(EtcdTransaction(base: mirror.withLock { $0.snapshot }))
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any StoreWriter) throws -> T) async throws -> T {
        for _ in 0..<50 {
            let base = mirror.withLock { $0.snapshot }
            let tx = EtcdTransaction(base: base)
            let result = try body(tx)
            if tx.writes.isEmpty && tx.audit.isEmpty { return result }
            var operations: [EtcdClient.Operation] = tx.writes.sorted { $0.key < $1.key }.map { key, value in
                value.map { .put(configPrefix + key, $0) } ?? .delete(configPrefix + key)
            }
            if let first = tx.audit.first {
                for (i, record) in tx.audit.enumerated() {
                    operations.append(.put(prefix + "audit/" + Self.auditKey(first.seq + Int64(i)), record.text))
                }
                let last = first.seq + Int64(tx.audit.count) - 1
                if last > Int64(Self.auditRows) {
                    operations.append(
                        .delete(
                            prefix + "audit/", end: prefix + "audit/" + Self.auditKey(last - Int64(Self.auditRows) + 1))
                    )
                }
            }
            let lock = configPrefix + "txn"
            operations.append(.put(lock, String(base.revision)))
            let outcome = try await client.txn(
                [.modRevision(lock, equals: base.kvs["txn"]?.mod ?? 0)], success: operations)
            try await caughtUp(to: outcome.revision)
            if outcome.succeeded { return result }
            // Another write landed first: run again on the state that has it.
        }
        throw APIError(503, "the configuration store is busy (too many concurrent writes): try again")
    }

    func auditPage(_ q: AuditQuery) async throws -> (count: Int, records: [AuditRecord]) {
        let rows = try await client.range(prefix + "audit/", end: EtcdClient.prefixEnd(prefix + "audit/"))
        let types = Set(q.objType.map { t in q.types.filter { $0 == t } } ?? q.types)
        let matching = rows.kvs.reversed().compactMap { kv -> AuditRecord? in
            guard let r = try? JSONDecoder().decode(AuditRecord.self, from: Data(kv.value.utf8)) else { return nil }
            guard r.tenant == q.tenant, types.contains(r.type), q.objUUID.map({ $0 == r.uuid }) ?? true,
                q.user.map({ $0 == r.user }) ?? true
            else { return nil }
            return r
        }
        let start = max(0, (q.page - 1) * q.pageSize)
        let page = start < matching.count ? Array(matching[start..<min(matching.count, start + q.pageSize)]) : []
        return (matching.count, page)
    }

    static func auditKey(_ seq: Int64) -> String { String(format: "%020lld", seq) }
}

/// The mirror of the state under `c/`, with the objects parsed and indexed.
struct Mirror: Sendable {
    var revision: Int64 = 0
    var kvs: [String: (value: String, mod: Int64)] = [:]
    var objects: [String: ObjectEntry] = [:]
    /// `type \0 tenant \0 name` → uuid.
    var names: [String: String] = [:]
    var waiters: [UInt64: (revision: Int64, continuation: CheckedContinuation<Bool, Never>)] = [:]
    var nextWaiter: UInt64 = 0

    var snapshot: MirrorSnapshot { MirrorSnapshot(revision: revision, kvs: kvs, objects: objects, names: names) }

    mutating func apply(_ key: String, _ value: String, mod: Int64) {
        remove(key)
        kvs[key] = (value, mod)
        if key.hasPrefix("objects/"), let entry = ObjectEntry(value) {
            objects[entry.uuid] = entry
            names[entry.nameKey] = entry.uuid
        }
    }

    mutating func remove(_ key: String) {
        kvs[key] = nil
        if key.hasPrefix("objects/"), let old = objects.removeValue(forKey: String(key.dropFirst("objects/".count))),
            names[old.nameKey] == old.uuid
        {
            names[old.nameKey] = nil
        }
    }

    mutating func wakeReached() {
        for (id, w) in waiters where w.revision <= revision {
            waiters[id] = nil
            w.continuation.resume(returning: true)
        }
    }
}

/// A read-only copy of the mirror a transaction runs on.
struct MirrorSnapshot: Sendable {
    var revision: Int64
    var kvs: [String: (value: String, mod: Int64)]
    var objects: [String: ObjectEntry]
    var names: [String: String]
}

/// An object as stored under `c/objects/<uuid>`: a header line, then the object's JSON text.
struct ObjectEntry: Sendable, Hashable {
    var uuid: String
    var type: String
    var tenant: String
    var name: String
    var lastModified: Int64
    var text: String

    private struct Header: Codable {
        var uuid: String
        var type: String
        var tenant: String
        var name: String
        var last_modified: Int64
    }

    init(_ o: StoredObject, lastModified: Int64) {
        uuid = o.uuid
        type = o.type
        tenant = o.tenant
        name = o.name
        self.lastModified = lastModified
        text = JSONText.encode(o.json)
    }

    init?(_ stored: String) {
        guard let newline = stored.firstIndex(of: "\n"),
            let h = try? JSONDecoder().decode(Header.self, from: Data(stored[..<newline].utf8))
        else { return nil }
        (uuid, type, tenant, name, lastModified) = (h.uuid, h.type, h.tenant, h.name, h.last_modified)
        text = String(stored[stored.index(after: newline)...])
    }

    var stored: String {
        JSONText.encode(Header(uuid: uuid, type: type, tenant: tenant, name: name, last_modified: lastModified)) + "\n"
            + text
    }

    var nameKey: String { Self.nameKey(type, tenant, name) }
    static func nameKey(_ type: String, _ tenant: String, _ name: String) -> String { "\(type)\0\(tenant)\0\(name)" }

    func object() throws -> StoredObject {
        StoredObject(
            type: type, uuid: uuid, tenant: tenant, name: name,
            json: try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
    }

    var raw: RawStoredObject { RawStoredObject(type: type, uuid: uuid, tenant: tenant, text: text) }
}
