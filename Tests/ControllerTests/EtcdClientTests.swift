import Foundation
import TestSupport
import XCTest

@testable import Controller

/// ``EtcdClient`` against a real etcd member: key-value, transactions, leases, watches and endpoint
/// failover, as the etcd store uses them.
final class EtcdClientTests: XCTestCase {
    func testKeyValueAndTransactions() async throws {
        let server = try EtcdTestServer(self)
        defer { server.stop() }
        let etcd = try EtcdClient(endpoints: [server.endpoint])

        let r1 = try await etcd.put("/t/a", "1")
        try await etcd.put("/t/b", "{\"x\": \"é\"}")
        try await etcd.put("/u/c", "3")
        let prefix = try await etcd.range("/t/", end: EtcdClient.prefixEnd("/t/"))
        XCTAssertEqual(prefix.kvs.map(\.key), ["/t/a", "/t/b"])
        XCTAssertEqual(prefix.kvs.map(\.value), ["1", "{\"x\": \"é\"}"])
        XCTAssertEqual(prefix.kvs[0].modRevision, r1)
        XCTAssertGreaterThan(prefix.revision, r1)
        let v1 = try await etcd.range("/t/a", revision: r1).kvs.first?.value
        XCTAssertEqual(v1, "1")
        let v2 = try await etcd.range("/none").kvs.isEmpty
        XCTAssertTrue(v2)

        // A transaction on a stale revision fails and runs its failure branch; on the current one it succeeds.
        let stale = try await etcd.txn(
            [.modRevision("/t/a", equals: r1 - 1)], success: [.put("/t/a", "lost")], failure: [.range("/t/a")])
        XCTAssertFalse(stale.succeeded)
        XCTAssertEqual(stale.ranges.first?.first?.value, "1")
        let won = try await etcd.txn(
            [.modRevision("/t/a", equals: r1), .createRevision("/t/new", equals: 0)],
            success: [.put("/t/a", "2"), .put("/t/new", "n"), .delete("/u/", end: EtcdClient.prefixEnd("/u/"))])
        XCTAssertTrue(won.succeeded)
        let after = try await etcd.range("/", end: EtcdClient.prefixEnd("/"))
        XCTAssertEqual(after.kvs.map { "\($0.key)=\($0.value)" }, ["/t/a=2", "/t/b={\"x\": \"é\"}", "/t/new=n"])
        XCTAssertEqual(after.revision, won.revision)
        let v3 = try await etcd.delete("/t/", end: EtcdClient.prefixEnd("/t/"))
        XCTAssertEqual(v3, 3)
    }

    func testLeasesTakeTheirKeysAlong() async throws {
        let server = try EtcdTestServer(self)
        defer { server.stop() }
        let etcd = try EtcdClient(endpoints: [server.endpoint])

        let lease = try await etcd.grantLease(ttl: 30)
        try await etcd.put("/leader", "node-1", lease: lease)
        let held = try await etcd.range("/leader")
        XCTAssertEqual(held.kvs.first?.lease, lease)
        let ttl = try await etcd.keepAlive(lease)
        XCTAssertGreaterThan(ttl, 25)
        try await etcd.revoke(lease)
        let v4 = try await etcd.range("/leader").kvs.isEmpty
        XCTAssertTrue(v4, "a revoked lease's key goes")
        let gone = try await etcd.keepAlive(lease)
        XCTAssertEqual(gone, 0, "a revoked lease cannot be kept alive")
        do {
            try await etcd.put("/x", "y", lease: lease)
            XCTFail("a put on a revoked lease should fail")
        } catch let error as EtcdError {
            XCTAssertTrue(error.message.contains("lease not found"), "\(error)")
        }
    }

    func testWatchSeesPutsAndDeletesInOrder() async throws {
        let server = try EtcdTestServer(self)
        defer { server.stop() }
        let etcd = try EtcdClient(endpoints: [server.endpoint])

        let start = try await etcd.put("/w/a", "1")
        try await etcd.put("/other", "not watched")
        let events = Task {
            var seen: [String] = []
            for try await batch in etcd.watch("/w/", end: EtcdClient.prefixEnd("/w/"), from: start) {
                for e in batch.events { seen.append(e.deleted ? "-\(e.kv.key)" : "+\(e.kv.key)=\(e.kv.value)") }
                if seen.count >= 3 { break }
            }
            return seen
        }
        try await etcd.put("/w/b", "2")
        try await etcd.delete("/w/a")
        let seen = try await events.value
        XCTAssertEqual(seen, ["+/w/a=1", "+/w/b=2", "-/w/a"])
    }

    func testADeadEndpointIsPassedOverAndBadEndpointsAreRefused() async throws {
        let server = try EtcdTestServer(self)
        defer { server.stop() }
        let dead = PortReservation()  // bound, never listening: connections are refused
        let etcd = try EtcdClient(endpoints: ["http://127.0.0.1:\(dead.port)", server.endpoint])
        try await etcd.put("/k", "v")
        let v5 = try await etcd.range("/k").kvs.first?.value
        XCTAssertEqual(v5, "v")
        withExtendedLifetime(dead) {}

        XCTAssertThrowsError(try EtcdClient(endpoints: ["127.0.0.1:2379"])) { error in
            XCTAssertTrue("\(error)".contains("http://HOST:PORT"), "\(error)")
        }
        XCTAssertThrowsError(try EtcdClient(endpoints: []))

        let nobody = PortReservation()
        let unreachable = try EtcdClient(endpoints: ["http://127.0.0.1:\(nobody.port)"])
        do {
            _ = try await unreachable.range("/k")
            XCTFail("no etcd there")
        } catch let error as EtcdError {
            XCTAssertEqual(error.kind, .unavailable, "\(error)")
            XCTAssertTrue(error.message.contains("cannot connect (Connection refused)"), error.message)
        }
        withExtendedLifetime(nobody) {}
    }

    /// A member that takes connections and never answers (its host died with the connections open): the
    /// request fails after the client's timeout, and the next one goes to another member.
    func testAMemberThatStopsAnsweringIsPassedOver() async throws {
        let server = try EtcdTestServer(self)
        defer { server.stop() }
        // Listening, never accepting: the kernel completes connections and takes the request, nobody answers.
        let (silent, port) = try XCTUnwrap(listeningLoopbackSocket(backlog: 16))
        defer { close(silent) }
        let etcd = try EtcdClient(endpoints: ["http://127.0.0.1:\(port)", server.endpoint], timeout: .seconds(1))
        do {
            try await etcd.put("/k", "v")
            XCTFail("the silent member answered")
        } catch let error as EtcdError {
            XCTAssertEqual(error.kind, .unavailable, "\(error)")
            XCTAssertTrue(error.message.contains("no answer in time"), error.message)
        }
        try await etcd.put("/k", "v")
        let value = try await etcd.range("/k").kvs.first?.value
        XCTAssertEqual(value, "v", "written through the member that answers")
    }

    /// A secured etcd (`https://`, client certificates required): the client verifies the member against
    /// the CA and presents its certificate; without the certificate, or trusting another CA, it is refused.
    func testASecuredEtcdTakesTheClientCertificateOnly() async throws {
        guard EtcdTestServer.binary != nil else { throw XCTSkip("etcd is not installed (apt-get install etcd-server)") }
        let server = try EtcdTestServer(directory: temporaryDirectory(), tls: true)
        defer { server.stop() }
        XCTAssertTrue(server.endpoint.hasPrefix("https://"))
        let etcd = try EtcdClient(
            endpoints: [server.endpoint],
            tls: .init(caFile: server.caFile, certFile: server.clientCertFile, keyFile: server.clientKeyFile))
        try await etcd.put("/secured", "yes")
        let read = try await etcd.range("/secured")
        XCTAssertEqual(read.kvs.first?.value, "yes")

        let anonymous = try EtcdClient(endpoints: [server.endpoint], tls: .init(caFile: server.caFile))
        do {
            _ = try await anonymous.range("/secured")
            XCTFail("a client without a certificate should be refused")
        } catch {}
        let trustsNobody = try EtcdClient(
            endpoints: [server.endpoint],
            tls: .init(certFile: server.clientCertFile, keyFile: server.clientKeyFile))
        do {
            _ = try await trustsNobody.range("/secured")
            XCTFail("a member whose CA is not trusted should be refused")
        } catch {}
        XCTAssertThrowsError(
            try EtcdClient(endpoints: [server.endpoint], tls: .init(certFile: server.clientCertFile))
        ) { error in XCTAssertTrue("\(error)".contains("both"), "\(error)") }
    }
}
