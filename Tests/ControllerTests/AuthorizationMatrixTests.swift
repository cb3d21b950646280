import Foundation
import HummingbirdTesting
import StarlingModel
import XCTest

@testable import Controller

/// The authorization matrix: every user kind (each predefined role in tenant t1, System-Admin for all
/// tenants, a custom role, no access) × tenant (t1, t2, admin) × object type × method (list, read, create,
/// replace, patch, delete) plus the runtime, scale, analytics, inventory, join-token, own-account, audit-trail, cluster, cluster CA and
/// configuration backup endpoints, each
/// sent through the API and compared with what Avi's roles promise, written down here independently of the implementation.
final class AuthorizationMatrixTests: XCTestCase {
    /// A self-signed CA certificate (P-256, valid to 2126), PEM with JSON-escaped newlines.
    static let testCAPEM =
        "-----BEGIN CERTIFICATE-----\\nMIIBhjCCASugAwIBAgIUPLrT79KYyvrFEjm2uuqx2nlvRgAwCgYIKoZIzj0EAwIw\\nFzEVMBMGA1UEAwwMVGVzdCBSb290IENBMCAXDTI2MTIwNTE5MjkyNloYDzIxMjYx\\nMTExMTkyOTI2WjAXMRUwEwYDVQQDDAxUZXN0IFJvb3QgQ0EwWTATBgcqhkjOPQIB\\nBggqhkjOPQMBBwNCAASnIUc16E0n7iGQOchqMARI6x73DWxXlEX6hI+pvrKa0R4c\\nfsnx1CwgaJyuY2zO8E45khgoHB/H3QpIoWnRzN9ho1MwUTAdBgNVHQ4EFgQUFMp+\\ns0hHvKInnqVFpfreOvMJVB8wHwYDVR0jBBgwFoAUFMp+s0hHvKInnqVFpfreOvMJ\\nVB8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAzsB3ndDKkKNu\\n1wZZA7hNTOEMM7f7a2EQvi8qVx4dB78CIQCSvtPKd4FfIiLtQC0fkXFEnNDtFAv7\\nGgsx7XgLGsQg8g==\\n-----END CERTIFICATE-----\\n"

    /// What each predefined role gives, per object type (0 none, 1 read, 2 write), as Avi describes them.
    static func roleLevel(_ role: String, _ type: String) -> Int {
        let application = [
            "virtualservice", "pool", "healthmonitor", "vsvip", "applicationprofile", "sslkeyandcertificate",
            "sslprofile", "pkiprofile",
        ]
        let infrastructure = ["vrfcontext", "serviceengine", "serviceenginegroup", "cloud", "tenant", "role"]
        switch role {
        case "System-Admin":
            return 2
        case "Tenant-Admin":
            if application.contains(type) || type == "vrfcontext" { return 2 }
            return infrastructure.contains(type) ? 1 : 0
        case "Application-Admin":
            if application.contains(type) { return 2 }
            return infrastructure.contains(type) ? 1 : 0
        case "Application-Operator":
            return application.contains(type) || infrastructure.contains(type) ? 1 : 0
        case "Security-Admin":
            if ["sslkeyandcertificate", "sslprofile", "pkiprofile"].contains(type) { return 2 }
            return application.contains(type) || infrastructure.contains(type) ? 1 : 0
        case "Pool-Reader-VS-Writer":  // the custom role below
            return ["pool": 1, "virtualservice": 2][type] ?? 0
        default:
            return 0
        }
    }

    /// Object types kept system-wide (in tenant admin) and those only a System-Admin writes.
    static let systemWide: Set<String> = ["tenant", "cloud", "serviceenginegroup", "serviceengine", "user", "role"]
    static let systemAdminOnly: Set<String> = ["tenant", "cloud", "serviceenginegroup", "user", "role"]

    struct TestUser {
        var name: String
        /// (role, tenant name or nil for all tenants)
        var grants: [(role: String, tenant: String?)]
        var auth: String { "\(name):secret-\(name)" }

        func covers(_ tenant: String) -> [String] {
            grants.filter { $0.tenant == nil || $0.tenant == tenant }.map(\.role)
        }

        /// The expectation: may this user read (write) objects of `type` in `tenant`?
        func allowed(_ write: Bool, _ type: String, in tenant: String) -> Bool {
            guard !covers(tenant).isEmpty else { return false }
            if write, AuthorizationMatrixTests.systemAdminOnly.contains(type) {
                return grants.contains { $0.role == "System-Admin" && ($0.tenant == nil || $0.tenant == "admin") }
            }
            let at = write && AuthorizationMatrixTests.systemWide.contains(type) ? "admin" : tenant
            let level = covers(at).map { AuthorizationMatrixTests.roleLevel($0, type) }.max() ?? 0
            return level >= (write ? 2 : 1)
        }
    }

    static let users: [TestUser] = [
        TestUser(name: "m-system-admin-t1", grants: [("System-Admin", "t1")]),
        TestUser(name: "m-tenant-admin", grants: [("Tenant-Admin", "t1")]),
        TestUser(name: "m-app-admin", grants: [("Application-Admin", "t1")]),
        TestUser(name: "m-app-operator", grants: [("Application-Operator", "t1")]),
        TestUser(name: "m-security-admin", grants: [("Security-Admin", "t1")]),
        TestUser(name: "m-system-admin-all", grants: [("System-Admin", nil)]),
        TestUser(name: "m-custom", grants: [("Pool-Reader-VS-Writer", "t1"), ("Application-Operator", "t2")]),
        TestUser(name: "m-none", grants: []),
    ]

    /// A valid new object of `type` named `name` (refs resolve in every tenant: base objects exist).
    static func body(_ type: String, _ name: String) -> String {
        switch type {
        case "healthmonitor": return #"{"name": "\#(name)", "type": "HEALTH_MONITOR_TCP"}"#
        case "pool":
            return #"{"name": "\#(name)", "servers": [{"ip": {"addr": "198.18.1.10", "type": "V4"}, "port": 80}]}"#
        case "vsvip":
            return
                #"{"name": "\#(name)", "vip": [{"vip_id": "0", "ip_address": {"addr": "192.0.2.99", "type": "V4"}}]}"#
        case "virtualservice":
            return #"""
                {"name": "\#(name)", "vsvip_ref": "/api/vsvip/?name=base", "pool_ref": "/api/pool/?name=base",
                 "services": [{"port": 80}]}
                """#
        case "sslkeyandcertificate":
            return #"""
                {"name": "\#(name)", "certificate": {"self_signed": true, "subject": {"common_name": "\#(name).example"}}}
                """#
        case "sslprofile":
            return #"{"name": "\#(name)", "accepted_versions": [{"type": "SSL_VERSION_TLS1_3"}]}"#
        case "pkiprofile":
            return #"{"name": "\#(name)", "ca_certs": [{"certificate": "\#(testCAPEM)"}]}"#
        case "user": return #"{"name": "\#(name)", "password": "secret-\#(name)"}"#
        case "role":
            return #"{"name": "\#(name)", "privileges": [{"resource": "PERMISSION_POOL", "type": "READ_ACCESS"}]}"#
        case "applicationprofile": return #"{"name": "\#(name)", "type": "APPLICATION_PROFILE_TYPE_HTTP"}"#
        default: return #"{"name": "\#(name)"}"#
        }
    }

    func testAuthorizationMatrix() async throws {
        let controller = try await makeController(temporaryDirectory())
        try await withAPI(controller) { api in
            // Tenants, the custom role, the users, and one object of every tenant type in each tenant.
            var tenantUUID: [String: String] = ["admin": "admin"]
            for t in ["t1", "t2"] {
                let r = try await api.call(.post, "/api/tenant", #"{"name": "\#(t)"}"#)
                XCTAssertEqual(r.status, 201, r.text)
                tenantUUID[t] = r.string("uuid")
            }
            let custom = try await api.call(
                .post, "/api/role",
                #"""
                {"name": "Pool-Reader-VS-Writer", "privileges": [{"resource": "PERMISSION_POOL", "type": "READ_ACCESS"},
                 {"resource": "PERMISSION_VIRTUALSERVICE", "type": "WRITE_ACCESS"}]}
                """#)
            XCTAssertEqual(custom.status, 201, custom.text)
            for u in Self.users {
                let access = u.grants.map { g in
                    g.tenant.map {
                        #"{"role_ref": "/api/role/?name=\#(g.role)", "tenant_ref": "/api/tenant/?name=\#($0)"}"#
                    }
                        ?? #"{"role_ref": "/api/role/?name=\#(g.role)", "all_tenants": true}"#
                }.joined(separator: ",")
                let r = try await api.call(
                    .post, "/api/user",
                    #"{"name": "\#(u.name)", "password": "secret-\#(u.name)", "access": [\#(access)]}"#)
                XCTAssertEqual(r.status, 201, r.text)
            }
            let tenantTypes = ObjectKind.all.values.filter { !$0.global }.map(\.name)
            var target: [String: String] = [:]  // "tenant/type" -> uuid
            for t in ["admin", "t1", "t2"] {
                for type in ["pool", "vsvip"] + tenantTypes.filter({ $0 != "pool" && $0 != "vsvip" }).sorted() {
                    let r = try await api.call(
                        .post, "/api/\(type)", Self.body(type, "base"), headers: ["X-Avi-Tenant": t])
                    XCTAssertEqual(r.status, 201, "\(t) \(type): \(r.text)")
                    target["\(t)/\(type)"] = r.string("uuid")
                }
            }
            // An SE for the system-wide serviceengine type, registered with a join token.
            let token = try await api.call(.get, "/api/securetoken-generate").string("auth_token")!
            let reg = try await api.call(
                .post, "/api/se-agent/register",
                #"{"token": "\#(token)", "name": "se-m", "data_address": {"addr": "198.18.0.5", "type": "V4"}}"#,
                auth: nil)
            XCTAssertEqual(reg.status, 200, reg.text)
            for type in ObjectKind.all.values.filter(\.global).map(\.name) {
                let name = [
                    "tenant": "t1", "cloud": "Default-Cloud", "serviceenginegroup": "Default-Group",
                    "serviceengine": "se-m", "user": "admin", "role": "Tenant-Admin",
                ][type]!
                let list = try await api.call(.get, "/api/\(type)?name=\(name)")
                let first = list.json["results"].flatMap { if case .array(let a) = $0 { a.first } else { nil } }
                let uuid = try XCTUnwrap(first?["uuid"]?.string, type)
                for t in ["admin", "t1", "t2"] { target["\(t)/\(type)"] = type == "tenant" ? tenantUUID[t]! : uuid }
            }

            var checked = 0
            var allowedCount = 0
            var failures: [String] = []
            func expect(_ a: Answer, _ allowed: Bool, okStatus: Set<Int>, _ what: String) {
                checked += 1
                if allowed { allowedCount += 1 }
                let good = allowed ? okStatus.contains(a.status) : a.status == 403
                if !good {
                    failures.append(
                        "\(what): expected \(allowed ? "\(okStatus.sorted())" : "403"), got \(a.status) \(a.text.prefix(160))"
                    )
                }
            }
            var serial = 0
            for u in Self.users {
                // Without a tenant header every user, with or without access, reads its own account.
                expect(
                    try await api.call(.get, "/api/useraccount", auth: u.auth), true, okStatus: [200],
                    "\(u.name): useraccount")
                for t in ["t1", "t2", "admin"] {
                    let h = ["X-Avi-Tenant": t]
                    for kind in ObjectKind.all.values.sorted(by: { $0.name < $1.name }) {
                        let type = kind.name
                        let read = u.allowed(false, type, in: t)
                        let write = u.allowed(true, type, in: t)
                        let what = "\(u.name) in \(t) on \(type)"
                        expect(
                            try await api.call(.get, "/api/\(type)", auth: u.auth, headers: h), read, okStatus: [200],
                            "\(what): list")
                        let existing = target["\(t)/\(type)"]!
                        expect(
                            try await api.call(.get, "/api/\(type)/\(existing)", auth: u.auth, headers: h), read,
                            okStatus: [200], "\(what): read")
                        serial += 1
                        let name = "x\(serial)"
                        let created = try await api.call(
                            .post, "/api/\(type)", Self.body(type, name), auth: u.auth, headers: h)
                        expect(created, write, okStatus: kind.creatable ? [201] : [405], "\(what): create")
                        if write, created.status == 201, let uuid = created.string("uuid") {
                            expect(
                                try await api.call(
                                    .put, "/api/\(type)/\(uuid)", Self.body(type, name), auth: u.auth, headers: h),
                                true, okStatus: [200], "\(what): replace")
                            expect(
                                try await api.call(
                                    .patch, "/api/\(type)/\(uuid)", #"{"description": "m"}"#, auth: u.auth, headers: h),
                                true, okStatus: [200], "\(what): patch")
                            expect(
                                try await api.call(.delete, "/api/\(type)/\(uuid)", auth: u.auth, headers: h), true,
                                okStatus: [204], "\(what): delete")
                        } else if !write {
                            expect(
                                try await api.call(
                                    .put, "/api/\(type)/\(existing)", Self.body(type, "base"), auth: u.auth, headers: h),
                                false, okStatus: [], "\(what): replace")
                            expect(
                                try await api.call(
                                    .patch, "/api/\(type)/\(existing)", #"{"description": "m"}"#, auth: u.auth,
                                    headers: h),
                                false, okStatus: [], "\(what): patch")
                            expect(
                                try await api.call(.delete, "/api/\(type)/\(existing)", auth: u.auth, headers: h),
                                false,
                                okStatus: [], "\(what): delete")
                        } else if type == "serviceengine" {
                            expect(
                                try await api.call(
                                    .patch, "/api/serviceengine/\(existing)", #"{"description": "m"}"#, auth: u.auth,
                                    headers: h),
                                true, okStatus: [200], "\(what): patch")
                        }
                    }
                    // Runtime, scale and join tokens.
                    let vs = target["\(t)/virtualservice"]!
                    expect(
                        try await api.call(.get, "/api/virtualservice/\(vs)/runtime", auth: u.auth, headers: h),
                        u.allowed(false, "virtualservice", in: t), okStatus: [200], "\(u.name) in \(t): vs runtime")
                    expect(
                        try await api.call(.post, "/api/virtualservice/\(vs)/scaleout", "{}", auth: u.auth, headers: h),
                        u.allowed(true, "virtualservice", in: t), okStatus: [200, 400, 409],
                        "\(u.name) in \(t): vs scaleout")
                    expect(
                        try await api.call(.post, "/api/virtualservice/\(vs)/scalein", "{}", auth: u.auth, headers: h),
                        u.allowed(true, "virtualservice", in: t), okStatus: [200, 400, 409],
                        "\(u.name) in \(t): vs scalein")
                    // Own account and the audit trail: any user with access to the tenant asked for.
                    let member = !u.covers(t).isEmpty
                    expect(
                        try await api.call(.get, "/api/useraccount", auth: u.auth, headers: h), member, okStatus: [200],
                        "\(u.name) in \(t): useraccount")
                    expect(
                        try await api.call(.get, "/api/analytics/logs?type=2", auth: u.auth, headers: h), member,
                        okStatus: [200], "\(u.name) in \(t): audit trail")
                    // The cluster's nodes and roles: any user with access to the tenant.
                    expect(
                        try await api.call(.get, "/api/cluster", auth: u.auth, headers: h), member, okStatus: [200],
                        "\(u.name) in \(t): cluster")
                    expect(
                        try await api.call(.get, "/api/cluster/runtime", auth: u.auth, headers: h), member,
                        okStatus: [200], "\(u.name) in \(t): cluster runtime")
                    // The cluster CA is public (its hash makes it trustworthy), to users and to nobody alike.
                    expect(
                        try await api.call(.get, "/api/cluster/ca-certificate", auth: u.auth, headers: h), true,
                        okStatus: [200], "\(u.name) in \(t): cluster CA")
                    // The whole configuration out and in: a System-Admin only (the import is sent a body that is
                    // not a backup, so an allowed caller gets 400 and nothing is replaced).
                    let systemAdmin = u.grants.contains {
                        $0.role == "System-Admin" && ($0.tenant ?? "admin") == "admin"
                    }
                    expect(
                        try await api.call(.get, "/api/configuration/export", auth: u.auth, headers: h),
                        member && systemAdmin, okStatus: [200], "\(u.name) in \(t): configuration export")
                    expect(
                        try await api.call(
                            .post, "/api/configuration/import", #"{"configuration": {}}"#, auth: u.auth, headers: h),
                        member && systemAdmin, okStatus: [400], "\(u.name) in \(t): configuration import")
                    let se = target["\(t)/serviceengine"]!
                    expect(
                        try await api.call(.get, "/api/serviceengine/\(se)/runtime", auth: u.auth, headers: h),
                        u.allowed(false, "serviceengine", in: t), okStatus: [200], "\(u.name) in \(t): se runtime")
                    // Analytics: read on the object they are about.
                    let metric = "metric_id=l7_client.avg_total_requests"
                    expect(
                        try await api.call(
                            .get, "/api/analytics/metrics/virtualservice/\(vs)?\(metric)", auth: u.auth, headers: h),
                        u.allowed(false, "virtualservice", in: t), okStatus: [200], "\(u.name) in \(t): vs metrics")
                    expect(
                        try await api.call(
                            .get, "/api/analytics/metrics/serviceengine/\(se)?\(metric)", auth: u.auth, headers: h),
                        u.allowed(false, "serviceengine", in: t), okStatus: [200], "\(u.name) in \(t): se metrics")
                    let pool = target["\(t)/pool"]!
                    expect(
                        try await api.call(
                            .get, "/api/analytics/metrics/pool/\(pool)?metric_id=l7_server.avg_complete_responses",
                            auth: u.auth, headers: h),
                        u.allowed(false, "pool", in: t), okStatus: [200], "\(u.name) in \(t): pool metrics")
                    expect(
                        try await api.call(
                            .get, "/api/analytics/logs?type=1&virtualservice=\(vs)", auth: u.auth, headers: h),
                        u.allowed(false, "virtualservice", in: t), okStatus: [200], "\(u.name) in \(t): request logs")
                    // The console's inventories: read on the type.
                    expect(
                        try await api.call(.get, "/api/virtualservice-inventory", auth: u.auth, headers: h),
                        u.allowed(false, "virtualservice", in: t), okStatus: [200], "\(u.name) in \(t): vs inventory")
                    expect(
                        try await api.call(.get, "/api/serviceengine-inventory", auth: u.auth, headers: h),
                        u.allowed(false, "serviceengine", in: t), okStatus: [200], "\(u.name) in \(t): se inventory")
                    expect(
                        try await api.call(.get, "/api/securetoken-generate", auth: u.auth, headers: h),
                        u.allowed(true, "serviceengine", in: t), okStatus: [200],
                        "\(u.name) in \(t): securetoken-generate")
                }
            }
            print(
                "AuthorizationMatrixTests: \(checked) checks (\(allowedCount) allowed, \(checked - allowedCount) refused) over \(Self.users.count) users × 3 tenants × \(ObjectKind.all.count) types"
            )
            XCTAssertTrue(
                failures.isEmpty,
                "\(failures.count) of \(checked) disagree:\n" + failures.prefix(40).joined(separator: "\n"))
            XCTAssertGreaterThan(allowedCount, 100)
            XCTAssertGreaterThan(checked - allowedCount, 500)
        }
    }
}
