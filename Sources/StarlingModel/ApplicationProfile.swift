/// Avi `applicationprofile` (defaults `System-HTTP`, `System-Secure-HTTP`, `System-L4-Application`):
/// how a virtual service treats its traffic.
public struct ApplicationProfile: AviObject {
    public static let objectType = "applicationprofile"
    /// Avi `type`.
    public enum ProfileType: String, AviEnum {
        /// HTTP proxy (request by request).
        case http = "APPLICATION_PROFILE_TYPE_HTTP"
        /// TCP/UDP proxy.
        case l4 = "APPLICATION_PROFILE_TYPE_L4"
        /// TLS termination, then TCP proxy.
        case ssl = "APPLICATION_PROFILE_TYPE_SSL"
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var type: ProfileType

    public init(name: String, type: ProfileType, uuid: String? = nil) {
        self.name = name
        self.type = type
        self.uuid = uuid
    }

    public func validate() throws(ModelError) { try validateName() }
}
