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

    /// With `tls`: the CA that signed the member's and the client's certificates, and the client's
    /// certificate and key (the member asks for a client certificate signed by that CA).
    public private(set) var caFile: String?
    public private(set) var clientCertFile: String?
    public private(set) var clientKeyFile: String?

    /// Starts etcd (which must be installed: see ``binary``) and waits until it answers; with `tls`, on
    /// `https://` with client certificate authentication (a CA and certificates made with openssl).
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
            let pki = directory + "/pki"
            try FileManager.default.createDirectory(atPath: pki, withIntermediateDirectories: true)
            try Self.openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                "\(pki)/ca.key", "-out", "\(pki)/ca.crt", "-subj", "/CN=Starling test etcd CA", "-days", "2",
            ])
            for (name, san) in [("server", "IP:127.0.0.1"), ("client", "DNS:controller")] {
                try Self.openssl([
                    "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    "\(pki)/\(name).key", "-out", "\(pki)/\(name).csr", "-subj", "/CN=\(name)",
                ])
                try "subjectAltName=\(san)\nextendedKeyUsage=serverAuth,clientAuth\n".write(
                    toFile: "\(pki)/\(name).ext", atomically: true, encoding: .utf8)
                try Self.openssl([
                    "x509", "-req", "-in", "\(pki)/\(name).csr", "-CA", "\(pki)/ca.crt", "-CAkey", "\(pki)/ca.key",
                    "-CAcreateserial", "-out", "\(pki)/\(name).crt", "-days", "2", "-extfile", "\(pki)/\(name).ext",
                ])
            }
            caFile = "\(pki)/ca.crt"
            clientCertFile = "\(pki)/client.crt"
            clientKeyFile = "\(pki)/client.key"
            tlsArguments = [
                "--cert-file", "\(pki)/server.crt", "--key-file", "\(pki)/server.key", "--client-cert-auth",
                "--trusted-ca-file", "\(pki)/ca.crt",
            ]
            curlArguments = ["--cacert", "\(pki)/ca.crt", "--cert", "\(pki)/client.crt", "--key", "\(pki)/client.key"]
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

extension EtcdTestServer {
    static func openssl(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = arguments
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw EtcdTestFailure("openssl \(arguments.first ?? "") failed") }
    }
}

public struct EtcdTestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
