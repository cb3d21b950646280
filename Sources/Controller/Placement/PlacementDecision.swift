/// One placement decision with the reason the runtime API shows
/// (`GET /api/virtualservice/<uuid>/runtime`).
public struct PlacementDecision: Sendable, Hashable, CustomStringConvertible {
    /// What happened.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// A new assignment of the virtual service to `se`.
        case placed
        /// An existing assignment to `se` stays: it is healthy and nothing requires a move.
        case kept
        /// An existing assignment to `se` ends.
        case removed
        /// The virtual service has fewer SEs than it should (possibly none); `se` is nil.
        case unplaced
        /// The virtual service is disabled and placed nowhere by design; `se` is nil.
        case disabled
    }

    /// Why, as a stable machine-readable code (open set: unknown codes round-trip).
    public struct Cause: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // kept
        public static let healthy = Self(rawValue: "healthy")
        // placed
        public static let initial = Self(rawValue: "initial")
        public static let replacement = Self(rawValue: "replacement")
        public static let belowMinimum = Self(rawValue: "below_min_scaleout")
        public static let scaleOut = Self(rawValue: "scale_out")
        // removed
        public static let seDown = Self(rawValue: "se_down")
        public static let seDraining = Self(rawValue: "se_draining")
        public static let seGone = Self(rawValue: "se_not_registered")
        public static let groupChanged = Self(rawValue: "se_group_changed")
        public static let scaleIn = Self(rawValue: "scale_in")
        public static let overCapacity = Self(rawValue: "over_max_vs_per_se")
        public static let vsDeleted = Self(rawValue: "vs_deleted")
        // removed, disabled
        public static let vsDisabled = Self(rawValue: "vs_disabled")
        // unplaced
        public static let noGroup = Self(rawValue: "no_se_group")
        public static let noSEUp = Self(rawValue: "no_se_up")
        public static let notEnoughSEs = Self(rawValue: "not_enough_ses")
        public static let noCapacity = Self(rawValue: "no_capacity")
        public static let bufferReserved = Self(rawValue: "buffer_reserved")
    }

    /// Virtual service uuid.
    public var vs: String
    /// SE uuid for `placed`, `kept` and `removed`; nil otherwise.
    public var se: String?
    public var kind: Kind
    public var cause: Cause
    /// A sentence for humans, naming the SEs and limits involved.
    public var reason: String

    public init(vs: String, se: String?, kind: Kind, cause: Cause, reason: String) {
        self.vs = vs
        self.se = se
        self.kind = kind
        self.cause = cause
        self.reason = reason
    }

    public var description: String {
        "\(kind.rawValue) \(vs)\(se.map { " on \($0)" } ?? "") [\(cause)]: \(reason)"
    }
}
