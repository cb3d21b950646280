import StarlingModel

/// The placement-relevant part of an Avi `serviceenginegroup` (DESIGN §3.3): how many SEs each virtual
/// service gets, how many virtual services an SE may carry, and how SEs are chosen.
///
/// Defaults are Avi's API defaults: `ha_mode` `HA_MODE_SHARED` (elastic N+M) with `buffer_se` 1,
/// `min_scaleout_per_vs` 1, `max_scaleout_per_vs` 4, `max_se` 10, `max_vs_per_se` 10 and
/// `algo` `PLACEMENT_ALGO_PACKED`.
public struct SEGroupPolicy: Sendable, Hashable {
    /// Avi `ha_mode`.
    public enum HAMode: String, Sendable, Hashable, Codable, CaseIterable {
        /// Elastic active/active: every virtual service runs on at least two SEs, so losing one SE keeps
        /// it up. The placement engine raises the effective minimum scale-out to 2 (when
        /// `max_scaleout_per_vs` allows) and keeps no buffer.
        case sharedPair = "HA_MODE_SHARED_PAIR"
        /// Elastic N+M: virtual services typically run on one SE each, and `buffer_se` SEs' worth of
        /// free capacity is kept so that the virtual services of failed SEs can be re-placed.
        case shared = "HA_MODE_SHARED"
    }

    /// Avi `algo`.
    public enum Algorithm: String, Sendable, Hashable, Codable, CaseIterable {
        /// Fill the SE that already carries the most virtual services and still has room.
        case packed = "PLACEMENT_ALGO_PACKED"
        /// Spread: pick the SE carrying the fewest virtual services (an idle SE first), then the one with
        /// the lowest reported load.
        case distributed = "PLACEMENT_ALGO_DISTRIBUTED"
    }

    /// Avi `ha_mode`.
    public var haMode: HAMode
    /// Avi `buffer_se`: in `HA_MODE_SHARED`, how many SEs' worth of VS slots stay free for failover.
    public var bufferSE: Int
    /// Avi `min_scaleout_per_vs`: SEs each enabled virtual service is placed on unless scaled out.
    public var minScaleoutPerVS: Int
    /// Avi `max_scaleout_per_vs`: the most SEs a virtual service may be scaled out to.
    public var maxScaleoutPerVS: Int
    /// Avi `max_se`: the most SEs of the group that carry virtual services.
    public var maxSE: Int
    /// Avi `max_vs_per_se`: the most virtual services one SE of the group carries.
    public var maxVSPerSE: Int
    /// Avi `algo`.
    public var algo: Algorithm

    public init(
        haMode: HAMode = .shared, bufferSE: Int = 1, minScaleoutPerVS: Int = 1, maxScaleoutPerVS: Int = 4,
        maxSE: Int = 10, maxVSPerSE: Int = 10, algo: Algorithm = .packed
    ) {
        self.haMode = haMode
        self.bufferSE = bufferSE
        self.minScaleoutPerVS = minScaleoutPerVS
        self.maxScaleoutPerVS = maxScaleoutPerVS
        self.maxSE = maxSE
        self.maxVSPerSE = maxVSPerSE
        self.algo = algo
    }

    /// Checks what the API must refuse with a 400 naming the field (ranges are Avi's).
    public func validate(field: String = "serviceenginegroup") throws(ModelError) {
        guard (1...64).contains(minScaleoutPerVS) else {
            throw ModelError(field: "\(field).min_scaleout_per_vs", message: "must be between 1 and 64")
        }
        guard (1...64).contains(maxScaleoutPerVS) else {
            throw ModelError(field: "\(field).max_scaleout_per_vs", message: "must be between 1 and 64")
        }
        guard minScaleoutPerVS <= maxScaleoutPerVS else {
            throw ModelError(
                field: "\(field).min_scaleout_per_vs",
                message: "must not exceed max_scaleout_per_vs (\(maxScaleoutPerVS))")
        }
        if haMode == .sharedPair, maxScaleoutPerVS < 2 {
            throw ModelError(
                field: "\(field).max_scaleout_per_vs",
                message: "HA_MODE_SHARED_PAIR places every virtual service on 2 SEs")
        }
        guard (0...1000).contains(maxSE) else {
            throw ModelError(field: "\(field).max_se", message: "must be between 0 and 1000")
        }
        guard (1...1000).contains(maxVSPerSE) else {
            throw ModelError(field: "\(field).max_vs_per_se", message: "must be between 1 and 1000")
        }
        guard bufferSE >= 0 else {
            throw ModelError(field: "\(field).buffer_se", message: "must not be negative")
        }
    }
}

/// The limits the engine actually applies, tolerant of a policy that skipped validation (the engine is a
/// total function: a bad policy yields odd but safe placements, never a trap).
struct EffectiveLimits: Sendable, Hashable {
    var minScaleout: Int
    var maxScaleout: Int
    var maxSE: Int
    var maxVSPerSE: Int
    /// VS slots kept free for failover (0 outside `HA_MODE_SHARED`).
    var reserveSlots: Int
    var algo: SEGroupPolicy.Algorithm

    /// Bounds that keep arithmetic far from overflow whatever an unvalidated policy says.
    static let cap = 1 << 20

    init(_ p: SEGroupPolicy) {
        algo = p.algo
        maxScaleout = min(max(1, p.maxScaleoutPerVS), Self.cap)
        let floor = p.haMode == .sharedPair ? 2 : 1
        minScaleout = min(max(floor, p.minScaleoutPerVS), maxScaleout)
        maxSE = min(max(0, p.maxSE), Self.cap)
        maxVSPerSE = min(max(0, p.maxVSPerSE), Self.cap)
        if p.haMode == .shared {
            reserveSlots = min(max(0, p.bufferSE), Self.cap) * maxVSPerSE
        } else {
            reserveSlots = 0
        }
    }

    /// How many SEs a virtual service should have: its manual scale-out, or the minimum, within bounds.
    func target(_ desired: Int?) -> Int {
        min(max(desired ?? minScaleout, minScaleout), maxScaleout)
    }
}
