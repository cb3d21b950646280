import Foundation
import HummingbirdTesting
import StarlingModel
import XCTest

@testable import Controller

/// SE registry, long-poll, heartbeats, down detection (manual clock), placement and scale through the API.
final class AgentTests: XCTestCase {
    static func token(_ api: any TestClientProtocol) async throws -> String {
        let token = try await api.call(.get, "/api/securetoken-generate").string("auth_token")
        return try XCTUnwrap(token)
    }

    static func register(
        _ api: any TestClientProtocol, _ token: String, _ name: String, _ addr: String = "198.18.0.10"
    ) async throws -> Answer {
        try await api.call(
            .post, "/api/se-agent/register",
            #"{"token": "\#(token)", "name": "\#(name)", "data_address": {"addr": "\#(addr)", "type": "V4"}}"#,
            auth: nil)
    }

    static func heartbeat(_ api: any TestClientProtocol, _ se: String, _ secret: String, applied: Int = 0) async throws
        -> Answer
    {
        try await api.call(
            .post, "/api/se-agent/\(se)/heartbeat",
            #"{"se_uuid": "\#(se)", "applied_version": \#(applied), "draining": false, "virtual_services": [], "bgp_peers": [], "connections": 0}"#,
            auth: nil, headers: ["Authorization": "Bearer \(secret)"])
    }

    func testTokenRulesAndReRegistration() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            assertEqual(try await Self.register(api, "bogus", "se1").status, 401)
            let t = try await Self.token(api)
            let first = try await Self.register(api, t, "se1")
            XCTAssertEqual(first.status, 200, first.text)
            let uuid = try XCTUnwrap(first.string("se_uuid"))
            XCTAssertTrue([.int(1), .double(1.0)].contains(first.json["heartbeat_interval"]))
            // Same name, same token: same uuid, new secret; the old secret stops working.
            let again = try await Self.register(api, t, "se1", "198.18.0.11")
            XCTAssertEqual(again.string("se_uuid"), uuid)
            XCTAssertNotEqual(again.string("se_secret"), first.string("se_secret"))
            assertEqual(try await Self.heartbeat(api, uuid, first.string("se_secret")!).status, 401)
            assertEqual(try await Self.heartbeat(api, uuid, again.string("se_secret")!).status, 200)
            // Another name with that token: 401.
            assertEqual(try await Self.register(api, t, "se2").status, 401)
            // The SE object exists, in Default-Group, with the new data address; POST is refused, PATCH works.
            let se = try await api.call(.get, "/api/serviceengine/\(uuid)")
            XCTAssertEqual(se.json["data_address"]?["addr"], .string("198.18.0.11"))
            XCTAssertTrue(se.string("se_group_ref")?.contains("serviceenginegroup-") == true)
            let g = try await api.call(.post, "/api/serviceenginegroup", #"{"name": "g2"}"#)
            let patched = try await api.call(
                .patch, "/api/serviceengine/\(uuid)", #"{"se_group_ref": "/api/serviceenginegroup/?name=g2"}"#)
            XCTAssertEqual(patched.status, 200, patched.text)
            XCTAssertEqual(
                patched.string("se_group_ref"), "https://localhost/api/serviceenginegroup/\(g.string("uuid")!)")
            // Delete unregisters: the agent gets 404, then may register again with its token.
            assertEqual(try await api.call(.delete, "/api/serviceengine/\(uuid)").status, 204)
            let gone = try await api.call(
                .get, "/api/se-agent/\(uuid)/desired", auth: nil,
                headers: ["Authorization": "Bearer \(again.string("se_secret")!)"])
            XCTAssertEqual(gone.status, 404)
            assertEqual(try await Self.register(api, t, "se1").status, 200)
        }
    }

    func testLongPollReturnsOnChangeAnd304OnTimeout() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            let t = try await Self.token(api)
            let r = try await Self.register(api, t, "se1")
            let se = r.string("se_uuid")!
            let auth = ["Authorization": "Bearer \(r.string("se_secret")!)"]
            let first = try await api.call(.get, "/api/se-agent/\(se)/desired", auth: nil, headers: auth)
            XCTAssertEqual(first.status, 200)
            let version = try XCTUnwrap(
                first.json["version"].flatMap { if case .int(let v) = $0 { Int(v) } else { nil } })
            XCTAssertEqual(first.string("se_name"), "se1")
            XCTAssertEqual(first.json["vrfcontext"]?["name"], .string("global"))
            assertEqual(try await api.call(.get, "/api/se-agent/\(se)/desired", auth: nil).status, 401)
            let timeout = try await api.call(
                .get, "/api/se-agent/\(se)/desired?version=\(version)&wait=0.2", auth: nil, headers: auth)
            XCTAssertEqual(timeout.status, 304)
            XCTAssertEqual(timeout.text, "")

            // A change while the SE waits wakes it with the new version.
            async let waited = api.call(
                .get, "/api/se-agent/\(se)/desired?version=\(version)&wait=10", auth: nil, headers: auth)
            try await Task.sleep(for: .milliseconds(100))
            assertEqual(try await api.call(.post, "/api/pool", ObjectAPITests.pool).status, 201)
            assertEqual(try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip).status, 201)
            assertEqual(try await api.call(.post, "/api/virtualservice", ObjectAPITests.vs).status, 201)
            let changed = try await waited
            XCTAssertEqual(changed.status, 200)
            let newVersion = changed.json["version"].flatMap { if case .int(let v) = $0 { Int(v) } else { nil } } ?? 0
            XCTAssertGreaterThan(newVersion, version)
            let hb = try await Self.heartbeat(api, se, r.string("se_secret")!, applied: newVersion)
            XCTAssertEqual(hb.json["desired_version"], .int(Int64(newVersion)))
        }
    }

    func testDesiredStateIsResolved() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            let r = try await Self.register(api, try await Self.token(api), "se1")
            let se = r.string("se_uuid")!
            _ = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
            _ = try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip)
            _ = try await api.call(.post, "/api/virtualservice", ObjectAPITests.vs)
            let d = await controller.reconciler.desiredState(se)
            let vs = try XCTUnwrap(d?.virtual_services.first)
            XCTAssertEqual(vs.virtualservice.name, "web")
            XCTAssertEqual(vs.vsvip.vip.first?.ip_address?.addr, "192.0.2.10")
            XCTAssertEqual(vs.pool?.servers?.count, 2)
            XCTAssertEqual(vs.health_monitors.map(\.name), ["System-TCP"])
            XCTAssertEqual(vs.application_profile.name, "System-HTTP")
        }
    }

    func testMinScaleoutThreeReplacesADownSEAndScales() async throws {
        let clock = ManualClock()
        let controller = try await makeController(temporaryDirectory(), clock: clock)
        try await withAPI(controller) { api in
            assertEqual(
                try await api.call(
                    .post, "/api/serviceenginegroup",
                    #"{"name": "g3", "min_scaleout_per_vs": 3, "max_scaleout_per_vs": 4, "algo": "PLACEMENT_ALGO_DISTRIBUTED", "ha_mode": "HA_MODE_SHARED_PAIR"}"#
                ).status, 201)
            var secrets: [String: String] = [:]
            var names: [String: String] = [:]
            for i in 1...4 {
                let r = try await Self.register(api, try await Self.token(api), "se\(i)", "198.18.0.\(10 + i)")
                let se = r.string("se_uuid")!
                secrets[se] = r.string("se_secret")!
                names[se] = "se\(i)"
                let p = try await api.call(
                    .patch, "/api/serviceengine/\(se)", #"{"se_group_ref": "/api/serviceenginegroup/?name=g3"}"#)
                XCTAssertEqual(p.status, 200, p.text)
            }
            _ = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
            _ = try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip)
            let vs = try await api.call(
                .post, "/api/virtualservice",
                #"{"name": "web", "vsvip_ref": "/api/vsvip/?name=web-vip", "pool_ref": "/api/pool/?name=web-pool", "services": [{"port": 80}], "se_group_ref": "/api/serviceenginegroup/?name=g3"}"#
            )
            let vsUUID = try XCTUnwrap(vs.string("uuid"))
            var placed = await controller.reconciler.currentPlacement().serviceEngines(for: vsUUID)
            XCTAssertEqual(placed.count, 3)
            let runtime = try await api.call(.get, "/api/virtualservice/\(vsUUID)/runtime")
            if case .array(let entries) = runtime.json["placement"] ?? .null {
                XCTAssertEqual(entries.count, 3)
            } else {
                XCTFail(runtime.text)
            }
            XCTAssertEqual(runtime.json["oper_status"]?["state"], .string("OPER_DOWN"), "no SE reported it up yet")

            // One placed SE goes silent: after 3 s it is down and the VS moves to the spare SE.
            let victim = placed[1]
            for _ in 0..<4 {
                clock.advance(1)
                for se in secrets.keys where se != victim { _ = try await Self.heartbeat(api, se, secrets[se]!) }
                try await controller.reconciler.tick()
            }
            placed = await controller.reconciler.currentPlacement().serviceEngines(for: vsUUID)
            XCTAssertEqual(placed.count, 3)
            XCTAssertFalse(placed.contains(victim), "\(names[victim]!) is down and lost the VS")
            let seRuntime = try await api.call(.get, "/api/serviceengine/\(victim)/runtime")
            XCTAssertEqual(seRuntime.json["oper_status"]?["state"], .string("OPER_DOWN"))
            XCTAssertTrue(seRuntime.json["oper_status"]?["reason"]?.string?.contains("no heartbeat") == true)
            let d = try await api.call(.get, "/api/virtualservice/\(vsUUID)/runtime")
            XCTAssertTrue(d.text.contains("replaces"), d.text)

            // Scale in to the minimum is refused; scale-out needs a fourth up SE (the victim is down).
            assertEqual(
                try await api.call(.post, "/api/virtualservice/\(vsUUID)/scalein", #"{"vip_id": "0"}"#).status, 400)
            let refused = try await api.call(.post, "/api/virtualservice/\(vsUUID)/scaleout", #"{"vip_id": "0"}"#)
            XCTAssertEqual(refused.status, 409, refused.text)
            _ = try await Self.heartbeat(api, victim, secrets[victim]!)
            try await controller.reconciler.tick()
            let out = try await api.call(.post, "/api/virtualservice/\(vsUUID)/scaleout", #"{"vip_id": "0"}"#)
            XCTAssertEqual(out.status, 200, out.text)
            assertEqual(await controller.reconciler.currentPlacement().serviceEngines(for: vsUUID).count, 4)
            let back = try await api.call(.post, "/api/virtualservice/\(vsUUID)/scalein", #"{"vip_id": "0"}"#)
            XCTAssertEqual(back.status, 200, back.text)
            assertEqual(await controller.reconciler.currentPlacement().serviceEngines(for: vsUUID).count, 3)
        }
    }

    func testRestartKeepsPlacementAndVersions() async throws {
        let dir = temporaryDirectory()
        let clock = ManualClock()
        let controller = try await makeController(dir, clock: clock)
        let (se, vsUUID) = try await withAPI(controller) { api in
            let r = try await Self.register(api, try await Self.token(api), "se1")
            _ = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
            _ = try await api.call(.post, "/api/vsvip", ObjectAPITests.vsvip)
            let vs = try await api.call(.post, "/api/virtualservice", ObjectAPITests.vs).string("uuid")!
            return (r.string("se_uuid")!, vs)
        }
        let stored = await controller.reconciler.desiredState(se)?.version
        let version = try XCTUnwrap(stored)
        let clock2 = ManualClock()
        let reopened = try await makeController(dir, clock: clock2)
        let d = await reopened.reconciler.desiredState(se)
        XCTAssertEqual(d?.version, version, "same content, same version after a restart")
        assertEqual(await reopened.reconciler.currentPlacement().serviceEngines(for: vsUUID), [se])
        // Grace: the SE is up until two down-after periods (3 s here) pass without heartbeats: one for its
        // reconnect, one as usual.
        clock2.advance(2)
        try await reopened.reconciler.tick()
        assertEqual(await reopened.reconciler.currentPlacement().serviceEngines(for: vsUUID), [se])
        clock2.advance(3.5)
        try await reopened.reconciler.tick()
        assertEqual(await reopened.reconciler.currentPlacement().serviceEngines(for: vsUUID), [se])
        clock2.advance(1)
        try await reopened.reconciler.tick()
        assertEqual(await reopened.reconciler.currentPlacement().serviceEngines(for: vsUUID), [])
        let after = await reopened.reconciler.desiredState(se)?.version ?? 0
        XCTAssertGreaterThan(after, version)
    }
}
