import Foundation
import StarlingModel
import XCTest

@testable import Controller

/// The reconcile pass as a pure function: a snapshot (configuration + each SE's state) in, placement,
/// desired states and oper-state changes out. No store, no clock.
final class ReconcilePassTests: XCTestCase {
    private func snapshot(
        liveness: [String: SEState.OperState], webPool: String = "p", stored: [String: String] = [:]
    ) throws -> ReconcilePass.Snapshot {
        let json = """
            {"pool": [{"uuid": "pool-1", "name": "p", "servers": [{"ip": {"addr": "192.0.2.21", "type": "V4"}}]}],
             "vsvip": [{"uuid": "vsvip-1", "name": "v",
               "vip": [{"vip_id": "0", "ip_address": {"addr": "198.51.100.10", "type": "V4"}}]}],
             "virtualservice": [
               {"uuid": "virtualservice-web", "name": "web", "vsvip_ref": "/api/vsvip/vsvip-1",
                "services": [{"port": 80}], "pool_ref": "/api/pool/?name=\(webPool)"}]}
            """
        var snap = ReconcilePass.Snapshot()
        snap.set = try StrictJSON.decode(ObjectSet.self, from: Data(json.utf8))
        snap.groups = ["group-1": SEGroupPolicy(minScaleoutPerVS: 2)]
        snap.ses = [("se-a", "se-a", "group-1"), ("se-b", "se-b", "group-1"), ("se-c", "se-c", "group-1")]
        snap.seNames = ["se-a": "se-a", "se-b": "se-b", "se-c": "se-c"]
        snap.seDataAddresses = ["se-a": "198.18.1.11", "se-b": "198.18.1.12", "se-c": "198.18.1.13"]
        snap.vss = [VSRequest(uuid: "virtualservice-web", name: "web", group: "group-1")]
        for (se, state) in liveness { snap.liveness[se] = (state, state == .down ? "no heartbeat" : "heartbeat") }
        snap.storedSEStatus = stored
        return snap
    }

    func testPlacesOnSEsThatAreUpAndGivesEachItsDesiredState() throws {
        let snap = try snapshot(liveness: ["se-a": .up, "se-b": .up, "se-c": .down])
        let pass = ReconcilePass.run(snap, placement: Placement(), desired: [:])
        XCTAssertEqual(Set(pass.placement.serviceEngines(for: "virtualservice-web")), ["se-a", "se-b"])
        XCTAssertTrue(pass.decisions.contains { $0.vs == "virtualservice-web" && $0.kind == .placed })
        // Every SE gets a first desired state (version 0: the store numbers it); se-c's is empty.
        XCTAssertEqual(Set(pass.desired.keys), ["se-a", "se-b", "se-c"])
        XCTAssertEqual(pass.desired["se-a"]?.virtual_services.map(\.virtualservice.name), ["web"])
        XCTAssertEqual(pass.desired["se-c"]?.virtual_services.count, 0)
        XCTAssertEqual(pass.desired["se-a"]?.version, 0)
        // The three SEs have data addresses: one scale-out group, positions 0...2.
        XCTAssertEqual(pass.desired["se-a"]?.scaleout?.members.map(\.position), [0, 1, 2])
        // No oper state stored yet: all three recorded, with the liveness reason.
        XCTAssertEqual(pass.operStates["se-c"], .init(state: "OPER_DOWN", reason: "no heartbeat"))
        XCTAssertEqual(pass.operStates["se-a"]?.state, "OPER_UP")
        XCTAssertTrue(pass.unresolved.isEmpty)
    }

    func testASecondPassOverTheSameSnapshotChangesNothing() throws {
        let snap = try snapshot(
            liveness: ["se-a": .up, "se-b": .up, "se-c": .down],
            stored: ["se-a": "OPER_UP", "se-b": "OPER_UP", "se-c": "OPER_DOWN"])
        let first = ReconcilePass.run(snap, placement: Placement(), desired: [:])
        var stored = first.desired
        for key in stored.keys { stored[key]?.version = 7 }
        var again = snap
        again.positions = first.positions
        again.storedGroups = first.groups.mapValues { ($0.epoch, $0.members) }
        let second = ReconcilePass.run(again, placement: first.placement, desired: stored)
        XCTAssertEqual(second.placement, first.placement)
        XCTAssertTrue(second.desired.isEmpty, "\(second.desired.keys)")
        XCTAssertTrue(second.operStates.isEmpty)
        XCTAssertEqual(second.groups.mapValues(\.epoch), first.groups.mapValues(\.epoch))
    }

    func testAnSEGoingDownMovesTheServiceAndRecordsWhy() throws {
        let before = try snapshot(liveness: ["se-a": .up, "se-b": .up, "se-c": .up])
        let first = ReconcilePass.run(before, placement: Placement(), desired: [:])
        let placed = first.placement.serviceEngines(for: "virtualservice-web")
        XCTAssertEqual(placed.count, 2)
        let lost = try XCTUnwrap(placed.first)
        var liveness: [String: SEState.OperState] = ["se-a": .up, "se-b": .up, "se-c": .up]
        liveness[lost] = .down
        let after = try snapshot(
            liveness: liveness, stored: ["se-a": "OPER_UP", "se-b": "OPER_UP", "se-c": "OPER_UP"])
        let second = ReconcilePass.run(after, placement: first.placement, desired: first.desired)
        let now = second.placement.serviceEngines(for: "virtualservice-web")
        XCTAssertFalse(now.contains(lost))
        XCTAssertEqual(now.count, 2)
        XCTAssertEqual(second.operStates, [lost: .init(state: "OPER_DOWN", reason: "no heartbeat")])
        XCTAssertTrue(second.decisions.contains { $0.se == lost && $0.kind == .removed }, "\(second.decisions)")
    }

    func testAServiceThatDoesNotResolveIsLeftOutWithWhy() throws {
        let snap = try snapshot(liveness: ["se-a": .up, "se-b": .up, "se-c": .up], webPool: "missing")
        let pass = ReconcilePass.run(snap, placement: Placement(), desired: [:])
        XCTAssertEqual(pass.unresolved.map(\.vs), ["web", "web"])
        XCTAssertTrue(pass.unresolved.first?.error.contains("pool_ref") == true, "\(pass.unresolved)")
        XCTAssertTrue(pass.desired.values.allSatisfy { $0.virtual_services.isEmpty })
    }
}
