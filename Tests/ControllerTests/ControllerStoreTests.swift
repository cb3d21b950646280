import Foundation
import Logging
import StarlingModel
import TestSupport
import XCTest

@testable import Controller

/// The store seam's contract (``ControllerStore``), checked through the protocol only, so that every store
/// implementation runs the same cases: atomic write transactions, a transaction reading its own writes,
/// names unique per type and tenant as the API relies on, references found, accounts, sessions, join
/// tokens, the version counter across a reopen, the audit trail, and the reconciler's records.
final class ControllerStoreTests: XCTestCase {
    /// Each store implementation, opened fresh on `directory` (opening again opens the same store): SQLite
    /// in the directory, and etcd (a real member started for the test) under its own prefix.
    func stores(_ directory: String) throws -> [(name: String, open: () async throws -> any ControllerStore)] {
        let etcd = try EtcdTestServer(self)
        addTeardownBlock { etcd.stop() }
        let logger = Logger(label: "test")
        return [
            ("sqlite", { try SQLiteStore(directory: directory) }),
            (
                "etcd",
                {
                    try await EtcdStore.open(
                        client: try EtcdClient(endpoints: [etcd.endpoint]), prefix: "/test/", logger: logger)
                }
            ),
        ]
    }

    static func object(_ type: String, _ name: String, tenant: String = "admin", json extra: [String: JSONValue] = [:])
        -> StoredObject
    {
        let uuid = "\(type)-\(name)"
        var json: [String: JSONValue] = ["uuid": .string(uuid), "name": .string(name)]
        json.merge(extra) { _, new in new }
        return StoredObject(type: type, uuid: uuid, tenant: tenant, name: name, json: .object(json))
    }

    func testWriteTransactionsAreAtomicAndReadTheirOwnWrites() async throws {
        for (name, open) in try stores(temporaryDirectory()) {
            let store = try await open()
            struct Boom: Error {}
            do {
                _ = try await store.write { tx in
                    try tx.putObject(Self.object("pool", "a"), lastModified: 1)
                    XCTAssertEqual(try tx.object(uuid: "pool-a")?.name, "a", "\(name): own write visible")
                    try tx.setMeta("k", "v")
                    throw Boom()
                }
                XCTFail("\(name): the write should throw")
            } catch is Boom {}
            let left = try await store.read { tx in (try tx.object(uuid: "pool-a"), try tx.meta("k")) }
            XCTAssertNil(left.0, "\(name): a failed transaction leaves no object")
            XCTAssertNil(left.1, "\(name): a failed transaction leaves no meta")
        }
    }

    func testObjectsByTypeTenantAndNameInNameOrder() async throws {
        for (name, open) in try stores(temporaryDirectory()) {
            let store = try await open()
            try await store.write { tx in
                for n in ["web", "api", "db"] { try tx.putObject(Self.object("pool", n), lastModified: 1) }
                try tx.putObject(Self.object("pool", "web2", tenant: "t1"), lastModified: 1)
                try tx.putObject(Self.object("vsvip", "web"), lastModified: 1)
            }
            let (all, inT1, named, byName, counts, raw) = try await store.read { tx in
                (
                    try tx.objects(type: "pool").map(\.name),
                    try tx.objects(type: "pool", tenants: ["t1"], name: nil).map(\.name),
                    try tx.objects(type: "pool", tenants: ["admin", "t1"], name: "web").map(\.uuid),
                    try tx.object(type: "pool", tenant: "admin", name: "db")?.uuid,
                    try tx.objectCounts().map { "\($0.type)=\($0.count)" },
                    try tx.rawObjects(type: "vsvip").map(\.text)
                )
            }
            XCTAssertEqual(all, ["api", "db", "web", "web2"], name)
            XCTAssertEqual(inT1, ["web2"], name)
            XCTAssertEqual(named, ["pool-web"], name)
            XCTAssertEqual(byName, "pool-db", name)
            XCTAssertEqual(counts, ["pool=4", "vsvip=1"], name)
            XCTAssertEqual(raw.count, 1, name)
            XCTAssertEqual(try StrictJSON.parse(Data(raw[0].utf8))["name"], .string("web"), name)

            // Replacing keeps one object per uuid; deleting removes it.
            try await store.write { tx in
                try tx.putObject(Self.object("pool", "api", json: ["description": .string("v2")]), lastModified: 2)
                try tx.deleteObject(uuid: "pool-db")
            }
            let after = try await store.read { tx in
                (try tx.objects(type: "pool").map(\.name), try tx.object(uuid: "pool-api")?.json["description"])
            }
            XCTAssertEqual(after.0, ["api", "web", "web2"], name)
            XCTAssertEqual(after.1, .string("v2"), name)
        }
    }

    func testReferrersAndTenantContents() async throws {
        for (name, open) in try stores(temporaryDirectory()) {
            let store = try await open()
            try await store.write { tx in
                try tx.putObject(Self.object("pool", "p"), lastModified: 1)
                try tx.putObject(
                    Self.object("virtualservice", "vs", json: ["pool_ref": .string("/api/pool/pool-p")]),
                    lastModified: 1)
                try tx.putObject(Self.object("pool", "q", tenant: "tenant-x"), lastModified: 1)
            }
            let found = try await store.read { tx in
                (
                    try tx.referrer(of: "pool", uuid: "pool-p").map { "\($0.type) \($0.name)" },
                    try tx.referrer(of: "pool", uuid: "pool-q").map { "\($0.type) \($0.name)" },
                    // A prefix of another uuid is not a reference to it.
                    try tx.referrer(of: "pool", uuid: "pool-").map { "\($0.type) \($0.name)" },
                    try tx.anyObject(inTenant: "tenant-x").map { "\($0.type) \($0.name)" },
                    try tx.anyObject(inTenant: "tenant-y").map { "\($0.type) \($0.name)" }
                )
            }
            XCTAssertEqual(found.0, "virtualservice vs", name)
            XCTAssertNil(found.1, name)
            XCTAssertNil(found.2, name)
            XCTAssertEqual(found.3, "pool q", name)
            XCTAssertNil(found.4, name)
        }
    }

    func testAccountsSessionsAndDependentRecords() async throws {
        for (name, open) in try stores(temporaryDirectory()) {
            let store = try await open()
            try await store.write { tx in
                try tx.insertUser(uuid: "user-1", username: "ops", passwordHash: "h1")
                try tx.setUsername("operator", user: "user-1")
                try tx.setPasswordHash("h2", user: "user-1")
                for (id, created, used) in [("s1", 100.0, 100.0), ("s2", 100.0, 190.0), ("s3", 10.0, 195.0)] {
                    try tx.insertSession(
                        SessionRecord(
                            id: id, csrf: "c-\(id)", user: "user-1", created: created, lastUsed: used, expires: 1e9))
                }
                try tx.touchSession(id: "s1", at: 150)
            }
            let read = try await store.read { tx in
                (
                    try tx.credentials(username: "ops"), try tx.credentials(username: "operator"),
                    try tx.session(id: "s1")
                )
            }
            XCTAssertNil(read.0, "\(name): renamed")
            XCTAssertEqual(read.1?.uuid, "user-1", name)
            XCTAssertEqual(read.1?.passwordHash, "h2", name)
            XCTAssertEqual(read.2?.lastUsed, 150, name)
            XCTAssertEqual(read.2?.csrf, "c-s1", name)

            // Idle (last used before 160) or too old (created before 50) sessions go; then all but one.
            try await store.write { tx in try tx.deleteSessions(createdBefore: 50, usedBefore: 160) }
            let kept = try await store.read { tx in try ["s1", "s2", "s3"].filter { try tx.session(id: $0) != nil } }
            XCTAssertEqual(kept, ["s2"], name)
            try await store.write { tx in
                try tx.insertSession(
                    SessionRecord(id: "s4", csrf: "c", user: "user-1", created: 200, lastUsed: 200, expires: 1e9))
                try tx.deleteSessions(user: "user-1", except: "s4")
            }
            let left = try await store.read { tx in try ["s2", "s4"].filter { try tx.session(id: $0) != nil } }
            XCTAssertEqual(left, ["s4"], name)
            try await store.write { tx in
                try tx.deleteRecords(.userCredentials, of: "user-1")
                try tx.deleteRecords(.userSessions, of: "user-1")
            }
            let gone = try await store.read { tx in
                (try tx.credentials(username: "operator"), try tx.session(id: "s4"))
            }
            XCTAssertNil(gone.0, name)
            XCTAssertNil(gone.1, name)
        }
    }

    func testJoinTokensAndSESecrets() async throws {
        for (name, open) in try stores(temporaryDirectory()) {
            let store = try await open()
            try await store.write { tx in
                try tx.insertJoinToken("tok", expires: 500)
                try tx.setSESecret(se: "se-1", digest: "d1", token: "tok")
                try tx.setSESecret(se: "se-1", digest: "d2", token: "tok")
            }
            let fresh = try await store.read { tx in try tx.joinToken("tok") }
            XCTAssertEqual(fresh, JoinTokenRecord(token: "tok", expires: 500, seName: nil, seUUID: nil), name)
            try await store.write { tx in try tx.bindJoinToken("tok", seName: "se-a", seUUID: "se-1") }
            let bound = try await store.read { tx in (try tx.joinToken("tok"), try tx.seSecretDigest(se: "se-1")) }
            XCTAssertEqual(bound.0?.seName, "se-a", name)
            XCTAssertEqual(bound.0?.seUUID, "se-1", name)
            XCTAssertEqual(bound.1, "d2", "\(name): the latest secret")
            let value1 = try await store.read { tx in try tx.joinToken("other") }
            XCTAssertNil(value1, name)
            try await store.write { tx in try tx.deleteRecords(.seSecret, of: "se-1") }
            let value2 = try await store.read { tx in try tx.seSecretDigest(se: "se-1") }
            XCTAssertNil(value2, name)
        }
    }

    func testVersionCounterSurvivesAReopen() async throws {
        let directory = temporaryDirectory()
        for (name, open) in try stores(directory) {
            let first = try await open().write { tx in [try tx.nextVersion(), try tx.nextVersion()] }
            XCTAssertEqual(first, [1, 2], name)
            let reopened = try await open()
            let value3 = try await reopened.write { tx in try tx.nextVersion() }
            XCTAssertEqual(value3, 3, name)
            XCTAssertEqual(try reopened.readNow { tx in try tx.meta("version") }, "3", "\(name): readNow")
        }
    }

    func testAuditPagesNewestFirstFilteredByTenantTypeObjectAndUser() async throws {
        for (name, open) in try stores(temporaryDirectory()) {
            let store = try await open()
            try await store.write { tx in
                for i in 1...5 {
                    try tx.appendAudit(
                        AuditRecord(
                            time: Double(i), event: "CONFIG_UPDATE", user: i % 2 == 0 ? "bob" : "alice",
                            clientIP: "::1",
                            tenant: i == 5 ? "t1" : "admin", type: i == 4 ? "vsvip" : "pool", uuid: "pool-\(i % 2)",
                            name: "n\(i)", old: "{}", new: nil))
                }
            }
            func page(_ q: AuditQuery) async throws -> (Int, [String]) {
                let (count, records) = try await store.auditPage(q)
                return (count, records.map(\.name))
            }
            var q = AuditQuery(tenant: "admin", types: ["pool", "vsvip"])
            q.pageSize = 2
            let p1 = try await page(q)
            XCTAssertEqual(p1.0, 4, name)
            XCTAssertEqual(p1.1, ["n4", "n3"], name)
            q.page = 2
            let value4 = try await page(q).1
            XCTAssertEqual(value4, ["n2", "n1"], name)
            let value5 = try await page(AuditQuery(tenant: "admin", types: ["pool"])).1
            XCTAssertEqual(value5, ["n3", "n2", "n1"], name)
            let value6 = try await page(AuditQuery(tenant: "admin", types: [])).0
            XCTAssertEqual(value6, 0, "\(name): no readable types")
            var byUser = AuditQuery(tenant: "admin", types: ["pool", "vsvip"])
            byUser.user = "bob"
            let value7 = try await page(byUser).1
            XCTAssertEqual(value7, ["n4", "n2"], name)
            var byObject = AuditQuery(tenant: "admin", types: ["pool", "vsvip"], objUUID: "pool-1", objType: "pool")
            let value8 = try await page(byObject).1
            XCTAssertEqual(value8, ["n3", "n1"], name)
            byObject.tenant = "t1"
            let value9 = try await page(byObject).1
            XCTAssertEqual(value9, ["n5"], name)
            let record = try await store.auditPage(AuditQuery(tenant: "t1", types: ["pool"]))
            XCTAssertEqual(record.records.first?.time, 5, name)
            XCTAssertEqual(record.records.first?.old, "{}", name)
            XCTAssertNil(record.records.first?.new, name)
        }
    }

    func testReconcilerRecordsRoundTrip() async throws {
        let directory = temporaryDirectory()
        for (name, open) in try stores(directory) {
            let store = try await open()
            let member = ScaleoutGroup.Member(position: 0, se_uuid: "se-1", se_name: "se-a", data_address: "198.18.0.1")
            let desired = SEDesiredState(
                version: 7, se_uuid: "se-1", se_name: "se-a", vrfcontext: nil, virtual_services: [])
            try await store.write { tx in
                try tx.setPlacement(vs: "vs-1", ses: ["se-1", "se-2"])
                try tx.setPlacement(vs: "vs-2", ses: ["se-2"])
                try tx.setPlacement(vs: "vs-2", ses: nil)
                try tx.setScale(vs: "vs-1", desired: 2)
                try tx.replaceScaleoutPositions(["se-1": .init(group: "g", position: 0)])
                try tx.setScaleoutGroup("g", epoch: 3, members: [member])
                try tx.replaceDecisions([])
                try tx.putDesiredState(desired)
            }
            let records = try await open().readNow { tx in try tx.reconcilerRecords() }
            XCTAssertEqual(records.placement, ["vs-1": ["se-1", "se-2"]], name)
            XCTAssertEqual(records.scale, ["vs-1": 2], name)
            XCTAssertEqual(records.positions, ["se-1": .init(group: "g", position: 0)], name)
            XCTAssertEqual(records.groups["g"]?.epoch, 3, name)
            XCTAssertEqual(records.groups["g"]?.members, [member], name)
            XCTAssertEqual(records.desired, [desired], name)
            try await store.write { tx in
                try tx.replaceScaleoutPositions([:])
                try tx.deleteRecords(.seDesiredState, of: "se-1")
                try tx.deleteRecords(.vsScale, of: "vs-1")
            }
            let cleared = try store.readNow { tx in try tx.reconcilerRecords() }
            XCTAssertTrue(cleared.positions.isEmpty, name)
            XCTAssertTrue(cleared.desired.isEmpty, name)
            XCTAssertTrue(cleared.scale.isEmpty, name)
        }
    }

    /// Two controller nodes on one etcd: each increments one counter 25 times at once (read, add one,
    /// write, in one transaction). Transactions that lose the race run again, so no increment is lost,
    /// and each node sees the other's writes through its watch.
    func testTwoEtcdNodesLoseNoUpdate() async throws {
        let etcd = try EtcdTestServer(self)
        defer { etcd.stop() }
        let logger = Logger(label: "test")
        let a = try await EtcdStore.open(client: try EtcdClient(endpoints: [etcd.endpoint]), logger: logger)
        let b = try await EtcdStore.open(client: try EtcdClient(endpoints: [etcd.endpoint]), logger: logger)
        defer {
            a.close()
            b.close()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in [a, b] {
                group.addTask {
                    for _ in 0..<25 {
                        try await store.write { tx in
                            try tx.setMeta("counter", String((try tx.meta("counter").flatMap(Int.init) ?? 0) + 1))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        // In etcd: every increment.
        let stored = try await EtcdClient(endpoints: [etcd.endpoint]).range("/starling/c/meta/counter")
        XCTAssertEqual(stored.kvs.first?.value, "50", "an increment was lost")
        try await b.write { tx in try tx.putObject(Self.object("pool", "from-b"), lastModified: 1) }
        let started = Date()
        while try a.readNow({ tx in try tx.object(uuid: "pool-from-b") }) == nil {
            XCTAssertLessThan(Date().timeIntervalSince(started), 5, "node a never saw node b's write")
            if Date().timeIntervalSince(started) > 5 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        // b's write came after all of a's increments: a's mirror has them all by now, and so has b's.
        XCTAssertEqual(try a.readNow { tx in try tx.meta("counter") }, "50")
        XCTAssertEqual(try b.readNow { tx in try tx.meta("counter") }, "50")
    }
}
