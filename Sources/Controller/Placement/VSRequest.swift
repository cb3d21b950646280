/// A configured virtual service as the placement engine sees it.
public struct VSRequest: Sendable, Hashable {
    /// `virtualservice` uuid.
    public var uuid: String
    /// `virtualservice` name, used in reasons and to order the work.
    public var name: String
    /// Key of its SE group (`se_group_ref`) in `PlacementInput.groups`.
    public var group: String
    /// Avi `enabled`: a disabled virtual service is placed nowhere.
    public var enabled: Bool
    /// The number of SEs asked for by manual scale-out / scale-in; `nil` means the group's minimum. The
    /// engine bounds it by the group's `min_scaleout_per_vs` and `max_scaleout_per_vs`.
    public var desiredScaleout: Int?

    public init(uuid: String, name: String, group: String, enabled: Bool = true, desiredScaleout: Int? = nil) {
        self.uuid = uuid
        self.name = name
        self.group = group
        self.enabled = enabled
        self.desiredScaleout = desiredScaleout
    }
}
