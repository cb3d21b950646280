import Foundation
import Glibc
import Netlink
import XCTest

/// A network namespace made for one test with `ip netns add` and removed by `remove()`.
/// The test talks to it through `NetlinkSocket(namespace:)` and checks results with
/// `ip -n NAME -j ...`; nothing ever touches the namespace the test process runs in.
final class TestNamespace {
    let name: String
    var namespace: NetworkNamespace { NetworkNamespace(named: name) }
    private static let counter = Counter()

    /// Skips the test (with a printed reason) unless running as root with `ip` available.
    static func requireRoot() throws {
        guard geteuid() == 0 else {
            let reason = "Netlink tests need root (network namespaces); skipped"
            print(reason)
            throw XCTSkip(reason)
        }
        guard (try? run(["ip", "-V"])) != nil else {
            let reason = "Netlink tests need iproute2's `ip`; skipped"
            print(reason)
            throw XCTSkip(reason)
        }
    }

    init() throws {
        name = "starling-nl-\(getpid())-\(Self.counter.next())-\(UInt16.random(in: 0...UInt16.max))"
        try Self.run(["ip", "netns", "add", name])
        try ip("link", "set", "lo", "up")
    }

    func remove() {
        _ = try? Self.run(["ip", "netns", "delete", name])
    }

    /// Runs `ip -n NAME args...` and returns its standard output.
    @discardableResult
    func ip(_ arguments: String...) throws -> String {
        try Self.run(["ip", "-n", name] + arguments)
    }

    /// Runs `ip -n NAME -j args...` and decodes the JSON array it prints.
    func ipJSON(_ arguments: String...) throws -> [[String: Any]] {
        let output = try Self.run(["ip", "-n", name, "-j"] + arguments)
        let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return [] }
        let value = try JSONSerialization.jsonObject(with: Data(trimmed.utf8))
        return value as? [[String: Any]] ?? []
    }

    /// The `local/prefixlen` strings `ip -j addr show dev DEV` reports.
    func addresses(dev: String) throws -> Set<String> {
        var result: Set<String> = []
        for link in try ipJSON("addr", "show", "dev", dev) {
            for info in link["addr_info"] as? [[String: Any]] ?? [] {
                if let local = info["local"] as? String, let length = info["prefixlen"] as? Int {
                    result.insert("\(local)/\(length)")
                }
            }
        }
        return result
    }

    /// The `addr_info` entry for `local` on `dev`, if present.
    func addressInfo(dev: String, local: String) throws -> [String: Any]? {
        for link in try ipJSON("addr", "show", "dev", dev) {
            for info in link["addr_info"] as? [[String: Any]] ?? [] where info["local"] as? String == local {
                return info
            }
        }
        return nil
    }

    /// Creates a veth pair `a`/`b` inside the namespace, both up, and returns their indexes.
    func addVethPair(_ a: String, _ b: String) throws -> (Int32, Int32) {
        try ip("link", "add", a, "type", "veth", "peer", "name", b)
        try ip("link", "set", a, "up")
        try ip("link", "set", b, "up")
        return (try index(of: a), try index(of: b))
    }

    func index(of dev: String) throws -> Int32 {
        guard let link = try ipJSON("link", "show", "dev", dev).first, let index = link["ifindex"] as? Int else {
            throw NSError(domain: "TestNamespace", code: 1, userInfo: [NSLocalizedDescriptionKey: "no link \(dev)"])
        }
        return Int32(index)
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errorData, as: UTF8.self)
            throw NSError(
                domain: "TestNamespace", code: Int(process.terminationStatus),
                userInfo: [NSLocalizedDescriptionKey: "\(arguments.joined(separator: " ")): \(message)"])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The inode of a thread's or process' network namespace file.
    static func namespaceInode(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    private final class Counter: @unchecked Sendable {
        private var value = 0
        private let lock = NSLock()
        func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}

/// Base class: every test gets its own namespace and a socket inside it, and checks at the
/// end that the process' own network namespace is still the one it started in.
class NamespaceTestCase: XCTestCase {
    var ns: TestNamespace!
    var netlink: NetlinkSocket!
    private var processNamespace: UInt64 = 0
    private var threadNamespace: UInt64 = 0

    override func setUpWithError() throws {
        try TestNamespace.requireRoot()
        processNamespace = TestNamespace.namespaceInode("/proc/self/ns/net")
        threadNamespace = TestNamespace.namespaceInode("/proc/thread-self/ns/net")
        ns = try TestNamespace()
        netlink = try NetlinkSocket(namespace: ns.namespace)
    }

    override func tearDownWithError() throws {
        netlink = nil
        ns?.remove()
        if processNamespace != 0 {
            XCTAssertEqual(TestNamespace.namespaceInode("/proc/self/ns/net"), processNamespace)
            XCTAssertEqual(TestNamespace.namespaceInode("/proc/thread-self/ns/net"), threadNamespace)
        }
    }
}
