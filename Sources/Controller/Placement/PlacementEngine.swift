/// The placement and capacity engine: a pure function from configuration, registered SEs and the current
/// placement to the desired placement, with a reason for every decision (STYLE "Protocol logic is pure", "Desired state, level-triggered"; DESIGN §1, §3.3).
///
/// `place(_:)` works in three steps, always iterating in a fixed order (virtual services and SEs sorted by
/// name, then uuid; ties broken the same way), so the same input always gives the same output:
///
/// 1. **Settle the current placement.** Each current assignment is kept unless there is a cause:
///    the virtual service was deleted or disabled, its SE group does not exist, the SE is no longer
///    registered, is down, is draining, or now sits in another group than the virtual service, or the
///    virtual service has more SEs than it should (scale-in: the most recently added SE goes first).
/// 2. **Enforce capacity.** An SE over its group's `max_vs_per_se` (the limit was lowered) keeps the
///    first `max_vs_per_se` virtual services in name order; the others lose it and are re-placed.
/// 3. **Fill.** Every enabled virtual service is brought to its target number of SEs: the manual
///    scale-out (`VSRequest.desiredScaleout`) or the group's minimum, bounded by `min_scaleout_per_vs`
///    and `max_scaleout_per_vs` (`HA_MODE_SHARED_PAIR` raises the minimum to 2). Slots are filled one at
///    a time, fewest-SEs-first, so a virtual service with no SE is served before another gets its second;
///    at equal count a replacement for an SE lost in this step 1 or 2 goes before a first placement,
///    which goes before a scale-out. Candidate SEs are up, in the virtual service's group, not already
///    carrying it, below `max_vs_per_se`, and either already in use or within `max_se` SEs in use.
///    `PLACEMENT_ALGO_DISTRIBUTED` takes the candidate with the fewest virtual services, then the lowest
///    reported load; `PLACEMENT_ALGO_PACKED` the one with the most virtual services (fill it), then the
///    lowest load.
///
/// **N+M buffer** (`HA_MODE_SHARED`, `buffer_se` = M): Starling cannot start SEs, so the buffer is kept
/// as free VS slots: the group's free slots (room left on up SEs in use, plus whole idle up SEs within
/// `max_se`) must stay above `buffer_se × max_vs_per_se` for a first placement or a scale-out. A
/// replacement for a failed, draining or over-full SE may use the buffer: that is what it is for. Like
/// Avi, the buffer is counted in aggregate over the group. A single-SE group with `buffer_se` 1 therefore
/// places nothing new, and says so.
///
/// `max_se` only limits how many SEs start carrying virtual services; lowering it moves nothing.
public enum PlacementEngine {
    /// Computes the desired placement and one or more decisions per virtual service.
    ///
    /// The result's placement lists only virtual services placed on at least one SE. Decisions come
    /// grouped by virtual service (sorted by name, then uuid; deleted ones last, by uuid): removals,
    /// then kept assignments, then new placements, then a final `unplaced` or `disabled` if any.
    public static func place(_ input: PlacementInput) -> (placement: Placement, decisions: [PlacementDecision]) {
        var run = PlacementRun(input)
        run.settleCurrent()
        run.enforceCapacity()
        run.fill()
        return run.result()
    }
}

/// The working state of one `place(_:)` call.
struct PlacementRun {
    let limits: [String: EffectiveLimits]
    /// Registered SEs, unique by uuid, sorted by (name, uuid).
    let ses: [SEState]
    let seByUUID: [String: SEState]
    let sesByGroup: [String: [SEState]]
    /// Requested virtual services, unique by uuid, sorted by (name, uuid).
    let vss: [VSRequest]
    let current: Placement

    /// VS uuid → SE uuids, oldest first.
    var assigned: [String: [String]] = [:]
    /// SE uuid → number of virtual services assigned to it.
    var count: [String: Int] = [:]
    /// Group → number of its SEs carrying at least one virtual service.
    var inUse: [String: Int] = [:]
    /// VS uuid → SEs it lost in this run to failure, drain, deregistration or capacity (for reasons).
    var lost: [String: [String]] = [:]
    var decisions: [String: [PlacementDecision]] = [:]

    init(_ input: PlacementInput) {
        limits = input.groups.mapValues(EffectiveLimits.init)
        var seen = Set<String>()
        ses = input.serviceEngines.sorted { ($0.name, $0.uuid) < ($1.name, $1.uuid) }
            .filter { seen.insert($0.uuid).inserted }
        seByUUID = Dictionary(ses.map { ($0.uuid, $0) }, uniquingKeysWith: { a, _ in a })
        sesByGroup = Dictionary(grouping: ses, by: \.group)
        seen = []
        vss = input.virtualServices.sorted { ($0.name, $0.uuid) < ($1.name, $1.uuid) }
            .filter { seen.insert($0.uuid).inserted }
        current = input.current
    }

    // MARK: Step 1

    mutating func settleCurrent() {
        for vs in vss {
            let cur = Self.unique(current.assignments[vs.uuid] ?? [])
            guard vs.enabled else {
                for se in cur {
                    note(vs.uuid, se, .removed, .vsDisabled, "virtual service \(vs.name) is disabled")
                }
                note(vs.uuid, nil, .disabled, .vsDisabled, "virtual service is disabled; it is placed on no SE")
                continue
            }
            guard let lim = limits[vs.group] else {
                for se in cur {
                    note(vs.uuid, se, .removed, .noGroup, "SE group \(vs.group) does not exist")
                }
                note(vs.uuid, nil, .unplaced, .noGroup, "not placed: SE group \(vs.group) does not exist")
                continue
            }
            var kept: [String] = []
            for se in cur {
                guard let s = seByUUID[se] else {
                    note(vs.uuid, se, .removed, .seGone, "SE \(se) is no longer registered")
                    lost[vs.uuid, default: []].append("\(se) (no longer registered)")
                    continue
                }
                guard s.group == vs.group else {
                    note(
                        vs.uuid, se, .removed, .groupChanged,
                        "SE \(s.name) is in SE group \(s.group), the virtual service in \(vs.group)")
                    continue
                }
                switch s.operState {
                case .up:
                    kept.append(se)
                case .down:
                    note(vs.uuid, se, .removed, .seDown, "SE \(s.name) is down")
                    lost[vs.uuid, default: []].append("\(s.name) (down)")
                case .draining:
                    note(vs.uuid, se, .removed, .seDraining, "SE \(s.name) is draining")
                    lost[vs.uuid, default: []].append("\(s.name) (draining)")
                }
            }
            let target = lim.target(vs.desiredScaleout)
            while kept.count > target {
                let se = kept.removeLast()
                note(
                    vs.uuid, se, .removed, .scaleIn,
                    "scale-in to \(target) SE(s) (\(Self.targetWhy(vs, lim))): "
                        + "\(name(se)) is the most recently added")
            }
            assigned[vs.uuid] = kept
        }
        let requested = Set(vss.map(\.uuid))
        for vsID in current.assignments.keys.sorted() where !requested.contains(vsID) {
            for se in Self.unique(current.assignments[vsID] ?? []) {
                note(vsID, se, .removed, .vsDeleted, "virtual service no longer exists")
            }
        }
    }

    // MARK: Step 2

    mutating func enforceCapacity() {
        var onSE: [String: [String]] = [:]
        for vs in vss {
            for se in assigned[vs.uuid] ?? [] { onSE[se, default: []].append(vs.uuid) }
        }
        for s in ses {
            guard let list = onSE[s.uuid], let lim = limits[s.group], list.count > lim.maxVSPerSE else { continue }
            for vsID in list[lim.maxVSPerSE...] {
                assigned[vsID]?.removeAll { $0 == s.uuid }
                note(
                    vsID, s.uuid, .removed, .overCapacity,
                    "SE \(s.name) carries \(list.count) virtual services, over max_vs_per_se \(lim.maxVSPerSE)")
                lost[vsID, default: []].append("\(s.name) (over max_vs_per_se)")
            }
        }
        for vs in vss {
            for se in assigned[vs.uuid] ?? [] {
                count[se, default: 0] += 1
                note(vs.uuid, se, .kept, .healthy, "kept on SE \(name(se)): healthy, no cause to move")
            }
        }
        for s in ses where (count[s.uuid] ?? 0) > 0 { inUse[s.group, default: 0] += 1 }
    }

    // MARK: Step 3

    private struct Need {
        var index: Int
        var target: Int
        /// Slots that replace an assignment lost in this run (may use the N+M buffer).
        var replacements: Int
        var failed = false
    }

    private enum Tier: Int, Comparable {
        case replacement = 0, minimum = 1, scaleOut = 2
        static func < (a: Tier, b: Tier) -> Bool { a.rawValue < b.rawValue }
    }

    mutating func fill() {
        var needs: [Need] = []
        for (i, vs) in vss.enumerated() where vs.enabled {
            guard let lim = limits[vs.group] else { continue }
            let have = assigned[vs.uuid]?.count ?? 0
            let target = lim.target(vs.desiredScaleout)
            guard have < target else { continue }
            needs.append(
                Need(index: i, target: target, replacements: min(lost[vs.uuid]?.count ?? 0, target - have)))
        }
        // Fewest SEs first: at level L, every virtual service with L SEs that still needs one gets one slot,
        // in (tier, name) order; it then waits for level L + 1.
        var level = 0
        while needs.contains(where: { !$0.failed && self.have($0) < $0.target }) {
            let batch = needs.indices
                .filter { !needs[$0].failed && have(needs[$0]) == level && level < needs[$0].target }
                .map { (k: $0, tier: tier(needs[$0])) }
                .sorted { ($0.tier.rawValue, needs[$0.k].index) < ($1.tier.rawValue, needs[$1.k].index) }
            for (k, tier) in batch {
                let vs = vss[needs[k].index]
                let lim = limits[vs.group]!
                switch choose(vs, lim, mayUseBuffer: tier == .replacement) {
                case .se(let s, let algoWhy):
                    assigned[vs.uuid, default: []].append(s.uuid)
                    if count[s.uuid, default: 0] == 0 { inUse[s.group, default: 0] += 1 }
                    count[s.uuid, default: 0] += 1
                    let (cause, why) = placedWhy(vs, lim, tier: tier, target: needs[k].target)
                    note(vs.uuid, s.uuid, .placed, cause, "\(why) on SE \(s.name); \(algoWhy)")
                    if tier == .replacement { needs[k].replacements -= 1 }
                case .none(let cause, let why):
                    needs[k].failed = true
                    let have = assigned[vs.uuid]?.count ?? 0
                    let head = have == 0 ? "not placed" : "on \(have) of \(needs[k].target) SE(s)"
                    note(vs.uuid, nil, .unplaced, cause, "\(head): \(why)")
                }
            }
            level += 1
        }
    }

    private func have(_ n: Need) -> Int { assigned[vss[n.index].uuid]?.count ?? 0 }

    private func tier(_ n: Need) -> Tier {
        if n.replacements > 0 { return .replacement }
        let vs = vss[n.index]
        return have(n) < limits[vs.group]!.minScaleout ? .minimum : .scaleOut
    }

    private func placedWhy(
        _ vs: VSRequest, _ lim: EffectiveLimits, tier: Tier, target: Int
    ) -> (PlacementDecision.Cause, String) {
        switch tier {
        case .replacement:
            return (.replacement, "replaces \((lost[vs.uuid] ?? []).joined(separator: ", "))")
        case .minimum where (assigned[vs.uuid]?.count ?? 0) <= 1:
            return (.initial, "initial placement")
        case .minimum:
            return (.belowMinimum, "brings it to min_scaleout_per_vs \(lim.minScaleout)")
        case .scaleOut:
            return (.scaleOut, "scale-out to \(target) SE(s) (\(Self.targetWhy(vs, lim)))")
        }
    }

    private enum Choice {
        case se(SEState, String)
        case none(PlacementDecision.Cause, String)
    }

    private func choose(_ vs: VSRequest, _ lim: EffectiveLimits, mayUseBuffer: Bool) -> Choice {
        let group = sesByGroup[vs.group] ?? []
        let up = group.filter { $0.operState == .up }
        guard !up.isEmpty else {
            return .none(.noSEUp, "no SE is up in SE group \(vs.group) (\(group.count) registered)")
        }
        let mine = Set(assigned[vs.uuid] ?? [])
        let others = up.filter { !mine.contains($0.uuid) }
        guard !others.isEmpty else {
            return .none(
                .notEnoughSEs,
                "SE group \(vs.group) has \(up.count) SE(s) up and the virtual service is on all of them")
        }
        if !mayUseBuffer, lim.reserveSlots > 0 {
            let free = freeSlots(vs.group, lim)
            if free <= lim.reserveSlots {
                return .none(
                    .bufferReserved,
                    "placing it would use the N+M buffer: SE group \(vs.group) has \(free) free VS slot(s) and keeps "
                        + "buffer_se × max_vs_per_se = \(lim.reserveSlots) free for SE failures")
            }
        }
        let groupInUse = inUse[vs.group] ?? 0
        var best: SEState?
        for s in others {
            let n = count[s.uuid] ?? 0
            guard n < lim.maxVSPerSE, n > 0 || groupInUse < lim.maxSE else { continue }
            if let b = best, !better(s, than: b, lim.algo) { continue }
            best = s
        }
        guard let b = best else {
            let blockedByMaxSE = others.contains { (count[$0.uuid] ?? 0) < lim.maxVSPerSE }
            let detail =
                blockedByMaxSE
                ? "its SEs in use are at max_vs_per_se \(lim.maxVSPerSE) and max_se \(lim.maxSE) SE(s) are in use"
                : "\(others.count) candidate SE(s), all at max_vs_per_se \(lim.maxVSPerSE)"
            return .none(.noCapacity, "no SE with capacity in SE group \(vs.group): \(detail)")
        }
        let n = count[b.uuid] ?? 0
        switch lim.algo {
        case .distributed:
            return .se(b, "distributed: least loaded SE (\(n) VS, load \(Self.format(b.load)))")
        case .packed:
            return .se(b, "packed: fullest SE with room (\(n) of \(lim.maxVSPerSE) VS)")
        }
    }

    private func better(_ a: SEState, than b: SEState, _ algo: SEGroupPolicy.Algorithm) -> Bool {
        let na = count[a.uuid] ?? 0
        let nb = count[b.uuid] ?? 0
        switch algo {
        case .distributed:
            return (na, a.sortableLoad) < (nb, b.sortableLoad)
        case .packed:
            return (-na, a.sortableLoad) < (-nb, b.sortableLoad)
        }
    }

    /// VS slots the group can still fill: room on up SEs in use plus whole idle up SEs within `max_se`.
    private func freeSlots(_ group: String, _ lim: EffectiveLimits) -> Int {
        var free = 0
        var idle = 0
        for s in sesByGroup[group] ?? [] where s.operState == .up {
            let n = count[s.uuid] ?? 0
            if n > 0 { free += max(0, lim.maxVSPerSE - n) } else { idle += 1 }
        }
        return free + min(idle, max(0, lim.maxSE - (inUse[group] ?? 0))) * lim.maxVSPerSE
    }

    // MARK: Result

    func result() -> (placement: Placement, decisions: [PlacementDecision]) {
        let placement = Placement(assignments: assigned.filter { !$0.value.isEmpty })
        var out: [PlacementDecision] = []
        let requested = Set(vss.map(\.uuid))
        for vs in vss { out += decisions[vs.uuid] ?? [] }
        for vsID in decisions.keys.sorted() where !requested.contains(vsID) { out += decisions[vsID] ?? [] }
        return (placement, out)
    }

    // MARK: Helpers

    private mutating func note(
        _ vs: String, _ se: String?, _ kind: PlacementDecision.Kind, _ cause: PlacementDecision.Cause,
        _ reason: String
    ) {
        decisions[vs, default: []].append(PlacementDecision(vs: vs, se: se, kind: kind, cause: cause, reason: reason))
    }

    private func name(_ se: String) -> String { seByUUID[se]?.name ?? se }

    static func unique(_ list: [String]) -> [String] {
        var seen = Set<String>()
        return list.filter { seen.insert($0).inserted }
    }

    static func targetWhy(_ vs: VSRequest, _ lim: EffectiveLimits) -> String {
        guard let d = vs.desiredScaleout else {
            return "min_scaleout_per_vs is \(lim.minScaleout), no manual scale-out"
        }
        if d > lim.maxScaleout { return "scale-out \(d) capped by max_scaleout_per_vs \(lim.maxScaleout)" }
        if d < lim.minScaleout { return "scale-out \(d) raised to min_scaleout_per_vs \(lim.minScaleout)" }
        return "manual scale-out to \(d)"
    }

    static func format(_ load: Double) -> String {
        if load.isFinite, load == load.rounded(), abs(load) < 1e15 { return String(Int64(load)) }
        return String(load)
    }
}
