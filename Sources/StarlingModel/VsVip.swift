/// Avi `vsvip`: the virtual IP addresses a virtual service listens on.
public struct VsVip: AviObject {
    public static let objectType = "vsvip"
    /// Avi `Vip`.
    public struct Vip: Codable, Sendable, Hashable {
        /// Unique within the vsvip (`"0"`, `"1"`, ...).
        public var vip_id: String
        public var ip_address: IpAddr?
        public var ip6_address: IpAddr?
        /// Avi default true.
        public var enabled: Bool?

        public init(vip_id: String, ip_address: IpAddr? = nil, ip6_address: IpAddr? = nil, enabled: Bool? = nil) {
            self.vip_id = vip_id
            self.ip_address = ip_address
            self.ip6_address = ip6_address
            self.enabled = enabled
        }

        /// The addresses of this VIP (IPv4 and/or IPv6).
        public var addresses: [IpAddr] { [ip_address, ip6_address].compactMap { $0 } }
    }

    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var vip: [Vip]
    public var vrf_context_ref: String?
    public var cloud_ref: String?
    /// Advertise these VIPs only to the `bgp_profile` peers whose `label` is one of these (Avi
    /// `bgp_peer_labels`); every peer when absent or empty.
    public var bgp_peer_labels: [String]?

    public init(name: String, vip: [Vip], uuid: String? = nil, vrf_context_ref: String? = nil) {
        self.name = name
        self.vip = vip
        self.uuid = uuid
        self.vrf_context_ref = vrf_context_ref
    }

    public func validate() throws(ModelError) {
        try validateName()
        guard !vip.isEmpty else { throw ModelError(field: "vip", message: "must have at least one VIP") }
        var ids = Set<String>()
        for (i, v) in vip.enumerated() {
            let f = "vip[\(i)]"
            guard !v.vip_id.isEmpty else { throw ModelError(field: "\(f).vip_id", message: "must not be empty") }
            guard ids.insert(v.vip_id).inserted else {
                throw ModelError(field: "\(f).vip_id", message: "duplicate vip_id \"\(v.vip_id)\"")
            }
            guard v.ip_address != nil || v.ip6_address != nil else {
                throw ModelError(field: "\(f).ip_address", message: "required (or ip6_address)")
            }
            if let a = v.ip_address {
                guard a.type != .dns else {
                    throw ModelError(field: "\(f).ip_address.type", message: "a VIP needs an IP address, not DNS")
                }
                try a.validate(field: "\(f).ip_address")
            }
            if let a = v.ip6_address {
                guard a.type == .v6 else { throw ModelError(field: "\(f).ip6_address.type", message: "must be V6") }
                try a.validate(field: "\(f).ip6_address")
            }
        }
        try Check.ref(vrf_context_ref, "vrfcontext", "vrf_context_ref")
        try Check.ref(cloud_ref, "cloud", "cloud_ref")
        for (i, label) in (bgp_peer_labels ?? []).enumerated() where label.isEmpty || label.count > 128 {
            throw ModelError(field: "bgp_peer_labels[\(i)]", message: "must be 1 to 128 characters")
        }
    }
}
