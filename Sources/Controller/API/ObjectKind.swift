import StarlingModel

/// One API object type: its URL name, whether it is shared by all tenants, and how a write body is
/// decoded strictly and validated (400 naming the field).
struct ObjectKind: Sendable {
    let name: String
    /// Stored in tenant `admin` and visible from every tenant.
    let global: Bool
    /// Decodes strictly, validates, and returns the canonical JSON (explicit nulls dropped).
    let check: @Sendable (JSONValue) throws(ModelError) -> JSONValue

    static func of<T: AviObject>(_: T.Type, global: Bool = false) -> ObjectKind {
        ObjectKind(name: T.objectType, global: global) { (json: JSONValue) throws(ModelError) -> JSONValue in
            let value = try StrictJSON.decode(T.self, from: json)
            try value.validate()
            return JSONValue.from(value)
        }
    }

    /// Every type the REST API serves, by URL name.
    static let all: [String: ObjectKind] = Dictionary(
        uniqueKeysWithValues: [
            of(Tenant.self, global: true), of(Cloud.self, global: true), of(VrfContext.self),
            of(ServiceEngineGroup.self, global: true), of(ServiceEngine.self, global: true), of(HealthMonitor.self),
            of(Pool.self), of(VsVip.self), of(VirtualService.self), of(ApplicationProfile.self),
            of(SSLKeyAndCertificate.self), of(User.self, global: true), of(Role.self),
        ].map { ($0.name, $0) })
}
