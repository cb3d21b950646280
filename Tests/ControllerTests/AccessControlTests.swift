import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import StarlingModel
import XCTest

@testable import Controller

/// Access control as a user meets it: the account take-over that used to work, users without access,
/// CSRF, session expiry on the controller's clock, login throttling, cookies, tenant isolation, the
/// predefined and custom roles, the audit trail, and an SE's secret kept off the object API.
final class AccessControlTests: XCTestCase {
    /// A controller whose wall clock the test moves.
    func makeController(
        wall: ManualClock, configure: (inout ControllerConfiguration) -> Void = { _ in }
    ) async throws -> Controller {
        var config = ControllerConfiguration(dataDirectory: temporaryDirectory(), adminPassword: "password1")
        config.passwordIterations = 1000
        let monotonic = ManualClock()
        config.clock = { monotonic.now }
        wall.advance(1_765_000_000)
        config.wallClock = { wall.now }
        configure(&config)
        var logger = Logger(label: "test.controller")
        logger.logLevel = .warning
        return try await Controller(configuration: config, logger: logger)
    }

    static func idOf(_ a: Answer) -> String { a.string("uuid") ?? "" }

    /// Logs in; the cookie header and the CSRF token.
    static func login(_ api: any TestClientProtocol, _ user: String, _ password: String) async throws -> (
        cookie: String, csrf: String
    ) {
        let r = try await api.call(.post, "/login", #"{"username": "\#(user)", "password": "\#(password)"}"#, auth: nil)
        XCTAssertEqual(r.status, 200, r.text)
        let cookies = r.headers[values: .setCookie]
        let sid = try XCTUnwrap(ObjectAPITests.cookie("sessionid", cookies))
        let csrf = try XCTUnwrap(ObjectAPITests.cookie("csrftoken", cookies))
        return ("sessionid=\(sid); csrftoken=\(csrf)", csrf)
    }

    func testUserWithoutAccessCannotTakeOverAdminAndMayOnlyManageItself() async throws {
        let controller = try await makeController(wall: ManualClock())
        try await withAPI(controller) { api in
            let u1 = try await api.call(.post, "/api/user", #"{"name": "u1", "password": "u1-password"}"#)
            XCTAssertEqual(u1.status, 201, u1.text)
            let admin = try await api.call(.get, "/api/user?name=admin")
            let adminUUID = try XCTUnwrap(
                admin.json["results"].flatMap { if case .array(let a) = $0 { a.first?["uuid"]?.string } else { nil } })

            // The take-over of the issue: u1 logs in and sets the admin's password.
            let s = try await Self.login(api, "u1", "u1-password")
            let takeover = try await api.call(
                .put, "/api/user/\(adminUUID)", #"{"name": "admin", "username": "admin", "password": "owned-by-u1"}"#,
                auth: nil, headers: ["Cookie": s.cookie, "X-CSRFToken": s.csrf])
            XCTAssertEqual(takeover.status, 403, takeover.text)
            assertEqual(try await api.call(.get, "/api/pool", auth: "admin:owned-by-u1").status, 401)
            assertEqual(try await api.call(.get, "/api/pool", auth: "admin:password1").status, 200)
            // Nothing else either, in any tenant, with a session or Basic auth.
            for (method, path) in [
                (HTTPRequest.Method.get, "/api/pool"), (.get, "/api/user"), (.get, "/api/tenant"),
                (.post, "/api/user"), (.get, "/api/securetoken-generate"), (.get, "/api/analytics/logs?type=2"),
                (.patch, "/api/user/\(Self.idOf(u1))"),
            ] {
                let a = try await api.call(method, path, "{}", auth: "u1:u1-password")
                XCTAssertEqual(a.status, 403, "\(method) \(path): \(a.text)")
            }
            let asAdminTenant = try await api.call(
                .get, "/api/pool", auth: "u1:u1-password", headers: ["X-Avi-Tenant": "admin"])
            XCTAssertEqual(asAdminTenant.status, 403)
            // Its own account: read it, change its password with the old one.
            let me = try await api.call(.get, "/api/useraccount", auth: nil, headers: ["Cookie": s.cookie])
            XCTAssertEqual(me.status, 200, me.text)
            XCTAssertEqual(me.string("name"), "u1")
            let wrongOld = try await api.call(
                .put, "/api/useraccount", #"{"old_password": "nope-nope", "password": "u1-new-password"}"#, auth: nil,
                headers: ["Cookie": s.cookie, "X-CSRFToken": s.csrf])
            XCTAssertEqual(wrongOld.status, 400, wrongOld.text)
            let other = try await api.call(
                .put, "/api/useraccount",
                #"{"username": "admin", "old_password": "u1-password", "password": "u1-new-password"}"#,
                auth: nil, headers: ["Cookie": s.cookie, "X-CSRFToken": s.csrf])
            XCTAssertEqual(other.status, 403, other.text)
            let second = try await Self.login(api, "u1", "u1-password")
            let changed = try await api.call(
                .put, "/api/useraccount", #"{"old_password": "u1-password", "password": "u1-new-password"}"#, auth: nil,
                headers: ["Cookie": s.cookie, "X-CSRFToken": s.csrf])
            XCTAssertEqual(changed.status, 200, changed.text)
            assertEqual(try await api.call(.get, "/api/useraccount", auth: "u1:u1-password").status, 401)
            assertEqual(try await api.call(.get, "/api/useraccount", auth: "u1:u1-new-password").status, 200)
            // The session that changed it goes on; the user's other sessions end.
            assertEqual(
                try await api.call(.get, "/api/useraccount", auth: nil, headers: ["Cookie": s.cookie]).status, 200)
            assertEqual(
                try await api.call(.get, "/api/useraccount", auth: nil, headers: ["Cookie": second.cookie]).status, 401)
            // Logout ends the session on the server.
            assertEqual(try await api.call(.post, "/logout", auth: nil, headers: ["Cookie": s.cookie]).status, 200)
            assertEqual(
                try await api.call(.get, "/api/useraccount", auth: nil, headers: ["Cookie": s.cookie]).status, 401)
        }
    }

    func testCSRFWithAWrongTokenIsRefusedOnEveryWriteMethod() async throws {
        let controller = try await makeController(wall: ManualClock())
        try await withAPI(controller) { api in
            let pool = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
            let s = try await Self.login(api, "admin", "password1")
            let wrong = String(s.csrf.reversed())
            for (method, path) in [
                (HTTPRequest.Method.post, "/api/pool"), (.put, "/api/pool/\(Self.idOf(pool))"),
                (.patch, "/api/pool/\(Self.idOf(pool))"), (.delete, "/api/pool/\(Self.idOf(pool))"),
                (.post, "/api/virtualservice/x/scaleout"), (.put, "/api/useraccount"),
            ] {
                for headers in [["Cookie": s.cookie, "X-CSRFToken": wrong], ["Cookie": s.cookie]] {
                    let a = try await api.call(method, path, ObjectAPITests.pool, auth: nil, headers: headers)
                    XCTAssertEqual(a.status, 403, "\(method) \(path) \(headers.keys.sorted()): \(a.text)")
                    XCTAssertTrue(a.text.contains("CSRF"), a.text)
                }
            }
            // Nothing changed; the right token works.
            assertEqual(try await api.call(.get, "/api/pool/\(Self.idOf(pool))").status, 200)
            let ok = try await api.call(
                .patch, "/api/pool/\(Self.idOf(pool))", #"{"description": "csrf ok"}"#, auth: nil,
                headers: ["Cookie": s.cookie, "X-CSRFToken": s.csrf])
            XCTAssertEqual(ok.status, 200, ok.text)
        }
    }

    func testSessionsExpireWhenIdleAndAtTheirLifetimeOnTheControllersClock() async throws {
        let wall = ManualClock()
        let controller = try await makeController(wall: wall) { config in
            config.sessionIdleTimeout = 600
            config.sessionLifetime = 3600
        }
        let touch = controller.auth.touchInterval
        try await withAPI(controller) { api in
            let s = try await Self.login(api, "admin", "password1")
            let get = { try await api.call(.get, "/api/pool", auth: nil, headers: ["Cookie": s.cookie]).status }
            assertEqual(try await get(), 200)
            // Used every 500 s (under the 600 s idle timeout), it lives until its 3600 s lifetime.
            for _ in 0..<7 {
                wall.advance(500)
                assertEqual(try await get(), 200)
            }
            wall.advance(3600 - 3500 + 1)
            assertEqual(try await get(), 401)

            // Idle: alive just inside the idle timeout (minus the last-use write granularity), gone after.
            let idle = try await Self.login(api, "admin", "password1")
            let getIdle = { try await api.call(.get, "/api/pool", auth: nil, headers: ["Cookie": idle.cookie]).status }
            wall.advance(600 - touch)
            assertEqual(try await getIdle(), 200)
            wall.advance(600 + 1)
            let expired = try await api.call(.get, "/api/pool", auth: nil, headers: ["Cookie": idle.cookie])
            XCTAssertEqual(expired.status, 401)
            XCTAssertTrue(expired.text.contains("expired"), expired.text)
            // Expired stays expired, even if the clock were to go back.
            wall.advance(-601)
            assertEqual(try await getIdle(), 401)
        }
    }

    func testLoginThrottlingKicksInPerUserAndPerSourceAndRecovers() async throws {
        let wall = ManualClock()
        let controller = try await makeController(wall: wall) { config in
            config.loginFailuresPerUser = 3
            config.loginFailuresPerSource = 6
            config.loginThrottleWindow = 60
        }
        try await withAPI(controller) { api in
            let login = { (user: String, password: String) in
                try await api.call(.post, "/login", #"{"username": "\#(user)", "password": "\#(password)"}"#, auth: nil)
            }
            for _ in 0..<3 { assertEqual(try await login("admin", "wrong-pass").status, 401) }
            // The right password is refused too while the name is throttled, and so is Basic auth.
            let throttled = try await login("admin", "password1")
            XCTAssertEqual(throttled.status, 429, throttled.text)
            XCTAssertEqual(throttled.headers[.retryAfter], "60")
            assertEqual(try await api.call(.get, "/api/pool", auth: "admin:password1").status, 429)
            // Unknown names are counted the same way (no hint which names exist).
            for _ in 0..<3 { assertEqual(try await login("nobody", "wrong-pass").status, 401) }
            assertEqual(try await login("nobody", "wrong-pass").status, 429)
            // Six failures from this address: every name is refused from here now.
            assertEqual(try await login("ops2", "anything1").status, 429)
            // After the window it recovers, and a success clears the name's count.
            wall.advance(61)
            assertEqual(try await login("admin", "password1").status, 200)
            assertEqual(try await login("admin", "wrong-pass").status, 401)
            assertEqual(try await login("admin", "password1").status, 200)
        }
    }

    func testUnknownNamesCostAFullPasswordCheck() async throws {
        // The dummy hash that unknown names are checked against has the configured cost.
        let controller = try await makeController(wall: ManualClock()) { $0.passwordIterations = 4321 }
        try await withAPI(controller) { api in
            let unknown = try await api.call(
                .post, "/login", #"{"username": "ghost", "password": "x-x-x-x-x"}"#, auth: nil)
            let known = try await api.call(
                .post, "/login", #"{"username": "admin", "password": "x-x-x-x-x"}"#, auth: nil)
            XCTAssertEqual(unknown.status, 401)
            XCTAssertEqual(known.status, 401)
            XCTAssertEqual(unknown.text, known.text, "the same answer for unknown and known names")
        }
        XCTAssertTrue(
            controller.auth.dummyHashParameters.hasPrefix("pbkdf2_sha256$4321$"), controller.auth.dummyHashParameters)
    }

    func testSessionCookiesAreHttpOnlySameSiteAndSecureWhenAsked() async throws {
        for secure in [false, true] {
            let controller = try await makeController(wall: ManualClock()) { $0.secureCookies = secure }
            try await withAPI(controller) { api in
                let r = try await api.call(
                    .post, "/login", #"{"username": "admin", "password": "password1"}"#, auth: nil)
                let cookies = r.headers[values: .setCookie]
                let session = try XCTUnwrap(cookies.first { $0.hasPrefix("sessionid=") })
                let csrf = try XCTUnwrap(cookies.first { $0.hasPrefix("csrftoken=") })
                XCTAssertTrue(session.contains("HttpOnly"), session)
                XCTAssertFalse(csrf.contains("HttpOnly"), "the console's scripts read the CSRF token: \(csrf)")
                for c in [session, csrf] {
                    XCTAssertTrue(c.contains("SameSite=Lax"), c)
                    XCTAssertEqual(c.contains("Secure"), secure, c)
                }
            }
        }
    }

    func testTenantsAreIsolated() async throws {
        let controller = try await makeController(wall: ManualClock())
        try await withAPI(controller) { api in
            for t in ["t1", "t2"] {
                assertEqual(try await api.call(.post, "/api/tenant", #"{"name": "\#(t)"}"#).status, 201)
            }
            let user = #"""
                {"name": "ta", "password": "ta-password", "default_tenant_ref": "/api/tenant/?name=t1",
                 "access": [{"role_ref": "/api/role/?name=Tenant-Admin", "tenant_ref": "/api/tenant/?name=t1"}]}
                """#
            assertEqual(try await api.call(.post, "/api/user", user).status, 201)
            let adminPool = try await api.call(.post, "/api/pool", ObjectAPITests.pool)
            let t2Pool = try await api.call(.post, "/api/pool", ObjectAPITests.pool, headers: ["X-Avi-Tenant": "t2"])
            XCTAssertEqual(t2Pool.status, 201)
            let ta = "ta:ta-password"

            // Without a header the user works in its default tenant.
            let mine = try await api.call(.post, "/api/pool", ObjectAPITests.pool, auth: ta)
            XCTAssertEqual(mine.status, 201, mine.text)
            let t1 = try await Self.tenantUUID(api, "t1")
            XCTAssertTrue(mine.string("tenant_ref")?.hasSuffix("/api/tenant/\(t1)") ?? false, mine.text)
            // Other tenants: 403 by header, invisible by uuid, not listed.
            assertEqual(try await api.call(.get, "/api/pool", auth: ta, headers: ["X-Avi-Tenant": "t2"]).status, 403)
            assertEqual(
                try await api.call(.get, "/api/pool", auth: ta, headers: ["X-Avi-Tenant": "no-such"]).status, 403)
            assertEqual(try await api.call(.get, "/api/pool/\(Self.idOf(t2Pool))", auth: ta).status, 404)
            assertEqual(try await api.call(.get, "/api/pool/\(Self.idOf(adminPool))", auth: ta).status, 404)
            assertEqual(try await api.call(.delete, "/api/pool/\(Self.idOf(t2Pool))", auth: ta).status, 404)
            let pools = try await api.call(.get, "/api/pool", auth: ta)
            XCTAssertEqual(pools.json["count"], .int(1))
            let tenants = try await api.call(.get, "/api/tenant", auth: ta)
            XCTAssertEqual(tenants.json["count"], .int(1), tenants.text)
            // A body tenant_ref naming another tenant is refused, naming its own is fine.
            let elsewhere = try await api.call(
                .post, "/api/pool", #"{"name": "p2", "tenant_ref": "/api/tenant/?name=t2"}"#, auth: ta)
            XCTAssertEqual(elsewhere.status, 403, elsewhere.text)
            XCTAssertTrue(elsewhere.text.contains("tenant_ref"), elsewhere.text)
            assertEqual(
                try await api.call(
                    .post, "/api/pool", #"{"name": "p3", "tenant_ref": "/api/tenant/?name=t1"}"#, auth: ta
                ).status,
                201)
            // No reference into another tenant, by name, by tenant= or by uuid.
            for ref in [
                "/api/pool/?name=web-pool&tenant=t2", "/api/pool/\(Self.idOf(t2Pool))",
                "/api/pool/\(Self.idOf(adminPool))",
            ] {
                let vs = try await api.call(
                    .post, "/api/vsvip",
                    #"{"name": "v-\#(ref.count)", "vip": [{"vip_id": "0", "ip_address": {"addr": "192.0.2.7", "type": "V4"}}]}"#,
                    auth: ta)
                XCTAssertTrue([201, 409].contains(vs.status), vs.text)
                let r = try await api.call(
                    .post, "/api/virtualservice",
                    #"{"name": "vs-\#(ref.count)", "vsvip_ref": "/api/vsvip/?name=v-\#(ref.count)", "pool_ref": "\#(ref)", "services": [{"port": 80}]}"#,
                    auth: ta)
                XCTAssertEqual(r.status, 400, "\(ref): \(r.text)")
            }
            // Shared from admin: the System-* monitors and profiles, and the SE groups; read-only.
            let hm = try await api.call(.get, "/api/healthmonitor?name=System-TCP", auth: ta)
            XCTAssertEqual(hm.json["count"], .int(1))
            let hmUUID = try XCTUnwrap(
                hm.json["results"].flatMap { if case .array(let a) = $0 { a.first?["uuid"]?.string } else { nil } })
            assertEqual(
                try await api.call(.patch, "/api/healthmonitor/\(hmUUID)", #"{"description": "x"}"#, auth: ta).status,
                403)
            assertEqual(
                try await api.call(.get, "/api/serviceenginegroup?name=Default-Group", auth: ta).json["count"], .int(1))
            let withShared = try await api.call(
                .post, "/api/pool", #"{"name": "p4", "health_monitor_refs": ["/api/healthmonitor/?name=System-HTTP"]}"#,
                auth: ta)
            XCTAssertEqual(withShared.status, 201, withShared.text)
            // System-wide changes are for System-Admin only.
            assertEqual(try await api.call(.post, "/api/tenant", #"{"name": "t3"}"#, auth: ta).status, 403)
            assertEqual(try await api.call(.post, "/api/serviceenginegroup", #"{"name": "g"}"#, auth: ta).status, 403)
        }
    }

    static func tenantUUID(_ api: any TestClientProtocol, _ name: String) async throws -> String {
        let r = try await api.call(.get, "/api/tenant?name=\(name)")
        return r.json["results"].flatMap { if case .array(let a) = $0 { a.first?["uuid"]?.string } else { nil } } ?? ""
    }

    func testPredefinedRolesExistAndAreFixedAndCustomRolesCannotHandOutAdminRights() async throws {
        let controller = try await makeController(wall: ManualClock())
        try await withAPI(controller) { api in
            for name in ["System-Admin", "Tenant-Admin", "Application-Admin", "Application-Operator", "Security-Admin"]
            {
                let r = try await api.call(.get, "/api/role?name=\(name)")
                XCTAssertEqual(r.json["count"], .int(1), name)
                let role = r.json["results"].flatMap { if case .array(let a) = $0 { a.first } else { nil } }
                let uuid = try XCTUnwrap(role?["uuid"]?.string)
                let put = try await api.call(.put, "/api/role/\(uuid)", #"{"name": "\#(name)", "privileges": []}"#)
                XCTAssertEqual(put.status, 403, put.text)
                assertEqual(try await api.call(.delete, "/api/role/\(uuid)").status, 403)
            }
            // Refused with 400 naming the field: a custom role handing out a System-Admin write, an unknown
            // resource, an access entry without its role.
            for (path, body, field) in [
                (
                    "role", #"{"name": "H", "privileges": [{"resource": "PERMISSION_USER", "type": "WRITE_ACCESS"}]}"#,
                    "privileges[0].type"
                ),
                (
                    "role", #"{"name": "X", "privileges": [{"resource": "PERMISSION_NOPE", "type": "READ_ACCESS"}]}"#,
                    "privileges[0].resource"
                ),
                (
                    "user",
                    #"{"name": "b", "password": "bad-password", "access": [{"tenant_ref": "/api/tenant/admin"}]}"#,
                    "access[0].role_ref"
                ),
            ] {
                let r = try await api.call(.post, "/api/\(path)", body)
                XCTAssertEqual(r.status, 400, r.text)
                XCTAssertTrue(r.text.contains(field), "\(field): \(r.text)")
            }
            // A role still given to a user cannot be deleted.
            let helpdesk = try await api.call(
                .post, "/api/role",
                #"{"name": "Helpdesk", "privileges": [{"resource": "PERMISSION_USER", "type": "READ_ACCESS"}]}"#)
            XCTAssertEqual(helpdesk.status, 201, helpdesk.text)
            let user = try await api.call(
                .post, "/api/user",
                #"{"name": "hd", "password": "hd-password", "access": [{"role_ref": "/api/role/?name=Helpdesk", "all_tenants": true}]}"#
            )
            XCTAssertEqual(user.status, 201, user.text)
            assertEqual(try await api.call(.delete, "/api/role/\(Self.idOf(helpdesk))").status, 409)
            // Read access on users lets it list them, not change them.
            assertEqual(try await api.call(.get, "/api/user", auth: "hd:hd-password").status, 200)
            assertEqual(
                try await api.call(
                    .patch, "/api/user/\(Self.idOf(user))", #"{"is_superuser": true}"#, auth: "hd:hd-password"
                ).status, 403)
            assertEqual(try await api.call(.get, "/api/pool", auth: "hd:hd-password").status, 403)
        }
    }

    func testEveryWriteIsInTheAuditTrail() async throws {
        let wall = ManualClock()
        let controller = try await makeController(wall: wall)
        try await withAPI(controller) { api in
            assertEqual(try await api.call(.post, "/api/tenant", #"{"name": "t1"}"#).status, 201)
            let op = #"""
                {"name": "op", "password": "op-password",
                 "access": [{"role_ref": "/api/role/?name=Application-Operator", "tenant_ref": "/api/tenant/?name=t1"}]}
                """#
            assertEqual(try await api.call(.post, "/api/user", op).status, 201)
            let ta = #"""
                {"name": "ta", "password": "ta-password",
                 "access": [{"role_ref": "/api/role/?name=Tenant-Admin", "tenant_ref": "/api/tenant/?name=t1"}]}
                """#
            assertEqual(try await api.call(.post, "/api/user", ta).status, 201)
            let pool = try await api.call(
                .post, "/api/pool", ObjectAPITests.pool, auth: "ta:ta-password", headers: ["X-Avi-Tenant": "t1"])
            XCTAssertEqual(pool.status, 201)
            wall.advance(5)
            assertEqual(
                try await api.call(
                    .patch, "/api/pool/\(Self.idOf(pool))", #"{"default_server_port": 9090}"#, auth: "ta:ta-password",
                    headers: ["X-Avi-Tenant": "t1"]
                ).status, 200)
            assertEqual(
                try await api.call(
                    .delete, "/api/pool/\(Self.idOf(pool))", auth: "ta:ta-password", headers: ["X-Avi-Tenant": "t1"]
                ).status, 204)
            // A refused write leaves no trace.
            assertEqual(
                try await api.call(
                    .post, "/api/pool", ObjectAPITests.pool, auth: "op:op-password", headers: ["X-Avi-Tenant": "t1"]
                ).status, 403)

            let log = try await api.call(
                .get, "/api/analytics/logs?type=2&obj_uuid=\(Self.idOf(pool))", headers: ["X-Avi-Tenant": "t1"])
            XCTAssertEqual(log.status, 200, log.text)
            guard case .array(let events) = log.json["results"] ?? .null else { return XCTFail(log.text) }
            XCTAssertEqual(events.map { $0["event_id"]?.string }, ["CONFIG_DELETE", "CONFIG_UPDATE", "CONFIG_CREATE"])
            let update = events[1]
            let details = update["event_details"]?["config_update_details"]
            XCTAssertEqual(details?["request_user"]?.string, "ta")
            XCTAssertEqual(details?["changed_fields"], .array([.string("default_server_port")]))
            XCTAssertTrue(details?["new_resource_data"]?.string?.contains("9090") ?? false)
            let t1 = try await Self.tenantUUID(api, "t1")
            XCTAssertTrue(update["tenant_ref"]?.string?.hasSuffix("/api/tenant/\(t1)") ?? false)
            guard case .int(let micros) = update["report_timestamp_us"] ?? .null else { return XCTFail(log.text) }
            XCTAssertEqual(Double(micros) / 1e6, wall.now, accuracy: 0.001)
            // The operator reads what it may read in t1 (pool events), the admin tenant's trail is not its own.
            let opLog = try await api.call(
                .get, "/api/analytics/logs?type=2", auth: "op:op-password", headers: ["X-Avi-Tenant": "t1"])
            XCTAssertEqual(opLog.json["count"], .int(3), opLog.text)
            assertEqual(
                try await api.call(
                    .get, "/api/analytics/logs?type=2", auth: "op:op-password", headers: ["X-Avi-Tenant": "admin"]
                ).status, 403)
            // In admin: the users and the tenant created by admin, never a password.
            let adminLog = try await api.call(.get, "/api/analytics/logs?type=2&obj_type=user")
            XCTAssertEqual(adminLog.json["count"], .int(2), adminLog.text)
            XCTAssertFalse(adminLog.text.contains("op-password"))
            XCTAssertTrue(adminLog.text.contains("user op created by admin"), adminLog.text)
            assertEqual(try await api.call(.get, "/api/analytics/logs?type=1").status, 400)
        }
    }

    func testAnSEsSecretIsNotAUserAndAUserIsNotAnSE() async throws {
        let controller = try await makeController(wall: ManualClock())
        try await withAPI(controller) { api in
            let generated = try await api.call(.get, "/api/securetoken-generate")
            let token = try XCTUnwrap(generated.string("auth_token"))
            let reg = try await api.call(
                .post, "/api/se-agent/register",
                #"{"token": "\#(token)", "name": "se1", "data_address": {"addr": "198.18.0.5", "type": "V4"}}"#,
                auth: nil)
            XCTAssertEqual(reg.status, 200, reg.text)
            let se = try XCTUnwrap(reg.string("se_uuid"))
            let secret = try XCTUnwrap(reg.string("se_secret"))
            let bearer = ["Authorization": "Bearer \(secret)"]
            assertEqual(try await api.call(.get, "/api/se-agent/\(se)/desired", auth: nil, headers: bearer).status, 200)
            for path in ["/api/pool", "/api/serviceengine", "/api/serviceengine/\(se)", "/api/useraccount"] {
                assertEqual(try await api.call(.get, path, auth: nil, headers: bearer).status, 401)
            }
            // A user's credentials do not open the agent channel.
            assertEqual(try await api.call(.get, "/api/se-agent/\(se)/desired").status, 401)
            // The registration is in the trail, by the SE.
            let log = try await api.call(.get, "/api/analytics/logs?type=2&obj_type=serviceengine")
            XCTAssertTrue(log.text.contains("se:se1"), log.text)
        }
    }

    func testLoginThrottleAsAValue() {
        var t = LoginThrottle(
            perUser: .init(failures: 2, window: 10), perSource: .init(failures: 3, window: 10), maxKeys: 4)
        XCTAssertNil(t.retryAfter(user: "a", source: "s", now: 0))
        t.recordFailure(user: "a", source: "s", now: 0)
        t.recordFailure(user: "a", source: "s", now: 4)
        XCTAssertEqual(t.retryAfter(user: "a", source: "s2", now: 5), 5)  // until the failure at 0 leaves
        XCTAssertEqual(t.retryAfter(user: "a", source: "s2", now: 10.5), nil)
        t.recordFailure(user: "b", source: "s", now: 6)
        XCTAssertEqual(t.retryAfter(user: "c", source: "s", now: 6), 4)  // the source's three in 10 s
        t.recordSuccess(user: "a")
        XCTAssertNil(t.retryAfter(user: "a", source: "s3", now: 6))
        // Bounded memory: many names, the oldest are forgotten.
        for i in 0..<100 { t.recordFailure(user: "u\(i)", source: "x\(i)", now: 20 + Double(i)) }
        XCTAssertNil(t.retryAfter(user: "u0", source: "x0", now: 120))
    }

    func testPrincipalDecisions() {
        let app = PredefinedRoles.privileges["Application-Admin"]!
        let p = Principal(
            userUUID: "user-1", username: "u", superuser: false,
            grants: [.init(tenant: "t1", role: "Application-Admin", privileges: app)], defaultTenant: nil)
        let pool = ObjectKind.all["pool"]!
        XCTAssertNoThrow(try p.authorize(.write, pool, in: "t1"))
        XCTAssertThrowsError(try p.authorize(.read, pool, in: "t2")) { e in
            XCTAssertEqual((e as? APIError)?.status, 403)
            XCTAssertTrue("\(e)".contains("no access to tenant t2"), "\(e)")
        }
        XCTAssertThrowsError(try p.authorize(.write, ObjectKind.all["user"]!, in: "t1")) { e in
            XCTAssertTrue("\(e)".contains("System-Admin"), "\(e)")
        }
        XCTAssertThrowsError(try p.authorize(.write, ObjectKind.all["vrfcontext"]!, in: "t1")) { e in
            XCTAssertTrue("\(e)".contains("READ_ACCESS on PERMISSION_VRFCONTEXT"), "\(e)")
        }
        XCTAssertEqual(p.homeTenant, "t1")
        XCTAssertFalse(p.isSystemAdmin)
    }
}
