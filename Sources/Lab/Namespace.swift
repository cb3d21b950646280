import Foundation

/// A network namespace created by the lab (`ip netns add`), with helpers to wire it up and run commands in it.
///
/// Everything a test sends stays inside namespaces it created: links are veth pairs between lab namespaces,
/// addresses come from 198.18.0.0/15 (links) and 192.0.2.0/24, 2001:db8::/32 (announced prefixes), and no
/// namespace has a route toward the host's own interfaces.
public final class Namespace {
    /// The namespace's name under /run/netns.
    public let name: String
    /// A short role name (`router`, `starling1`, ...).
    public let role: String
    private var deleted = false

    /// Creates the namespace `name`, turns IPv6 duplicate address detection off for every interface that
    /// will be created in it (so link-local addresses are usable at once, which BGP over IPv6 needs), and
    /// brings its loopback up.
    public init(creating name: String, role: String) throws {
        self.name = name
        self.role = role
        try Command.check(["ip", "netns", "add", name])
        do {
            for conf in ["all", "default"] {
                try Command.check(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.\(conf).accept_dad=0"])
            }
            try Command.check(["ip", "-n", name, "link", "set", "lo", "up"])
        } catch {
            _ = try? Command.run(["ip", "netns", "del", name])
            throw error
        }
    }

    /// Runs `argv` inside the namespace (`ip netns exec`); does not throw on a non-zero exit.
    public func run(_ argv: [String], timeout: Double = 30) throws -> CommandResult {
        try Command.run(["ip", "netns", "exec", name] + argv, timeout: timeout)
    }

    /// Runs `argv` inside the namespace and throws unless it exits 0; returns its standard output.
    @discardableResult
    public func exec(_ argv: [String], timeout: Double = 30) throws -> String {
        try Command.check(["ip", "netns", "exec", name] + argv, timeout: timeout)
    }

    /// Runs `ip -n NAME args...` and throws unless it exits 0; returns its standard output.
    @discardableResult
    public func ip(_ args: [String]) throws -> String {
        try Command.check(["ip", "-n", name] + args)
    }

    /// Adds `cidr` (e.g. `198.18.0.1/24` or `2001:db8:ffff::1/64`) to `device`. IPv6 addresses skip
    /// duplicate address detection so they are usable at once.
    public func addAddress(_ cidr: String, device: String) throws {
        var args = ["addr", "add", cidr, "dev", device]
        if cidr.contains(":") { args.append("nodad") }
        try ip(args)
    }

    /// Sets `device` up.
    public func setUp(_ device: String) throws {
        try ip(["link", "set", device, "up"])
    }

    /// Creates a bridge `device` (no STP, no forwarding delay) and sets it up.
    public func addBridge(_ device: String) throws {
        try ip(["link", "add", device, "type", "bridge", "forward_delay", "0", "stp_state", "0"])
        try setUp(device)
    }

    /// Enslaves `device` to `bridge` and sets it up.
    public func attach(_ device: String, toBridge bridge: String) throws {
        try ip(["link", "set", device, "master", bridge])
        try setUp(device)
    }

    /// Creates a veth pair: `device` in `self`, `peerDevice` in `other`; both are set up.
    public func connect(_ device: String, to other: Namespace, as peerDevice: String) throws {
        try Command.check([
            "ip", "link", "add", device, "netns", name, "type", "veth", "peer", "name", peerDevice, "netns", other.name,
        ])
        try setUp(device)
        try other.setUp(peerDevice)
    }

    /// True when something in the namespace listens on TCP `port` (any address).
    public func isListening(port: Int) throws -> Bool {
        let out = try exec(["ss", "-Hltn", "sport = :\(port)"])
        return !out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// The output of `ip route show EXPR` (IPv6 when `expr` contains a colon).
    public func routes(_ expr: String) throws -> String {
        let family = expr.contains(":") ? "-6" : "-4"
        return try ip([family, "route", "show", expr])
    }

    /// Process ids of everything running inside the namespace.
    public func pids() -> [Int32] {
        Self.pids(in: name)
    }

    static func pids(in name: String) -> [Int32] {
        guard let out = try? Command.run(["ip", "netns", "pids", name]), out.succeeded else { return [] }
        return out.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
    }

    /// Kills whatever still runs inside (SIGTERM, then SIGKILL) and deletes the namespace. Idempotent.
    public func delete() {
        guard !deleted else { return }
        deleted = true
        Self.destroy(name)
    }

    /// Kills every process in namespace `name` and deletes it.
    static func destroy(_ name: String) {
        var left = pids(in: name)
        if !left.isEmpty {
            for pid in left { kill(pid, SIGTERM) }
            let deadline = Date().addingTimeInterval(3)
            while !left.isEmpty && Date() < deadline {
                usleep(50_000)
                left = pids(in: name)
            }
            for pid in left { kill(pid, SIGKILL) }
            usleep(50_000)
        }
        _ = try? Command.run(["ip", "netns", "del", name])
    }

    /// Names of all namespaces on the machine.
    public static func all() -> [String] {
        guard let out = try? Command.run(["ip", "netns", "list"]), out.succeeded else { return [] }
        return out.stdout.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first.map(String.init)
        }
    }
}
