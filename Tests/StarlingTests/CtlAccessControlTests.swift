import Controller
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import XCTest

@testable import starling

/// `starling ctl` against a real controller on 127.0.0.1 (port 0) as users of different roles: each gets
/// what its role allows and a one-line 403 for the rest; `--tenant` picks the tenant.
final class CtlAccessControlTests: XCTestCase {
    func testCtlWorksWithTheLeastPrivilegeItNeeds() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-acl-\(UUID().uuidString)").path
        let home = dir + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = ControllerConfiguration(dataDirectory: dir + "/store", adminPassword: "admin-password")
        config.passwordIterations = 1000
        var logger = Logger(label: "test.controller")
        logger.logLevel = .critical
        let controller = try await Controller(configuration: config, logger: logger)
        let port = Mutex<Int?>(nil)
        let app = Application(
            responder: controller.responder,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "starling"),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } }, logger: logger)

        let server = RunningServices([app], logger: logger)
        do {
            var bound: Int?
            for _ in 0..<500 where bound == nil {
                bound = port.withLock { $0 }
                if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            let url = "http://127.0.0.1:\(try XCTUnwrap(bound))"
            let admin = ["--controller", url, "--username", "admin", "--password", "admin-password"]
            func file(_ name: String, _ text: String) throws -> String {
                let path = "\(dir)/\(name)"
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                return path
            }
            func ctl(_ args: [String]) async -> (status: Int32, out: String, err: String) {
                await runCtl(args, home: home)
            }

            var r = await ctl(admin + ["create", "tenant", "-f", try file("t.yaml", "name: blue\n")])
            XCTAssertEqual(r.status, 0, r.err)
            let users = """
                - name: blue-admin
                  password: blue-admin-password
                  access: [{role_ref: /api/role/?name=Tenant-Admin, tenant_ref: /api/tenant/?name=blue}]
                - name: blue-operator
                  password: blue-operator-password
                  access: [{role_ref: /api/role/?name=Application-Operator, tenant_ref: /api/tenant/?name=blue}]
                """
            r = await ctl(admin + ["create", "user", "-f", try file("u.yaml", users)])
            XCTAssertEqual(r.status, 0, r.err)

            // The tenant admin works in its tenant with --tenant (or STARLING_TENANT).
            let blueAdmin = ["--controller", url, "--username", "blue-admin", "--password", "blue-admin-password"]
            let pool = try file("p.yaml", "name: blue-pool\nservers: [{ip: {addr: 198.18.1.21, type: V4}, port: 80}]\n")
            r = await ctl(blueAdmin + ["--tenant", "blue", "create", "pool", "-f", pool])
            XCTAssertEqual(r.status, 0, r.err)
            r = await runCtl(blueAdmin + ["get", "pool"], home: home, variables: ["STARLING_TENANT": "blue"])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertTrue(r.out.contains("blue-pool"), r.out)
            // Not in admin's tenant, and no users.
            r = await ctl(blueAdmin + ["--tenant", "admin", "get", "pool"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.err.contains("403") && r.err.contains("no access to tenant admin"), r.err)
            r = await ctl(
                blueAdmin + [
                    "--tenant", "blue", "create", "user", "-f", try file("u2.yaml", "name: x\npassword: x-password\n"),
                ])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.err.contains("System-Admin"), r.err)

            // The operator logs in (session and CSRF token) and reads, but cannot delete.
            let op = ["--controller", url, "--username", "blue-operator", "--password", "blue-operator-password"]
            r = await ctl(op + ["login"])
            XCTAssertEqual(r.status, 0, r.err)
            r = await ctl(["--tenant", "blue", "get", "pool", "blue-pool", "-o", "json"])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertTrue(r.out.contains("\"blue-pool\""), r.out)
            r = await ctl(["--tenant", "blue", "delete", "pool", "blue-pool"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.err.contains("403") && r.err.contains("may not change pool"), r.err)
            r = await ctl(["--tenant", "blue", "get", "pool"])
            XCTAssertTrue(r.out.contains("blue-pool"), "still there: \(r.out)")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
