/// A registered SE as the placement engine sees it: identity, group, whether it can carry virtual
/// services, and how busy it reports itself.
public struct SEState: Sendable, Hashable {
    /// Whether an SE can carry virtual services.
    public enum OperState: String, Sendable, Hashable, Codable, CaseIterable {
        /// Heartbeating and accepting placements.
        case up
        /// Missed heartbeats (or deregistered transport): its virtual services are re-placed.
        case down
        /// Being emptied by the operator: it gets no new virtual service and its current ones move to
        /// other SEs (the SE withdraws each VIP, then drains, as it sees the VS leave its desired state).
        case draining
    }

    /// `serviceengine` uuid.
    public var uuid: String
    /// `serviceengine` name, used in reasons and to break ties.
    public var name: String
    /// Key of its SE group in `PlacementInput.groups`.
    public var group: String
    public var operState: OperState
    /// A load figure the SE reports (CPU percent, open connections, ...): only compared, lower is less
    /// loaded. Distributed placement uses it after the virtual-service count; packed placement uses it to
    /// break ties. A non-finite value counts as the highest load.
    public var load: Double

    public init(uuid: String, name: String, group: String, operState: OperState = .up, load: Double = 0) {
        self.uuid = uuid
        self.name = name
        self.group = group
        self.operState = operState
        self.load = load
    }

    /// `load` with NaN and infinities mapped to a value that sorts last, so ordering stays total.
    var sortableLoad: Double { load.isFinite ? load : .greatestFiniteMagnitude }
}
