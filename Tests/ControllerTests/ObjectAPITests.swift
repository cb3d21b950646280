import Foundation
import HummingbirdTesting
import StarlingModel
import XCTest

@testable import Controller

final class ObjectAPITests: XCTestCase {
    static let pool = """
        {"name": "web-pool", "default_server_port": 8080, "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN",
         "servers": [{"ip": {"addr": "198.18.1.10", "type": "V4"}, "port": 8080},
                     {"ip": {"addr": "198.18.1.11", "type": "V4"}, "ratio": 2}],
         "health_monitor_refs": ["/api/healthmonitor/?name=System-TCP"]}
        """
    static let vsvip = """
        {"name": "web-vip", "vip": [{"vip_id": "0", "ip_address": {"addr": "192.0.2.10", "type": "V4"}}]}
        """
    static let vs = """
        {"name": "web", "vsvip_ref": "/api/vsvip/?name=web-vip", "pool_ref": "/api/pool/?name=web-pool",
         "services": [{"port": 80}]}
        """

    /// A user allowed to read applications in tenant admin.
    static let ops = """
        {"name": "ops", "password": "ops-secret-1",
         "access": [{"role_ref": "/api/role/?name=Application-Operator", "tenant_ref": "/api/tenant/admin"}]}
        """

    func testDefaultsExistOnFirstStart() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            for (type, name) in [
                ("tenant", "admin"), ("cloud", "Default-Cloud"), ("vrfcontext", "global"), ("vrfcontext", "management"),
                ("serviceenginegroup", "Default-Group"), ("healthmonitor", "System-TCP"),
                ("healthmonitor", "System-HTTP"), ("applicationprofile", "System-HTTP"),
                ("applicationprofile", "System-Secure-HTTP"), ("applicationprofile", "System-L4-Application"),
                ("role", "System-Admin"), ("user", "admin"),
            ] {
                let a = try await api.call(.get, "/api/\(type)?name=\(name)")
                XCTAssertEqual(a.status, 200)
                XCTAssertEqual(a.json["count"], .int(1), "\(type) \(name)")
            }
            let g = try await api.call(.get, "/api/serviceenginegroup?name=Default-Group")
            let group = g.json["results"].flatMap { if case .array(let a) = $0 { a.first } else { nil } }
            XCTAssertEqual(group?["ha_mode"], .string("HA_MODE_SHARED"))
            XCTAssertEqual(group?["max_scaleout_per_vs"], .int(4))
            let user = try await api.call(.get, "/api/user?name=admin")
            XCTAssertFalse(user.text.contains("password"), "passwords are never returned")
        }
    }

    /// The router's answers where no handler fits: JSON errors naming what to do, and fixed API names beside
    /// `/api/<type>` not shadowing a type.
    func testRoutingErrorsAreJSONAndFixedNamesDoNotShadowTypes() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            let nothing = try await api.call(.get, "/nothing/here")
            XCTAssertEqual(nothing.status, 404)
            XCTAssertEqual(nothing.string("error"), "no such endpoint: GET /nothing/here")
            let login = try await api.call(.get, "/login", auth: nil)
            XCTAssertEqual(login.status, 405)
            XCTAssertEqual(login.string("error"), "use POST /login")
            let unknownType = try await api.call(.get, "/api/frobnicator")
            XCTAssertEqual(unknownType.status, 404)
            XCTAssertEqual(unknownType.string("error"), "unknown object type frobnicator")
            assertEqual(try await api.call(.put, "/api/pool", "{}").status, 405)
            assertEqual(try await api.call(.get, "/api/pool", auth: nil).status, 401, "signed-in routes need a user")
            assertEqual(try await api.call(.get, "/api/initial-data", auth: nil).status, 200)
            assertEqual(try await api.call(.get, "/api/cluster/version").status, 200)
            assertEqual(try await api.call(.get, "/api/virtualservice-inventory").status, 200)
            assertEqual(try await api.call(.get, "/api/virtualservice/").status, 200, "a trailing slash is the list")
            let metrics = try await api.call(.post, "/api/analytics/metrics/virtualservice/x")
            XCTAssertEqual(metrics.status, 405)
            XCTAssertEqual(metrics.string("error"), "use GET /api/analytics/metrics/<type>/<uuid>")
        }
    }

    /// Two clients read one pool and both PUT their copy back: the second copy is stale (its
    /// `_last_modified` is older than the stored one) and is refused with 412, as Avi does, so the first
    /// client's change is not lost. A PUT without `_last_modified` is an unconditional replace.
    func testStalePutIsRefusedWith412() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            let created = try await api.call(.post, "/api/pool", Self.pool)
            XCTAssertEqual(created.status, 201, created.text)
            let uuid = try XCTUnwrap(created.string("uuid"))
            let read = try await api.call(.get, "/api/pool/\(uuid)")
            func text(_ v: JSONValue) throws -> String { String(decoding: try JSONEncoder().encode(v), as: UTF8.self) }

            var first = read.json
            first["default_server_port"] = .int(8001)
            let won = try await api.call(.put, "/api/pool/\(uuid)", try text(first))
            XCTAssertEqual(won.status, 200, won.text)
            XCTAssertNotEqual(won.string("_last_modified"), read.string("_last_modified"))

            var second = read.json
            second["default_server_port"] = .int(8002)
            let lost = try await api.call(.put, "/api/pool/\(uuid)", try text(second))
            XCTAssertEqual(lost.status, 412, lost.text)
            XCTAssertTrue(lost.text.contains("_last_modified"), lost.text)
            let kept = try await api.call(.get, "/api/pool/\(uuid)")
            XCTAssertEqual(kept.json["default_server_port"], .int(8001))

            // Read again, change, write: accepted. Each write moves `_last_modified` forward.
            var again = try await api.call(.get, "/api/pool/\(uuid)").json
            again["default_server_port"] = .int(8002)
            let retried = try await api.call(.put, "/api/pool/\(uuid)", try text(again))
            XCTAssertEqual(retried.status, 200, retried.text)
            XCTAssertGreaterThan(
                Int64(retried.string("_last_modified") ?? "") ?? 0, Int64(won.string("_last_modified") ?? "") ?? .max)

            // Without `_last_modified`: an unconditional replace. A malformed one: 400 naming the field.
            var blind = read.json
            blind["_last_modified"] = nil
            assertEqual(try await api.call(.put, "/api/pool/\(uuid)", try text(blind)).status, 200)
            blind["_last_modified"] = .string("yesterday")
            let bad = try await api.call(.put, "/api/pool/\(uuid)", try text(blind))
            XCTAssertEqual(bad.status, 400, bad.text)
            XCTAssertTrue(bad.text.contains("_last_modified"), bad.text)
        }
    }

    func testCreateReadReplacePatchDelete() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            let p = try await api.call(.post, "/api/pool", Self.pool)
            XCTAssertEqual(p.status, 201, p.text)
            let uuid = try XCTUnwrap(p.string("uuid"))
            XCTAssertTrue(uuid.hasPrefix("pool-"))
            XCTAssertEqual(p.string("url"), "https://localhost/api/pool/\(uuid)")
            XCTAssertEqual(p.string("tenant_ref"), "https://localhost/api/tenant/admin")
            XCTAssertNotNil(p.string("_last_modified"))
            let hm = try await api.call(.get, "/api/healthmonitor?name=System-TCP")
            let hmUUID = try XCTUnwrap(
                hm.json["results"].flatMap { if case .array(let a) = $0 { a.first } else { nil } }?["uuid"]?.string)
            XCTAssertEqual(
                p.json["health_monitor_refs"], .array([.string("https://localhost/api/healthmonitor/\(hmUUID)")]))

            // Refs by name resolve; the VS points at the pool's uuid.
            assertEqual(try await api.call(.post, "/api/vsvip", Self.vsvip).status, 201)
            let v = try await api.call(.post, "/api/virtualservice", Self.vs)
            XCTAssertEqual(v.status, 201, v.text)
            XCTAssertEqual(v.string("pool_ref"), "https://localhost/api/pool/\(uuid)")
            let named = try await api.call(.get, "/api/virtualservice/\(v.string("uuid")!)?include_name=true")
            XCTAssertEqual(named.string("pool_ref"), "https://localhost/api/pool/\(uuid)#web-pool")

            // PUT replaces: fields left out are gone.
            let put = try await api.call(
                .put, "/api/pool/\(uuid)",
                #"{"name": "web-pool", "servers": [{"ip": {"addr": "198.18.1.12", "type": "V4"}, "port": 9000}]}"#)
            XCTAssertEqual(put.status, 200, put.text)
            XCTAssertNil(put.json["default_server_port"])
            XCTAssertNil(put.json["health_monitor_refs"])
            // PATCH merges: other fields stay.
            let patch = try await api.call(.patch, "/api/pool/\(uuid)", #"{"default_server_port": 8443}"#)
            XCTAssertEqual(patch.status, 200, patch.text)
            XCTAssertEqual(patch.json["default_server_port"], .int(8443))
            XCTAssertEqual(patch.json["servers"], put.json["servers"])
            // Avi's PATCH add/delete on lists.
            let add = try await api.call(
                .patch, "/api/pool/\(uuid)",
                #"{"add": {"servers": [{"ip": {"addr": "198.18.1.13", "type": "V4"}, "port": 9001}]}}"#)
            XCTAssertEqual(add.status, 200, add.text)
            if case .array(let servers) = add.json["servers"] ?? .null {
                XCTAssertEqual(servers.count, 2)
            } else {
                XCTFail("servers")
            }
            let del = try await api.call(
                .patch, "/api/pool/\(uuid)",
                #"{"delete": {"servers": [{"ip": {"addr": "198.18.1.12", "type": "V4"}}]}}"#)
            if case .array(let servers) = del.json["servers"] ?? .null {
                XCTAssertEqual(servers.count, 1)
                XCTAssertEqual(servers.first?["port"], .int(9001))
            } else {
                XCTFail("servers")
            }

            // Still referenced: 409; after the VS is gone: 204 then 404.
            let refused = try await api.call(.delete, "/api/pool/\(uuid)")
            XCTAssertEqual(refused.status, 409)
            XCTAssertTrue(refused.string("error")?.contains("virtualservice web") == true, refused.text)
            assertEqual(try await api.call(.delete, "/api/virtualservice/\(v.string("uuid")!)").status, 204)
            assertEqual(try await api.call(.delete, "/api/pool/\(uuid)").status, 204)
            assertEqual(try await api.call(.get, "/api/pool/\(uuid)").status, 404)
        }
    }

    func testValidationNamesTheField() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            let cases: [(String, String, String)] = [
                (
                    "pool",
                    #"{"name": "p", "servers": [{"ip": {"addr": "10.0.0.1", "type": "V4"}}, {"ip": {"addr": "10.0.0.2", "type": "V4"}, "port": 70000}]}"#,
                    "servers[1].port"
                ),
                (
                    "pool", #"{"name": "p", "servers": [{"ip": {"addr": "10.0.0.1", "type": "V4"}, "ratio": 21}]}"#,
                    "servers[0].ratio"
                ),
                (
                    "pool", #"{"name": "p", "servers": [{"ip": {"addr": "300.0.0.1", "type": "V4"}}]}"#,
                    "servers[0].ip.addr"
                ),
                ("pool", #"{"name": "p", "lb_algorithm": "LB_ALGORITHM_MAGIC"}"#, "lb_algorithm"),
                // AS_TRANS is refused here as by `starling bgp` and the speaker (RFC 6793 §9).
                ("vrfcontext", #"{"name": "v", "bgp_profile": {"local_as": 23456}}"#, "bgp_profile.local_as"),
                (
                    "vrfcontext",
                    #"{"name": "v", "bgp_profile": {"local_as": 65001, "peers": [{"peer_ip": {"addr": "198.18.1.1", "type": "V4"}, "remote_as": 23456}]}}"#,
                    "bgp_profile.peers[0].remote_as"
                ),
                ("vrfcontext", #"{"name": "v", "bfd_profile": {"mintx": 5}}"#, "bfd_profile.mintx"),
                (
                    "vrfcontext",
                    #"{"name": "v", "bgp_profile": {"local_as": 65001, "community": ["65001:100", "70000:1"]}}"#,
                    "bgp_profile.community[1]"
                ),
                (
                    "vrfcontext",
                    #"{"name": "v", "bgp_profile": {"local_as": 65001, "ip_communities": [{"ip_begin": {"addr": "192.0.2.9", "type": "V4"}, "ip_end": {"addr": "192.0.2.1", "type": "V4"}, "community": ["1:1"]}]}}"#,
                    "bgp_profile.ip_communities[0].ip_end"
                ),
                (
                    "vrfcontext",
                    #"{"name": "v", "bgp_profile": {"local_as": 65001, "ip_communities": [{"ip_begin": {"addr": "192.0.2.9", "type": "V4"}, "community": []}]}}"#,
                    "bgp_profile.ip_communities[0].community"
                ),
                ("vrfcontext", #"{"name": "v", "bfd_profile": {"minrx": 4000001}}"#, "bfd_profile.minrx"),
                ("vrfcontext", #"{"name": "v", "bfd_profile": {"multi": 0}}"#, "bfd_profile.multi"),
                ("vrfcontext", #"{"name": "v", "bfd_profile": {"multi": "3"}}"#, "bfd_profile.multi"),
                ("pool", #"{"name": "p", "colour": "blue"}"#, "colour"),
                (
                    "pool", #"{"name": "p", "servers": [{"ip": {"addr": "10.0.0.1", "type": "V4"}, "weight": 1}]}"#,
                    "servers[0].weight"
                ),
                ("pool", #"{"name": "p", "default_server_port": "80"}"#, "default_server_port"),
                ("pool", #"{"name": ""}"#, "name"),
                ("pool", #"{"servers": []}"#, "name"),
                (
                    "pool", #"{"name": "p", "health_monitor_refs": ["/api/healthmonitor/?name=nope"]}"#,
                    "health_monitor_refs[0]"
                ),
                (
                    "healthmonitor",
                    #"{"name": "h", "type": "HEALTH_MONITOR_TCP", "send_interval": 5, "receive_timeout": 5}"#,
                    "receive_timeout"
                ),
                (
                    "healthmonitor", #"{"name": "h", "type": "HEALTH_MONITOR_TCP", "send_interval": 3601}"#,
                    "send_interval"
                ),
                (
                    "healthmonitor", #"{"name": "h", "type": "HEALTH_MONITOR_TCP", "failed_checks": 51}"#,
                    "failed_checks"
                ),
                ("vsvip", #"{"name": "v", "vip": []}"#, "vip"),
                ("vsvip", #"{"name": "v", "vip": [{"vip_id": "0"}]}"#, "vip[0].ip_address"),
                ("virtualservice", #"{"name": "vs", "vsvip_ref": "/api/vsvip/?name=x", "services": []}"#, "services"),
                ("virtualservice", #"{"name": "vs", "services": [{"port": 80}]}"#, "vsvip_ref"),
                (
                    "serviceenginegroup", #"{"name": "g", "min_scaleout_per_vs": 5, "max_scaleout_per_vs": 2}"#,
                    "min_scaleout_per_vs"
                ),
            ]
            for (type, body, field) in cases {
                let a = try await api.call(.post, "/api/\(type)", body)
                XCTAssertEqual(a.status, 400, "\(type) \(body): \(a.text)")
                XCTAssertTrue(a.string("error")?.hasPrefix(field + ":") == true, "\(field) in \(a.text)")
            }
            let malformed = try await api.call(.post, "/api/pool", "{not json")
            XCTAssertEqual(malformed.status, 400)
            let array = try await api.call(.post, "/api/pool", "[1, 2]")
            XCTAssertEqual(array.status, 400)
            let huge = try await api.call(.post, "/api/pool", String(repeating: " ", count: 5 << 20))
            XCTAssertEqual(huge.status, 413)
            assertEqual(try await api.call(.get, "/api/nosuchtype").status, 404)
            assertEqual(try await api.call(.post, "/api/serviceengine", #"{"name": "se"}"#).status, 405)
        }
    }

    func testNameTakenIs409AndNamesAreUniquePerTenant() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            assertEqual(try await api.call(.post, "/api/pool", Self.pool).status, 201)
            let again = try await api.call(.post, "/api/pool", Self.pool)
            XCTAssertEqual(again.status, 409)
            assertEqual(try await api.call(.post, "/api/tenant", #"{"name": "blue"}"#).status, 201)
            let blue = try await api.call(.post, "/api/pool", Self.pool, headers: ["X-Avi-Tenant": "blue"])
            XCTAssertEqual(blue.status, 201, blue.text)
            let inBlue = try await api.call(.get, "/api/pool?name=web-pool", headers: ["X-Avi-Tenant": "blue"])
            XCTAssertEqual(inBlue.json["count"], .int(1), "a tenant sees its own pools, not admin's")
            let inAdmin = try await api.call(.get, "/api/pool?name=web-pool")
            XCTAssertEqual(inAdmin.json["count"], .int(1))
            assertEqual(try await api.call(.get, "/api/pool", headers: ["X-Avi-Tenant": "nope"]).status, 403)
        }
    }

    func testPaginationNameAndFields() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            for i in 0..<5 {
                assertEqual(try await api.call(.post, "/api/pool", #"{"name": "p\#(i)", "enabled": true}"#).status, 201)
            }
            let page1 = try await api.call(.get, "/api/pool?page_size=2")
            XCTAssertEqual(page1.json["count"], .int(5))
            XCTAssertEqual(page1.string("next"), "https://localhost/api/pool?page=2&page_size=2")
            let page3 = try await api.call(.get, "/api/pool?page_size=2&page=3")
            if case .array(let r) = page3.json["results"] ?? .null {
                XCTAssertEqual(r.count, 1)
                XCTAssertEqual(r.first?["name"], .string("p4"))
            } else {
                XCTFail("results")
            }
            XCTAssertNil(page3.json["next"])
            let fields = try await api.call(.get, "/api/pool?name=p2&fields=name")
            if case .array(let r) = fields.json["results"] ?? .null, case .object(let o) = r.first ?? .null {
                XCTAssertEqual(Set(o.keys), ["name", "uuid", "url"])
            } else {
                XCTFail("results")
            }
            assertEqual(try await api.call(.get, "/api/pool?page=0").status, 400)
        }
    }

    func testAuthenticationSessionsAndCSRF() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            assertEqual(try await api.call(.get, "/api/pool", auth: nil).status, 401)
            assertEqual(try await api.call(.get, "/api/pool", auth: "admin:wrong").status, 401)
            let bad = try await api.call(.post, "/login", #"{"username": "admin", "password": "nope"}"#, auth: nil)
            XCTAssertEqual(bad.status, 401)
            let login = try await api.call(
                .post, "/login", #"{"username": "admin", "password": "password1"}"#, auth: nil)
            XCTAssertEqual(login.status, 200)
            XCTAssertNotNil(login.json["version"]?["Version"])
            let cookies = login.headers[values: .setCookie]
            let session = try XCTUnwrap(Self.cookie("sessionid", cookies))
            let csrf = try XCTUnwrap(Self.cookie("csrftoken", cookies))
            let cookie = "sessionid=\(session); csrftoken=\(csrf)"
            assertEqual(try await api.call(.get, "/api/pool", auth: nil, headers: ["Cookie": cookie]).status, 200)
            let noCSRF = try await api.call(.post, "/api/pool", Self.pool, auth: nil, headers: ["Cookie": cookie])
            XCTAssertEqual(noCSRF.status, 403)
            let withCSRF = try await api.call(
                .post, "/api/pool", Self.pool, auth: nil, headers: ["Cookie": cookie, "X-CSRFToken": csrf])
            XCTAssertEqual(withCSRF.status, 201, withCSRF.text)
            assertEqual(try await api.call(.post, "/logout", auth: nil, headers: ["Cookie": cookie]).status, 200)
            assertEqual(try await api.call(.get, "/api/pool", auth: nil, headers: ["Cookie": cookie]).status, 401)

            // Form-encoded login (what avisdk sends), and a new user.
            let user = try await api.call(.post, "/api/user", Self.ops)
            XCTAssertEqual(user.status, 201, user.text)
            XCTAssertFalse(user.text.contains("ops-secret-1"))
            let form = try await api.call(
                .post, "/login", "username=ops&password=ops-secret-1", auth: nil,
                headers: ["Content-Type": "application/x-www-form-urlencoded"])
            XCTAssertEqual(form.status, 200)
            assertEqual(try await api.call(.get, "/api/pool", auth: "ops:ops-secret-1").status, 200)
        }
    }

    func testRestartKeepsEverything() async throws {
        let dir = temporaryDirectory()
        var poolUUID = ""
        do {
            let controller = try await makeController(dir)
            try await withAPI(controller) { api in
                let p = try await api.call(.post, "/api/pool", Self.pool)
                XCTAssertEqual(p.status, 201)
                assertEqual(try await api.call(.post, "/api/user", Self.ops).status, 201)
            }
            poolUUID = try await controller.store.read { db in
                try db.object(type: "pool", tenant: "admin", name: "web-pool")!.uuid
            }
        }
        let reopened = try await makeController(dir)
        try await withAPI(reopened) { [poolUUID] api in
            let p = try await api.call(.get, "/api/pool/\(poolUUID)")
            XCTAssertEqual(p.status, 200)
            XCTAssertEqual(p.string("name"), "web-pool")
            assertEqual(try await api.call(.get, "/api/pool", auth: "ops:ops-secret-1").status, 200)
            assertEqual(try await api.call(.get, "/api/user?name=admin").json["count"], .int(1))
        }
    }

    func testMetrics() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            _ = try await api.call(.get, "/api/pool")
            let m = try await api.call(.get, "/metrics", auth: nil)
            XCTAssertEqual(m.status, 200)
            XCTAssertTrue(
                m.text.contains(#"starling_controller_api_requests_total{method="GET",status="200"}"#), m.text)
            XCTAssertTrue(m.text.contains(#"starling_controller_objects_count{type="healthmonitor"} 3"#), m.text)
        }
    }

    static func cookie(_ name: String, _ headers: [String]) -> String? {
        for h in headers {
            let first = h.split(separator: ";").first ?? ""
            let kv = first.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == name { return String(kv[1]) }
        }
        return nil
    }
}
