import Crypto
import Foundation
import IPAddresses
import NIOSSL
import StarlingModel
import SwiftASN1
import X509
import _CryptoExtras

/// What the controller does with an `sslkeyandcertificate` before storing it: makes the self-signed
/// certificate asked for, keeps the stored key when an update leaves it out (GET never returns it),
/// checks the PEM chain and the key (each error names its field), fills in the certificate's details
/// and seals the key and passphrase (``SecretBox``).
enum CertificateImport {
    /// Days before `not_after` from which `expiry_status` is `SSL_CERTIFICATE_EXPIRY_WARNING`.
    static let expiryWarningDays = 30.0

    /// The stored form of `canonical` (already decoded and validated by the model); `stored` is the
    /// object being replaced, if any.
    static func prepare(_ canonical: JSONValue, stored: JSONValue?, box: SecretBox, now: Date) throws -> JSONValue {
        var c = try StrictJSON.decode(SSLKeyAndCertificate.self, from: canonical)
        if c.key == nil, let stored {
            c.key = try stored["key"]?.string.map { try box.open($0, field: "key") }
            if c.key_passphrase == nil {
                c.key_passphrase = try stored["key_passphrase"]?.string.map {
                    try box.open($0, field: "key_passphrase")
                }
            }
        }
        if c.wantsSelfSigned {
            try makeSelfSigned(&c, now: now)
        }
        let chain = try parseChain(c.certificate.certificate ?? "")
        let leaf = chain[0].x509
        if now > leaf.notValidAfter {
            throw APIError(400, "certificate.certificate: expired on \(format(leaf.notValidAfter)) UTC")
        }
        let params = try keyParams(of: leaf.publicKey)
        for i in chain.indices.dropLast() where chain[i].x509.issuer != chain[i + 1].x509.subject {
            throw APIError(
                400,
                "certificate.certificate: certificate \(i + 2) (\(chain[i + 1].x509.subject)) is not the issuer of "
                    + "certificate \(i + 1) (issued by \(chain[i].x509.issuer)); give the leaf first, then its "
                    + "intermediates in order")
        }
        if c.type != .ca {
            guard let keyPEM = c.key, !keyPEM.isEmpty else { throw APIError(400, "key: required") }
            let key = try loadKey(keyPEM, passphrase: c.key_passphrase)
            do {
                var tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: chain.map { .certificate($0.nio) }, privateKey: .privateKey(key))
                tls.minimumTLSVersion = .tlsv12
                _ = try NIOSSLContext(configuration: tls)
            } catch {
                throw APIError(400, "key: does not match the certificate's public key")
            }
        }
        c.key_params = params
        describe(&c.certificate, leaf: leaf, der: chain[0].der, now: now)
        var out = JSONValue.from(c)
        if let key = c.key { out["key"] = .string(try box.seal(key, field: "key")) }
        if let p = c.key_passphrase { out["key_passphrase"] = .string(try box.seal(p, field: "key_passphrase")) }
        return out
    }

    /// `json` with its sealed fields opened (what an SE receives).
    static func reveal(_ json: JSONValue, box: SecretBox) throws -> JSONValue {
        var out = json
        for field in ["key", "key_passphrase"] {
            if let s = json[field]?.string { out[field] = .string(try box.open(s, field: field)) }
        }
        return out
    }

    /// A desired state with its certificates' keys opened (what goes to the SE).
    static func reveal(_ d: SEDesiredState, box: SecretBox) throws -> SEDesiredState {
        var d = d
        for i in d.virtual_services.indices {
            for j in d.virtual_services[i].ssl_key_and_certificates.indices {
                var c = d.virtual_services[i].ssl_key_and_certificates[j]
                c.key = try c.key.map { try box.open($0, field: "key") }
                c.key_passphrase = try c.key_passphrase.map { try box.open($0, field: "key_passphrase") }
                d.virtual_services[i].ssl_key_and_certificates[j] = c
            }
        }
        return d
    }

    /// A PKI profile's CA certificates must each be one or more parseable PEM certificates.
    static func checkAuthorities(_ profile: PKIProfile) throws {
        for (i, c) in (profile.ca_certs ?? []).enumerated() {
            let field = "ca_certs[\(i)].certificate"
            do {
                guard !(try NIOSSLCertificate.fromPEMBytes(Array((c.certificate ?? "").utf8))).isEmpty else {
                    throw APIError(400, "\(field): no certificate in the PEM text")
                }
            } catch let e as APIError {
                throw e
            } catch {
                throw APIError(400, "\(field): not a PEM certificate (\(error))")
            }
        }
    }

    // MARK: Parts

    private struct ChainEntry {
        var nio: NIOSSLCertificate
        var x509: Certificate
        var der: [UInt8]
    }

    private static func parseChain(_ pem: String) throws -> [ChainEntry] {
        let field = "certificate.certificate"
        if pem.contains("PRIVATE KEY") {
            // It would be stored and returned in clear: a key belongs in `key`, which is sealed.
            throw APIError(400, "\(field): holds a private key; give the key in the key field")
        }
        let nios: [NIOSSLCertificate]
        do {
            nios = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
        } catch {
            throw APIError(400, "\(field): not a PEM certificate (\(error))")
        }
        guard !nios.isEmpty else { throw APIError(400, "\(field): no certificate in the PEM text") }
        var out: [ChainEntry] = []
        for (i, n) in nios.enumerated() {
            do {
                let der = try n.toDERBytes()
                out.append(ChainEntry(nio: n, x509: try Certificate(derEncoded: der), der: der))
            } catch {
                throw APIError(
                    400,
                    "\(field): certificate \(i + 1) cannot be parsed: malformed, or a key other than RSA 2048-4096 "
                        + "or ECDSA (\(error))")
            }
        }
        return out
    }

    /// The key, decrypted with `passphrase` when it is encrypted. BoringSSL is always given a passphrase
    /// callback: without one it would prompt on the daemon's terminal.
    static func loadKey(_ pem: String, passphrase: String?) throws -> NIOSSLPrivateKey {
        let encrypted = pem.contains("ENCRYPTED")
        if encrypted && (passphrase ?? "").isEmpty {
            throw APIError(400, "key_passphrase: required: the key is encrypted")
        }
        do {
            return try NIOSSLPrivateKey(bytes: Array(pem.utf8), format: .pem) { (setter: ([UInt8]) -> Void) in
                setter(Array((passphrase ?? "").utf8))
            }
        } catch {
            if encrypted { throw APIError(400, "key_passphrase: does not decrypt the key") }
            throw APIError(400, "key: not a PEM private key BoringSSL can read (\(error))")
        }
    }

    /// RSA 2048-4096 or ECDSA P-256/P-384, as Avi `key_params`.
    private static func keyParams(of key: Certificate.PublicKey) throws -> SSLKeyAndCertificate.KeyParams {
        if P256.Signing.PublicKey(key) != nil {
            return .init(algorithm: .ec, ec_params: .init(curve: .p256))
        }
        if P384.Signing.PublicKey(key) != nil {
            return .init(algorithm: .ec, ec_params: .init(curve: .p384))
        }
        if let rsa = _RSA.Signing.PublicKey(key) {
            let size: SSLKeyAndCertificate.RSAKeySize? =
                switch rsa.keySizeInBits {
                case 2048: .bits2048
                case 3072: .bits3072
                case 4096: .bits4096
                default: nil
                }
            guard let size else {
                throw APIError(
                    400,
                    "certificate.certificate: an RSA key of \(rsa.keySizeInBits) bits is not accepted "
                        + "(2048, 3072 or 4096)")
            }
            return .init(algorithm: .rsa, rsa_params: .init(key_size: size))
        }
        throw APIError(
            400, "certificate.certificate: the key must be RSA (2048-4096 bits) or ECDSA P-256 or P-384")
    }

    /// A key per `key_params` (default ECDSA P-256) and a certificate signed by it for the subject's
    /// common name and `subject_alt_names` (the common name is always among the SANs).
    private static func makeSelfSigned(_ c: inout SSLKeyAndCertificate, now: Date) throws {
        let subject = c.certificate.subject ?? .init()
        let cn = subject.common_name ?? c.name
        let name = try DistinguishedName {
            CommonName(cn)
            if let o = subject.organization, !o.isEmpty { OrganizationName(o) }
        }
        var sans: [GeneralName] = []
        for s in [cn] + (c.certificate.subject_alt_names ?? []) {
            if let bytes = IPAddress(s)?.bytes {
                sans.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
            } else if !sans.contains(.dnsName(s)) {
                sans.append(.dnsName(s))
            }
        }
        let algorithm = c.key_params?.algorithm ?? .ec
        let privateKey: Certificate.PrivateKey
        let keyPEM: String
        let signature: Certificate.SignatureAlgorithm
        switch algorithm {
        case .ec:
            if c.key_params?.ec_params?.curve == .p384 {
                let k = P384.Signing.PrivateKey()
                (privateKey, keyPEM, signature) = (.init(k), k.pemRepresentation, .ecdsaWithSHA384)
            } else {
                let k = P256.Signing.PrivateKey()
                (privateKey, keyPEM, signature) = (.init(k), k.pemRepresentation, .ecdsaWithSHA256)
            }
        case .rsa:
            let bits = c.key_params?.rsa_params?.key_size?.bits ?? 2048
            let k = try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits))
            (privateKey, keyPEM, signature) = (.init(k), k.pemRepresentation, .sha256WithRSAEncryption)
        }
        let days = Double(c.certificate.days_until_expire ?? 365)
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: algorithm == .rsa))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(sans)
        }
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(days * 86400),
            issuer: name, subject: name, signatureAlgorithm: signature, extensions: extensions,
            issuerPrivateKey: privateKey)
        c.certificate.certificate = try cert.serializeAsPEM().pemString + "\n"
        c.key = keyPEM
        c.key_passphrase = nil
    }

    /// Fills in Avi's read-only certificate fields from the leaf.
    private static func describe(
        _ out: inout SSLKeyAndCertificate.Certificate, leaf: Certificate, der: [UInt8], now: Date
    ) {
        out.subject = description(of: leaf.subject)
        out.issuer = description(of: leaf.issuer)
        out.not_before = format(leaf.notValidBefore)
        out.not_after = format(leaf.notValidAfter)
        out.serial_number = leaf.serialNumber.bytes.map { String(format: "%02x", $0) }.joined()
        out.fingerprint =
            "SHA256 Fingerprint="
            + SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
        out.signature_algorithm = "\(leaf.signatureAlgorithm)"
        out.self_signed = leaf.issuer == leaf.subject && leaf.publicKey.isValidSignature(leaf.signature, for: leaf)
        var sans: [String] = []
        if let names = try? leaf.extensions.subjectAlternativeNames {
            for n in names {
                switch n {
                case .dnsName(let d): sans.append(d)
                case .ipAddress(let ip): if let a = IPAddress(bytes: ip.bytes) { sans.append(a.description) }
                default: break
                }
            }
        }
        out.subjectAltNames = sans
        let left = leaf.notValidAfter.timeIntervalSince(now)
        out.expiry_status =
            left <= 0
            ? "SSL_CERTIFICATE_EXPIRED"
            : left <= expiryWarningDays * 86400 ? "SSL_CERTIFICATE_EXPIRY_WARNING" : "SSL_CERTIFICATE_GOOD"
    }

    private static func description(of name: DistinguishedName) -> SSLKeyAndCertificate.Description {
        var d = SSLKeyAndCertificate.Description()
        for rdn in name {
            for a in rdn {
                let v = "\(a.value)"
                switch a.type {
                case .RDNAttributeType.commonName: d.common_name = v
                case .RDNAttributeType.organizationName: d.organization = v
                case .RDNAttributeType.organizationalUnitName: d.organization_unit = v
                case .RDNAttributeType.localityName: d.locality = v
                case .RDNAttributeType.stateOrProvinceName: d.state = v
                case .RDNAttributeType.countryName: d.country = v
                case .RDNAttributeType.emailAddress: d.email_address = v
                default: break
                }
            }
        }
        d.distinguished_name = "\(name)"
        return d
    }

    /// `YYYY-MM-DD hh:mm:ss` in UTC (Avi's form).
    static func format(_ date: Date) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0,
            c.minute ?? 0, c.second ?? 0)
    }
}
