import Foundation
import HummingbirdTesting
import StarlingModel
import XCTest

@testable import Controller

/// The controller hands each SE group's members their scale-out positions (issue 15): stable while an SE
/// stays, the lowest free one for a newcomer, at most 16 per group, kept across a controller restart, and
/// sent to every member in its desired state.
final class ScaleoutPositionsTests: XCTestCase {
    typealias Assignment = ScaleoutPositions.Assignment

    func testAnSEKeepsItsPositionAndANewcomerTakesTheLowestFree() {
        let current = ["se-b": Assignment(group: "g", position: 1), "se-c": Assignment(group: "g", position: 2)]
        let next = ScaleoutPositions.assign(
            current: current,
            ses: [("se-c", "c", "g"), ("se-b", "b", "g"), ("se-e", "e", "g"), ("se-d", "d", "g")])
        XCTAssertEqual(next["se-b"], Assignment(group: "g", position: 1), "kept")
        XCTAssertEqual(next["se-c"], Assignment(group: "g", position: 2), "kept")
        XCTAssertEqual(next["se-d"], Assignment(group: "g", position: 0), "newcomers in name order: d first")
        XCTAssertEqual(next["se-e"], Assignment(group: "g", position: 3))

        // se-b moves to another group: its position there is new, and 1 is free in g.
        let moved = ScaleoutPositions.assign(
            current: next, ses: [("se-b", "b", "h"), ("se-c", "c", "g"), ("se-d", "d", "g"), ("se-e", "e", "g")])
        XCTAssertEqual(moved["se-b"], Assignment(group: "h", position: 0))
        XCTAssertEqual(moved["se-c"]?.position, 2)
        XCTAssertEqual(moved["se-e"]?.position, 3, "the others do not move")
    }

    func testAGroupHoldsSixteen() {
        let ses = (0..<18).map { (uuid: "se-\($0)", name: String(format: "se%02d", $0), group: "g") }
        let positions = ScaleoutPositions.assign(current: [:], ses: ses)
        XCTAssertEqual(positions.count, 16)
        XCTAssertEqual(Set(positions.values.map(\.position)), Set(0..<16))
        XCTAssertNil(positions["se-16"], "beyond 16: no position")
        // One leaves: the first one waiting takes its position.
        let next = ScaleoutPositions.assign(current: positions, ses: ses.filter { $0.uuid != "se-3" })
        XCTAssertEqual(next["se-16"], positions["se-3"])
        XCTAssertNil(next["se-17"])
    }

    func testTheEpochMovesOnOnlyWhenTheMemberListChanges() {
        let positions = ["se-a": Assignment(group: "g", position: 0), "se-b": Assignment(group: "g", position: 1)]
        let names = ["se-a": "a", "se-b": "b"]
        var addresses = ["se-a": "198.18.1.11", "se-b": "198.18.1.12"]
        let first = ScaleoutPositions.groups(positions: positions, names: names, addresses: addresses, stored: [:])
        let g = try? XCTUnwrap(first["g"])
        XCTAssertEqual(g?.epoch, 1)
        XCTAssertEqual(g?.members.map(\.data_address), ["198.18.1.11", "198.18.1.12"])
        let stored = ["g": (epoch: 1, members: g?.members ?? [])]
        XCTAssertEqual(
            ScaleoutPositions.groups(positions: positions, names: names, addresses: addresses, stored: stored)["g"]?
                .epoch, 1, "same list, same epoch")
        addresses["se-b"] = "198.18.1.22"
        XCTAssertEqual(
            ScaleoutPositions.groups(positions: positions, names: names, addresses: addresses, stored: stored)["g"]?
                .epoch, 2, "an address changed")
    }

    /// Through the agent API: three SEs register, every one's desired state lists the three at positions
    /// 0-2; one is deleted and another registers: it takes the freed position, the others keep theirs, the
    /// epoch moves on; a controller restart keeps all of it.
    func testEveryMemberGetsTheGroupInItsDesiredState() async throws {
        let dir = temporaryDirectory()
        let controller = try await makeController(dir)
        let se3 = try await withAPI(controller) { api -> String in
            var ses: [String: (uuid: String, secret: String)] = [:]
            func register(_ name: String, _ address: String) async throws {
                let r = try await AgentTests.register(api, try await AgentTests.token(api), name, address)
                XCTAssertEqual(r.status, 200, r.text)
                ses[name] = (try XCTUnwrap(r.string("se_uuid")), try XCTUnwrap(r.string("se_secret")))
            }
            func desired(_ name: String) async throws -> SEDesiredState {
                let se = try XCTUnwrap(ses[name])
                let answer = try await api.call(
                    .get, "/api/se-agent/\(se.uuid)/desired", auth: nil,
                    headers: ["Authorization": "Bearer \(se.secret)"])
                XCTAssertEqual(answer.status, 200, answer.text)
                return try JSONDecoder().decode(SEDesiredState.self, from: Data(answer.text.utf8))
            }
            for (i, name) in ["se1", "se2", "se3"].enumerated() { try await register(name, "198.18.1.1\(i + 1)") }
            let state = try await desired("se2")
            XCTAssertEqual(Self.positions(state), ["se1": 0, "se2": 1, "se3": 2])
            XCTAssertEqual(state.scaleout?.members.map(\.data_address), ["198.18.1.11", "198.18.1.12", "198.18.1.13"])
            let epoch = try XCTUnwrap(state.scaleout?.epoch)
            let third = try await desired("se3")
            XCTAssertEqual(third.scaleout, state.scaleout, "every member gets the same list")
            let runtime = try await api.call(.get, "/api/serviceengine/\(ses["se3"]!.uuid)/runtime")
            XCTAssertEqual(runtime.json["scaleout"]?["position"], .int(2))

            assertEqual(try await api.call(.delete, "/api/serviceengine/\(ses["se1"]!.uuid)").status, 204)
            try await register("se4", "198.18.1.14")
            let after = try await desired("se2")
            XCTAssertEqual(Self.positions(after), ["se4": 0, "se2": 1, "se3": 2], "se4 takes the freed position 0")
            XCTAssertGreaterThan(after.scaleout?.epoch ?? 0, epoch)
            return ses["se3"]!.uuid
        }
        let reopened = try await makeController(dir)
        let stored = await reopened.reconciler.desiredState(se3)
        let kept = try XCTUnwrap(stored)
        XCTAssertEqual(Self.positions(kept), ["se4": 0, "se2": 1, "se3": 2], "kept across a restart")
    }

    static func positions(_ state: SEDesiredState) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: (state.scaleout?.members ?? []).map { ($0.se_name, $0.position) })
    }
}
