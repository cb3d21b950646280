import Foundation
import Lab
import XCTest

/// Shared set-up for the integration tests: root and program checks (skips), and a lab that is always torn
/// down, with its daemons' logs printed when the test fails.
extension XCTestCase {
    /// Runs `body` with a fresh ``Lab``. Skips (with a printed reason) when not root or when one of
    /// `programs` is missing. The lab is torn down whatever happens; on failure its report is printed.
    func withLab(_ label: String, requires programs: [String], _ body: (Lab) throws -> Void) throws {
        guard Lab.isRoot else {
            let reason = "needs root for network namespaces (euid \(geteuid())); skipping \(label)"
            print("IntegrationTests: \(reason)")
            throw XCTSkip(reason)
        }
        if let reason = Lab.namespaceSupport() {
            print("IntegrationTests: \(reason); skipping \(label)")
            throw XCTSkip(reason)
        }
        let missing = Command.missing(programs + ["ip", "ss", "sysctl"])
        guard missing.isEmpty else {
            let reason =
                "missing programs \(missing.joined(separator: ", ")) (run scripts/install-deps.sh); skipping \(label)"
            print("IntegrationTests: \(reason)")
            throw XCTSkip(reason)
        }
        let lab = try Lab(label: label)
        let failuresBefore = testRun?.totalFailureCount ?? 0
        defer {
            if (testRun?.totalFailureCount ?? 0) > failuresBefore {
                print(lab.report())
            }
            lab.teardown()
        }
        do {
            try body(lab)
        } catch {
            print("IntegrationTests: \(label) failed: \(error)")
            print(lab.report())
            throw error
        }
    }

    /// Starts the lab's ``PoolServer`` `srv1` on port 8080 in `ns` and waits until it listens.
    func startPoolServer(_ lab: Lab, in ns: Namespace) throws -> Daemon {
        let script = lab.path("pool-server.py")
        if !FileManager.default.fileExists(atPath: script) {
            try PoolServer.script.write(toFile: script, atomically: true, encoding: .utf8)
        }
        let server = try lab.start("srv1", ["python3", "-u", script, "srv1", "8080"], in: ns)
        try Wait.until("pool server listening", timeout: 10) { try ns.isListening(port: 8080) }
        return server
    }

    /// The `starling` executable, or a skip (with a printed reason) when it has not been built.
    func starlingBinary() throws -> String {
        guard let binary = StarlingBGP.locateBinary() else {
            let reason = "starling executable not found (swift build, or set STARLING_BIN)"
            print("IntegrationTests: \(reason)")
            throw XCTSkip(reason)
        }
        return binary
    }
}

/// Prefixes used by the tests (DESIGN §5: 192.0.2.0/24 and 2001:db8::/32 only).
enum Prefixes {
    /// What a test speaker announces first, per family.
    static func initial(_ family: IPFamily) -> [String] {
        family == .ipv4 ? ["192.0.2.10/32", "192.0.2.11/32"] : ["2001:db8::10/128", "2001:db8::11/128"]
    }

    /// The announce list after the SIGHUP: keeps the first, drops the second, adds a third.
    static func reloaded(_ family: IPFamily) -> [String] {
        family == .ipv4 ? ["192.0.2.10/32", "192.0.2.12/32"] : ["2001:db8::10/128", "2001:db8::12/128"]
    }

    /// What a peer daemon originates toward the speaker under test.
    static func fromPeer(_ family: IPFamily) -> String {
        family == .ipv4 ? "192.0.2.200/32" : "2001:db8:200::/48"
    }

    /// The anycast VIP of the ECMP tests.
    static let vip = "192.0.2.50/32"
}
