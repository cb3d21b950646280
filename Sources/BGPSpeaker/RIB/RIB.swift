/// The RIB: every peer's received routes (Adj-RIB-In) and the Loc-RIB with best-path selection.
///
/// ## Files (Sources/BGPSpeaker/RIB)
///
/// - `RIB.swift`: the public `RIB` (a copy-on-write value) and `RIBStorage`, which applies
///   UPDATEs, removes peers and answers queries.
/// - `RIBTypes.swift`: `PeerID`, `RIBPeerInfo`, `RIBRoute`, `RIBChanges`.
/// - `PrefixTable.swift`: the flat open-addressing table from prefix to `RouteSlot`.
/// - `CandidatePool.swift`: candidate lists of prefixes that several peers have.
/// - `AttributeStore.swift` and `AttributeEncoding.swift`: interned attribute sets in a byte arena.
/// - `BestPath.swift`: the decision process (RFC 4271 §9.1.2) over one candidate list.
/// - `AdjRIBOut.swift`: what we originate to one peer, as desired state diffed against what was sent.
///
/// Data flow: the speaker decodes an UPDATE and calls `apply(_:from:)` on its event loop; the RIB
/// interns the UPDATE's attribute set once, then walks the prefix arrays in a tight loop, and
/// returns how many best paths changed (`RIBChanges`; the prefixes too if asked). Session down is
/// `removePeer`. The status API reads `routes(peer:prefix:limit:)` and `bestRoute(for:)`.
///
/// ## Data structure
///
/// The RIB is tuned for one peer sending a full table (1M IPv4 prefixes in ~1000 UPDATEs), see
/// DESIGN.md §6:
///
/// - **Attribute sets are interned** (`AttributeStore`): each distinct attribute set is stored
///   once, compactly encoded (~40 bytes), with a reference count, and a route refers to it by a
///   31-bit id. Interning costs one encode and one hash lookup per UPDATE, not per prefix.
/// - **One flat hash table per family** (`PrefixTable`) maps a fixed-size prefix key (IPv4: one
///   `UInt64`; IPv6: two `UInt64` and a length) to an 8-byte `RouteSlot`. The table holds both the
///   Adj-RIBs-In and the Loc-RIB:
///   - a prefix that one peer has maps to that route (peer slot + attribute id + an "ineligible"
///     bit). That route is also the Loc-RIB entry when eligible: no second table, no allocation.
///   - a prefix that several peers have maps to a candidate list in `CandidatePool`: a block of
///     `RouteSlot`s in one shared buffer, best path first (32 bytes for up to three peers).
/// - Per peer, the Adj-RIB-In size is a counter; "all routes of peer P" is a walk of the table
///   (session down, status API), which is rare and O(table) without allocation.
///
/// Announcing a prefix with one peer is therefore: hash the key, probe, write 8 bytes, count; the
/// home buckets of 16 prefixes are loaded ahead so their cache misses overlap. The reference
/// count of the UPDATE's attribute set is adjusted once per UPDATE. Nothing is allocated per
/// prefix; the tables grow by doubling (`init(expectedIPv4Prefixes:)` avoids that).
///
/// The speaker owns one `RIB` on one event loop; the type is a copy-on-write value (the storage is
/// copied when a shared copy is mutated, checked once per call).
public struct RIB: @unchecked Sendable {
    // @unchecked: the storage class is only mutated after `makeUnique()`, as Array does.
    private var storage: RIBStorage
    /// Where `nearCapacity` starts.
    public var capacity = Capacity.standard

    public init() { storage = RIBStorage(expectedIPv4Prefixes: 0) }

    /// Reserves room for `expectedIPv4Prefixes` so a full table loads without rehashing.
    public init(expectedIPv4Prefixes: Int) { storage = RIBStorage(expectedIPv4Prefixes: expectedIPv4Prefixes) }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// When set, every `RIBChanges` also lists the prefixes whose best path changed (an array of
    /// up to the number of prefixes touched, so it is off by default).
    public var recordsChangedPrefixes: Bool {
        get { storage.recordChanges }
        set {
            makeUnique()
            storage.recordChanges = newValue
        }
    }

    /// Adds or replaces a peer's session information used by best-path tie-breaks (peer AS, router
    /// ID, address, iBGP/eBGP) and loop detection (local AS). Call it when the session is
    /// established, before its routes; if the peer already has routes they are re-evaluated.
    @discardableResult
    public mutating func setPeerInfo(_ peer: PeerID, _ info: RIBPeerInfo) -> RIBChanges {
        makeUnique()
        return storage.setPeerInfo(storage.slot(for: peer), info)
    }

    /// The info set for `peer`, if any.
    public func peerInfo(_ peer: PeerID) -> RIBPeerInfo? {
        guard let s = storage.peerSlots[peer] else { return nil }
        return storage.peers[Int(s)].infoSet ? storage.peers[Int(s)].info : nil
    }

    /// Applies one decoded UPDATE from a peer: withdrawals (IPv4 withdrawn routes and MP_UNREACH)
    /// first, then announcements (IPv4 NLRI with the attributes minus MP_REACH/MP_UNREACH; MP_REACH
    /// NLRI with the attributes keeping the MP_REACH next hop but with empty NLRI, so routes with
    /// the same next hop share one set). An announcement replaces the peer's earlier route for the
    /// prefix (RFC 4271 §3.1 implicit withdraw).
    @discardableResult
    public mutating func apply(_ update: UpdateMessage, from peer: PeerID) -> RIBChanges {
        makeUnique()
        return storage.apply(update, peer: storage.slot(for: peer))
    }

    /// Applies a decoded UPDATE (RFC 7606 treat-as-withdraw has already moved its NLRI to the
    /// withdrawn side, so this is `apply(decoded.update, from:)`).
    @discardableResult
    public mutating func apply(_ decoded: DecodedUpdate, from peer: PeerID) -> RIBChanges {
        apply(decoded.update, from: peer)
    }

    /// Removes every route of a peer (session down). Its peer info is kept.
    @discardableResult
    public mutating func removePeer(_ peer: PeerID) -> RIBChanges {
        guard let s = storage.peerSlots[peer], storage.peers[Int(s)].prefixCount > 0 else { return RIBChanges() }
        makeUnique()
        return storage.removePeer(s)
    }

    /// The number of prefixes in the peer's Adj-RIB-In (O(1)).
    public func prefixCount(of peer: PeerID) -> Int {
        guard let s = storage.peerSlots[peer] else { return 0 }
        return storage.peers[Int(s)].prefixCount
    }

    /// The number of prefixes with a best path.
    public var locRIBCount: Int { storage.locRIBCount }

    /// The number of distinct attribute sets stored.
    public var attributeSetCount: Int { storage.attrs.count }

    /// The RIB's fixed-width indexes fill up at 2^31 attribute sets, 4 GiB of encoded attributes and
    /// 2^32 candidate slots (preconditions, since a full index cannot be handled locally). The speaker
    /// checks this after each UPDATE and resets the peer that brought it here (Cease / Out of
    /// Resources, RFC 4486), long before: at `capacity` (half of each bound unless set lower).
    public var nearCapacity: Bool {
        storage.attrs.count >= capacity.attributeSets || storage.attrs.arenaBytes >= capacity.attributeBytes
            || storage.pool.used >= capacity.candidateSlots
    }

    /// The sizes at which the RIB counts as near its capacity.
    public struct Capacity: Sendable, Hashable {
        /// Half of each index's bound.
        public static let standard = Capacity(attributeSets: 1 << 30, attributeBytes: 1 << 31, candidateSlots: 1 << 31)
        public var attributeSets: Int
        public var attributeBytes: Int
        public var candidateSlots: Int
        /// Values above `standard`'s are lowered to them.
        public init(attributeSets: Int, attributeBytes: Int, candidateSlots: Int) {
            self.attributeSets = min(attributeSets, 1 << 30)
            self.attributeBytes = min(attributeBytes, 1 << 31)
            self.candidateSlots = min(candidateSlots, 1 << 31)
        }
    }

    /// The peers known to the RIB (those given info or routes), in id order.
    public var peers: [PeerID] { storage.peerSlots.keys.sorted() }

    /// Routes for the status API, sorted by prefix (IPv4 first) then peer: every route of `peer`
    /// (or of all peers), of `prefix` only when given (an exact match), at most `limit` of them.
    /// Without a prefix this sorts the matching prefixes, so it costs O(n log n) on a full table.
    public func routes(peer: PeerID? = nil, prefix: IPPrefix? = nil, limit: Int) -> [RIBRoute] {
        storage.routes(peer: peer, prefix: prefix, limit: limit)
    }

    /// The Loc-RIB entry for `prefix`: its best route, if it has one.
    public func bestRoute(for prefix: IPPrefix) -> RIBRoute? {
        storage.bestRoute(for: prefix)
    }
}

/// Per-peer state, indexed by the peer's slot.
struct PeerState {
    var id: PeerID
    var info: RIBPeerInfo
    var infoSet: Bool
    var prefixCount: Int
}

/// What adding one route did to the peer's Adj-RIB-In.
enum AnnounceOutcome {
    /// New prefix for this peer: took a reference on the attribute set.
    case added
    /// Replaced the peer's earlier route: took a reference (the old one was released).
    case replaced
    /// Same prefix, same attributes: nothing changed.
    case duplicate
}

/// The RIB's state. Stored properties skip Swift's dynamic exclusivity checks: they cost a runtime
/// call per access on the per-prefix path, and no access here overlaps another (no property is
/// passed `inout` to code that touches the same property).
final class RIBStorage {
    @exclusivity(unchecked) var v4: PrefixTable<IPv4Key>
    @exclusivity(unchecked) var v6: PrefixTable<IPv6Key>
    /// A constant reference, so that calls on it need no retain.
    let attrs: AttributeStore
    /// Candidate lists of prefixes that more than one peer has; best path first.
    @exclusivity(unchecked) var pool = CandidatePool()
    @exclusivity(unchecked) var peers: ContiguousArray<PeerState> = []
    @exclusivity(unchecked) var peerSlots: [PeerID: UInt32] = [:]
    @exclusivity(unchecked) private var lastPeer: PeerID? = nil
    @exclusivity(unchecked) private var lastSlot: UInt32 = 0
    @exclusivity(unchecked) var locRIBCount = 0
    @exclusivity(unchecked) var recordChanges = false
    /// Keeps the batch loads of `announce` alive.
    @exclusivity(unchecked) private var sink: UInt32 = 0
    /// Prefixes whose buckets are loaded ahead in one batch.
    static let batch = 16

    init(expectedIPv4Prefixes: Int, attributes: AttributeStore = AttributeStore()) {
        v4 = PrefixTable(minimumCapacity: expectedIPv4Prefixes)
        v6 = PrefixTable()
        attrs = attributes
    }

    func copy() -> RIBStorage {
        let c = RIBStorage(expectedIPv4Prefixes: 0, attributes: attrs.copy())
        c.v4 = v4.copy()
        c.v6 = v6.copy()
        c.pool = pool.copy()
        c.peers = peers
        c.peerSlots = peerSlots
        c.locRIBCount = locRIBCount
        c.recordChanges = recordChanges
        return c
    }

    func slot(for peer: PeerID) -> UInt32 {
        // One UPDATE after another comes from the same peer: skip the dictionary then.
        if peer == lastPeer { return lastSlot }
        if let s = peerSlots[peer] {
            lastPeer = peer
            lastSlot = s
            return s
        }
        precondition(peers.count < Int(RouteSlot.multi), "too many peers")
        let s = UInt32(peers.count)
        peers.append(PeerState(id: peer, info: .unknown, infoSet: false, prefixCount: 0))
        peerSlots[peer] = s
        return s
    }

    // MARK: - Eligibility

    /// RFC 4271 §9.1.2: "If the AS_PATH attribute of a BGP route contains an AS loop, the BGP route
    /// should be excluded from the Phase 2 decision function." A loop is our own AS in the path.
    static func isEligible(_ attributes: PathAttributes, localAS: UInt32) -> Bool {
        guard localAS != 0, let path = attributes.asPath else { return true }
        for segment in path.segments where segment.type == .asSequence || segment.type == .asSet {
            if segment.asns.contains(localAS) { return false }
        }
        return true
    }

    @inline(__always) private func route(_ id: UInt32, peer: UInt32, eligible: Bool) -> RouteSlot {
        RouteSlot(peer: peer, attr: eligible ? id : id | RouteSlot.ineligibleBit)
    }

    // MARK: - UPDATE

    func apply(_ update: UpdateMessage, peer: UInt32) -> RIBChanges {
        var log = ChangeLog(record: recordChanges)
        var withdrawn = 0
        // Withdrawals first, then announcements. RFC 4271 §4.3: a speaker "MUST be able to process"
        // an UPDATE with the same prefix withdrawn and announced, and "SHOULD treat" it "as though
        // the WITHDRAWN ROUTES do not contain the address prefix": withdrawing first does that.
        if !update.withdrawnRoutes.isEmpty {
            let table = v4
            var sink: UInt32 = 0
            update.withdrawnRoutes.withUnsafeBufferPointer { buffer in
                // Batched like announcements (see `announce`).
                var start = 0
                while start < buffer.count {
                    let end = min(start &+ Self.batch, buffer.count)
                    for j in start..<end { sink ^= table.touch(IPv4Key(buffer[j])) }
                    for j in start..<end where withdraw(table, IPv4Key(buffer[j]), peer: peer, &log) { withdrawn += 1 }
                    start = end
                }
            }
            self.sink = sink
        }
        // The tables hold unicast routes only; the codec refuses families that were not negotiated
        // (RFC 7606 §7.11), and only unicast ones are.
        if let unreach = update.attributes.mpUnreach, unreach.family.safi == .unicast {
            for p in unreach.withdrawn {
                switch p {
                case .v4(let q): if withdraw(v4, IPv4Key(q), peer: peer, &log) { withdrawn += 1 }
                case .v6(let q): if withdraw(v6, IPv6Key(q), peer: peer, &log) { withdrawn += 1 }
                }
            }
        }
        peers[Int(peer)].prefixCount -= withdrawn

        if !update.nlri.isEmpty {
            // IPv4 NLRI: the set without MP_REACH/MP_UNREACH.
            announce(update.nlri, attributes: update.attributes, mode: .omit, peer: peer, &log)
        }
        if let reach = update.attributes.mpReach, reach.family.safi == .unicast, !reach.nlri.isEmpty {
            // MP_REACH NLRI: the set keeps MP_REACH (its next hop) with empty NLRI, no MP_UNREACH.
            announce(reach.nlri, attributes: update.attributes, mode: .reachTemplate, peer: peer, &log)
        }
        return log.changes
    }

    /// Interns `attributes`, pinned by one extra reference while the prefixes are processed.
    private func pinned(_ attributes: PathAttributes, mode: AttributeEncoding.MPMode, peer: UInt32) -> RouteSlot {
        let id = attrs.intern(attributes, mode: mode)
        attrs.retain(id)
        let eligible = Self.isEligible(attributes, localAS: peers[Int(peer)].info.localAS)
        return route(id, peer: peer, eligible: eligible)
    }

    /// Takes the references counted for the UPDATE and drops the pin (freeing an unused set).
    private func unpin(_ route: RouteSlot, references: UInt32, added: Int) {
        attrs.retain(route.attrID, by: references)
        attrs.release(route.attrID)
        peers[Int(route.peer)].prefixCount += added
    }

    private func announce(
        _ prefixes: [IPv4Prefix], attributes: PathAttributes, mode: AttributeEncoding.MPMode, peer: UInt32,
        _ log: inout ChangeLog
    ) {
        let table = v4
        var references: UInt32 = 0
        var added = 0
        var sink: UInt32 = 0
        var r = RouteSlot(peer: peer, attr: 0)
        prefixes.withUnsafeBufferPointer { buffer in
            // In batches: first load every home bucket of the batch (independent loads, so their
            // cache misses overlap), then insert one by one into now-cached buckets. The first
            // batch is loaded before interning, so it overlaps the attribute index's miss too.
            for j in 0..<min(Self.batch, buffer.count) { sink ^= table.touch(IPv4Key(buffer[j])) }
            r = pinned(attributes, mode: mode, peer: peer)
            var start = 0
            while start < buffer.count {
                let end = min(start &+ Self.batch, buffer.count)
                if start > 0 { for j in start..<end { sink ^= table.touch(IPv4Key(buffer[j])) } }
                for j in start..<end {
                    switch announce(table, IPv4Key(buffer[j]), r, &log) {
                    case .added:
                        references &+= 1
                        added &+= 1
                    case .replaced: references &+= 1
                    case .duplicate: break
                    }
                }
                start = end
            }
        }
        self.sink = sink
        unpin(r, references: references, added: added)
    }

    private func announce(
        _ prefixes: [IPPrefix], attributes: PathAttributes, mode: AttributeEncoding.MPMode, peer: UInt32,
        _ log: inout ChangeLog
    ) {
        let r = pinned(attributes, mode: mode, peer: peer)
        var references: UInt32 = 0
        var added = 0
        for p in prefixes {
            let outcome: AnnounceOutcome
            switch p {
            case .v4(let q): outcome = announce(v4, IPv4Key(q), r, &log)
            case .v6(let q): outcome = announce(v6, IPv6Key(q), r, &log)
            }
            switch outcome {
            case .added:
                references &+= 1
                added &+= 1
            case .replaced: references &+= 1
            case .duplicate: break
            }
        }
        unpin(r, references: references, added: added)
    }

    /// Notes a change of best path for a prefix and keeps the Loc-RIB count.
    @inline(__always) private func noteBest<K: PrefixTableKey>(
        _ old: RouteSlot?, _ new: RouteSlot?, _ key: K, _ log: inout ChangeLog
    ) {
        if old == new { return }
        if old == nil { locRIBCount &+= 1 }
        if new == nil { locRIBCount &-= 1 }
        log.note(key)
    }

    /// The best path of a candidate list, if any (the first route, when eligible).
    @inline(__always) private func best(_ list: UInt32) -> RouteSlot? {
        let r = pool.routes(list)[0]
        return r.isEligible ? r : nil
    }

    /// Runs the decision process on a candidate list; returns its best path.
    @inline(__always) private func reselect(_ list: UInt32) -> RouteSlot? {
        let routes = pool.routes(list)
        return selectBest(routes) ? routes[0] : nil
    }

    /// The position of the peer's route in a candidate list.
    @inline(__always) private func position(of peer: UInt32, in list: UInt32) -> Int? {
        pool.routes(list).firstIndex { $0.peer == peer }
    }

    /// Adds or replaces one route. The route's attribute reference is counted by the caller.
    @inline(__always)
    private func announce<K: PrefixTableKey>(
        _ table: PrefixTable<K>, _ key: K, _ route: RouteSlot, _ log: inout ChangeLog
    ) -> AnnounceOutcome {
        let (i, inserted) = table.findOrInsert(key)
        if inserted {
            table.buckets[i].value = route
            if route.isEligible {
                locRIBCount &+= 1
                log.note(key)
            }
            return .added
        }
        let current = table.buckets[i].value
        if current.peer == route.peer {
            // RFC 4271 §3.1: a new route for a prefix replaces the peer's earlier one (implicit withdraw).
            if current.attr == route.attr { return .duplicate }
            table.buckets[i].value = route
            attrs.release(current.attrID)
            noteBest(current.isEligible ? current : nil, route.isEligible ? route : nil, key, &log)
            return .replaced
        }
        return announceShared(table, i, key, current, route, &log)
    }

    /// The slow path: the prefix has a route from another peer.
    private func announceShared<K: PrefixTableKey>(
        _ table: PrefixTable<K>, _ i: Int, _ key: K, _ current: RouteSlot, _ route: RouteSlot, _ log: inout ChangeLog
    ) -> AnnounceOutcome {
        if !current.isMulti {
            let l = pool.make(current, route)
            table.buckets[i].value = RouteSlot(peer: RouteSlot.multi, attr: l)
            noteBest(current.isEligible ? current : nil, reselect(l), key, &log)
            return .added
        }
        var l = current.attr
        let old = best(l)
        let outcome: AnnounceOutcome
        if let j = position(of: route.peer, in: l) {
            let previous = pool.routes(l)[j]
            if previous.attr == route.attr { return .duplicate }
            pool.routes(l)[j] = route
            attrs.release(previous.attrID)
            outcome = .replaced
        } else {
            l = pool.append(route, to: l)
            table.buckets[i].value.attr = l
            outcome = .added
        }
        noteBest(old, reselect(l), key, &log)
        return outcome
    }

    /// Removes the peer's route for `key`; false when the peer has none.
    @inline(__always)
    private func withdraw<K: PrefixTableKey>(_ table: PrefixTable<K>, _ key: K, peer: UInt32, _ log: inout ChangeLog)
        -> Bool
    {
        guard let i = table.find(key) else { return false }
        return withdraw(table, at: i, peer: peer, &log)
    }

    /// Removes the peer's route at bucket `i`; false when the peer has none there.
    private func withdraw<K: PrefixTableKey>(_ table: PrefixTable<K>, at i: Int, peer: UInt32, _ log: inout ChangeLog)
        -> Bool
    {
        let current = table.buckets[i].value
        let key = table.buckets[i].key
        if current.peer == peer {
            table.remove(at: i)
            attrs.release(current.attrID)
            if current.isEligible {
                locRIBCount &-= 1
                log.note(key)
            }
            return true
        }
        guard current.isMulti else { return false }
        let l = current.attr
        guard let j = position(of: peer, in: l) else { return false }
        let old = best(l)
        attrs.release(pool.routes(l)[j].attrID)
        pool.remove(at: j, from: l)
        let new: RouteSlot?
        if pool.routeCount(l) == 1 {
            let only = pool.routes(l)[0]
            pool.release(l)
            table.buckets[i].value = only
            new = only.isEligible ? only : nil
        } else {
            new = reselect(l)
        }
        noteBest(old, new, key, &log)
        return true
    }

    // MARK: - Peers

    func removePeer(_ peer: UInt32) -> RIBChanges {
        var log = ChangeLog(record: recordChanges)
        let share = peers[Int(peer)].prefixCount
        v4 = removeAll(of: peer, from: v4, share: share, &log)
        v6 = removeAll(of: peer, from: v6, share: share, &log)
        peers[Int(peer)].prefixCount = 0
        return log.changes
    }

    /// Removes every route of `peer` from `table`, returning the table to keep. When the peer is
    /// the only one with many of the table's prefixes, the survivors are copied into a new table
    /// sized for them (one sequential pass, and the memory of a full table is given back);
    /// otherwise the peer's entries are removed in place.
    private func removeAll<K: PrefixTableKey>(
        of peer: UInt32, from table: PrefixTable<K>, share: Int, _ log: inout ChangeLog
    ) -> PrefixTable<K> {
        guard table.count > 0, share > 0 else { return table }
        // Entries that go away entirely: the peer's single routes.
        var gone = 0
        for i in 0..<table.capacity where table.buckets[i].key != .empty && table.buckets[i].value.peer == peer {
            gone += 1
        }
        if gone * 4 < table.count {
            let mask = table.capacity - 1
            var sink: UInt32 = 0
            table.forEachIndex(removing: { i in
                // Load the candidate list a few buckets ahead, so that its cache miss overlaps
                // the work on this one (lists sit in the pool in arrival order, not hash order).
                let ahead = table.buckets[(i &+ 24) & mask]
                if ahead.key != .empty && ahead.value.isMulti { sink ^= pool.slots[Int(ahead.value.attr)].peer }
                let current = table.buckets[i].value
                if current.peer == peer {
                    _ = withdraw(table, at: i, peer: peer, &log)
                    return true
                }
                if current.isMulti { _ = withdraw(table, at: i, peer: peer, &log) }
                return false
            })
            self.sink = sink
            return table
        }
        // Size the new table for every survivor before inserting: entries come out of the old
        // table in hash order, and inserting them in that order into a table that must still grow
        // piles them into one probe run (quadratic time).
        let survivors = table.count - gone
        let kept = PrefixTable<K>(minimumCapacity: survivors, seed: table.seed)
        for i in 0..<table.capacity {
            let b = table.buckets[i]
            if b.key == .empty { continue }
            if b.value.peer == peer {
                attrs.release(b.value.attrID)
                if b.value.isEligible {
                    locRIBCount &-= 1
                    log.note(b.key)
                }
            } else if b.value.isMulti {
                // Withdraw in the old table (which may turn the entry back into a single route),
                // then carry the entry over.
                _ = withdraw(table, at: i, peer: peer, &log)
                kept.insertNew(b.key, table.buckets[i].value)
            } else {
                kept.insertNew(b.key, b.value)
            }
        }
        return kept
    }

    func setPeerInfo(_ peer: UInt32, _ info: RIBPeerInfo) -> RIBChanges {
        let previous = peers[Int(peer)].info
        peers[Int(peer)].info = info
        peers[Int(peer)].infoSet = true
        var log = ChangeLog(record: recordChanges)
        guard peers[Int(peer)].prefixCount > 0, previous != info else { return log.changes }
        reevaluate(peer, in: v4, &log)
        reevaluate(peer, in: v6, &log)
        return log.changes
    }

    /// Recomputes eligibility (the local AS may have changed) and the best path of every prefix the
    /// peer has a route for.
    private func reevaluate<K: PrefixTableKey>(_ peer: UInt32, in table: PrefixTable<K>, _ log: inout ChangeLog) {
        let localAS = peers[Int(peer)].info.localAS
        table.forEachOccupied { i in
            let current = table.buckets[i].value
            let key = table.buckets[i].key
            if current.peer == peer {
                let eligible = Self.isEligible(attrs.attributes(current.attrID), localAS: localAS)
                let updated = route(current.attrID, peer: peer, eligible: eligible)
                table.buckets[i].value = updated
                noteBest(current.isEligible ? current : nil, eligible ? updated : nil, key, &log)
            } else if current.isMulti {
                let l = current.attr
                guard let j = position(of: peer, in: l) else { return }
                let old = best(l)
                let id = pool.routes(l)[j].attrID
                pool.routes(l)[j] = route(
                    id, peer: peer, eligible: Self.isEligible(attrs.attributes(id), localAS: localAS))
                let new = reselect(l)
                noteBest(old, new, key, &log)
            }
        }
    }

    // MARK: - Queries

    /// The routes stored at bucket `i`, in peer-id order.
    private func routes<K: PrefixTableKey>(at i: Int, of table: PrefixTable<K>, peer: UInt32?) -> [RIBRoute] {
        let slot = table.buckets[i].value
        let prefix = table.buckets[i].key.prefix
        func make(_ r: RouteSlot, best: Bool) -> RIBRoute {
            RIBRoute(
                prefix: prefix, peer: peers[Int(r.peer)].id, attributes: attrs.attributes(r.attrID), best: best,
                eligible: r.isEligible)
        }
        if !slot.isMulti {
            if let peer, slot.peer != peer { return [] }
            return [make(slot, best: slot.isEligible)]
        }
        let list = Array(pool.routes(slot.attr))
        var out: [RIBRoute] = []
        for (j, r) in list.enumerated() where peer == nil || r.peer == peer {
            out.append(make(r, best: j == 0 && r.isEligible))
        }
        out.sort { $0.peer < $1.peer }
        return out
    }

    private func holds(_ slot: RouteSlot, peer: UInt32) -> Bool {
        if slot.peer == peer { return true }
        return slot.isMulti && position(of: peer, in: slot.attr) != nil
    }

    private func collect<K: PrefixTableKey & Comparable>(
        _ table: PrefixTable<K>, peer: UInt32?, limit: Int, into out: inout [RIBRoute]
    ) {
        guard out.count < limit else { return }
        var indices: [Int] = []
        table.forEachOccupied { i in
            if let peer, !holds(table.buckets[i].value, peer: peer) { return }
            indices.append(i)
        }
        indices.sort { table.buckets[$0].key < table.buckets[$1].key }
        for i in indices {
            for r in routes(at: i, of: table, peer: peer) {
                if out.count >= limit { return }
                out.append(r)
            }
        }
    }

    func routes(peer: PeerID?, prefix: IPPrefix?, limit: Int) -> [RIBRoute] {
        guard limit > 0 else { return [] }
        var slot: UInt32? = nil
        if let peer {
            guard let s = peerSlots[peer] else { return [] }
            slot = s
        }
        var out: [RIBRoute] = []
        if let prefix {
            switch prefix {
            case .v4(let p): if let i = v4.find(IPv4Key(p)) { out = routes(at: i, of: v4, peer: slot) }
            case .v6(let p): if let i = v6.find(IPv6Key(p)) { out = routes(at: i, of: v6, peer: slot) }
            }
            return Array(out.prefix(limit))
        }
        collect(v4, peer: slot, limit: limit, into: &out)
        collect(v6, peer: slot, limit: limit, into: &out)
        return out
    }

    func bestRoute(for prefix: IPPrefix) -> RIBRoute? {
        let found: [RIBRoute]
        switch prefix {
        case .v4(let p):
            guard let i = v4.find(IPv4Key(p)) else { return nil }
            found = routes(at: i, of: v4, peer: nil)
        case .v6(let p):
            guard let i = v6.find(IPv6Key(p)) else { return nil }
            found = routes(at: i, of: v6, peer: nil)
        }
        return found.first { $0.best }
    }
}
