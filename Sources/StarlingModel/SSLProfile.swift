/// Avi `sslprofile`: the TLS versions and ciphers a virtual service (or a pool, towards its servers)
/// accepts. System profiles: `System-Standard` (TLS 1.2 and 1.3, AEAD ciphers) and
/// `System-Standard-PFS` (the same, forward-secret key exchange only).
public struct SSLProfile: AviObject {
    public static let objectType = "sslprofile"

    /// Avi `SSLVersionType`.
    public enum VersionType: String, AviEnum, Comparable {
        case sslv3 = "SSL_VERSION_SSLV3"
        case tls1 = "SSL_VERSION_TLS1"
        case tls1_1 = "SSL_VERSION_TLS1_1"
        case tls1_2 = "SSL_VERSION_TLS1_2"
        case tls1_3 = "SSL_VERSION_TLS1_3"

        var order: Int { Self.allCases.firstIndex(of: self)! }
        public static func < (a: Self, b: Self) -> Bool { a.order < b.order }
    }
    /// Avi `SSLVersion`.
    public struct Version: Codable, Sendable, Hashable {
        public var type: VersionType
        public init(type: VersionType) { self.type = type }
    }
    /// Avi `SSLProfileType`.
    public enum ProfileType: String, AviEnum {
        case application = "SSL_PROFILE_TYPE_APPLICATION"
        case system = "SSL_PROFILE_TYPE_SYSTEM"
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    /// The versions accepted; they must form a contiguous range (TLS 1.2 and 1.3, not 1.0 and 1.2).
    public var accepted_versions: [Version]
    /// Colon-separated OpenSSL cipher names for TLS 1.2 and older (`ECDHE-ECDSA-AES128-GCM-SHA256:...`;
    /// names only, no keywords). TLS 1.3 always
    /// offers its three AEAD suites (BoringSSL does not make them configurable).
    public var accepted_ciphers: String?
    /// The same as IANA names (`TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`); when set, it replaces
    /// `accepted_ciphers`.
    public var cipher_enums: [String]?
    /// Resume sessions (tickets); default true.
    public var enable_ssl_session_reuse: Bool?
    /// Seconds a session may be resumed; default 86400.
    public var ssl_session_timeout: Int?
    /// Prefer the client's cipher order; default false (the server's order).
    public var prefer_client_cipher_ordering: Bool?
    /// Send close_notify on close; default true.
    public var send_close_notify: Bool?
    public var type: ProfileType?

    public init(
        name: String, accepted_versions: [VersionType], accepted_ciphers: String? = nil, uuid: String? = nil
    ) {
        self.name = name
        self.accepted_versions = accepted_versions.map(Version.init(type:))
        self.accepted_ciphers = accepted_ciphers
        self.uuid = uuid
    }

    /// The lowest and highest accepted version.
    public var versionRange: ClosedRange<VersionType> {
        let sorted = accepted_versions.map(\.type).sorted()
        return (sorted.first ?? .tls1_2)...(sorted.last ?? .tls1_3)
    }

    /// The OpenSSL cipher string the SE configures: `cipher_enums` mapped, else `accepted_ciphers`, else
    /// the `System-Standard` list.
    public var cipherString: String {
        if let enums = cipher_enums, !enums.isEmpty {
            return enums.compactMap { Self.ianaToOpenSSL[$0] }.joined(separator: ":")
        }
        return accepted_ciphers ?? SystemDefaults.standardCiphers
    }

    public func validate() throws(ModelError) {
        try validateName()
        guard !accepted_versions.isEmpty else {
            throw ModelError(field: "accepted_versions", message: "must name at least one version")
        }
        let types = Set(accepted_versions.map(\.type))
        if types.contains(.sslv3) {
            throw ModelError(field: "accepted_versions", message: "SSL_VERSION_SSLV3 is not supported (RFC 7568)")
        }
        let range = versionRange
        let expected = VersionType.allCases.filter { range.contains($0) }
        guard Set(expected) == types else {
            throw ModelError(
                field: "accepted_versions",
                message: "must be a contiguous range of versions (\(range.lowerBound.rawValue) to "
                    + "\(range.upperBound.rawValue) leaves out "
                    + expected.filter { !types.contains($0) }.map(\.rawValue).joined(separator: ", ") + ")")
        }
        for (i, e) in (cipher_enums ?? []).enumerated() where Self.ianaToOpenSSL[e] == nil {
            throw ModelError(
                field: "cipher_enums[\(i)]",
                message: "unknown cipher \"\(e)\"; expected one of "
                    + Self.ianaToOpenSSL.keys.sorted().joined(separator: ", "))
        }
        if let c = accepted_ciphers {
            // Names only (no OpenSSL keywords such as HIGH or !aNULL): what is accepted is then exactly
            // what is listed, and BoringSSL is never handed a list it refuses (NIOSSL traps on one).
            let names = c.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            for (i, n) in names.enumerated() where !Self.openSSLNames.contains(n) {
                throw ModelError(
                    field: "accepted_ciphers",
                    message: "cipher \(i + 1) \"\(n)\" is not one of "
                        + Self.openSSLNames.sorted().joined(separator: ", "))
            }
        }
        try Check.range(ssl_session_timeout, 1...604_800, "ssl_session_timeout")
    }

    /// The OpenSSL names `accepted_ciphers` may list.
    public static let openSSLNames = Set(ianaToOpenSSL.values)

    /// Whether every name of a colon-separated list is one of ``openSSLNames``.
    public static func isValidCipherList(_ list: String) -> Bool {
        !list.isEmpty
            && list.split(separator: ":", omittingEmptySubsequences: false).allSatisfy {
                openSSLNames.contains(String($0))
            }
    }

    /// The TLS 1.2 cipher suites BoringSSL offers, by IANA name.
    public static let ianaToOpenSSL: [String: String] = [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
        "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
        "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
        "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
        "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    ]
}
