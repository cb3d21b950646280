/// Avi `pkiprofile`: the certificate authorities a pool's servers' certificates are checked against when
/// the SE re-encrypts to them (`pool.pki_profile_ref`).
public struct PKIProfile: AviObject {
    public static let objectType = "pkiprofile"

    /// Avi `SSLCertificate` as a CA entry: the PEM text.
    public struct CACertificate: Codable, Sendable, Hashable {
        public var certificate: String?
        public init(certificate: String) { self.certificate = certificate }
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    /// Trusted CA certificates (PEM), at least one.
    public var ca_certs: [CACertificate]?
    /// Avi default true. Starling's SEs do not check revocation: a profile with CRL checking on is used
    /// without it, and the SE says so in its notes.
    public var crl_check: Bool?
    /// Avi default false: build the chain from the peer's intermediates too.
    public var ignore_peer_chain: Bool?
    public var validate_only_leaf_crl: Bool?

    public init(name: String, ca_certs: [String], uuid: String? = nil, crl_check: Bool? = nil) {
        self.name = name
        self.ca_certs = ca_certs.map(CACertificate.init(certificate:))
        self.uuid = uuid
        self.crl_check = crl_check
    }

    /// The CA certificates as one PEM text.
    public var trustedPEM: String {
        (ca_certs ?? []).compactMap(\.certificate).joined(separator: "\n")
    }

    public func validate() throws(ModelError) {
        try validateName()
        guard let certs = ca_certs, !certs.isEmpty else {
            throw ModelError(field: "ca_certs", message: "must have at least one CA certificate")
        }
        for (i, c) in certs.enumerated() {
            guard let pem = c.certificate, pem.contains("-----BEGIN CERTIFICATE-----") else {
                throw ModelError(field: "ca_certs[\(i)].certificate", message: "not a PEM certificate")
            }
            if pem.contains("PRIVATE KEY") {
                throw ModelError(field: "ca_certs[\(i)].certificate", message: "holds a private key")
            }
        }
    }
}
