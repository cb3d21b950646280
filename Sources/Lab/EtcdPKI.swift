import Foundation

/// A CA and etcd member/client certificates made with the `openssl` command line: the demo lab's etcd cluster
/// and the tests' secured etcd talk TLS with client certificates, as the appliance's members do (the
/// appliance derives its CA from the cluster's secrets key instead; see `ApplianceLaunch.writeEtcdTLS`).
public struct EtcdPKI: Sendable {
    /// The CA certificate (PEM) every member and client trusts.
    public let caFile: String
    private let directory: String
    private let days: Int

    /// The P-256 CA in `directory`: made (valid `days`) unless the folder has one already, so that members
    /// started again trust the same CA as the ones still running.
    public init(directory: String, commonName: String = "Starling lab etcd CA", days: Int = 30) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.days = days
        caFile = Self.caFile(in: directory)
        guard !FileManager.default.fileExists(atPath: caFile) else { return }
        _ = try Command.check([
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            directory + "/ca.key", "-out", caFile, "-subj", "/CN=\(commonName)", "-days", String(days),
        ])
    }

    /// A certificate for server and client use named `name`, with `addresses` as IP and `dnsNames` as DNS
    /// subject alternative names: the paths of its PEM certificate and key (0600).
    public func issue(_ name: String, addresses: [String] = [], dnsNames: [String] = []) throws -> (
        certificate: String, key: String
    ) {
        let (certificate, key) = Self.files(in: directory, name: name)
        let (request, extensions) = ("\(directory)/\(name).csr", "\(directory)/\(name).ext")
        _ = try Command.check([
            "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
            request, "-subj", "/CN=\(name)",
        ])
        let names = addresses.map { "IP:\($0)" } + dnsNames.map { "DNS:\($0)" }
        let alternativeNames = names.isEmpty ? "" : "subjectAltName=\(names.joined(separator: ","))\n"
        try (alternativeNames + "extendedKeyUsage=serverAuth,clientAuth\n").write(
            toFile: extensions, atomically: true, encoding: .utf8)
        _ = try Command.check([
            "openssl", "x509", "-req", "-in", request, "-CA", caFile, "-CAkey", directory + "/ca.key",
            "-CAcreateserial", "-out", certificate, "-days", String(days), "-extfile", extensions,
        ])
        chmod(key, 0o600)
        return (certificate, key)
    }

    /// Where a PKI in `directory` keeps its CA certificate.
    public static func caFile(in directory: String) -> String { directory + "/ca.pem" }

    /// Where a PKI in `directory` keeps the certificate and key ``issue(_:addresses:dnsNames:)`` made for `name`.
    public static func files(in directory: String, name: String) -> (certificate: String, key: String) {
        ("\(directory)/\(name).pem", "\(directory)/\(name).key")
    }

    /// curl's options to call a member with `identity`.
    public func curlArguments(_ identity: (certificate: String, key: String)) -> [String] {
        ["--cacert", caFile, "--cert", identity.certificate, "--key", identity.key]
    }
}
