import Crypto
import Foundation
import IPAddresses
import NIOCore
import NIOPosix
import NIOSSL
import SwiftASN1
import X509

/// The management plane's certificate authority (issue 12): one ECDSA P-256 CA per cluster, created by the
/// first node to start and kept in the shared store (its key sealed with the secrets key every node holds),
/// so that every node issues and trusts the same certificates.
///
/// It signs each node's server certificate (made at every start, for the node's addresses) and each SE's
/// client certificate (at registration, from the SE's CSR). An SE learns the CA from any node over an
/// unverified connection and keeps it only when its SHA-256 matches the hash its join token carries;
/// `starling ctl --ca-fingerprint` does the same.
public struct ClusterCA: Sendable {
    /// The CA certificate.
    public let certificate: Certificate
    let key: P256.Signing.PrivateKey
    /// The CA certificate as PEM.
    public let pem: String
    /// SHA-256 of the CA certificate's DER, lowercase hex: what join tokens carry.
    public let fingerprint: String

    init(certificate: Certificate, key: P256.Signing.PrivateKey) throws {
        self.certificate = certificate
        self.key = key
        pem = try certificate.serializeAsPEM().pemString + "\n"
        fingerprint = try Self.fingerprint(certificate)
    }

    /// SHA-256 of `certificate`'s DER as lowercase hex.
    public static func fingerprint(_ certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02x", $0) }.joined()
    }

    /// A new CA, valid ten years from `now`.
    static func create(now: Date) throws -> ClusterCA {
        try selfSigned(
            key: P256.Signing.PrivateKey(), commonName: "Starling cluster CA \(String(Secrets.token(bytes: 4)))",
            serial: .init(), from: now.addingTimeInterval(-300), until: now.addingTimeInterval(10 * 365 * 86400))
    }

    /// A CA that every holder of `secret` builds alike, with nothing to exchange: its key comes from `secret`
    /// through HKDF (so it reveals nothing of the secret, which also seals keys in the store as an AES key;
    /// `purpose` keeps two derived CAs apart); its name, serial number and validity are fixed. Whoever holds
    /// the secret can therefore issue its certificates, and the CA changes only with the secret. Only the signature differs between two builds (ECDSA's is randomised), and a
    /// certificate one build issued verifies against another: same subject, same key.
    ///
    /// The appliance's etcd members use one (issue 12): each controller node issues its member's certificate
    /// from it at boot and trusts the other members by it, from the secrets key its document already carries.
    public static func derived(fromSecret secret: [UInt8], purpose: String, commonName: String) throws -> ClusterCA {
        var key: P256.Signing.PrivateKey?
        // A derived scalar not below the group order (odds about 2^-32) is skipped for the next counter.
        for counter in 0..<16 where key == nil {
            let bytes = HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: secret), salt: Array("starling derived CA".utf8),
                info: Array("\(purpose) \(counter)".utf8), outputByteCount: 32)
            key = try? P256.Signing.PrivateKey(rawRepresentation: bytes.withUnsafeBytes { Array($0) })
        }
        guard let key else { throw CryptoKitError.incorrectParameterSize }
        let digest = SHA256.hash(data: key.publicKey.derRepresentation)
        var serial = Array(digest.prefix(16))
        serial[0] = (serial[0] & 0x7f) | 0x40
        // 2025-01-01 to 2055-01-01 UTC.
        return try selfSigned(
            key: key, commonName: commonName, serial: .init(bytes: serial),
            from: Date(timeIntervalSince1970: 1_735_689_600), until: Date(timeIntervalSince1970: 2_682_374_400))
    }

    private static func selfSigned(
        key: P256.Signing.PrivateKey, commonName: String, serial: Certificate.SerialNumber, from: Date, until: Date
    ) throws -> ClusterCA {
        let name = try DistinguishedName {
            OrganizationName("Starling")
            CommonName(commonName)
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: serial, publicKey: .init(key.publicKey), notValidBefore: from,
            notValidAfter: until, issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(key))
        return try ClusterCA(certificate: certificate, key: key)
    }

    static let certificateMeta = "management_ca_certificate"
    static let keyMeta = "management_ca_key"

    /// The cluster's CA from the store; the first node creates it (in one write transaction, so that two
    /// nodes starting together agree on one CA).
    static func loadOrCreate(store: any ControllerStore, secrets: SecretBox, now: Date) async throws -> ClusterCA {
        let fresh = try create(now: now)
        let sealed = try secrets.seal(fresh.key.pemRepresentation, field: "meta.\(keyMeta)")
        let (certificatePEM, keyText) = try await store.write { tx -> (String, String) in
            if let c = try tx.meta(certificateMeta), let k = try tx.meta(keyMeta) { return (c, k) }
            try tx.setMeta(certificateMeta, fresh.pem)
            try tx.setMeta(keyMeta, sealed)
            return (fresh.pem, sealed)
        }
        let key = try P256.Signing.PrivateKey(pemRepresentation: secrets.open(keyText, field: "meta.\(keyMeta)"))
        return try ClusterCA(certificate: Certificate(pemEncoded: certificatePEM), key: key)
    }

    /// A certificate for `publicKey` signed by the CA.
    func issue(
        subject: DistinguishedName, publicKey: Certificate.PublicKey, names: [GeneralName],
        usages: [ExtendedKeyUsage.Usage], serial: Certificate.SerialNumber = .init(), days: Double,
        validFrom: Date? = nil, now: Date
    ) throws -> Certificate {
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage(usages)
            if !names.isEmpty { SubjectAlternativeNames(names) }
            AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        }
        return try Certificate(
            version: .v3, serialNumber: serial, publicKey: publicKey,
            notValidBefore: validFrom ?? now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(days * 86400), issuer: certificate.subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: .init(key))
    }

    /// A node's certificate (server, and client when it forwards to the leader) for `hosts`: addresses and
    /// names. Made at every start; it lives only in memory.
    func nodeIdentity(node: String, hosts: [String], days: Double = 365, validFrom: Date? = nil, now: Date) throws -> (
        certificate: Certificate, key: P256.Signing.PrivateKey
    ) {
        let key = P256.Signing.PrivateKey()
        var names: [GeneralName] = []
        for host in hosts where !host.isEmpty {
            let name: GeneralName =
                if let address = IPAddress(host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))) {
                    .ipAddress(ASN1OctetString(contentBytes: ArraySlice(address.bytes)))
                } else {
                    .dnsName(host)
                }
            if !names.contains(name) { names.append(name) }
        }
        let subject = try DistinguishedName {
            OrganizationName("Starling")
            OrganizationalUnitName("controller")
            CommonName(node)
        }
        let certificate = try issue(
            subject: subject, publicKey: .init(key.publicKey), names: names, usages: [.serverAuth, .clientAuth],
            days: days, validFrom: validFrom, now: now)
        return (certificate, key)
    }

    /// ``nodeIdentity(node:hosts:days:validFrom:now:)`` as PEM: the certificate and its PKCS #8 key, for a
    /// program that reads files (etcd). `validFrom` defaults to five minutes before `now`.
    public func nodeIdentityPEM(
        node: String, hosts: [String], days: Double = 365, validFrom: Date? = nil, now: Date
    ) throws -> (certificate: String, key: String) {
        let (certificate, key) = try nodeIdentity(
            node: node, hosts: hosts, days: days, validFrom: validFrom, now: now)
        return (try certificate.serializeAsPEM().pemString + "\n", key.pemRepresentation + "\n")
    }

    /// The serial number of the client certificate of the SE whose secret has `digest`: a new registration
    /// (a new secret) makes the SE's earlier certificates worthless, and a deleted SE has none.
    static func seSerial(secretDigest digest: String) -> Certificate.SerialNumber {
        var bytes = Array(SHA256.hash(data: Array("starling se certificate \(digest)".utf8)).prefix(16))
        bytes[0] = (bytes[0] & 0x7f) | 0x40
        return Certificate.SerialNumber(bytes: bytes)
    }

    /// A CSR from its PEM, with its signature checked: ``APIError`` 400 naming `csr` otherwise.
    static func parseCSR(_ pem: String) throws -> CertificateSigningRequest {
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(pemEncoded: pem)
        } catch {
            throw APIError(400, "csr: not a PEM certificate signing request (\(error))")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw APIError(400, "csr: its signature does not match its key")
        }
        return csr
    }

    /// The client certificate (PEM) of SE `uuid` for the key of `csr`.
    func signSE(
        csr: CertificateSigningRequest, uuid: String, name: String, secretDigest: String, now: Date
    ) throws -> String {
        let subject = try DistinguishedName {
            OrganizationName("Starling")
            OrganizationalUnitName("service-engine")
            CommonName(uuid)
        }
        let certificate = try issue(
            subject: subject, publicKey: csr.publicKey, names: [.dnsName(Self.dnsSafe(name))],
            usages: [.clientAuth], serial: Self.seSerial(secretDigest: secretDigest), days: 365, now: now)
        return try certificate.serializeAsPEM().pemString + "\n"
    }

    /// An SE name as a DNS label list (other characters become '-').
    static func dnsSafe(_ name: String) -> String {
        let mapped = name.lowercased().map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "-" }
        let text = String(mapped).trimmingCharacters(in: CharacterSet(charactersIn: ".-"))
        return text.isEmpty ? "se" : String(text.prefix(253))
    }

    /// The SE uuid a client certificate names (its subject's common name, under OU service-engine), when it was
    /// issued to the SE whose secret has `secretDigest` (its serial); nil otherwise.
    static func seUUID(of certificate: Certificate, secretDigest: String) -> String? {
        guard certificate.serialNumber == seSerial(secretDigest: secretDigest) else { return nil }
        var uuid: String?
        var isSE = false
        for rdn in certificate.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.commonName { uuid = "\(attribute.value)" }
                if attribute.type == .RDNAttributeType.organizationalUnitName, "\(attribute.value)" == "service-engine"
                {
                    isSE = true
                }
            }
        }
        return isSE ? uuid : nil
    }
}
