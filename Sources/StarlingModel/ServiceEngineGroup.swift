/// Avi `serviceenginegroup` (default `Default-Group`): placement policy for its SEs (DESIGN §3.3).
/// Absent fields take Avi's defaults (``defaults``).
public struct ServiceEngineGroup: AviObject {
    public static let objectType = "serviceenginegroup"
    /// Avi `ha_mode`.
    public enum HAMode: String, AviEnum {
        case sharedPair = "HA_MODE_SHARED_PAIR"
        case shared = "HA_MODE_SHARED"
    }
    /// Avi `algo`.
    public enum Algo: String, AviEnum {
        case packed = "PLACEMENT_ALGO_PACKED"
        case distributed = "PLACEMENT_ALGO_DISTRIBUTED"
    }
    public var uuid: String?
    public var name: String
    public var url: String?
    public var tenant_ref: String?
    public var _last_modified: String?
    public var description: String?
    public var ha_mode: HAMode?
    public var buffer_se: Int?
    public var min_scaleout_per_vs: Int?
    public var max_scaleout_per_vs: Int?
    public var max_se: Int?
    public var max_vs_per_se: Int?
    public var algo: Algo?
    public var cloud_ref: String?

    public init(
        name: String, uuid: String? = nil, ha_mode: HAMode? = nil, buffer_se: Int? = nil,
        min_scaleout_per_vs: Int? = nil, max_scaleout_per_vs: Int? = nil, max_se: Int? = nil,
        max_vs_per_se: Int? = nil, algo: Algo? = nil, cloud_ref: String? = nil
    ) {
        self.name = name
        self.uuid = uuid
        self.ha_mode = ha_mode
        self.buffer_se = buffer_se
        self.min_scaleout_per_vs = min_scaleout_per_vs
        self.max_scaleout_per_vs = max_scaleout_per_vs
        self.max_se = max_se
        self.max_vs_per_se = max_vs_per_se
        self.algo = algo
        self.cloud_ref = cloud_ref
    }

    /// Avi's defaults for the placement fields (`HA_MODE_SHARED`, buffer 1, scale-out 1–4, 10 SEs,
    /// 10 virtual services per SE, packed).
    public static let defaults = ServiceEngineGroup(
        name: "Default-Group", ha_mode: .shared, buffer_se: 1, min_scaleout_per_vs: 1, max_scaleout_per_vs: 4,
        max_se: 10, max_vs_per_se: 10, algo: .packed)

    public func validate() throws(ModelError) {
        try validateName()
        try Check.range(buffer_se, 0...100, "buffer_se")
        try Check.range(min_scaleout_per_vs, 1...64, "min_scaleout_per_vs")
        try Check.range(max_scaleout_per_vs, 1...64, "max_scaleout_per_vs")
        try Check.range(max_se, 0...1000, "max_se")
        try Check.range(max_vs_per_se, 1...1000, "max_vs_per_se")
        let minS = min_scaleout_per_vs ?? Self.defaults.min_scaleout_per_vs!
        let maxS = max_scaleout_per_vs ?? Self.defaults.max_scaleout_per_vs!
        guard minS <= maxS else {
            throw ModelError(
                field: "min_scaleout_per_vs", message: "must not exceed max_scaleout_per_vs (\(maxS))")
        }
        if ha_mode == .sharedPair, maxS < 2 {
            throw ModelError(
                field: "max_scaleout_per_vs", message: "must be at least 2 in HA_MODE_SHARED_PAIR")
        }
        try Check.ref(cloud_ref, "cloud", "cloud_ref")
    }
}
