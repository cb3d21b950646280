import Foundation
import Logging
import StarlingModel

/// The one owner of placement and of every SE's desired state (STYLE "One owner per piece of mutable state", "Desired state, level-triggered").
///
/// On every relevant change (object writes, registrations, heartbeats that change an SE's state, scale
/// requests) and on every `tick()`, it runs the pure `PlacementEngine.place` over the whole configuration,
/// persists the placement and its decisions, rebuilds each SE's `SEDesiredState` and gives it a new
/// version (from the store-wide counter) only when its content changed, and wakes the SEs' long-polls.
/// A pass never suspends (the store is used synchronously), so passes never interleave.
///
/// Restart: the persisted placement and desired states are loaded as they were, and every known SE gets
/// two `downAfter` periods of grace (its reconnect, then the usual allowance), so a restart changes nothing on
/// the data plane.
public actor Reconciler {
    let store: any ControllerStore
    let logger: Logger
    /// Monotonic seconds.
    let clock: @Sendable () -> Double
    private var liveness: SELiveness
    private var reported: [String: (status: SEStatus, at: Double)] = [:]
    private var lastStates: [String: SEState.OperState] = [:]
    private var placement = Placement()
    private var decisions: [PlacementDecision] = []
    private var desired: [String: SEDesiredState] = [:]
    private var waiters: [String: [UInt64: CheckedContinuation<Bool, Never>]] = [:]
    private var cancelledEarly: Set<UInt64> = []
    private var nextWaiter: UInt64 = 0
    private var started = false
    /// Set when the controller begins to shut down: no more placement changes (an SE is not "down"
    /// because this controller stopped hearing it), and long-polls end at once without a change.
    private var frozen = false

    /// - Parameters:
    ///   - downAfter: seconds without a heartbeat before an SE is down.
    ///   - clock: monotonic seconds (a manual clock in tests).
    init(store: any ControllerStore, downAfter: Double, clock: @escaping @Sendable () -> Double, logger: Logger) {
        self.store = store
        self.liveness = SELiveness(downAfter: downAfter)
        self.clock = clock
        self.logger = logger
    }

    // MARK: Life cycle

    /// Loads the persisted placement and desired states, grants grace to known SEs, and reconciles.
    public func start() async throws {
        try await exclusively { try await startAlone() }
    }

    private func startAlone() async throws {
        guard !started else { return }
        started = true
        let (records, ses) = try store.readNow { tx in
            (try tx.reconcilerRecords(), try tx.rawObjects(type: ServiceEngine.objectType).map(\.uuid))
        }
        placement = Placement(assignments: records.placement)
        for d in records.desired { desired[d.se_uuid] = d }
        let now = clock()
        // Two down-after periods: one for the SEs' reconnect retry, one as the usual heartbeat allowance.
        liveness.grace(ses, now: now, period: 2 * liveness.downAfter)
        for se in ses { lastStates[se] = liveness.state(se, now: now).state }
        try await reconcile(reason: "controller start")
    }

    /// Periodic: re-evaluates SE liveness and reconciles when an SE changed state.
    public func tick() async throws {
        try await exclusively { try await tickAlone() }
    }

    private func tickAlone() async throws {
        let now = clock()
        var changed: [String] = []
        for (se, old) in lastStates {
            let s = liveness.state(se, now: now)
            if s.state != old { changed.append("\(se) \(old.rawValue)→\(s.state.rawValue) (\(s.reason))") }
        }
        if !changed.isEmpty { try await reconcile(reason: "SE state: " + changed.sorted().joined(separator: "; ")) }
    }

    // MARK: Events

    /// Object writes changed the configuration.
    public func configChanged(_ what: String) async throws {
        try await exclusively { try await reconcile(reason: what) }
    }

    /// An SE registered (new or again).
    public func registered(_ se: String) async throws {
        try await exclusively {
            liveness.seen(se, at: clock())
            try await reconcile(reason: "SE \(se) registered")
        }
    }

    /// An SE was deleted through the API.
    public func removed(_ se: String) async throws {
        try await exclusively {
            liveness.forget(se)
            reported[se] = nil
            lastStates[se] = nil
            desired[se] = nil
            wake(se)
            try await reconcile(reason: "SE \(se) unregistered")
        }
    }

    /// A heartbeat; returns the desired version for that SE.
    public func heartbeat(_ status: SEStatus) async throws -> Int {
        let now = clock()
        liveness.seen(status.se_uuid, at: now, draining: status.draining)
        reported[status.se_uuid] = (status, now)
        if lastStates[status.se_uuid] != liveness.state(status.se_uuid, now: now).state {
            try await exclusively { try await reconcile(reason: "SE \(status.se_uuid) heartbeat") }
        }
        return desired[status.se_uuid]?.version ?? 0
    }

    /// The SEs that are down now (no heartbeat for `downAfter`): a new registration may take over such an
    /// SE's name (a replaced or re-installed SE host).
    public func downSEs() -> Set<String> {
        let now = clock()
        return Set(lastStates.keys.filter { liveness.state($0, now: now).state == .down })
    }

    /// The SE's desired state, if it is registered.
    public func desiredState(_ se: String) -> SEDesiredState? { desired[se] }

    /// This node stopped leading a cluster store: no passes until ``start()`` again (which reloads what the
    /// leader since left in the store), and the SEs' long-polls end without a change (they move to the
    /// leader). What this node knew of the SEs goes: the next leader hears them itself.
    public func stepDown() async {
        try? await exclusively { forget() }
    }

    /// Runs `write` (a restore of the whole configuration) while no pass runs, then starts again from what
    /// it left in the store: the restored placement and desired states, as after a restart.
    func replacingStore(_ write: @Sendable () async throws -> Void) async throws {
        try await exclusively {
            forget()
            try await write()
            try await startAlone()
        }
    }

    private func forget() {
        started = false
        liveness = SELiveness(downAfter: liveness.downAfter)
        reported = [:]
        lastStates = [:]
        placement = Placement()
        decisions = []
        desired = [:]
        decodeCache = [:]
        for (_, ws) in waiters {
            for (_, c) in ws { c.resume(returning: false) }
        }
        waiters = [:]
    }

    /// Stops all placement changes for the rest of this process's life and ends pending long-polls
    /// without a change, so that shutting the controller down never pushes anything to the SEs
    /// (DESIGN §1: the data plane keeps its state while the controller is away).
    public func freeze() {
        frozen = true
        for (_, ws) in waiters {
            for (_, c) in ws { c.resume(returning: false) }
        }
        waiters = [:]
    }

    /// Suspends until the SE's desired version differs from `version` (true) or `cancelWait(id)` (false).
    public func wait(_ se: String, from version: Int?, id: UInt64) async -> Bool {
        if cancelledEarly.remove(id) != nil { return false }
        if frozen { return false }
        if desired[se]?.version != version { return true }
        return await withCheckedContinuation { c in waiters[se, default: [:]][id] = c }
    }

    /// Ends a `wait` (its deadline passed).
    public func cancelWait(_ id: UInt64) {
        for (se, var ws) in waiters {
            if let c = ws.removeValue(forKey: id) {
                waiters[se] = ws
                c.resume(returning: false)
                return
            }
        }
        cancelledEarly.insert(id)
    }

    /// A fresh waiter id.
    public func newWaiterID() -> UInt64 {
        nextWaiter += 1
        return nextWaiter
    }

    private func wake(_ se: String) {
        for (_, c) in waiters.removeValue(forKey: se) ?? [:] { c.resume(returning: true) }
    }

    // MARK: Scale

    /// `POST /api/virtualservice/<uuid>/scaleout|scalein`: persists the new desired scale-out and
    /// reconciles; returns the virtual service's SEs after it.
    public func scale(_ vs: String, out: Bool) async throws -> [String] {
        try await exclusively { try await scaleAlone(vs, out: out) }
    }

    private func scaleAlone(_ vs: String, out: Bool) async throws -> [String] {
        let snap = try snapshot()
        let input = snap.input(placement: placement)
        let result: ScaleResult
        do {
            result =
                out ? try PlacementEngine.scaleOut(vs, in: input) : try PlacementEngine.scaleIn(vs, in: input)
        } catch {
            throw APIError(error.status, error.description)
        }
        let desiredScaleout = result.desiredScaleout
        try await store.write { tx in try tx.setScale(vs: vs, desired: desiredScaleout) }
        try await reconcile(reason: "\(out ? "scale-out" : "scale-in") of \(vs) to \(result.desiredScaleout)")
        return placement.serviceEngines(for: vs)
    }

    // MARK: Runtime

    /// What `GET /api/virtualservice/<uuid>/runtime` shows.
    public func vsRuntime(_ vs: String, name: String, enabled: Bool) -> JSONValue {
        runtime(vs, name: name, enabled: enabled, seNames: seNames()).json
    }

    /// The runtime of many virtual services at once (the inventory), with what their health scores need.
    func vsRuntimes(_ list: [(uuid: String, name: String, enabled: Bool)]) -> [String: (
        json: JSONValue, health: HealthScore.Placement
    )] {
        let names = seNames()
        var out: [String: (json: JSONValue, health: HealthScore.Placement)] = [:]
        for vs in list { out[vs.uuid] = runtime(vs.uuid, name: vs.name, enabled: vs.enabled, seNames: names) }
        return out
    }

    private func seNames() -> [String: String] {
        (try? store.readNow { tx in
            try tx.objects(type: ServiceEngine.objectType).reduce(into: [String: String]()) { $0[$1.uuid] = $1.name }
        }) ?? [:]
    }

    private func runtime(_ vs: String, name: String, enabled: Bool, seNames: [String: String]) -> (
        json: JSONValue, health: HealthScore.Placement
    ) {
        let now = clock()
        let ses = placement.serviceEngines(for: vs)
        let mine = decisions.filter { $0.vs == vs }
        var entries: [JSONValue] = []
        var upOn: [String] = []
        var downWhy: [String] = []
        var health = HealthScore.Placement(state: "", reason: "", ses: ses.count)
        var worstShare = -1.0
        for se in ses {
            let seName = seNames[se] ?? se
            let live = liveness.state(se, now: now)
            let reason = mine.last { $0.se == se && ($0.kind == .placed || $0.kind == .kept) }?.reason ?? ""
            var e: [String: JSONValue] = [
                "se_uuid": .string(se), "se_name": .string(seName), "placement_reason": .string(reason),
                "se_oper_state": .string(live.state == .down ? "OPER_DOWN" : "OPER_UP"),
                "se_oper_reason": .string(live.reason),
            ]
            if let st = reported[se]?.status.virtual_services.first(where: { $0.uuid == vs }) {
                e["oper_state"] = .string(st.oper_state)
                e["reason"] = .string(st.reason)
                e["advertised"] = .bool(st.advertised)
                e["advertise_reason"] = .string(st.advertise_reason)
                e["servers_up"] = .int(Int64(st.servers.filter(\.up).count))
                e["servers_total"] = .int(Int64(st.servers.count))
                e["servers"] = JSONValue.from(st.servers)
                let down = st.servers.filter { !$0.up }.count
                let share = st.servers.isEmpty ? 0 : Double(down) / Double(st.servers.count)
                if share > worstShare {
                    worstShare = share
                    health.serversUp = st.servers.count - down
                    health.serversTotal = st.servers.count
                    health.worstSE = seName
                }
                if let steering = reported[se]?.status.steering {
                    e["steering"] = Self.steeringView(steering, vs: vs)
                }
                if st.oper_state == "OPER_UP" && live.state != .down {
                    upOn.append(seName)
                    health.sesUp += 1
                } else {
                    downWhy.append("\(seName): \(st.reason)")
                }
            } else {
                e["oper_state"] = .string("OPER_DOWN")
                e["reason"] = .string("the SE has not reported this virtual service yet")
                downWhy.append("\(seName): not reported yet")
            }
            entries.append(.object(e))
        }
        let state: String
        let reason: String
        if !enabled {
            (state, reason) = ("OPER_DISABLED", "the virtual service is disabled")
        } else if ses.isEmpty {
            state = "OPER_DOWN"
            reason = mine.last { $0.kind == .unplaced }?.reason ?? "not placed on any SE"
        } else if !upOn.isEmpty {
            state = "OPER_UP"
            reason = "up on \(upOn.count) of \(ses.count) SE(s): \(upOn.joined(separator: ", "))"
        } else {
            state = "OPER_DOWN"
            reason = "no SE reports it up: " + downWhy.joined(separator: "; ")
        }
        health.state = state
        health.reason = reason
        let json: JSONValue = .object([
            "uuid": .string(vs), "name": .string(name),
            "oper_status": .object(["state": .string(state), "reason": .string(reason)]),
            "placement": .array(entries),
            "decisions": .array(
                mine.map { d in
                    .object([
                        "kind": .string(d.kind.rawValue), "cause": .string(d.cause.rawValue),
                        "se_uuid": d.se.map { .string($0) } ?? .null, "reason": .string(d.reason),
                    ])
                }),
        ])
        return (json, health)
    }

    /// One SE's flow steering as far as virtual service `vs` goes: its VIPs' mode, primary and secondaries,
    /// the epoch, and per member the flows pinned to it and the packets forwarded to it, with the SE's
    /// counters (what its program did with packets, by reason).
    static func steeringView(_ steering: SteeringStatus, vs: String) -> JSONValue {
        .object([
            "epoch": .int(Int64(steering.epoch)),
            "members_from": steering.members_from.map { .string($0) } ?? .null,
            "group_epoch": steering.group_epoch.map { .int(Int64($0)) } ?? .null,
            "vips": JSONValue.from(steering.vips.filter { $0.vs_uuid == vs }),
            "members": .array(
                steering.members.map { m in
                    .object([
                        "address": .string(m.address), "live": .bool(m.live), "leaving": .bool(m.leaving),
                        "this_se": .bool(m.this), "pinned_flows": .int(Int64(m.pinned_flows)),
                        "packets_forwarded_to": .int(Int64(m.packets_forwarded_to)),
                    ])
                }),
            "packets": JSONValue.from(steering.counters),
            "error": steering.error.map { .string($0) } ?? .null,
        ])
    }

    /// What `GET /api/serviceengine/<uuid>/runtime` shows.
    public func seRuntime(_ se: String, name: String, dataAddress: IpAddr?) -> JSONValue {
        let now = clock()
        let live = liveness.state(se, now: now)
        var out: [String: JSONValue] = [
            "uuid": .string(se), "name": .string(name),
            "oper_status": .object([
                "state": .string(live.state == .down ? "OPER_DOWN" : "OPER_UP"), "reason": .string(live.reason),
            ]),
            "draining": .bool(live.state == .draining),
            "desired_version": .int(Int64(desired[se]?.version ?? 0)),
            "placed_virtual_services": .array(placement.virtualServices(on: se).map { .string($0) }),
        ]
        if let a = dataAddress { out["data_address"] = JSONValue.from(a) }
        if let group = desired[se]?.scaleout, let me = group.members.first(where: { $0.se_uuid == se }) {
            // The SEs it steers packets to and from (issue 15), at the controller's positions.
            out["scaleout"] = .object([
                "position": .int(Int64(me.position)), "epoch": .int(Int64(group.epoch)),
                "members": .array(
                    group.members.map {
                        .object([
                            "position": .int(Int64($0.position)), "se_name": .string($0.se_name),
                            "data_address": .string($0.data_address),
                        ])
                    }),
            ])
        }
        if let last = liveness.lastHeard(se) { out["last_heartbeat_age"] = .double(max(0, now - last)) }
        if let r = reported[se] {
            out["applied_version"] = .int(Int64(r.status.applied_version))
            out["virtual_services"] = JSONValue.from(r.status.virtual_services)
            out["bgp_peers"] = JSONValue.from(r.status.bgp_peers)
            out["connections"] = .int(Int64(r.status.connections))
            out["request_logs_dropped"] = .int(Int64(r.status.request_logs_dropped ?? 0))
            if let steering = r.status.steering { out["steering"] = JSONValue.from(steering) }
        } else {
            out["virtual_services"] = .array([])
            out["bgp_peers"] = .array([])
        }
        return .object(out)
    }

    /// Counts of SEs by state, for `/metrics`.
    public func seCounts() -> (up: Int, down: Int) {
        let now = clock()
        var up = 0
        var down = 0
        for se in lastStates.keys {
            if liveness.state(se, now: now).state == .down { down += 1 } else { up += 1 }
        }
        return (up, down)
    }

    /// The current placement (VS uuid → SE uuids).
    public func currentPlacement() -> Placement { placement }

    // MARK: Reconcile

    typealias Snapshot = ReconcilePass.Snapshot

    /// The typed objects the snapshot uses.
    enum DecodedObject: Sendable {
        case group(ServiceEngineGroup), se(ServiceEngine), virtualService(VirtualService), pool(Pool), vsvip(VsVip)
        case healthMonitor(HealthMonitor), applicationProfile(ApplicationProfile), certificate(SSLKeyAndCertificate)
        case sslProfile(SSLProfile), pkiProfile(PKIProfile), vrf(VrfContext)
    }

    /// Decoded objects by uuid with the text they came from: a reconcile decodes only what changed since
    /// the last one (decoding every object on every write made writes slow down with the object count).
    private var decodeCache: [String: (text: String, object: DecodedObject)] = [:]

    private func decoded(_ o: RawStoredObject) throws -> DecodedObject {
        if let cached = decodeCache[o.uuid], cached.text == o.text { return cached.object }
        let data = Data(o.text.utf8)
        let d = JSONDecoder()
        let object: DecodedObject
        switch o.type {
        case ServiceEngineGroup.objectType: object = .group(try d.decode(ServiceEngineGroup.self, from: data))
        case ServiceEngine.objectType: object = .se(try d.decode(ServiceEngine.self, from: data))
        case VirtualService.objectType: object = .virtualService(try d.decode(VirtualService.self, from: data))
        case Pool.objectType: object = .pool(try d.decode(Pool.self, from: data))
        case VsVip.objectType: object = .vsvip(try d.decode(VsVip.self, from: data))
        case HealthMonitor.objectType: object = .healthMonitor(try d.decode(HealthMonitor.self, from: data))
        case ApplicationProfile.objectType:
            object = .applicationProfile(try d.decode(ApplicationProfile.self, from: data))
        case SSLKeyAndCertificate.objectType:
            object = .certificate(try d.decode(SSLKeyAndCertificate.self, from: data))
        case SSLProfile.objectType: object = .sslProfile(try d.decode(SSLProfile.self, from: data))
        case PKIProfile.objectType: object = .pkiProfile(try d.decode(PKIProfile.self, from: data))
        case VrfContext.objectType: object = .vrf(try d.decode(VrfContext.self, from: data))
        default: throw APIError(500, "unexpected object type \(o.type)")
        }
        decodeCache[o.uuid] = (o.text, object)
        return object
    }

    private func snapshot() throws -> Snapshot {
        let now = clock()
        let types = [
            ServiceEngineGroup.objectType, ServiceEngine.objectType, VirtualService.objectType, Pool.objectType,
            VsVip.objectType, HealthMonitor.objectType, ApplicationProfile.objectType,
            SSLKeyAndCertificate.objectType, SSLProfile.objectType, PKIProfile.objectType, VrfContext.objectType,
        ]
        let (objects, records) = try store.readNow { tx in
            // Type by type, each by name (the order placement sees them in).
            (try types.flatMap { try tx.rawObjects(type: $0) }, try tx.reconcilerRecords())
        }
        var snap = Snapshot()
        snap.positions = records.positions
        snap.storedGroups = records.groups
        var defaultGroup: String?
        var groups: [ServiceEngineGroup] = []
        var virtualServices: [VirtualService] = []
        var pools: [Pool] = []
        var vsvips: [VsVip] = []
        var monitors: [HealthMonitor] = []
        var profiles: [ApplicationProfile] = []
        var certificates: [SSLKeyAndCertificate] = []
        var sslProfiles: [SSLProfile] = []
        var pkiProfiles: [PKIProfile] = []
        var seen = Set<String>()
        for o in objects {
            seen.insert(o.uuid)
            do {
                switch try decoded(o) {
                case .group(let g):
                    let d = ServiceEngineGroup.defaults
                    snap.groups[o.uuid] = SEGroupPolicy(
                        haMode: g.ha_mode == .sharedPair ? .sharedPair : .shared,
                        bufferSE: g.buffer_se ?? d.buffer_se!,
                        minScaleoutPerVS: g.min_scaleout_per_vs ?? d.min_scaleout_per_vs!,
                        maxScaleoutPerVS: g.max_scaleout_per_vs ?? d.max_scaleout_per_vs!,
                        maxSE: g.max_se ?? d.max_se!, maxVSPerSE: g.max_vs_per_se ?? d.max_vs_per_se!,
                        algo: g.algo == .distributed ? .distributed : .packed)
                    groups.append(g)
                    if g.name == SystemDefaults.defaultSEGroup && o.tenant == ObjectService.admin {
                        defaultGroup = o.uuid
                    }
                case .se(let s):
                    snap.ses.append((o.uuid, s.name, s.se_group_ref.flatMap { ObjectRef($0)?.uuid } ?? ""))
                    snap.seNames[o.uuid] = s.name
                    if let address = s.data_address?.addr { snap.seDataAddresses[o.uuid] = address }
                    snap.storedSEStatus[o.uuid] = s.oper_status?.state
                case .virtualService(let v):
                    virtualServices.append(v)
                    snap.vss.append(
                        VSRequest(
                            uuid: o.uuid, name: v.name, group: v.se_group_ref.flatMap { ObjectRef($0)?.uuid } ?? "",
                            enabled: v.isEnabled, desiredScaleout: records.scale[o.uuid]))
                case .pool(let p): pools.append(p)
                case .vsvip(let v): vsvips.append(v)
                case .healthMonitor(let m): monitors.append(m)
                case .applicationProfile(let a): profiles.append(a)
                case .certificate(let c): certificates.append(c)
                case .sslProfile(let p): sslProfiles.append(p)
                case .pkiProfile(let p): pkiProfiles.append(p)
                case .vrf(let v):
                    if v.name == SystemDefaults.globalVrf && o.tenant == ObjectService.admin { snap.globalVrf = v }
                }
            } catch {
                logger.error(
                    "stored object does not decode; skipped",
                    metadata: ["controller.object": "\(o.type) \(o.uuid)", "error": "\(error)"])
            }
        }
        decodeCache = decodeCache.filter { seen.contains($0.key) }
        // Whole arrays at once (appending to `snap.set`'s optionals one by one copied them every time).
        snap.set.serviceenginegroup = groups
        snap.set.virtualservice = virtualServices
        snap.set.pool = pools
        snap.set.vsvip = vsvips
        snap.set.healthmonitor = monitors
        snap.set.applicationprofile = profiles
        snap.set.sslkeyandcertificate = certificates
        snap.set.sslprofile = sslProfiles
        snap.set.pkiprofile = pkiProfiles
        if let d = defaultGroup {
            for i in snap.ses.indices where snap.ses[i].group.isEmpty { snap.ses[i].group = d }
            for i in snap.vss.indices where snap.vss[i].group.isEmpty { snap.vss[i].group = d }
        }
        for s in snap.ses { snap.liveness[s.uuid] = liveness.state(s.uuid, now: now) }
        snap.reports = reported.mapValues(\.status)
        return snap
    }

    // MARK: One pass at a time

    /// Whether a pass (or an event that ends in one) runs now.
    private var passBusy = false
    /// Events waiting for the running pass to end, first come first served.
    private var passQueue: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` while no other pass runs. A pass awaits the store's write, and the actor takes other
    /// calls meanwhile (heartbeats, long-polls, runtime views); passes themselves never interleave, so each
    /// one starts from the placement and desired states the previous one left.
    private func exclusively<T>(_ body: () async throws -> T) async throws -> T {
        if passBusy {
            await withCheckedContinuation { passQueue.append($0) }
        } else {
            passBusy = true
        }
        defer {
            if passQueue.isEmpty { passBusy = false } else { passQueue.removeFirst().resume() }
        }
        return try await body()
    }

    /// One pass; run only inside ``exclusively(_:)``.
    private func reconcile(reason: String) async throws {
        // No passes before start (nor on a cluster node that does not lead) or after the freeze.
        guard started, !frozen else { return }
        let snap = try snapshot()
        let pass = ReconcilePass.run(snap, placement: placement, desired: desired)
        for (vs, error) in pass.unresolved {
            logger.error(
                "virtual service does not resolve; left out of the SE's desired state",
                metadata: ["se.vs": "\(vs)", "error": "\(error)"])
        }
        let wall = Date().timeIntervalSince1970
        // Only what changed is written: a write to one object must not rewrite every service's rows.
        let oldAssignments = placement.assignments
        let decisionsChanged = pass.decisions != decisions
        let stored = try await store.write { tx -> [String: SEDesiredState] in
            for (vs, ses) in pass.placement.assignments where oldAssignments[vs] != ses {
                try tx.setPlacement(vs: vs, ses: ses)
            }
            for vs in oldAssignments.keys where pass.placement.assignments[vs] == nil {
                try tx.setPlacement(vs: vs, ses: nil)
            }
            if pass.positions != snap.positions { try tx.replaceScaleoutPositions(pass.positions) }
            for (uuid, group) in pass.groups where snap.storedGroups[uuid]?.epoch != group.epoch {
                try tx.setScaleoutGroup(uuid, epoch: group.epoch, members: group.members)
            }
            if decisionsChanged { try tx.replaceDecisions(pass.decisions) }
            var out: [String: SEDesiredState] = [:]
            for (se, var doc) in pass.desired.sorted(by: { $0.key < $1.key }) {
                doc.version = try tx.nextVersion()
                try tx.putDesiredState(doc)
                out[se] = doc
            }
            // The SE objects show their oper state (read-only fields), updated on transitions only.
            for (se, st) in pass.operStates {
                guard var o = try tx.object(uuid: se) else { continue }
                o.json["oper_status"] = JSONValue.from(
                    OperStatus(state: st.state, reason: st.reason, last_changed_time: String(Int64(wall * 1_000_000))))
                o.json["se_connected"] = .bool(st.state != "OPER_DOWN")
                try tx.putObject(o, lastModified: Int64(wall * 1_000_000))
            }
            return out
        }
        placement = pass.placement
        decisions = pass.decisions
        for s in snap.ses { lastStates[s.uuid] = snap.liveness[s.uuid]?.state }
        for (se, doc) in stored {
            desired[se] = doc
            wake(se)
        }
        if !stored.isEmpty {
            logger.info(
                "reconciled",
                metadata: [
                    "controller.reason": "\(reason)",
                    "controller.changed": "\(stored.map { "\($0.value.se_name)@\($0.value.version)" }.sorted())",
                ])
        }
    }
}
