/// Avi `user`: an API user. `password` is write-only: the controller stores a salted hash and never
/// returns it.
public struct User: AviObject {
    public static let objectType = "user"
    /// Avi `UserRole`: a role in a tenant.
    public struct Access: Codable, Sendable, Hashable {
        public var role_ref: String?
        public var tenant_ref: String?
        public var all_tenants: Bool?

        public init(role_ref: String? = nil, tenant_ref: String? = nil, all_tenants: Bool? = nil) {
            self.role_ref = role_ref
            self.tenant_ref = tenant_ref
            self.all_tenants = all_tenants
        }
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    /// The login name (defaults to `name`).
    public var username: String?
    /// Write-only.
    public var password: String?
    public var access: [Access]?
    /// The tenant a request works in when it names none (`X-Avi-Tenant`); defaults to the first the user
    /// has access to.
    public var default_tenant_ref: String?
    public var full_name: String?
    public var email: String?
    public var is_superuser: Bool?

    public init(name: String, username: String? = nil, password: String? = nil, access: [Access]? = nil) {
        self.name = name
        self.username = username
        self.password = password
        self.access = access
    }

    /// The name used to log in.
    public var loginName: String { username ?? name }

    public func validate() throws(ModelError) {
        try validateName()
        if let u = username, u.isEmpty { throw ModelError(field: "username", message: "must not be empty") }
        if let p = password, p.count < 8 {
            throw ModelError(field: "password", message: "must be at least 8 characters")
        }
        for (i, a) in (access ?? []).enumerated() {
            guard a.role_ref != nil else { throw ModelError(field: "access[\(i)].role_ref", message: "required") }
            try Check.ref(a.role_ref, "role", "access[\(i)].role_ref")
            try Check.ref(a.tenant_ref, "tenant", "access[\(i)].tenant_ref")
            guard a.tenant_ref != nil || a.all_tenants == true else {
                throw ModelError(field: "access[\(i)].tenant_ref", message: "required unless all_tenants is true")
            }
        }
        try Check.ref(default_tenant_ref, "tenant", "default_tenant_ref")
    }
}
