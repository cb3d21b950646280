/// Avi `role`: privileges per resource (default `System-Admin`: write access to everything).
public struct Role: AviObject {
    public static let objectType = "role"
    /// Avi `Permission`.
    public struct Permission: Codable, Sendable, Hashable {
        /// `PERMISSION_VIRTUALSERVICE`, `PERMISSION_POOL`, ...
        public var resource: String
        public var type: Access

        public init(resource: String, type: Access) {
            self.resource = resource
            self.type = type
        }
    }
    /// Avi `PermissionType`.
    public enum Access: String, AviEnum {
        case noAccess = "NO_ACCESS"
        case readAccess = "READ_ACCESS"
        case writeAccess = "WRITE_ACCESS"
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var privileges: [Permission]?

    public init(name: String, privileges: [Permission]? = nil, uuid: String? = nil) {
        self.name = name
        self.privileges = privileges
        self.uuid = uuid
    }

    public func validate() throws(ModelError) {
        try validateName()
        for (i, p) in (privileges ?? []).enumerated() where !p.resource.hasPrefix("PERMISSION_") {
            throw ModelError(field: "privileges[\(i)].resource", message: "must be a PERMISSION_* name")
        }
    }
}
