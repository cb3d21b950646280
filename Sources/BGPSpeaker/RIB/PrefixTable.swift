/// A flat open-addressing hash table from a fixed-size prefix key to one 8-byte `RouteSlot`.
///
/// This is the RIB's per-prefix storage (DESIGN.md §6): one bucket per prefix, the key and the value
/// side by side in one contiguous allocation, so an insert or a lookup is one hash and usually one
/// cache line. Linear probing, power-of-two capacity, at most 3/4 full, and deletion by backward
/// shift, so there are no tombstones and a withdraw-heavy workload never degrades the table.
///
/// - IPv4 keys are one `UInt64` (`address << 8 | length`): 16-byte buckets, 32 MiB for 1M prefixes.
/// - IPv6 keys are two `UInt64` halves and the length: 32-byte buckets.
///
/// The table is a class only to own its unsafe buffer; `RIB` keeps value semantics by copying the
/// whole storage on write (`copy()`), checked once per call, never per prefix.

/// The key of a `PrefixTable`: a fixed-size prefix with an impossible value that marks an empty bucket.
protocol PrefixTableKey: Equatable {
    /// A value no real prefix has (a prefix length above the family's maximum).
    static var empty: Self { get }
    /// A well-mixed 64-bit hash keyed by `seed`; the table uses its high bits.
    func tableHash(seed: UInt64) -> UInt64
    /// The prefix this key stands for.
    var prefix: IPPrefix { get }
}

/// An IPv4 prefix packed as `address << 8 | length`; sorts like `IPv4Prefix` (address, then length).
struct IPv4Key: PrefixTableKey, Comparable {
    var raw: UInt64
    @inline(__always) init(raw: UInt64) { self.raw = raw }
    @inline(__always) init(_ p: IPv4Prefix) { raw = UInt64(p.address.rawValue) << 8 | UInt64(p.length) }
    static var empty: Self { Self(raw: .max) }
    @inline(__always) func tableHash(seed: UInt64) -> UInt64 {
        // A SplitMix64-style finaliser: sequential prefixes (the common case) spread evenly.
        var x = raw ^ seed
        x = (x ^ (x >> 31)) &* 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 29)) &* 0xBF58_476D_1CE4_E5B9
        return x ^ (x >> 32)
    }
    var prefix: IPPrefix {
        .v4(IPv4Prefix(address: IPv4Address(rawValue: UInt32(truncatingIfNeeded: raw >> 8)), length: UInt8(raw & 0xFF)))
    }
    static func < (l: Self, r: Self) -> Bool { l.raw < r.raw }
}

/// An IPv6 prefix as its two address halves and its length.
struct IPv6Key: PrefixTableKey, Comparable {
    var high: UInt64
    var low: UInt64
    var length: UInt8
    @inline(__always) init(high: UInt64, low: UInt64, length: UInt8) {
        self.high = high
        self.low = low
        self.length = length
    }
    @inline(__always) init(_ p: IPv6Prefix) {
        self.init(high: p.address.high, low: p.address.low, length: p.length)
    }
    static var empty: Self { Self(high: 0, low: 0, length: .max) }
    @inline(__always) func tableHash(seed: UInt64) -> UInt64 {
        var x = (high ^ seed) &* 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 29) ^ low) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 32) ^ UInt64(length)) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 29)
    }
    var prefix: IPPrefix {
        .v6(IPv6Prefix(address: IPv6Address(high: high, low: low), length: length))
    }
    static func < (l: Self, r: Self) -> Bool { (l.high, l.low, l.length) < (r.high, r.low, r.length) }
}

/// What a prefix maps to: either one route (a peer slot and an attribute-set id) or, when more than
/// one peer has the prefix, the index of its candidate list (`peer == RouteSlot.multi`).
struct RouteSlot: Hashable {
    /// Internal peer slot, or `RouteSlot.multi`.
    var peer: UInt32
    /// Attribute-set id with `ineligibleBit` set for routes excluded from the decision (AS loop);
    /// for a `multi` slot, the candidate-list index.
    var attr: UInt32

    static let multi: UInt32 = .max
    static let ineligibleBit: UInt32 = 1 << 31

    @inline(__always) init(peer: UInt32, attr: UInt32) {
        self.peer = peer
        self.attr = attr
    }
    @inline(__always) var isMulti: Bool { peer == Self.multi }
    /// The attribute-set id without the eligibility flag.
    @inline(__always) var attrID: UInt32 { attr & ~Self.ineligibleBit }
    /// False for a route that must not be selected (RFC 4271 §9.1.2: AS_PATH contains our AS).
    @inline(__always) var isEligible: Bool { attr & Self.ineligibleBit == 0 }
}

final class PrefixTable<Key: PrefixTableKey> {
    struct Bucket {
        var key: Key
        var value: RouteSlot
    }

    // Unchecked exclusivity: these are touched on every insert, and no access to them ever overlaps
    // another (no closures or inout escapes hold them).
    @exclusivity(unchecked) private(set) var buckets: UnsafeMutablePointer<Bucket>
    /// Number of buckets, a power of two.
    @exclusivity(unchecked) private(set) var capacity: Int
    @exclusivity(unchecked) private(set) var count: Int
    /// `64 - log2(capacity)`: the home bucket of a hash is `hash >> shift`.
    @exclusivity(unchecked) private var shift: UInt64
    /// Keys the hash: random per table lineage, so that a peer cannot pick prefixes that pile into
    /// one probe run.
    let seed: UInt64

    init(minimumCapacity: Int = 16, seed: UInt64 = .random(in: 0...UInt64.max)) {
        self.seed = seed
        var cap = 16
        while cap * 3 / 4 < minimumCapacity { cap *= 2 }
        capacity = cap
        shift = UInt64(64 - cap.trailingZeroBitCount)
        count = 0
        buckets = .allocate(capacity: cap)
        buckets.initialize(repeating: Bucket(key: .empty, value: RouteSlot(peer: 0, attr: 0)), count: cap)
    }

    deinit {
        buckets.deinitialize(count: capacity)
        buckets.deallocate()
    }

    /// A deep copy (for copy-on-write of the owning `RIB`).
    func copy() -> PrefixTable {
        let t = PrefixTable(minimumCapacity: 0, seed: seed)
        t.buckets.deinitialize(count: t.capacity)
        t.buckets.deallocate()
        t.buckets = .allocate(capacity: capacity)
        t.buckets.initialize(from: buckets, count: capacity)
        t.capacity = capacity
        t.shift = shift
        t.count = count
        return t
    }

    @inline(__always) private func home(_ key: Key) -> Int {
        Int(truncatingIfNeeded: key.tableHash(seed: seed) >> shift)
    }

    /// The bucket index holding `key`, or nil.
    @inline(__always) func find(_ key: Key) -> Int? {
        let mask = capacity &- 1
        var i = home(key)
        while true {
            let k = buckets[i].key
            if k == key { return i }
            if k == .empty { return nil }
            i = (i &+ 1) & mask
        }
    }

    /// The bucket index for `key`, inserting it when absent. A new bucket's value is unspecified:
    /// the caller sets it before any other call.
    @inline(__always) func findOrInsert(_ key: Key) -> (index: Int, inserted: Bool) {
        if (count &+ 1) &* 4 > capacity &* 3 { grow() }
        let mask = capacity &- 1
        var i = home(key)
        while true {
            let k = buckets[i].key
            if k == key { return (i, false) }
            if k == .empty {
                buckets[i].key = key
                count &+= 1
                return (i, true)
            }
            i = (i &+ 1) & mask
        }
    }

    /// Inserts a key known to be absent (rebuilding a table). Keys taken from another table in
    /// bucket order must go into a table already sized for all of them (see `RIBStorage.removeAll`):
    /// inserted in hash order into a table that still grows, they pile into one probe run.
    @inline(__always) func insertNew(_ key: Key, _ value: RouteSlot) {
        if (count &+ 1) &* 4 > capacity &* 3 { grow() }
        let mask = capacity &- 1
        var i = home(key)
        while buckets[i].key != .empty { i = (i &+ 1) & mask }
        buckets[i] = Bucket(key: key, value: value)
        count &+= 1
    }

    /// Loads the home bucket of `key` and returns a word of it, so that a caller can start the
    /// cache misses of a batch of keys before working on them one by one (the result is only
    /// there to keep the load).
    @inline(__always) func touch(_ key: Key) -> UInt32 {
        buckets[home(key)].value.attr
    }

    /// Removes the entry at a bucket index by backward shift: later members of the probe run move
    /// back over the hole when the hole lies between their home bucket and where they sit.
    func remove(at index: Int) {
        let mask = capacity &- 1
        var hole = index
        var j = index
        while true {
            j = (j &+ 1) & mask
            let k = buckets[j].key
            if k == .empty { break }
            let h = home(k)
            if (j &- h) & mask >= (j &- hole) & mask {
                buckets[hole] = buckets[j]
                hole = j
            }
        }
        buckets[hole].key = .empty
        count &-= 1
    }

    /// Removes every entry.
    func removeAll() {
        for i in 0..<capacity { buckets[i].key = .empty }
        count = 0
    }

    private func grow() {
        let oldBuckets = buckets
        let oldCapacity = capacity
        let newCapacity = oldCapacity * 2
        buckets = .allocate(capacity: newCapacity)
        buckets.initialize(repeating: Bucket(key: .empty, value: RouteSlot(peer: 0, attr: 0)), count: newCapacity)
        capacity = newCapacity
        shift = UInt64(64 - newCapacity.trailingZeroBitCount)
        let mask = newCapacity &- 1
        for o in 0..<oldCapacity {
            let b = oldBuckets[o]
            if b.key == .empty { continue }
            var i = home(b.key)
            while buckets[i].key != .empty { i = (i &+ 1) & mask }
            buckets[i] = b
        }
        oldBuckets.deinitialize(count: oldCapacity)
        oldBuckets.deallocate()
    }

    /// Visits every occupied bucket; `body` may remove the visited entry (and only that one) with
    /// `remove(at:)` and returns true when it did, so that the bucket is visited again (an entry
    /// may have shifted into it). The walk starts just after an empty bucket, so backward shifts
    /// never carry an unvisited entry behind the cursor.
    func forEachIndex(removing body: (Int) -> Bool) {
        guard count > 0 else { return }
        let mask = capacity &- 1
        var start = 0
        while buckets[start].key != .empty { start += 1 }
        var step = 1
        while step <= capacity {
            let i = (start &+ step) & mask
            if buckets[i].key != .empty, body(i) { continue }
            step += 1
        }
    }

    /// Visits every occupied bucket index (no removal).
    func forEachOccupied(_ body: (Int) -> Void) {
        for i in 0..<capacity where buckets[i].key != .empty { body(i) }
    }
}
