/// Avi `serviceengine`: a registered SE. Created only by registration (`POST /api/se-agent/register`);
/// the API may change `se_group_ref` (and `name`, `description`); the rest is read-only.
public struct ServiceEngine: AviObject {
    public static let objectType = "serviceengine"
    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    /// The group whose policy places virtual services on it (default `Default-Group`).
    public var se_group_ref: String?
    public var cloud_ref: String?
    /// Read-only: the SE's data address (its source toward routers and servers, and the BGP next hop).
    public var data_address: IpAddr?
    /// Read-only: the SE's management/metrics URL, as it registered it.
    public var mgmt_url: String?
    /// Read-only: worker threads the SE reported.
    public var threads: Int?
    /// Read-only: `OPER_UP` / `OPER_DOWN` with a reason.
    public var oper_status: OperStatus?
    /// Read-only: whether the SE holds a session with the controller (heartbeats arriving).
    public var se_connected: Bool?

    public init(
        name: String, uuid: String? = nil, se_group_ref: String? = nil, data_address: IpAddr? = nil,
        mgmt_url: String? = nil, threads: Int? = nil
    ) {
        self.name = name
        self.uuid = uuid
        self.se_group_ref = se_group_ref
        self.data_address = data_address
        self.mgmt_url = mgmt_url
        self.threads = threads
    }

    public func validate() throws(ModelError) {
        try validateName()
        try Check.ref(se_group_ref, "serviceenginegroup", "se_group_ref")
        try Check.ref(cloud_ref, "cloud", "cloud_ref")
        try data_address?.validate(field: "data_address")
    }
}

/// Avi `OperationalStatus`: `{"state": "OPER_UP", "reason": ["..."]}` (Starling: one reason string).
public struct OperStatus: Codable, Sendable, Hashable {
    /// `OPER_UP`, `OPER_DOWN`, `OPER_INITIALIZING`, ...
    public var state: String
    public var reason: String?
    /// When the state last changed, microseconds since the epoch as a string.
    public var last_changed_time: String?

    public init(state: String, reason: String? = nil, last_changed_time: String? = nil) {
        self.state = state
        self.reason = reason
        self.last_changed_time = last_changed_time
    }
}
