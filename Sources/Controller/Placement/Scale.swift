/// Why a manual scale-out or scale-in was refused, with the HTTP status and field the API answers with.
public struct ScaleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// HTTP status: 404 unknown virtual service, 400 a group limit forbids it, 409 the current state does.
    public var status: Int
    /// The configuration field at fault, if one is (`max_scaleout_per_vs`, `min_scaleout_per_vs`, ...).
    public var field: String?
    public var message: String

    public init(status: Int, field: String?, message: String) {
        self.status = status
        self.field = field
        self.message = message
    }

    public var description: String { field.map { "\($0): \(message)" } ?? message }
}

/// An accepted scale-out or scale-in: the new `desiredScaleout` to store on the virtual service and the
/// placement it yields.
public struct ScaleResult: Sendable, Hashable {
    /// Virtual service uuid.
    public var vs: String
    /// The value to store as the virtual service's `VSRequest.desiredScaleout`.
    public var desiredScaleout: Int
    /// `PlacementEngine.place` of the input with that value.
    public var placement: Placement
    public var decisions: [PlacementDecision]
}

extension PlacementEngine {
    /// `POST /api/virtualservice/<uuid>/scaleout`: one more SE than the virtual service is placed on now,
    /// chosen by the group's algorithm.
    ///
    /// Refused with 400 beyond `max_scaleout_per_vs`, and with 409 when the virtual service is disabled,
    /// its group is missing, or no eligible SE has room (the reason says which limit).
    public static func scaleOut(_ vs: String, in input: PlacementInput) throws(ScaleError) -> ScaleResult {
        let (request, lim) = try lookup(vs, in: input)
        let now = place(input).placement.serviceEngines(for: vs).count
        let wanted = now + 1
        guard wanted <= lim.maxScaleout else {
            throw ScaleError(
                status: 400, field: "max_scaleout_per_vs",
                message: "virtual service \(request.name) is on \(now) SE(s), the maximum of SE group "
                    + "\(request.group) is \(lim.maxScaleout)")
        }
        let result = place(with(input, vs, desired: wanted))
        let got = result.placement.serviceEngines(for: vs).count
        guard got >= wanted else {
            let why =
                result.decisions.last { $0.vs == vs && $0.kind == .unplaced }?.reason
                ?? "no eligible SE in SE group \(request.group)"
            throw ScaleError(status: 409, field: nil, message: "cannot scale out \(request.name): \(why)")
        }
        return ScaleResult(vs: vs, desiredScaleout: wanted, placement: result.placement, decisions: result.decisions)
    }

    /// `POST /api/virtualservice/<uuid>/scalein`: one SE fewer than the virtual service is placed on now;
    /// the most recently added SE leaves (the first, its primary, stays).
    ///
    /// Refused with 400 below `min_scaleout_per_vs` (2 in `HA_MODE_SHARED_PAIR`), and with 409 when the
    /// virtual service is disabled, its group is missing, or it is placed nowhere.
    public static func scaleIn(_ vs: String, in input: PlacementInput) throws(ScaleError) -> ScaleResult {
        let (request, lim) = try lookup(vs, in: input)
        let now = place(input).placement.serviceEngines(for: vs).count
        guard now > 0 else {
            throw ScaleError(status: 409, field: nil, message: "virtual service \(request.name) is not placed")
        }
        let wanted = now - 1
        guard wanted >= lim.minScaleout else {
            throw ScaleError(
                status: 400, field: "min_scaleout_per_vs",
                message: "virtual service \(request.name) is on \(now) SE(s), the minimum of SE group "
                    + "\(request.group) is \(lim.minScaleout)")
        }
        let result = place(with(input, vs, desired: wanted))
        return ScaleResult(vs: vs, desiredScaleout: wanted, placement: result.placement, decisions: result.decisions)
    }

    private static func lookup(
        _ vs: String, in input: PlacementInput
    ) throws(ScaleError) -> (VSRequest, EffectiveLimits) {
        // The same duplicate rule as `place`: the first by (name, uuid).
        guard let request = input.virtualServices.filter({ $0.uuid == vs }).min(by: { $0.name < $1.name }) else {
            throw ScaleError(status: 404, field: nil, message: "virtual service \(vs) not found")
        }
        guard request.enabled else {
            throw ScaleError(
                status: 409, field: "enabled", message: "virtual service \(request.name) is disabled")
        }
        guard let policy = input.groups[request.group] else {
            throw ScaleError(
                status: 409, field: "se_group_ref", message: "SE group \(request.group) does not exist")
        }
        return (request, EffectiveLimits(policy))
    }

    private static func with(_ input: PlacementInput, _ vs: String, desired: Int) -> PlacementInput {
        var copy = input
        for i in copy.virtualServices.indices where copy.virtualServices[i].uuid == vs {
            copy.virtualServices[i].desiredScaleout = desired
        }
        return copy
    }
}
