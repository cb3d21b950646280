import Foundation
import Lab

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

    /// With `tls`: the CA that signed the member's and the client's certificates, and the client's
    /// certificate and key (the member asks for a client certificate signed by that CA).
    public private(set) var caFile: String?
    public private(set) var clientCertFile: String?
    public private(set) var clientKeyFile: String?

    /// Starts etcd (which must be installed: see ``binary``) and waits until it answers; with `tls`, on
    /// `https://` with client certificate authentication (a CA and certificates from ``EtcdPKI``).
    public init(directory: String, tls: Bool = false) throws {
        guard let binary = Self.binary else {
            throw EtcdTestFailure("etcd is not installed (apt-get install etcd-server)")
        }
        client = PortReservation()
        peer = PortReservation()
        self.directory = directory
        endpoint = "\(tls ? "https" : "http")://127.0.0.1:\(client.port)"
        let peerURL = "http://127.0.0.1:\(peer.port)"
        var tlsArguments: [String] = []
        var curlArguments: [String] = []
        if tls {
            let pki = try EtcdPKI(directory: directory + "/pki", commonName: "Starling test etcd CA", days: 2)
            let server = try pki.issue("server", addresses: ["127.0.0.1"])
            let client = try pki.issue("client", dnsNames: ["controller"])
            caFile = pki.caFile
            clientCertFile = client.certificate
            clientKeyFile = client.key
            tlsArguments = [
                "--cert-file", server.certificate, "--key-file", server.key, "--client-cert-auth", "--trusted-ca-file",
                pki.caFile,
            ]
            curlArguments = pki.curlArguments(client)
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments =
            [
                "--name", "test", "--data-dir", directory + "/etcd", "--listen-client-urls", endpoint,
                "--advertise-client-urls", endpoint, "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls",
                peerURL, "--initial-cluster", "test=\(peerURL)", "--log-level", "error",
            ] + tlsArguments
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let started = Date()
        while !Self.healthy(endpoint, curlArguments) {
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

    private static func healthy(_ endpoint: String, _ extra: [String]) -> Bool {
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-sf", "-m", "1"] + extra + [endpoint + "/health"]
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
