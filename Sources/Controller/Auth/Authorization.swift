import StarlingModel

/// Who may do what, as pure values: the predefined roles, a user's resolved access (``Principal``) and the
/// decision for one request (``Principal/authorize(_:_:in:)``). The responder loads the principal from the
/// store once per request and asks it before every read or write; nothing here touches the store.
///
/// The rules (Avi's, with one tightening):
/// - A user works in one tenant per request: `X-Avi-Tenant` / `X-Avi-Tenant-UUID`, else the user's
///   `default_tenant_ref`, else the first tenant it has access to. A tenant it has no `access` entry for
///   (and no `all_tenants` entry) is 403.
/// - In that tenant, the roles of the entries that cover it give, per resource (`PERMISSION_POOL`), the
///   highest of `NO_ACCESS` < `READ_ACCESS` < `WRITE_ACCESS`. Reading needs read, writing needs write.
/// - Types stored system-wide (SEs) are written with the privilege held in tenant `admin` (or all tenants).
/// - Users, roles, tenants, clouds and SE groups are written only by a `System-Admin` (the role in tenant
///   `admin` or all tenants, or `is_superuser`): a custom role cannot hand out access.
/// - A user with no access entry can only log in, log out and read or change its own account.
struct Principal: Sendable, Hashable {
    /// One access entry, resolved: the tenant it covers (nil: all tenants) and its role's privileges.
    struct Grant: Sendable, Hashable {
        var tenant: String?
        var role: String
        var privileges: [String: Role.Access]
    }

    var userUUID: String
    var username: String
    var superuser: Bool
    var grants: [Grant]
    /// `default_tenant_ref`'s tenant uuid.
    var defaultTenant: String?

    /// Whether any entry covers `tenant`.
    func hasAccess(to tenant: String) -> Bool {
        superuser || grants.contains { $0.tenant == nil || $0.tenant == tenant }
    }

    /// Whether the user's access spans every tenant (superuser or an `all_tenants` entry).
    var allTenants: Bool { superuser || grants.contains { $0.tenant == nil } }

    /// The tenants named by its entries.
    var namedTenants: Set<String> { Set(grants.compactMap(\.tenant)) }

    /// `System-Admin` in tenant `admin` or in all tenants, or `is_superuser`.
    var isSystemAdmin: Bool {
        superuser
            || grants.contains {
                $0.role == PredefinedRoles.systemAdmin && ($0.tenant == nil || $0.tenant == ObjectService.admin)
            }
    }

    /// The tenant a request works in when it names none: the default tenant, else `admin`, else the first
    /// named tenant; nil for a user without any access.
    var homeTenant: String? {
        if let t = defaultTenant, hasAccess(to: t) { return t }
        if hasAccess(to: ObjectService.admin) { return ObjectService.admin }
        return grants.compactMap(\.tenant).sorted().first
    }

    /// The highest privilege on `resource` that the entries covering `tenant` give.
    func level(_ resource: String, in tenant: String) -> Role.Access {
        if superuser { return .writeAccess }
        var best = Role.Access.noAccess
        for g in grants where g.tenant == nil || g.tenant == tenant {
            best = max(best, g.privileges[resource] ?? .noAccess)
        }
        return best
    }

    enum Operation: Sendable {
        case read
        case write

        var needs: Role.Access { self == .read ? .readAccess : .writeAccess }
    }

    /// 403 unless the principal may `operation` objects of `kind` in `tenant`; the message says which rule.
    func authorize(_ operation: Operation, _ kind: ObjectKind, in tenant: String) throws(APIError) {
        if superuser { return }
        guard hasAccess(to: tenant) else {
            throw APIError(403, "user \(username) has no access to tenant \(tenant)")
        }
        if operation == .write, kind.systemAdminOnly {
            guard isSystemAdmin else {
                throw APIError(403, "only a System-Admin may change \(kind.name) objects")
            }
            return
        }
        // System-wide objects are changed with the privilege held in tenant admin.
        let where_ = operation == .write && kind.global ? ObjectService.admin : tenant
        let have = level(kind.permission, in: where_)
        guard have >= operation.needs else {
            let verb = operation == .read ? "read" : "change"
            throw APIError(
                403,
                "user \(username) may not \(verb) \(kind.name) objects in tenant \(where_) "
                    + "(\(have.rawValue) on \(kind.permission))")
        }
    }
}

/// The roles every store has (Avi's predefined roles, over the object types Starling serves). They
/// cannot be changed or deleted.
enum PredefinedRoles {
    static let systemAdmin = "System-Admin"
    static let tenantAdmin = "Tenant-Admin"
    static let applicationAdmin = "Application-Admin"
    static let applicationOperator = "Application-Operator"
    static let securityAdmin = "Security-Admin"

    /// A custom role may give at most read access on what only a System-Admin changes (the rule of the `role`
    /// type, run on every write of one).
    @Sendable static func checkCustomRole(_ canonical: JSONValue) throws(APIError) {
        guard case .array(let privileges) = canonical["privileges"] ?? .null else { return }
        for (i, p) in privileges.enumerated() {
            if let r = p["resource"]?.string, systemAdminResources.contains(r),
                p["type"]?.string == Role.Access.writeAccess.rawValue
            {
                throw APIError(
                    400,
                    "privileges[\(i)].type: WRITE_ACCESS on \(r) is reserved to the System-Admin role; "
                        + "a custom role may give READ_ACCESS or NO_ACCESS")
            }
        }
    }

    /// Application objects: virtual services and what they are made of.
    static let application = [
        "PERMISSION_VIRTUALSERVICE", "PERMISSION_POOL", "PERMISSION_HEALTHMONITOR", "PERMISSION_VSVIP",
        "PERMISSION_APPLICATIONPROFILE", "PERMISSION_SSLKEYANDCERTIFICATE", "PERMISSION_SSLPROFILE",
        "PERMISSION_PKIPROFILE",
    ]
    /// Infrastructure a tenant uses but (except its VRFs) does not own.
    static let infrastructure = [
        "PERMISSION_VRFCONTEXT", "PERMISSION_SERVICEENGINE", "PERMISSION_SERVICEENGINEGROUP", "PERMISSION_CLOUD",
        "PERMISSION_TENANT", "PERMISSION_ROLE",
    ]

    /// Each predefined role's privileges; resources not listed are `NO_ACCESS`.
    static let privileges: [String: [String: Role.Access]] = {
        func grant(_ level: Role.Access, _ resources: [String]) -> [String: Role.Access] {
            Dictionary(uniqueKeysWithValues: resources.map { ($0, level) })
        }
        let readInfrastructure = grant(.readAccess, infrastructure)
        return [
            systemAdmin: grant(.writeAccess, Role.resources.sorted()),
            tenantAdmin: readInfrastructure.merging(grant(.writeAccess, application + ["PERMISSION_VRFCONTEXT"])) {
                $1
            },
            applicationAdmin: readInfrastructure.merging(grant(.writeAccess, application)) { $1 },
            applicationOperator: readInfrastructure.merging(grant(.readAccess, application)) { $1 },
            securityAdmin: readInfrastructure.merging(grant(.readAccess, application)) { $1 }.merging(
                [
                    "PERMISSION_SSLKEYANDCERTIFICATE": .writeAccess, "PERMISSION_SSLPROFILE": .writeAccess,
                    "PERMISSION_PKIPROFILE": .writeAccess,
                ]
            ) { $1 },
        ]
    }()

    static var names: [String] { privileges.keys.sorted() }

    /// The role objects, privileges sorted by resource.
    static var roles: [Role] {
        names.map { name in
            Role(
                name: name,
                privileges: privileges[name]!.sorted { $0.key < $1.key }.map {
                    Role.Permission(resource: $0.key, type: $0.value)
                })
        }
    }

    /// Resources whose writes are reserved to System-Admin; a custom role may grant at most read on them.
    static let systemAdminResources = Set(ObjectKind.all.values.filter(\.systemAdminOnly).map(\.permission))
}
