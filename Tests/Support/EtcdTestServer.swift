import Foundation

/// A real etcd member (Debian's `etcd-server`) on loopback ports taken by binding port 0, with its data in
/// `directory`; stopped (SIGKILL, then reaped) by ``stop()`` or when dropped.
public final class EtcdTestServer {
    public let endpoint: String
    let process: Process
    let directory: String
    private let client: PortReservation
    private let peer: PortReservation

    /// The etcd binary, nil when etcd is not installed (tests skip then; in CI, where
    /// `scripts/install-deps.sh` installs it, a skip fails the run).
    public static var binary: String? {
        ["/usr/bin/etcd", "/usr/local/bin/etcd"].first(where: FileManager.default.isExecutableFile)
    }

    /// Starts etcd (which must be installed: see ``binary``) and waits until it answers.
    public init(directory: String) throws {
        guard let binary = Self.binary else {
            throw EtcdTestFailure("etcd is not installed (apt-get install etcd-server)")
        }
        client = PortReservation()
        peer = PortReservation()
        self.directory = directory
        endpoint = "http://127.0.0.1:\(client.port)"
        let peerURL = "http://127.0.0.1:\(peer.port)"
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--name", "test", "--data-dir", directory + "/etcd", "--listen-client-urls", endpoint,
            "--advertise-client-urls", endpoint, "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls",
            peerURL, "--initial-cluster", "test=\(peerURL)", "--log-level", "error",
        ]
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let started = Date()
        while !Self.healthy(endpoint) {
            guard process.isRunning else { throw EtcdTestFailure("etcd exited at start") }
            if Date().timeIntervalSince(started) > 20 { throw EtcdTestFailure("etcd did not answer in 20 s") }
            usleep(100_000)
        }
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    private static func healthy(_ endpoint: String) -> Bool {
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-sf", "-m", "1", endpoint + "/health"]
        curl.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        curl.standardError = FileHandle(forWritingAtPath: "/dev/null")
        guard (try? curl.run()) != nil else { return false }
        curl.waitUntilExit()
        return curl.terminationStatus == 0
    }
}

public struct EtcdTestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
