import StarlingModel

/// One API object type and everything the API does differently per type, as data: its URL name, where its
/// objects live and who sees them, the privilege that guards it, whether the API may create it, whether a
/// write changes placement, and how a write body is decoded strictly and validated (400 naming the field).
struct ObjectKind: Sendable {
    /// Where a type's objects live and which tenants see them.
    enum Sharing: Sendable {
        /// Stored in tenant `admin`, one namespace for the whole system (tenants, clouds, SE groups, SEs,
        /// users, roles); read from any tenant with the read privilege.
        case system
        /// Stored per tenant; objects of tenant `admin` are also seen (read, referenced) from every other
        /// tenant: the `System-*` profiles and monitors and the `global` VRF, as in Avi.
        case tenantSharedFromAdmin
        /// Stored per tenant and seen only from that tenant.
        case tenant
    }

    let name: String
    let sharing: Sharing
    /// The role privilege that guards it (`PERMISSION_POOL`).
    let permission: String
    /// Writes need the `System-Admin` role, whatever a custom role says (users, roles, tenants, clouds,
    /// SE groups): no role short of it can hand out access.
    let systemAdminOnly: Bool
    /// `POST /api/<type>` creates one (serviceengine objects come from SE registration instead).
    let creatable: Bool
    /// A write changes what the reconciler places or pushes to SEs.
    let affectsPlacement: Bool
    /// Fields a write may set and a read never returns (a certificate's private key and passphrase;
    /// user passwords are not stored in the object at all).
    let writeOnly: [String]
    /// Fields a PUT or PATCH may change; nil for all (an SE's other fields come from its registration and
    /// heartbeats).
    var writableFields: Set<String>? = nil
    /// A login account: the body's `password` is hashed into the `users` table and never stored in the object;
    /// a user cannot delete itself.
    var account = false
    /// What the store keeps beside an object of this type, deleted with it.
    var cascade: [DependentRecords] = []
    /// Objects of this type the API keeps as they are.
    var protection: Protection = .none
    /// A check of the canonical body beyond the model's own (what a custom role may grant).
    var rule: (@Sendable (JSONValue) throws(APIError) -> Void)? = nil
    /// How a checked body becomes what is stored.
    var storedForm: StoredForm = .canonical
    /// Decodes strictly, validates, and returns the canonical JSON (explicit nulls dropped).
    let check: @Sendable (JSONValue) throws(ModelError) -> JSONValue

    /// A table column holding the uuid of an object whose rows go with it.
    /// Objects the API does not let go.
    enum Protection: Sendable, Equatable {
        case none
        /// These names (the predefined roles) cannot be changed or deleted.
        case predefined(Set<String>)
        /// The tenant `admin` is neither renamed nor deleted, and a tenant that still holds objects is not
        /// deleted.
        case tenants
    }

    /// The stored form of a checked body.
    enum StoredForm: Sendable {
        case canonical
        /// Checked against its key, described, its secrets sealed (``CertificateImport/prepare``).
        case certificate
        /// Its CA certificates parsed (``CertificateImport/checkAuthorities(_:)``).
        case pkiProfile
    }

    /// Stored in tenant `admin` and visible from every tenant.
    var global: Bool { sharing == .system }

    /// `json` without the write-only fields (what a read returns).
    func hidingWriteOnly(_ json: JSONValue) -> JSONValue {
        guard !writeOnly.isEmpty, case .object(var m) = json else { return json }
        for k in writeOnly { m[k] = nil }
        return .object(m)
    }

    static func of<T: AviObject>(
        _: T.Type, _ sharing: Sharing, systemAdminOnly: Bool = false, creatable: Bool = true,
        affectsPlacement: Bool = true, writeOnly: [String] = [], configure: (inout ObjectKind) -> Void = { _ in }
    ) -> ObjectKind {
        var kind = ObjectKind(
            name: T.objectType, sharing: sharing, permission: "PERMISSION_" + T.objectType.uppercased(),
            systemAdminOnly: systemAdminOnly, creatable: creatable, affectsPlacement: affectsPlacement,
            writeOnly: writeOnly
        ) { (json: JSONValue) throws(ModelError) -> JSONValue in
            let value = try StrictJSON.decode(T.self, from: json)
            try value.validate()
            return JSONValue.from(value)
        }
        configure(&kind)
        return kind
    }

    /// Every type the REST API serves, by URL name.
    static let all: [String: ObjectKind] = Dictionary(
        uniqueKeysWithValues: [
            of(Tenant.self, .system, systemAdminOnly: true, affectsPlacement: false) { $0.protection = .tenants },
            of(Cloud.self, .system, systemAdminOnly: true, affectsPlacement: false),
            of(VrfContext.self, .tenantSharedFromAdmin),
            of(ServiceEngineGroup.self, .system, systemAdminOnly: true),
            of(ServiceEngine.self, .system, creatable: false) {
                $0.writableFields = ["name", "description", "se_group_ref"]
                $0.cascade = [.seSecret, .seDesiredState]
            },
            of(HealthMonitor.self, .tenantSharedFromAdmin),
            of(Pool.self, .tenant), of(VsVip.self, .tenant),
            of(VirtualService.self, .tenant) { $0.cascade = [.vsScale] },
            of(ApplicationProfile.self, .tenantSharedFromAdmin),
            of(SSLKeyAndCertificate.self, .tenant, writeOnly: ["key", "key_passphrase"]) {
                $0.storedForm = .certificate
            },
            of(SSLProfile.self, .tenantSharedFromAdmin),
            of(PKIProfile.self, .tenantSharedFromAdmin) { $0.storedForm = .pkiProfile },
            of(User.self, .system, systemAdminOnly: true, affectsPlacement: false) {
                $0.account = true
                $0.cascade = [.userCredentials, .userSessions]
            },
            of(Role.self, .system, systemAdminOnly: true, affectsPlacement: false) {
                $0.protection = .predefined(Set(PredefinedRoles.privileges.keys))
                $0.rule = PredefinedRoles.checkCustomRole
            },
        ].map { ($0.name, $0) })

    static subscript(_ type: String) -> ObjectKind? { all[type] }
}
