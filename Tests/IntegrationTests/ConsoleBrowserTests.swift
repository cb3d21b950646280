import Foundation
import Lab
import XCTest

/// The Admin Console in a real browser (headless Chromium driven by Selenium, Tests/console/console_test.py)
/// against the demo lab as `make run` builds it: controller, three SEs, BIRD with ECMP, the steady client
/// traffic, and the console forwarded to this machine's loopback. The script logs in through the form, finds
/// demo-vs on the dashboard with its health score and a sparkline fed by the traffic, opens its page (charts,
/// request logs), creates a pool through the form, sees a validation error next to its field, and checks that
/// an Application-Operator gets read-only views. Screenshots of every page go to
/// `.build/test-output/console/` (printed); look at them.
final class ConsoleBrowserTests: XCTestCase {
    static let programs = ["chromium", "chromedriver", "socat", "curl"] + BIRD.requiredPrograms
    static let python = "/usr/bin/python3"

    func testTheConsoleInChromiumAgainstTheDemoLab() async throws {
        guard Lab.isRoot else {
            print("ConsoleBrowserTests: needs root for network namespaces; skipping")
            throw XCTSkip("needs root (euid \(geteuid()))")
        }
        if let reason = Lab.namespaceSupport() {
            print("ConsoleBrowserTests: \(reason); skipping")
            throw XCTSkip(reason)
        }
        let missing = Command.missing(Self.programs)
        guard missing.isEmpty else {
            print("ConsoleBrowserTests: missing \(missing.joined(separator: ", ")) (scripts/install-deps.sh); skipping")
            throw XCTSkip("missing programs \(missing.joined(separator: ", "))")
        }
        // Debian's python3-selenium is for Debian's python3 (a python3 earlier on PATH may lack it).
        guard (try? Command.run([Self.python, "-c", "import selenium"]))?.status == 0 else {
            print("ConsoleBrowserTests: python3-selenium is missing (scripts/install-deps.sh); skipping")
            throw XCTSkip("python3-selenium is missing")
        }
        guard let binary = StarlingBGP.locateBinary() else {
            XCTFail("the starling executable is not built")
            return
        }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = package.appendingPathComponent("Tests/console/console_test.py").path
        let out = package.appendingPathComponent(".build/test-output/console").path
        try? FileManager.default.removeItem(atPath: out)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        let lab = try DemoLab.forTest(binary: binary)
        defer { lab.down() }
        do {
            try await lab.up(traffic: true, consolePort: 0)
            let url = try XCTUnwrap(lab.state.consoleURL)
            // The traffic reaches the analytics before the browser looks: the inventory's requests
            // sparkline of demo-vs has a non-zero point (heartbeats every second, 5-second samples).
            try Wait.until("demo-vs has traffic in the inventory", timeout: 60, interval: 1) {
                let answer = try Command.run([
                    "curl", "-s", "--cacert", lab.controllerCAFile, "-u", "admin:\(lab.state.adminPassword)",
                    "\(url)api/virtualservice-inventory?name=demo-vs",
                ])
                guard let data = answer.stdout.data(using: .utf8),
                    let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let row = (json["results"] as? [[String: Any]])?.first,
                    let metrics = row["metrics"] as? [String: Any],
                    let rps = metrics["l7_client.avg_complete_responses"] as? [[Double]]
                else { return false }
                return rps.contains { $0.count == 2 && $0[1] > 0 }
            }
            let result = try Command.run(
                [
                    "python3", script, "--url", url, "--password", lab.state.adminPassword, "--vs", "demo-vs", "--out",
                    out, "--ca-file", lab.controllerCAFile,
                ],
                timeout: 300)
            print(result.stdout)
            print("ConsoleBrowserTests: screenshots in \(out)")
            if result.status != 0 {
                print("ConsoleBrowserTests: console_test.py failed:\n\(result.stderr)\n\(lab.report(lines: 20))")
            }
            XCTAssertEqual(result.status, 0, "console_test.py: \(result.stderr.suffix(2000))")
            XCTAssertTrue(result.stdout.contains("console_test: PASS"))
            let shots = (try? FileManager.default.contentsOfDirectory(atPath: out))?.filter { $0.hasSuffix(".png") }
            XCTAssertGreaterThanOrEqual(shots?.count ?? 0, 5, "a screenshot per page: \(shots ?? [])")
        } catch {
            print("ConsoleBrowserTests: failed: \(error)\n\(lab.status())\n\(lab.report(lines: 30))")
            throw error
        }
    }
}
