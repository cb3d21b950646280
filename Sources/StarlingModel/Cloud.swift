/// Avi `cloud` (default `Default-Cloud`): where SEs live. Starling SEs register themselves, so a cloud
/// is the `CLOUD_NONE` kind ("no orchestrator").
public struct Cloud: AviObject {
    public static let objectType = "cloud"
    /// Avi `vtype`. Only `CLOUD_NONE` is meaningful for Starling.
    public enum VType: String, AviEnum {
        case cloudNone = "CLOUD_NONE"
    }
    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var vtype: VType?

    public init(name: String, uuid: String? = nil, vtype: VType? = .cloudNone) {
        self.name = name
        self.uuid = uuid
        self.vtype = vtype
    }

    public func validate() throws(ModelError) { try validateName() }
}
