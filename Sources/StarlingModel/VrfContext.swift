/// Avi `vrfcontext` (defaults `global`, `management`): a routing context; `global` carries the
/// `bgp_profile` SEs use to advertise VIPs.
public struct VrfContext: AviObject {
    public static let objectType = "vrfcontext"
    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var bgp_profile: BgpProfile?
    /// The BFD timers of the `bgp_profile` peers with `bfd` on.
    public var bfd_profile: BfdProfile?
    public var cloud_ref: String?
    /// Avi `system_default`: created by the system.
    public var system_default: Bool?

    public init(name: String, uuid: String? = nil, bgp_profile: BgpProfile? = nil, system_default: Bool? = nil) {
        self.name = name
        self.uuid = uuid
        self.bgp_profile = bgp_profile
        self.system_default = system_default
    }

    public func validate() throws(ModelError) {
        try validateName()
        try bgp_profile?.validate()
        try bfd_profile?.validate()
        try Check.ref(cloud_ref, "cloud", "cloud_ref")
    }
}
