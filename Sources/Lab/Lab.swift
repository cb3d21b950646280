// Lab — network-namespace test topologies with real BGP daemons (DESIGN §5).
//
// Architecture (what each file does, how data flows):
// - Command.swift    runs short commands with a deadline and captured output (ip, birdc, vtysh, gobgp, curl).
// - Daemon.swift     long-running processes (own log file, SIGTERM then SIGKILL) and `Wait` (polling with a
//                    deadline; a dead daemon fails the wait at once).
// - Namespace.swift  one `ip netns`: veth pairs, bridges, addresses (IPv6 without DAD), commands inside it.
// - Lab.swift        one run: unique names (`stlab-<pid>-<random>-<role>`), work directory, ownership of every
//                    namespace and daemon, idempotent teardown, sweeping of namespaces left by dead runs.
// - PeerDaemon.swift the common vocabulary of third-party peers (SpeakerSpec in; SessionStatus and
//                    LearnedRoute out) and the `PeerDaemon` protocol.
// - BIRD.swift, FRR.swift, GoBGP.swift   config generators and CLI parsers for each daemon.
// - StarlingBGP.swift `starling bgp`: config file, process, JSON API (/peers, /rib) via curl in its namespace.
// - Topology.swift   the two shapes: a pair over one veth, and a router with a bridge and N speakers;
//                    `KernelRoute` reads ECMP next hops from `ip route`.
// - DemoLab.swift    the demo/end-to-end topology (router, SEs, pool servers, client, controller) whose processes
//                    outlive their starter (`starling lab up`); state in `stdemo-<name>/state.json`.
// - DemoAPI.swift    the controller session DemoLab configures it through (HTTPClient from the ctrl namespace).
// - DetachedProcess.swift  processes in their own session, known by pid + start time (for `lab down` later).
// - PoolServer.swift the demo's Python pool server (`server=NAME client=PEER`).
// A test builds a topology, starts daemons on it from specs, then polls their CLIs/APIs with `Wait` until
// what a user would check holds; `Lab.teardown()` undoes everything.

import Foundation

/// One lab run: a unique id, a work directory for configs, sockets and logs, and the namespaces and daemons
/// created for it. ``teardown()`` stops every daemon and deletes every namespace; it is idempotent and
/// also runs from `deinit`. Namespaces left behind by a run whose process died (a crashed test) are removed
/// by the next ``init(label:)``.
///
/// Namespaces are named `stlab-<pid>-<random>-<role>`; the work directory is
/// `/tmp/starling-lab/stlab-<pid>-<random>`. Set `STARLING_LAB_KEEP=1` to keep the directory after teardown.
public final class Lab {
    /// Prefix of every namespace and directory the lab creates.
    public static let prefix = "stlab-"
    /// Parent of every run's work directory.
    public static let root = "/tmp/starling-lab"

    /// Unique id of this run (`stlab-<pid>-<random>`).
    public let id: String
    /// A short label given by the caller, used in reports.
    public let label: String
    /// This run's work directory (world-readable: FRR runs as user `frr`).
    public let directory: String
    /// Namespaces created so far, in creation order.
    public private(set) var namespaces: [Namespace] = []
    /// Daemons started so far, in start order.
    public private(set) var daemons: [Daemon] = []
    private var tornDown = false

    /// True when the process runs as root (namespaces need it).
    public static var isRoot: Bool { geteuid() == 0 }

    /// Starts a run: checks for root, removes stale namespaces of dead runs, creates the work directory.
    public init(label: String = "lab") throws {
        guard Self.isRoot else { throw LabError(.unavailable, "network namespaces need root (euid \(geteuid()))") }
        guard Command.which("ip") != nil else { throw LabError(.unavailable, "program not found: ip (iproute2)") }
        Self.sweepStale()
        let random = String(UInt32.random(in: 0...0xFF_FFFF), radix: 16)
        id = "\(Self.prefix)\(getpid())-\(random)"
        self.label = label
        directory = "\(Self.root)/\(id)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(Self.root, 0o755)
        chmod(directory, 0o755)
    }

    deinit { teardown() }

    /// The path of `file` inside the work directory.
    public func path(_ file: String) -> String { "\(directory)/\(file)" }

    /// Creates a subdirectory of the work directory and returns its path.
    public func makeDirectory(_ name: String) throws -> String {
        let dir = path(name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        return dir
    }

    /// Creates a namespace for `role` (`router`, `peer`, `starling1`, ...) owned by this run.
    public func namespace(_ role: String) throws -> Namespace {
        let ns = try Namespace(creating: "\(id)-\(role)", role: role)
        namespaces.append(ns)
        return ns
    }

    /// Starts a daemon owned by this run (inside `namespace` when given), logging to `<name>.log`.
    public func start(_ name: String, _ argv: [String], in namespace: Namespace? = nil) throws -> Daemon {
        let daemon = try Daemon(name: name, argv: argv, namespace: namespace?.name, logPath: path("\(name).log"))
        daemons.append(daemon)
        return daemon
    }

    /// Stops every daemon (reverse start order, SIGTERM then SIGKILL), deletes every namespace and the
    /// work directory (unless `STARLING_LAB_KEEP` is set). Idempotent.
    public func teardown() {
        guard !tornDown else { return }
        tornDown = true
        for daemon in daemons.reversed() { daemon.stop(grace: 3) }
        for ns in namespaces.reversed() { ns.delete() }
        if ProcessInfo.processInfo.environment["STARLING_LAB_KEEP"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// The tail of every daemon's log and the state of each namespace, for a failure report.
    public func report(lines: Int = 25) -> String {
        var text = "---- lab \(id) (\(label)) work dir \(directory)\n"
        for daemon in daemons {
            let state = daemon.termination.map { "ended: \($0)" } ?? "running (pid \(daemon.pid))"
            text += "---- \(daemon.name) [\(state)] \(daemon.logPath)\n\(daemon.logTail(lines: lines))\n"
        }
        for ns in namespaces {
            let addrs = (try? Command.run(["ip", "-n", ns.name, "-br", "addr"]))?.stdout ?? ""
            let routes = (try? Command.run(["ip", "-n", ns.name, "route"]))?.stdout ?? ""
            text += "---- netns \(ns.name)\n\(addrs)\(routes)"
        }
        return text
    }

    /// Nil when this process can create network namespaces, else the reason it cannot (not root, or root
    /// without the capability, as in an unprivileged container).
    /// A TCP port free on 127.0.0.1: `preferred` when it can be bound, else one the kernel picks (0 always
    /// lets the kernel pick). The socket is closed again, so another process may take the port in between.
    public static func loopbackPort(preferring preferred: Int = 0) throws -> Int {
        func bind(_ port: Int) -> Int? {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else { return nil }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            return named == 0 ? Int(UInt16(bigEndian: address.sin_port)) : nil
        }
        if preferred > 0, let port = bind(preferred) { return port }
        guard let port = bind(0) else { throw LabError(.unavailable, "no free TCP port on 127.0.0.1") }
        return port
    }

    public static func namespaceSupport() -> String? {
        guard isRoot else { return "network namespaces need root (euid \(geteuid()))" }
        guard Command.which("ip") != nil else { return "program not found: ip (iproute2)" }
        let probe = "\(prefix)\(getpid())-probe"
        guard let result = try? Command.run(["ip", "netns", "add", probe]) else { return "cannot run ip netns add" }
        if result.succeeded {
            _ = try? Command.run(["ip", "netns", "del", probe])
            return nil
        }
        let text = result.stderr.lowercased()
        if text.contains("not permitted") || text.contains("permission denied") {
            return
                "cannot create network namespaces here: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        return nil  // another failure: let the test report it
    }

    /// Removes namespaces and work directories of lab runs whose process no longer exists.
    public static func sweepStale() {
        for name in Namespace.all() where name.hasPrefix(prefix) {
            if let pid = ownerPID(of: name), !isAlive(pid) { Namespace.destroy(name) }
        }
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for dir in dirs where dir.hasPrefix(prefix) {
            if let pid = ownerPID(of: dir), !isAlive(pid) {
                try? FileManager.default.removeItem(atPath: "\(root)/\(dir)")
            }
        }
    }

    static func ownerPID(of name: String) -> Int32? {
        let rest = name.dropFirst(prefix.count)
        return rest.split(separator: "-").first.flatMap { Int32($0) }
    }

    static func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
