/// Avi `tenant`: a namespace for objects (default `admin`).
public struct Tenant: AviObject {
    public static let objectType = "tenant"
    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    /// Avi `local`: the tenant has its own SEs (informational here).
    public var local: Bool?

    public init(name: String, uuid: String? = nil, local: Bool? = nil, description: String? = nil) {
        self.name = name
        self.uuid = uuid
        self.local = local
        self.description = description
    }

    public func validate() throws(ModelError) { try validateName() }
}
