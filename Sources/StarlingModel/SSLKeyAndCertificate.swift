/// Avi `sslkeyandcertificate`: a PEM certificate (leaf first, then intermediates) and its private key,
/// or a request for a self-signed one (`certificate.self_signed` with a `subject` and no PEM).
///
/// The controller fills in the certificate's details on every write (subject, issuer, validity, SANs,
/// fingerprint, key parameters), never returns `key` or `key_passphrase`, and stores the key encrypted
/// (Sources/Controller/TLS). SEs receive the object with the key in clear over the agent channel.
public struct SSLKeyAndCertificate: AviObject {
    public static let objectType = "sslkeyandcertificate"

    /// Avi `SSLCertificateDescription`: the parts of a distinguished name.
    public struct Description: Codable, Sendable, Hashable {
        public var common_name: String?
        public var organization: String?
        public var organization_unit: String?
        public var locality: String?
        public var state: String?
        public var country: String?
        public var email_address: String?
        /// The whole name as text (`CN=www.example.com,O=Example`); filled in by the controller.
        public var distinguished_name: String?

        public init(common_name: String? = nil, organization: String? = nil) {
            self.common_name = common_name
            self.organization = organization
        }
    }

    /// Avi `SSLCertificate`.
    public struct Certificate: Codable, Sendable, Hashable {
        /// PEM: one or more `-----BEGIN CERTIFICATE-----` blocks, leaf first. Absent when asking for a
        /// self-signed certificate.
        public var certificate: String?
        /// Ask the controller to create a self-signed certificate (and a key per `key_params`) for
        /// `subject` and `subject_alt_names`; after creation: whether the certificate is self-signed.
        public var self_signed: Bool?
        public var subject: Description?
        /// DNS names (and IP addresses) for a self-signed certificate.
        public var subject_alt_names: [String]?
        /// Days a self-signed certificate is valid (default 365).
        public var days_until_expire: Int?

        // Filled in by the controller.
        public var issuer: Description?
        /// `YYYY-MM-DD hh:mm:ss` UTC.
        public var not_before: String?
        public var not_after: String?
        /// Hexadecimal.
        public var serial_number: String?
        /// `SHA256 Fingerprint=AB:CD:...` of the DER certificate.
        public var fingerprint: String?
        /// The DNS names and IP addresses of the subjectAltName extension.
        public var subjectAltNames: [String]?
        public var signature_algorithm: String?
        /// `SSL_CERTIFICATE_GOOD`, `SSL_CERTIFICATE_EXPIRY_WARNING` (30 days or less left),
        /// `SSL_CERTIFICATE_EXPIRED`.
        public var expiry_status: String?

        public init(certificate: String? = nil, self_signed: Bool? = nil, subject: Description? = nil) {
            self.certificate = certificate
            self.self_signed = self_signed
            self.subject = subject
        }
    }

    /// Avi `SSLKeyAlgorithm`.
    public enum KeyAlgorithm: String, AviEnum {
        case rsa = "SSL_KEY_ALGORITHM_RSA"
        case ec = "SSL_KEY_ALGORITHM_EC"
    }
    /// Avi `SSLKeyRSAKeySize` (Starling accepts 2048-4096 bits).
    public enum RSAKeySize: String, AviEnum {
        case bits2048 = "SSL_KEY_2048_BITS"
        case bits3072 = "SSL_KEY_3072_BITS"
        case bits4096 = "SSL_KEY_4096_BITS"

        public var bits: Int {
            switch self {
            case .bits2048: 2048
            case .bits3072: 3072
            case .bits4096: 4096
            }
        }
    }
    /// Avi `SSLKeyECCurve` (Starling accepts P-256 and P-384).
    public enum ECCurve: String, AviEnum {
        case p256 = "SSL_KEY_EC_CURVE_SECP256R1"
        case p384 = "SSL_KEY_EC_CURVE_SECP384R1"
    }
    /// Avi `SSLKeyParams`: the key's algorithm and size; chooses the key of a self-signed certificate
    /// and is filled in from the certificate otherwise.
    public struct KeyParams: Codable, Sendable, Hashable {
        public struct RSAParams: Codable, Sendable, Hashable {
            public var key_size: RSAKeySize?
            public init(key_size: RSAKeySize? = nil) { self.key_size = key_size }
        }
        public struct ECParams: Codable, Sendable, Hashable {
            public var curve: ECCurve?
            public init(curve: ECCurve? = nil) { self.curve = curve }
        }
        public var algorithm: KeyAlgorithm
        public var rsa_params: RSAParams?
        public var ec_params: ECParams?

        public init(algorithm: KeyAlgorithm, rsa_params: RSAParams? = nil, ec_params: ECParams? = nil) {
            self.algorithm = algorithm
            self.rsa_params = rsa_params
            self.ec_params = ec_params
        }
    }

    /// Avi `type`.
    public enum CertType: String, AviEnum {
        case virtualService = "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE"
        case system = "SSL_CERTIFICATE_TYPE_SYSTEM"
        case ca = "SSL_CERTIFICATE_TYPE_CA"
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var certificate: Certificate
    /// PEM private key (PKCS#8, PKCS#1 or SEC1; encrypted PEM with `key_passphrase`). Write-only.
    public var key: String?
    /// Passphrase of an encrypted `key`. Write-only.
    public var key_passphrase: String?
    public var key_params: KeyParams?
    public var type: CertType?
    /// Avi `format` (only `SSL_PEM`).
    public var format: String?
    /// The CA certificates (objects of type `SSL_CERTIFICATE_TYPE_CA`) sent after this certificate in the
    /// handshake, in order: its issuing intermediate first.
    public var ca_certs: [CertificateAuthority]?

    /// Avi `CertificateAuthority`.
    public struct CertificateAuthority: Codable, Sendable, Hashable {
        public var name: String?
        public var ca_ref: String?
        public init(ca_ref: String, name: String? = nil) {
            self.ca_ref = ca_ref
            self.name = name
        }
    }

    public init(name: String, certificate: Certificate, key: String?, uuid: String? = nil) {
        self.name = name
        self.certificate = certificate
        self.key = key
        self.uuid = uuid
    }

    /// Whether this object asks for a self-signed certificate to be made (no PEM given).
    public var wantsSelfSigned: Bool {
        certificate.self_signed == true && (certificate.certificate ?? "").isEmpty
    }

    public func validate() throws(ModelError) {
        try validateName()
        for (i, ca) in (ca_certs ?? []).enumerated() {
            guard let ref = ca.ca_ref else { throw ModelError(field: "ca_certs[\(i)].ca_ref", message: "required") }
            try Check.ref(ref, Self.objectType, "ca_certs[\(i)].ca_ref")
        }
        if let format, format != "SSL_PEM" {
            throw ModelError(field: "format", message: "only SSL_PEM is supported")
        }
        if wantsSelfSigned {
            guard let cn = certificate.subject?.common_name, !cn.isEmpty else {
                throw ModelError(
                    field: "certificate.subject.common_name", message: "required to create a self-signed certificate")
            }
            guard key == nil else {
                throw ModelError(field: "key", message: "must be absent when asking for a self-signed certificate")
            }
            try Check.range(certificate.days_until_expire, 1...3650, "certificate.days_until_expire")
            return
        }
        guard let pem = certificate.certificate, pem.contains("-----BEGIN CERTIFICATE-----"),
            pem.contains("-----END CERTIFICATE-----")
        else {
            throw ModelError(field: "certificate.certificate", message: "must be a PEM certificate")
        }
        // An update may leave the key out (GET never returns it): the controller keeps the stored one.
        if let key, type != .ca {
            guard key.contains("-----BEGIN"), key.contains("PRIVATE KEY-----") else {
                throw ModelError(field: "key", message: "must be a PEM private key")
            }
        }
    }
}
