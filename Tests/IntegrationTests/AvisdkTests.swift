import Foundation
import Lab
import TestSupport
import XCTest

/// The Avi Python SDK (`avisdk`, unmodified) against a real `starling controller` on loopback
/// (Tests/avisdk/avisdk_test.py: login, create pool, vsvip and virtual service, read by name, put,
/// an HTTPS virtual service with a self-signed certificate,
/// patch, delete). Skips with a printed reason when python3 or avisdk is missing.
final class AvisdkTests: XCTestCase {
    func testAvisdkDrivesTheController() throws {
        guard let python = Command.missing(["python3"]).isEmpty ? "python3" : nil else {
            throw skip("python3 is missing (run scripts/install-deps.sh)")
        }
        let probe = try run([python, "-c", "from avi.sdk.avi_api import ApiSession"])
        guard probe.status == 0 else { throw skip("avisdk is not importable (run scripts/install-deps.sh)") }
        let binary = try starlingBinary()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("avisdk/avisdk_test.py").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-avisdk-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = reservedPort()
        let password = "avisdk-\(UUID().uuidString.prefix(8))"

        let controller = Process()
        controller.executableURL = URL(fileURLWithPath: binary)
        // Cheap password hashing: a debug build runs PBKDF2 slowly, and the hash strength is not under test.
        controller.arguments = [
            "controller", "--listen", "127.0.0.1:\(port)", "--insecure-http", "--data-dir", dir.path,
            "--password-iterations", "1000",
        ]
        var env = ProcessInfo.processInfo.environment
        env["STARLING_ADMIN_PASSWORD"] = password
        controller.environment = env
        let log = dir.appendingPathExtension("log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        controller.standardError = try FileHandle(forWritingTo: log)
        try controller.run()
        defer {
            if controller.isRunning {
                controller.terminate()
                controller.waitUntilExit()
            }
        }
        try Wait.until("controller on 127.0.0.1:\(port)", timeout: 60, interval: 0.2) {
            guard controller.isRunning else { throw LabError(.daemon, "controller exited: \(tail(log))") }
            return try run(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:\(port)/api/initial-data"]).status == 0
        }
        let result = try run([python, script, "--port", String(port), "--password", password])
        if result.status != 0 {
            print("AvisdkTests: script output:\n\(result.output)\ncontroller log:\n\(tail(log))")
        }
        XCTAssertEqual(result.status, 0, "avisdk_test.py failed")
        XCTAssertTrue(result.output.contains("avisdk_test: PASS"))

        controller.terminate()
        controller.waitUntilExit()
        XCTAssertEqual(controller.terminationStatus, 0, "SIGTERM stops the controller cleanly")
    }

    private func skip(_ reason: String) -> XCTSkip {
        print("AvisdkTests: \(reason); skipping")
        return XCTSkip(reason)
    }

    private func run(_ argv: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    private func tail(_ url: URL) -> String {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(20).joined(separator: "\n")
    }
}
