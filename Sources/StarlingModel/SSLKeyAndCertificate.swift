/// Avi `sslkeyandcertificate`: a PEM certificate (chain) and its private key.
public struct SSLKeyAndCertificate: AviObject {
    public static let objectType = "sslkeyandcertificate"
    /// Avi `SSLCertificate` (only the PEM text is used).
    public struct Certificate: Codable, Sendable, Hashable {
        /// PEM: one or more `-----BEGIN CERTIFICATE-----` blocks, leaf first.
        public var certificate: String
        public init(certificate: String) { self.certificate = certificate }
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
    /// PEM private key.
    public var key: String?
    public var type: CertType?

    public init(name: String, certificate: Certificate, key: String?, uuid: String? = nil) {
        self.name = name
        self.certificate = certificate
        self.key = key
        self.uuid = uuid
    }

    public func validate() throws(ModelError) {
        try validateName()
        guard certificate.certificate.contains("-----BEGIN CERTIFICATE-----"),
            certificate.certificate.contains("-----END CERTIFICATE-----")
        else {
            throw ModelError(field: "certificate.certificate", message: "must be a PEM certificate")
        }
        if type != .ca {
            guard let key, key.contains("-----BEGIN"), key.contains("PRIVATE KEY-----") else {
                throw ModelError(field: "key", message: "must be a PEM private key")
            }
        }
    }
}
