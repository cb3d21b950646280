import StarlingModel

/// The objects a new store starts with (DESIGN §3.1, §3.3): tenant `admin`, cloud `Default-Cloud`,
/// vrfcontexts `global` and `management`, serviceenginegroup `Default-Group` (Avi defaults), the System
/// health monitors and application profiles, the System SSL profiles (``ensureSystemSSLProfiles(_:now:)``), the predefined roles (``PredefinedRoles``) and user `admin`.
enum Defaults {
    /// Creates them in one transaction unless the store was initialized before. Returns whether it did.
    static func bootstrap(
        _ store: any ControllerStore, adminPasswordHash: @escaping @Sendable () -> String, now: Double
    ) async throws -> Bool {
        try await store.write { tx in
            guard try tx.meta("initialized") == nil else { return false }
            // Hashed only on first start (PBKDF2 takes a while; later starts keep the stored hash).
            let adminPasswordHash = adminPasswordHash()
            let scope = Scope()
            func add<T: AviObject>(_ value: T, uuid: String? = nil) throws {
                let kind = ObjectKind.all[T.objectType]!
                let json = try ObjectService.check(kind, JSONValue.from(value))
                _ = try ObjectService.insert(
                    tx, kind, json, uuid: uuid ?? "\(T.objectType)-\(Secrets.uuid4())", scope: scope,
                    passwordHash: T.self == User.self ? adminPasswordHash : nil, now: now)
            }
            try add(Tenant(name: "admin", local: true, description: "The default tenant"), uuid: "admin")
            try add(Cloud(name: "Default-Cloud"))
            let cloud = "/api/cloud/?name=Default-Cloud"
            var global = VrfContext(name: SystemDefaults.globalVrf, system_default: true)
            global.cloud_ref = cloud
            try add(global)
            var mgmt = VrfContext(name: "management", system_default: true)
            mgmt.cloud_ref = cloud
            try add(mgmt)
            // Avi's defaults, except buffer_se 0: Starling cannot start SEs, and with the placement engine's
            // N+M rule (buffer_se × max_vs_per_se free slots kept) a buffer of 1 would keep a one-SE
            // deployment from placing anything. Groups created through the API keep Avi's default of 1.
            var group = ServiceEngineGroup.defaults
            group.buffer_se = 0
            group.cloud_ref = cloud
            try add(group)
            for hm in SystemDefaults.healthMonitors { try add(hm) }
            for ap in SystemDefaults.applicationProfiles { try add(ap) }
            try ensurePredefinedRoles(tx, now: now)
            var admin = User(
                name: "admin", username: "admin",
                access: [
                    .init(role_ref: "/api/role/?name=System-Admin", tenant_ref: "/api/tenant/admin", all_tenants: true)
                ])
            admin.is_superuser = true
            try add(admin)
            try tx.setMeta("initialized", "1")
            return true
        }
    }

    /// Creates the predefined roles that are missing and puts back the privileges of any that differ
    /// (a store from an older version gains the roles added since). Run at every start.
    static func ensurePredefinedRoles(_ store: any ControllerStore, now: Double) async throws {
        try await store.write { tx in try ensurePredefinedRoles(tx, now: now) }
    }

    /// Creates the system SSL profiles a store from an older version lacks (they are not overwritten:
    /// an administrator may have tuned them).
    static func ensureSystemSSLProfiles(_ store: any ControllerStore, now: Double) async throws {
        try await store.write { tx in
            let kind = ObjectKind.all[SSLProfile.objectType]!
            for p in SystemDefaults.sslProfiles
            where try tx.object(type: kind.name, tenant: ObjectService.admin, name: p.name) == nil {
                _ = try ObjectService.insert(
                    tx, kind, try ObjectService.check(kind, JSONValue.from(p)),
                    uuid: "\(kind.name)-\(Secrets.uuid4())", scope: Scope(), passwordHash: nil, now: now)
            }
        }
    }

    static func ensurePredefinedRoles(_ tx: any StoreWriter, now: Double) throws {
        let kind = ObjectKind.all[Role.objectType]!
        for role in PredefinedRoles.roles {
            let json = try ObjectService.check(kind, JSONValue.from(role))
            if let existing = try tx.object(type: Role.objectType, tenant: ObjectService.admin, name: role.name) {
                if existing.json["privileges"] != json["privileges"] {
                    _ = try ObjectService.update(
                        tx, kind, existing, json, scope: Scope(), passwordHash: nil, now: now)
                }
            } else {
                _ = try ObjectService.insert(
                    tx, kind, json, uuid: "role-\(Secrets.uuid4())", scope: Scope(), passwordHash: nil, now: now)
            }
        }
    }
}
