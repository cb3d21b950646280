/// Which SEs carry which virtual service: the desired placement the controller pushes to SEs.
///
/// Each list is ordered by when the SE was added to the virtual service: the first is its primary, and
/// scale-in removes the last. A virtual service placed nowhere has no entry (never an empty list in an
/// engine result).
public struct Placement: Sendable, Hashable {
    /// Virtual service uuid → SE uuids, oldest first.
    public var assignments: [String: [String]]

    public init(assignments: [String: [String]] = [:]) {
        self.assignments = assignments
    }

    /// The SEs a virtual service is placed on, oldest first.
    public func serviceEngines(for vs: String) -> [String] { assignments[vs] ?? [] }

    /// The virtual services placed on an SE, sorted by uuid.
    public func virtualServices(on se: String) -> [String] {
        assignments.filter { $0.value.contains(se) }.keys.sorted()
    }
}

/// Everything placement depends on. `PlacementEngine.place(_:)` is a pure function of this value.
public struct PlacementInput: Sendable, Hashable {
    /// SE group policies, keyed by the string `SEState.group` and `VSRequest.group` use (uuid or name).
    public var groups: [String: SEGroupPolicy]
    /// Registered SEs, in any order.
    public var serviceEngines: [SEState]
    /// Configured virtual services, in any order.
    public var virtualServices: [VSRequest]
    /// What is placed now: the previous result. Healthy assignments in it are kept.
    public var current: Placement

    public init(
        groups: [String: SEGroupPolicy], serviceEngines: [SEState], virtualServices: [VSRequest],
        current: Placement = Placement()
    ) {
        self.groups = groups
        self.serviceEngines = serviceEngines
        self.virtualServices = virtualServices
        self.current = current
    }
}
