/// Interned path-attribute sets (DESIGN.md §6): every distinct attribute set the RIB holds is
/// stored once, under a small integer id, with a count of the routes that use it.
///
/// Routes refer to their set by id (`RouteSlot.attr`), so 1M prefixes that share one set cost one
/// set. Sets are kept in `AttributeEncoding`'s compact form in one byte arena (~40 bytes for a
/// typical set instead of ~400 as `PathAttributes`, and no allocation per set). Interning encodes
/// the set into a scratch buffer, hashes the bytes, and looks the hash up in an open-addressing
/// index whose slots hold the hash beside the id, so a miss touches only the index. A set is freed,
/// and its id reused, when its count drops to zero; the arena is compacted when more than half of
/// it is dead. Beside each set the store keeps the few values the decision process reads
/// (`DecisionData`), so comparing routes never decodes a set.
final class AttributeStore {
    /// The values of a set that best-path selection reads, extracted once at intern time
    /// (16 bytes, so that a set's entry is 32).
    struct DecisionData {
        private var localPrefValue: UInt32
        /// MULTI_EXIT_DISC; RFC 4271 §9.1.2.2 (c): a missing MED is the lowest value (0).
        var med: UInt32
        /// The neighbouring AS (first AS of the path), or 0 when the path does not start with an
        /// AS_SEQUENCE (then the peer's AS stands in).
        var neighborAS: UInt32
        private var pathLength: UInt16
        /// ORIGIN, with a missing one ranked as INCOMPLETE.
        var origin: UInt8
        private var hasLocalPref: Bool

        init(_ a: PathAttributes) {
            localPrefValue = a.localPref ?? 0
            hasLocalPref = a.localPref != nil
            // An AS_PATH attribute is at most 65535 octets, so its length fits; saturate anyway.
            pathLength = UInt16(clamping: a.asPath?.pathLength ?? 0)
            origin = a.origin?.rawValue ?? Origin.incomplete.rawValue
            med = a.multiExitDisc ?? 0
            neighborAS = a.asPath?.firstAS ?? 0
        }

        /// LOCAL_PREF as received, or nil.
        var localPref: UInt32? { hasLocalPref ? localPrefValue : nil }
        /// RFC 4271 §9.1.2.2 (a): AS_PATH length as the decision counts it.
        var asPathLength: Int { Int(pathLength) }
    }

    private struct Entry {
        /// Offset of the encoding in the arena.
        var offset: UInt32
        /// Length of the encoding; 0 for a free id.
        var length: UInt32
        var refcount: UInt32
        var hash: UInt32
        var decision: DecisionData
    }

    @exclusivity(unchecked) private var entries: ContiguousArray<Entry> = []
    @exclusivity(unchecked) private var freeIDs: [UInt32] = []
    /// Open-addressing index; a slot is `hash << 32 | (id + 1)`, 0 when empty.
    @exclusivity(unchecked) private var index: UnsafeMutablePointer<UInt64>
    @exclusivity(unchecked) private var indexCapacity: Int
    @exclusivity(unchecked) private var arena: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var arenaCapacity: Int
    /// Bytes used in the arena, live or dead.
    @exclusivity(unchecked) private var arenaUsed = 0
    /// Dead bytes in the arena (freed sets).
    @exclusivity(unchecked) private var arenaDead = 0
    @exclusivity(unchecked) private var scratch: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var scratchCapacity: Int
    private let seed: UInt64
    /// The number of live sets.
    @exclusivity(unchecked) private(set) var count = 0

    /// `seed` keys the hash of the encoded sets; random by default so that a peer cannot
    /// precompute sets that collide in the index.
    init(seed: UInt64 = .random(in: 0...UInt64.max)) {
        indexCapacity = 16
        index = .allocate(capacity: indexCapacity)
        index.initialize(repeating: 0, count: indexCapacity)
        arenaCapacity = 4096
        arena = .allocate(byteCount: arenaCapacity, alignment: 8)
        scratchCapacity = 1024
        scratch = .allocate(byteCount: scratchCapacity, alignment: 8)
        self.seed = seed
    }

    deinit {
        index.deallocate()
        arena.deallocate()
        scratch.deallocate()
    }

    func copy() -> AttributeStore {
        let c = AttributeStore(seed: seed)
        c.entries = entries
        c.freeIDs = freeIDs
        c.index.deallocate()
        c.indexCapacity = indexCapacity
        c.index = .allocate(capacity: indexCapacity)
        c.index.initialize(from: index, count: indexCapacity)
        c.arena.deallocate()
        c.arenaCapacity = arenaCapacity
        c.arena = .allocate(byteCount: arenaCapacity, alignment: 8)
        c.arena.copyMemory(from: arena, byteCount: arenaUsed)
        c.arenaUsed = arenaUsed
        c.arenaDead = arenaDead
        c.count = count
        return c
    }

    // MARK: - Reading

    /// The set stored under `id` (decoded; allocates). A free id reads as an empty set.
    func attributes(_ id: UInt32) -> PathAttributes {
        let e = entries[Int(id)]
        guard e.length != 0 else { return PathAttributes() }
        return AttributeEncoding.decode(UnsafeRawBufferPointer(start: arena + Int(e.offset), count: Int(e.length)))
    }
    @inline(__always) func decision(_ id: UInt32) -> DecisionData { entries[Int(id)].decision }
    func refcount(_ id: UInt32) -> UInt32 { entries[Int(id)].refcount }
    /// Bytes of encoded sets held (live and not yet compacted).
    var arenaBytes: Int { arenaUsed }

    // MARK: - Interning

    @inline(__always) private func home(_ hash: UInt32, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: UInt64(hash) &* 0x9E37_79B9) & mask
    }

    /// The id of `attributes` (with its MP attributes treated as `mode` says), adding it with a
    /// count of zero when new. The caller retains it.
    func intern(_ attributes: PathAttributes, mode: AttributeEncoding.MPMode = .asIs) -> UInt32 {
        let bound = AttributeEncoding.maximumSize(attributes, mode: mode)
        if bound > scratchCapacity {
            scratch.deallocate()
            scratchCapacity = max(bound, scratchCapacity * 2)
            scratch = .allocate(byteCount: scratchCapacity, alignment: 8)
        }
        let length = AttributeEncoding.encode(attributes, mode: mode, into: scratch)
        let hash = UInt32(truncatingIfNeeded: AttributeEncoding.hash(scratch, count: length, seed: seed) >> 32)
        let mask = indexCapacity &- 1
        var i = home(hash, mask)
        while true {
            let slot = index[i]
            if slot == 0 { break }
            if UInt32(truncatingIfNeeded: slot >> 32) == hash {
                let id = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF) &- 1
                let e = entries[id]
                if Int(e.length) == length && AttributeEncoding.equal(arena + Int(e.offset), scratch, count: length) {
                    return UInt32(id)
                }
            }
            i = (i &+ 1) & mask
        }
        // New set: append its bytes to the arena.
        if arenaUsed + length > arenaCapacity { growArena(needing: length) }
        (arena + arenaUsed).copyMemory(from: scratch, byteCount: length)
        let entry = Entry(
            offset: UInt32(arenaUsed), length: UInt32(length), refcount: 0, hash: hash,
            decision: DecisionData(attributes))
        arenaUsed += length
        let id: UInt32
        if let reused = freeIDs.popLast() {
            id = reused
            entries[Int(id)] = entry
        } else {
            precondition(entries.count < Int(RouteSlot.ineligibleBit) - 1, "attribute-set ids exhausted")
            id = UInt32(entries.count)
            entries.append(entry)
        }
        index[i] = UInt64(hash) << 32 | UInt64(id + 1)
        count += 1
        if count * 4 > indexCapacity * 3 { growIndex() }
        return id
    }

    @inline(__always) func retain(_ id: UInt32, by n: UInt32 = 1) {
        entries[Int(id)].refcount &+= n
    }

    /// Drops one reference; frees the set when none is left.
    @inline(__always) func release(_ id: UInt32) {
        entries[Int(id)].refcount &-= 1
        if entries[Int(id)].refcount == 0 { free(id) }
    }

    // MARK: - Freeing and growth

    private func free(_ id: UInt32) {
        let mask = indexCapacity &- 1
        let target = UInt64(entries[Int(id)].hash) << 32 | UInt64(id + 1)
        var i = home(entries[Int(id)].hash, mask)
        while index[i] != target { i = (i &+ 1) & mask }
        // Backward-shift deletion (see PrefixTable.remove(at:)).
        var hole = i
        var j = i
        while true {
            j = (j &+ 1) & mask
            let slot = index[j]
            if slot == 0 { break }
            let h = home(UInt32(truncatingIfNeeded: slot >> 32), mask)
            if (j &- h) & mask >= (j &- hole) & mask {
                index[hole] = slot
                hole = j
            }
        }
        index[hole] = 0
        arenaDead += Int(entries[Int(id)].length)
        entries[Int(id)].length = 0
        freeIDs.append(id)
        count -= 1
        if arenaDead > 65536 && arenaDead * 2 > arenaUsed { compact() }
    }

    private func insertIndex(hash: UInt32, id: UInt32) {
        let mask = indexCapacity &- 1
        var i = home(hash, mask)
        while index[i] != 0 { i = (i &+ 1) & mask }
        index[i] = UInt64(hash) << 32 | UInt64(id + 1)
    }

    private func growIndex() {
        let old = index
        let oldCapacity = indexCapacity
        indexCapacity *= 2
        index = .allocate(capacity: indexCapacity)
        index.initialize(repeating: 0, count: indexCapacity)
        for i in 0..<oldCapacity where old[i] != 0 {
            insertIndex(
                hash: UInt32(truncatingIfNeeded: old[i] >> 32), id: UInt32(truncatingIfNeeded: old[i] & 0xFFFF_FFFF) - 1
            )
        }
        old.deallocate()
    }

    private func growArena(needing length: Int) {
        var capacity = arenaCapacity * 2
        while arenaUsed + length > capacity { capacity *= 2 }
        precondition(capacity <= Int(UInt32.max), "attribute arena full")
        let new = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        new.copyMemory(from: arena, byteCount: arenaUsed)
        arena.deallocate()
        arena = new
        arenaCapacity = capacity
    }

    /// Moves the live sets to a fresh arena, dropping dead bytes. Ids do not change.
    private func compact() {
        let live = arenaUsed - arenaDead
        var capacity = 4096
        while capacity < live * 2 { capacity *= 2 }
        let new = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        var used = 0
        for id in entries.indices where entries[id].length != 0 {
            let length = Int(entries[id].length)
            (new + used).copyMemory(from: arena + Int(entries[id].offset), byteCount: length)
            entries[id].offset = UInt32(used)
            used += length
        }
        arena.deallocate()
        arena = new
        arenaCapacity = capacity
        arenaUsed = used
        arenaDead = 0
    }
}
