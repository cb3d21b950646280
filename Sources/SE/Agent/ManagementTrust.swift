import Crypto
import Foundation
import StarlingHTTP
import StarlingModel
import SwiftASN1
import X509

/// How an SE comes to trust the controller cluster over HTTPS with nothing but its join token, and proves
/// itself afterwards (issue 12):
/// 1. The token is `<secret>.<SHA-256 of the cluster CA>`. The SE reads the CA from any node
///    (`GET /api/cluster/ca-certificate`, over a connection it does not verify yet) and keeps it only when its
///    hash is the token's, as kubeadm's `--discovery-token-ca-cert-hash` does.
/// 2. It registers over TLS verified against that CA, with a CSR for a key it made; the controller answers
///    with a client certificate from the CA.
/// 3. Every later call presents that certificate (mutual TLS). The CA, key, certificate and registration stay
///    in the SE's state directory, so a restarted SE carries on without its (used) token.
public enum ManagementTrust {
    /// SHA-256 of the DER of the first certificate in `pem`, lowercase hex.
    public static func fingerprint(pem: String) throws -> String {
        let certificate = try Certificate(pemEncoded: pem)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02x", $0) }.joined()
    }

    /// The CA hash a join token carries (`<secret>.<64 hex digits>`), or nil for a token without one.
    public static func caHash(inToken token: String) -> String? {
        guard let dot = token.lastIndex(of: ".") else { return nil }
        let hash = token[token.index(after: dot)...].lowercased()
        guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else { return nil }
        return hash
    }

    /// The cluster CA (PEM) from the node at `baseURL` when its SHA-256 is `expected`; throws otherwise.
    public static func fetchCA(from baseURL: String, expected: String, timeout: Duration = .seconds(10))
        async throws -> String
    {
        // Not verified: the hash check below is what makes the answer trustworthy.
        let client = try HTTPClient(baseURL: baseURL, tls: .init(verifyServer: false))
        let response = try await client.request("GET", "/api/cluster/ca-certificate", timeout: timeout)
        guard response.status == 200 else {
            throw AgentError(message: "cluster CA from \(baseURL): HTTP \(response.status)")
        }
        let pem = response.text
        let got: String
        do {
            got = try fingerprint(pem: pem)
        } catch {
            throw AgentError(message: "cluster CA from \(baseURL): not a PEM certificate (\(error))")
        }
        guard got == expected.lowercased() else {
            throw AgentError(
                message: "cluster CA from \(baseURL) has SHA-256 \(got), not the \(expected) the join token names: "
                    + "not this cluster (or someone in between)")
        }
        return pem
    }

    /// A new ECDSA P-256 key (PEM) and a CSR for it naming the SE.
    public static func keyAndCSR(name: String) throws -> (keyPEM: String, csrPEM: String) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Starling")
            OrganizationalUnitName("service-engine")
            CommonName(name)
        }
        let csr = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: .init(key), attributes: .init(),
            signatureAlgorithm: .ecdsaWithSHA256)
        return (key.pemRepresentation, try csr.serializeAsPEM().pemString)
    }
}

/// What an SE keeps in its state directory for the management plane (files 0600 in a 0700 directory):
/// `ca.pem`, `client.key`, `client.pem` and `registration.json`.
public struct SEIdentityFiles: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// What was saved: the CA, and the key, certificate and registration when the SE registered.
    public struct Saved: Sendable {
        public var caPEM: String
        public var keyPEM: String?
        public var certificatePEM: String?
        public var registration: SERegistered?
    }

    public func load() -> Saved? {
        func read(_ name: String) -> String? { try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8) }
        guard let ca = read("ca.pem") else { return nil }
        var saved = Saved(caPEM: ca)
        if let key = read("client.key"), let certificate = read("client.pem"),
            let json = read("registration.json"),
            let registration = try? JSONDecoder().decode(SERegistered.self, from: Data(json.utf8))
        {
            saved.keyPEM = key
            saved.certificatePEM = certificate
            saved.registration = registration
        }
        return saved
    }

    public func saveCA(_ pem: String) throws {
        try write("ca.pem", pem)
    }

    public func saveRegistration(_ registered: SERegistered, keyPEM: String, certificatePEM: String) throws {
        try write("client.key", keyPEM)
        try write("client.pem", certificatePEM)
        var kept = registered
        kept.client_certificate = nil
        try write("registration.json", String(decoding: try JSONEncoder().encode(kept), as: UTF8.self))
    }

    /// Forgets the registration (the controller no longer knows the SE); the CA stays.
    public func removeRegistration() {
        for name in ["client.key", "client.pem", "registration.json"] { unlink("\(directory)/\(name)") }
    }

    private func write(_ name: String, _ text: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = "\(directory)/\(name)"
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw AgentError(message: "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw AgentError(message: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
