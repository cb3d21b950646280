import StarlingModel

/// One reconcile pass as a pure function (STYLE "Protocol logic is pure"): from a snapshot of the stored
/// configuration and of every SE's state at the pass's time, to the placement with its decisions, the
/// scale-out positions and member lists, the SE desired states whose content changed and the SE oper states
/// to record. No store, no clock, no actor: ``Reconciler`` reads the snapshot, runs the pass and writes what
/// it returns in one transaction, so another store (issue 12) needs only the reads and the writes.
struct ReconcilePass {
    /// The stored configuration as the pass sees it, and each SE's state at the pass's time.
    struct Snapshot {
        var groups: [String: SEGroupPolicy] = [:]
        var ses: [(uuid: String, name: String, group: String)] = []
        var vss: [VSRequest] = []
        var set = ObjectSet()
        var globalVrf: VrfContext?
        var seNames: [String: String] = [:]
        /// Each SE's data address (for native scale-out primaries).
        var seDataAddresses: [String: String] = [:]
        /// The oper state each SE object shows now (`OPER_UP` / `OPER_DOWN`).
        var storedSEStatus: [String: String] = [:]
        /// Stored scale-out positions and group member lists (issue 15).
        var positions: [String: ScaleoutPositions.Assignment] = [:]
        var storedGroups: [String: (epoch: Int, members: [ScaleoutGroup.Member])] = [:]
        /// Each SE's liveness at the pass's time, and why (from its heartbeats).
        var liveness: [String: (state: SEState.OperState, reason: String)] = [:]
        /// What each SE reported last (its connections are its load; its steering names the native primaries).
        var reports: [String: SEStatus] = [:]

        /// The placement engine's input, `placement` being what is placed now.
        func input(placement: Placement) -> PlacementInput {
            PlacementInput(
                groups: groups,
                serviceEngines: ses.map { s in
                    SEState(
                        uuid: s.uuid, name: s.name, group: s.group, operState: liveness[s.uuid]?.state ?? .down,
                        load: Double(reports[s.uuid]?.connections ?? 0))
                }, virtualServices: vss, current: placement)
        }
    }

    /// An SE object's oper state to record, with why.
    struct OperState: Hashable {
        var state: String
        var reason: String
    }

    struct Outcome {
        var placement: Placement
        var decisions: [PlacementDecision]
        var positions: [String: ScaleoutPositions.Assignment]
        /// Every group's member list; those whose epoch moved are to be stored.
        var groups: [String: ScaleoutGroup]
        /// The SE desired states whose content changed (or that were never given), version 0: the store numbers
        /// them.
        var desired: [String: SEDesiredState]
        /// SE objects whose oper state changes.
        var operStates: [String: OperState]
        /// Virtual services left out of an SE's desired state because they do not resolve, with why.
        var unresolved: [(vs: String, error: String)]
    }

    /// Runs the pass over `snapshot`, `placement` being what is placed now and `desired` each SE's current
    /// desired state.
    static func run(
        _ snapshot: Snapshot, placement current: Placement, desired: [String: SEDesiredState]
    ) -> Outcome {
        let (placement, decisions) = PlacementEngine.place(snapshot.input(placement: current))
        let resolver = Resolver(snapshot.set)
        let vsByUUID = Dictionary(
            (snapshot.set.virtualservice ?? []).compactMap { v in v.uuid.map { ($0, v) } },
            uniquingKeysWith: { a, _ in a })
        let positions = ScaleoutPositions.assign(
            current: snapshot.positions, ses: snapshot.ses.filter { snapshot.seDataAddresses[$0.uuid] != nil })
        let groups = ScaleoutPositions.groups(
            positions: positions, names: snapshot.seNames, addresses: snapshot.seDataAddresses,
            stored: snapshot.storedGroups)
        var changed: [String: SEDesiredState] = [:]
        var unresolved: [(vs: String, error: String)] = []
        for s in snapshot.ses {
            var list: [ResolvedVirtualService] = []
            for vs in placement.virtualServices(on: s.uuid) {
                guard let v = vsByUUID[vs] else { continue }
                do {
                    var resolved = try resolver.resolve(v)
                    if v.scaleout_ecmp == false {
                        resolved.native_primary = nativePrimary(
                            of: vs, placedOn: placement.serviceEngines(for: vs), reports: snapshot.reports,
                            isUp: { (snapshot.liveness[$0]?.state ?? .down) != .down },
                            dataAddresses: snapshot.seDataAddresses)
                    }
                    list.append(resolved)
                } catch {
                    unresolved.append((v.name, "\(error)"))
                }
            }
            let doc = SEDesiredState(
                version: 0, se_uuid: s.uuid, se_name: s.name, vrfcontext: snapshot.globalVrf, virtual_services: list,
                scaleout: positions[s.uuid].flatMap { groups[$0.group] })
            var old = desired[s.uuid]
            let oldVersion = old?.version
            old?.version = 0
            if old != doc || oldVersion == nil { changed[s.uuid] = doc }
        }
        var operStates: [String: OperState] = [:]
        for s in snapshot.ses {
            let live = snapshot.liveness[s.uuid] ?? (.down, "unknown to the controller")
            let text = live.state == .down ? "OPER_DOWN" : "OPER_UP"
            if snapshot.storedSEStatus[s.uuid] != text {
                operStates[s.uuid] = OperState(state: text, reason: live.reason)
            }
        }
        return Outcome(
            placement: placement, decisions: decisions, positions: positions, groups: groups, desired: changed,
            operStates: operStates, unresolved: unresolved)
    }

    /// The native primary of virtual service `vs` (`scaleout_ecmp: false`), as a data address: the placed
    /// SE that is up and reports itself primary of one of its VIPs (so that a VIP does not move back to an SE
    /// that returns), else the first placed SE that is up; nil when no placed SE is up or has an address.
    static func nativePrimary(
        of vs: String, placedOn ses: [String], reports: [String: SEStatus], isUp: (String) -> Bool,
        dataAddresses: [String: String]
    ) -> String? {
        let candidates = ses.filter { isUp($0) && dataAddresses[$0] != nil }
        let holder = candidates.first { se in
            reports[se]?.steering?.vips.contains { $0.vs_uuid == vs && $0.primary_here } ?? false
        }
        return (holder ?? candidates.first).flatMap { dataAddresses[$0] }
    }
}
