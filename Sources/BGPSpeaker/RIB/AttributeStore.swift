/// Interned path-attribute sets (DESIGN.md §6): every distinct `PathAttributes` the RIB holds is
/// stored once, under a small integer id, with a reference count of the routes that use it.
///
/// Routes refer to their set by id (`RouteSlot.attr`), so 1M prefixes that share one set cost one
/// set. The hash index holds only ids (the set itself is stored once, in `sets`), keyed by the
/// set's hash which is kept beside it. A set is freed, and its id reused, when its count drops to
/// zero. Beside each set the store keeps the few values the decision process reads
/// (`DecisionData`), so comparing routes never walks an AS_PATH.
final class AttributeStore {
    /// The values of a set that best-path selection reads, extracted once at intern time.
    struct DecisionData {
        /// LOCAL_PREF as received, or nil.
        var localPref: UInt32?
        /// RFC 4271 §9.1.2.2 (a): AS_PATH length as the decision counts it.
        var asPathLength: Int
        /// ORIGIN, with a missing one ranked as INCOMPLETE.
        var origin: UInt8
        /// MULTI_EXIT_DISC; RFC 4271 §9.1.2.2 (c): a missing MED is the lowest value (0).
        var med: UInt32
        /// The neighbouring AS (first AS of the path), or 0 when the path does not start with an
        /// AS_SEQUENCE (then the peer's AS stands in).
        var neighborAS: UInt32

        init(_ a: PathAttributes) {
            localPref = a.localPref
            asPathLength = a.asPath?.pathLength ?? 0
            origin = a.origin?.rawValue ?? Origin.incomplete.rawValue
            med = a.multiExitDisc ?? 0
            neighborAS = a.asPath?.firstAS ?? 0
        }
    }

    private struct Entry {
        var refcount: UInt32
        var hash: Int
        var decision: DecisionData
    }

    /// id → set; a freed id holds an empty set until reused.
    private(set) var sets: ContiguousArray<PathAttributes> = []
    private var entries: ContiguousArray<Entry> = []
    private var freeIDs: [UInt32] = []
    /// Open-addressing index of `id + 1` (0 = empty bucket) keyed by `entries[id].hash`.
    private var index: [UInt32] = Array(repeating: 0, count: 16)
    private(set) var count = 0

    init() {}

    func copy() -> AttributeStore {
        let c = AttributeStore()
        c.sets = sets
        c.entries = entries
        c.freeIDs = freeIDs
        c.index = index
        c.count = count
        return c
    }

    @inline(__always) func attributes(_ id: UInt32) -> PathAttributes { sets[Int(id)] }
    @inline(__always) func decision(_ id: UInt32) -> DecisionData { entries[Int(id)].decision }
    func refcount(_ id: UInt32) -> UInt32 { entries[Int(id)].refcount }

    @inline(__always) private func home(_ hash: Int, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: Int64(hash)) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// The id of `attributes`, adding it with a count of zero when new. The caller retains it.
    func intern(_ attributes: PathAttributes) -> UInt32 {
        let hash = attributes.hashValue
        let mask = index.count - 1
        var i = home(hash, mask)
        while true {
            let slot = index[i]
            if slot == 0 { break }
            let id = Int(slot - 1)
            if entries[id].hash == hash && sets[id] == attributes { return UInt32(id) }
            i = (i + 1) & mask
        }
        let id: UInt32
        let entry = Entry(refcount: 0, hash: hash, decision: DecisionData(attributes))
        if let reused = freeIDs.popLast() {
            id = reused
            sets[Int(id)] = attributes
            entries[Int(id)] = entry
        } else {
            precondition(sets.count < Int(RouteSlot.ineligibleBit), "attribute-set ids exhausted")
            id = UInt32(sets.count)
            sets.append(attributes)
            entries.append(entry)
        }
        index[i] = id + 1
        count += 1
        if count * 4 > index.count * 3 { growIndex() }
        return id
    }

    @inline(__always) func retain(_ id: UInt32, by n: UInt32 = 1) {
        entries[Int(id)].refcount += n
    }

    /// Drops one reference; frees the set when none is left.
    @inline(__always) func release(_ id: UInt32) {
        entries[Int(id)].refcount -= 1
        if entries[Int(id)].refcount == 0 { free(id) }
    }

    /// Frees `id` if nothing refers to it (used after interning a set no route ended up using).
    func releaseIfUnused(_ id: UInt32) {
        if entries[Int(id)].refcount == 0 { free(id) }
    }

    private func free(_ id: UInt32) {
        let mask = index.count - 1
        var i = home(entries[Int(id)].hash, mask)
        while index[i] != id + 1 { i = (i + 1) & mask }
        // Backward-shift deletion (see PrefixTable.remove(at:)).
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            let slot = index[j]
            if slot == 0 { break }
            let h = home(entries[Int(slot - 1)].hash, mask)
            if (j &- h) & mask >= (j &- hole) & mask {
                index[hole] = slot
                hole = j
            }
        }
        index[hole] = 0
        sets[Int(id)] = PathAttributes()
        freeIDs.append(id)
        count -= 1
    }

    private func growIndex() {
        let newCount = index.count * 2
        var newIndex = [UInt32](repeating: 0, count: newCount)
        let mask = newCount - 1
        for slot in index where slot != 0 {
            var i = home(entries[Int(slot - 1)].hash, mask)
            while newIndex[i] != 0 { i = (i + 1) & mask }
            newIndex[i] = slot
        }
        index = newIndex
    }
}
