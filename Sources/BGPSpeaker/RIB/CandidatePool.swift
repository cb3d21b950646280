/// Candidate lists of the prefixes that more than one peer has, kept in one flat buffer.
///
/// A list is a block of `2^k` consecutive `RouteSlot`s: a header (`peer` = number of routes,
/// `attr` = k) followed by the routes, the best path first. Blocks of each size are recycled
/// through a free list, and a list that outgrows its block moves to one twice the size. So a
/// prefix shared by two to three peers costs 32 bytes and no allocation of its own, and walking
/// the table (session down) touches one cache line per shared prefix.
final class CandidatePool {
    // Unchecked exclusivity: see RIBStorage.
    @exclusivity(unchecked) private(set) var slots: UnsafeMutablePointer<RouteSlot>
    @exclusivity(unchecked) private var capacity: Int
    /// Slots handed out so far (live or on a free list).
    @exclusivity(unchecked) private(set) var used = 0
    /// Free blocks by size class (`k - 2`).
    @exclusivity(unchecked) private var freeBlocks: [[UInt32]] = []
    /// Live lists.
    @exclusivity(unchecked) private(set) var count = 0

    init() {
        capacity = 64
        slots = .allocate(capacity: capacity)
    }

    deinit { slots.deallocate() }

    func copy() -> CandidatePool {
        let c = CandidatePool()
        c.slots.deallocate()
        c.capacity = capacity
        c.slots = .allocate(capacity: capacity)
        c.slots.initialize(from: slots, count: used)
        c.used = used
        c.freeBlocks = freeBlocks
        c.count = count
        return c
    }

    /// The number of routes in the list at `base`.
    @inline(__always) func routeCount(_ base: UInt32) -> Int { Int(slots[Int(base)].peer) }

    /// The routes of the list at `base`, best path first (valid until the next change of the pool).
    @inline(__always) func routes(_ base: UInt32) -> UnsafeMutableBufferPointer<RouteSlot> {
        UnsafeMutableBufferPointer(start: slots + Int(base) + 1, count: routeCount(base))
    }

    /// A new list holding `a` and `b`.
    func make(_ a: RouteSlot, _ b: RouteSlot) -> UInt32 {
        let base = allocate(sizeClass: 2)
        slots[Int(base)] = RouteSlot(peer: 2, attr: 2)
        slots[Int(base) + 1] = a
        slots[Int(base) + 2] = b
        count += 1
        return base
    }

    /// Appends `route` to the list at `base`; returns the list's base, which moves when the block
    /// is full.
    func append(_ route: RouteSlot, to base: UInt32) -> UInt32 {
        let header = slots[Int(base)]
        let n = Int(header.peer)
        let k = Int(header.attr)
        if n + 1 < 1 << k {
            slots[Int(base) + 1 + n] = route
            slots[Int(base)].peer = UInt32(n + 1)
            return base
        }
        let moved = allocate(sizeClass: k + 1)
        // `allocate` may have reallocated the buffer: index, do not hold pointers.
        for i in 0...n { slots[Int(moved) + i] = slots[Int(base) + i] }
        slots[Int(moved)] = RouteSlot(peer: UInt32(n + 1), attr: UInt32(k + 1))
        slots[Int(moved) + 1 + n] = route
        recycle(base, sizeClass: k)
        return moved
    }

    /// Removes the route at position `j` (the last route takes its place).
    func remove(at j: Int, from base: UInt32) {
        let n = routeCount(base)
        slots[Int(base) + 1 + j] = slots[Int(base) + n]
        slots[Int(base)].peer = UInt32(n - 1)
    }

    /// Frees the list at `base`.
    func release(_ base: UInt32) {
        recycle(base, sizeClass: Int(slots[Int(base)].attr))
        count -= 1
    }

    private func recycle(_ base: UInt32, sizeClass k: Int) {
        freeBlocks[k - 2].append(base)
    }

    private func allocate(sizeClass k: Int) -> UInt32 {
        while freeBlocks.count <= k - 2 { freeBlocks.append([]) }
        if let base = freeBlocks[k - 2].popLast() { return base }
        let size = 1 << k
        if used + size > capacity {
            var newCapacity = capacity * 2
            while used + size > newCapacity { newCapacity *= 2 }
            precondition(newCapacity < Int(RouteSlot.multi), "candidate pool full")
            let new = UnsafeMutablePointer<RouteSlot>.allocate(capacity: newCapacity)
            new.moveInitialize(from: slots, count: used)
            slots.deallocate()
            slots = new
            capacity = newCapacity
        }
        let base = UInt32(used)
        used += size
        return base
    }
}
