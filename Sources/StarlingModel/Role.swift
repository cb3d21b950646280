/// Avi `role`: privileges per resource. The predefined roles (`System-Admin`, `Tenant-Admin`,
/// `Application-Admin`, `Application-Operator`, `Security-Admin`) exist in every store; a resource a role
/// does not name is `NO_ACCESS`.
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
        var seen = Set<String>()
        for (i, p) in (privileges ?? []).enumerated() {
            guard Self.resources.contains(p.resource) else {
                throw ModelError(
                    field: "privileges[\(i)].resource",
                    message: "unknown resource \"\(p.resource)\"; expected one of "
                        + Self.resources.sorted().joined(separator: ", "))
            }
            guard seen.insert(p.resource).inserted else {
                throw ModelError(field: "privileges[\(i)].resource", message: "\(p.resource) is listed twice")
            }
        }
    }

    /// The resources a privilege may name: one per API object type (`PERMISSION_<TYPE>`).
    public static let resources: Set<String> = [
        "PERMISSION_TENANT", "PERMISSION_CLOUD", "PERMISSION_VRFCONTEXT", "PERMISSION_SERVICEENGINEGROUP",
        "PERMISSION_SERVICEENGINE", "PERMISSION_HEALTHMONITOR", "PERMISSION_POOL", "PERMISSION_VSVIP",
        "PERMISSION_VIRTUALSERVICE", "PERMISSION_APPLICATIONPROFILE", "PERMISSION_SSLKEYANDCERTIFICATE",
        "PERMISSION_SSLPROFILE", "PERMISSION_PKIPROFILE",
        "PERMISSION_USER", "PERMISSION_ROLE",
    ]
}

extension Role.Access: Comparable {
    /// `NO_ACCESS` < `READ_ACCESS` < `WRITE_ACCESS`: a write privilege includes reading.
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }

    var rank: Int {
        switch self {
        case .noAccess: 0
        case .readAccess: 1
        case .writeAccess: 2
        }
    }
}
