/// A compact private byte encoding of `PathAttributes`, used to store interned attribute sets.
///
/// A `PathAttributes` value is 160 bytes inline plus a heap array per AS_PATH segment list, segment
/// and community list; stored as is, a set costs ~400 bytes and several allocations. Encoded, a
/// typical set (ORIGIN, a 3-AS path, NEXT_HOP, MED, two communities) is ~40 bytes in one shared
/// arena, and interning becomes: encode into a scratch buffer, hash the bytes, compare bytes.
///
/// The encoding is injective (presence flags first, every list length-prefixed), so two sets are
/// equal exactly when their encodings are. It never leaves the process, so it has no version.
///
/// ```
/// flags u16 (which optional fields / non-empty lists follow, in this order)
/// origin u8 | AS_PATH: n, n × (type u8, m, m × u32) | NEXT_HOP u32 | MED u32 | LOCAL_PREF u32
/// | AGGREGATOR (asn u32, address u32) | COMMUNITIES n, n × u32 | EXTENDED n, n × u64
/// | LARGE n, n × 3 × u32 | MP_REACH (afi u16, safi u8, next hop, NLRI n, n × prefix)
/// | MP_UNREACH (afi u16, safi u8, n, n × prefix) | unknown n, n × (flags u8, type u8, len, bytes)
/// next hop: kind u8 (0 IPv4 u32 | 1 IPv6 2×u64 | 2 IPv6 + link-local 4×u64 | 3 raw len, bytes)
/// prefix: family u8 (4 | 6), length u8, IPv4 u32 | IPv6 2×u64
/// ```
/// `n`, `m` and `len` are LEB128 varints; integers are little-endian and unaligned.
enum AttributeEncoding {
    /// What to do with the multiprotocol attributes when storing a route's set.
    enum MPMode {
        /// Encode `mpReach` and `mpUnreach` as they are.
        case asIs
        /// Leave both out (routes from the IPv4 NLRI field).
        case omit
        /// Keep `mpReach` with empty NLRI, leave `mpUnreach` out (routes from MP_REACH NLRI).
        case reachTemplate
    }

    private enum Flag {
        static let origin: UInt16 = 1 << 0
        static let asPath: UInt16 = 1 << 1
        static let nextHop: UInt16 = 1 << 2
        static let med: UInt16 = 1 << 3
        static let localPref: UInt16 = 1 << 4
        static let atomicAggregate: UInt16 = 1 << 5
        static let aggregator: UInt16 = 1 << 6
        static let communities: UInt16 = 1 << 7
        static let extendedCommunities: UInt16 = 1 << 8
        static let largeCommunities: UInt16 = 1 << 9
        static let mpReach: UInt16 = 1 << 10
        static let mpUnreach: UInt16 = 1 << 11
        static let unknown: UInt16 = 1 << 12
    }

    /// An upper bound of the encoded size.
    static func maximumSize(_ a: PathAttributes, mode: MPMode) -> Int {
        var n = 2 + 1 + 4 + 4 + 4 + 8
        if let path = a.asPath {
            n += 5
            for s in path.segments { n += 1 + 5 + 4 * s.asns.count }
        }
        n += 5 + 4 * a.communities.count + 5 + 8 * a.extendedCommunities.count + 5 + 12 * a.largeCommunities.count
        if let r = a.mpReach, mode != .omit {
            n += 3 + 1 + 32 + 5
            if case .raw(let bytes) = r.nextHop { n += 5 + bytes.count }
            if mode == .asIs { n += 18 * r.nlri.count }
        }
        if let u = a.mpUnreach, mode == .asIs { n += 3 + 5 + 18 * u.withdrawn.count }
        if !a.unknown.isEmpty {
            n += 5
            for u in a.unknown { n += 2 + 5 + u.value.count }
        }
        return n
    }

    /// Writes the encoding of `a` at `base` (which has room for `maximumSize`); returns its length.
    static func encode(_ a: PathAttributes, mode: MPMode, into base: UnsafeMutableRawPointer) -> Int {
        var w = Writer(base: base)
        let reach = mode == .omit ? nil : a.mpReach
        let unreach = mode == .asIs ? a.mpUnreach : nil
        var flags: UInt16 = 0
        if a.origin != nil { flags |= Flag.origin }
        if a.asPath != nil { flags |= Flag.asPath }
        if a.nextHop != nil { flags |= Flag.nextHop }
        if a.multiExitDisc != nil { flags |= Flag.med }
        if a.localPref != nil { flags |= Flag.localPref }
        if a.atomicAggregate { flags |= Flag.atomicAggregate }
        if a.aggregator != nil { flags |= Flag.aggregator }
        if !a.communities.isEmpty { flags |= Flag.communities }
        if !a.extendedCommunities.isEmpty { flags |= Flag.extendedCommunities }
        if !a.largeCommunities.isEmpty { flags |= Flag.largeCommunities }
        if reach != nil { flags |= Flag.mpReach }
        if unreach != nil { flags |= Flag.mpUnreach }
        if !a.unknown.isEmpty { flags |= Flag.unknown }
        w.put(flags)
        if let o = a.origin { w.put(o.rawValue) }
        if let path = a.asPath {
            w.varint(path.segments.count)
            for s in path.segments {
                w.put(s.type.rawValue)
                w.varint(s.asns.count)
                for asn in s.asns { w.put(asn) }
            }
        }
        if let nh = a.nextHop { w.put(nh.rawValue) }
        if let med = a.multiExitDisc { w.put(med) }
        if let lp = a.localPref { w.put(lp) }
        if let ag = a.aggregator {
            w.put(ag.asn)
            w.put(ag.address.rawValue)
        }
        if !a.communities.isEmpty {
            w.varint(a.communities.count)
            for c in a.communities { w.put(c.rawValue) }
        }
        if !a.extendedCommunities.isEmpty {
            w.varint(a.extendedCommunities.count)
            for c in a.extendedCommunities { w.put(c.rawValue) }
        }
        if !a.largeCommunities.isEmpty {
            w.varint(a.largeCommunities.count)
            for c in a.largeCommunities {
                w.put(c.globalAdministrator)
                w.put(c.localData1)
                w.put(c.localData2)
            }
        }
        if let r = reach {
            w.put(r.family.afi.rawValue)
            w.put(r.family.safi.rawValue)
            switch r.nextHop {
            case .ipv4(let v):
                w.put(UInt8(0))
                w.put(v.rawValue)
            case .ipv6(let global, nil):
                w.put(UInt8(1))
                w.put(global.high)
                w.put(global.low)
            case .ipv6(let global, let linkLocal?):
                w.put(UInt8(2))
                w.put(global.high)
                w.put(global.low)
                w.put(linkLocal.high)
                w.put(linkLocal.low)
            case .raw(let bytes):
                w.put(UInt8(3))
                w.bytes(bytes)
            }
            if mode == .asIs {
                w.varint(r.nlri.count)
                for p in r.nlri { w.prefix(p) }
            } else {
                w.varint(0)
            }
        }
        if let u = unreach {
            w.put(u.family.afi.rawValue)
            w.put(u.family.safi.rawValue)
            w.varint(u.withdrawn.count)
            for p in u.withdrawn { w.prefix(p) }
        }
        if !a.unknown.isEmpty {
            w.varint(a.unknown.count)
            for u in a.unknown {
                w.put(u.flags.rawValue)
                w.put(u.type.rawValue)
                w.bytes(u.value)
            }
        }
        return w.offset
    }

    /// Decodes an encoding written by `encode`.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> PathAttributes {
        var r = Reader(base: bytes.baseAddress!)
        var a = PathAttributes()
        let flags: UInt16 = r.get()
        if flags & Flag.origin != 0 { a.origin = Origin(rawValue: r.get()) }
        if flags & Flag.asPath != 0 {
            let n = r.varint()
            var segments: [ASPath.Segment] = []
            segments.reserveCapacity(n)
            for _ in 0..<n {
                let type = ASPath.SegmentType(rawValue: r.get())
                let m = r.varint()
                var asns: [UInt32] = []
                asns.reserveCapacity(m)
                for _ in 0..<m { asns.append(r.get()) }
                segments.append(ASPath.Segment(type: type, asns: asns))
            }
            a.asPath = ASPath(segments: segments)
        }
        if flags & Flag.nextHop != 0 { a.nextHop = IPv4Address(rawValue: r.get()) }
        if flags & Flag.med != 0 { a.multiExitDisc = r.get() }
        if flags & Flag.localPref != 0 { a.localPref = r.get() }
        a.atomicAggregate = flags & Flag.atomicAggregate != 0
        if flags & Flag.aggregator != 0 {
            let asn: UInt32 = r.get()
            a.aggregator = Aggregator(asn: asn, address: IPv4Address(rawValue: r.get()))
        }
        if flags & Flag.communities != 0 {
            a.communities = (0..<r.varint()).map { _ in Community(rawValue: r.get()) }
        }
        if flags & Flag.extendedCommunities != 0 {
            a.extendedCommunities = (0..<r.varint()).map { _ in ExtendedCommunity(rawValue: r.get()) }
        }
        if flags & Flag.largeCommunities != 0 {
            a.largeCommunities = (0..<r.varint()).map { _ in
                let g: UInt32 = r.get()
                let l1: UInt32 = r.get()
                return LargeCommunity(g, l1, r.get())
            }
        }
        if flags & Flag.mpReach != 0 {
            let family = r.family()
            let nextHop: MPReach.NextHop
            switch r.get() as UInt8 {
            case 0: nextHop = .ipv4(IPv4Address(rawValue: r.get()))
            case 1: nextHop = .ipv6(global: r.ipv6(), linkLocal: nil)
            case 2:
                let global = r.ipv6()
                nextHop = .ipv6(global: global, linkLocal: r.ipv6())
            default: nextHop = .raw(r.bytes())
            }
            a.mpReach = MPReach(family: family, nextHop: nextHop, nlri: (0..<r.varint()).map { _ in r.prefix() })
        }
        if flags & Flag.mpUnreach != 0 {
            let family = r.family()
            a.mpUnreach = MPUnreach(family: family, withdrawn: (0..<r.varint()).map { _ in r.prefix() })
        }
        if flags & Flag.unknown != 0 {
            a.unknown = (0..<r.varint()).map { _ in
                let flags = AttributeFlags(rawValue: r.get())
                let type = AttributeType(rawValue: r.get())
                return RawAttribute(flags: flags, type: type, value: r.bytes())
            }
        }
        return a
    }

    /// A 64-bit hash of `count` bytes: 8 bytes per multiply-rotate round, then a SplitMix64
    /// finaliser. `seed` is random per store, so that a peer cannot precompute colliding sets.
    @inline(__always)
    static func hash(_ p: UnsafeRawPointer, count: Int, seed: UInt64) -> UInt64 {
        var h = seed ^ (UInt64(truncatingIfNeeded: count) &* 0x9E37_79B9_7F4A_7C15)
        var i = 0
        while i &+ 8 <= count {
            let w = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            h = ((h ^ w) &* 0xFF51_AFD7_ED55_8CCD)
            h = (h << 29) | (h >> 35)
            i &+= 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            tail |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift &+= 8
            i &+= 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        h = (h ^ (h >> 31)) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 32)
    }

    /// Byte equality of two buffers of `count` bytes.
    @inline(__always)
    static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        var i = 0
        while i &+ 8 <= count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                != b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            {
                return false
            }
            i &+= 8
        }
        while i < count {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i &+= 1
        }
        return true
    }

    private struct Writer {
        let base: UnsafeMutableRawPointer
        var offset = 0
        @inline(__always) mutating func put<T: FixedWidthInteger>(_ v: T) {
            base.storeBytes(of: v.littleEndian, toByteOffset: offset, as: T.self)
            offset &+= MemoryLayout<T>.size
        }
        @inline(__always) mutating func varint(_ v: Int) {
            var x = UInt(v)
            while x >= 0x80 {
                put(UInt8(truncatingIfNeeded: x) | 0x80)
                x >>= 7
            }
            put(UInt8(x))
        }
        mutating func bytes(_ b: [UInt8]) {
            varint(b.count)
            b.withUnsafeBytes { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            offset &+= b.count
        }
        mutating func prefix(_ p: IPPrefix) {
            switch p {
            case .v4(let q):
                put(UInt8(4))
                put(q.length)
                put(q.address.rawValue)
            case .v6(let q):
                put(UInt8(6))
                put(q.length)
                put(q.address.high)
                put(q.address.low)
            }
        }
    }

    private struct Reader {
        let base: UnsafeRawPointer
        var offset = 0
        @inline(__always) mutating func get<T: FixedWidthInteger>() -> T {
            let v = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
            offset &+= MemoryLayout<T>.size
            return v
        }
        mutating func varint() -> Int {
            var x: UInt = 0
            var shift: UInt = 0
            while true {
                let b: UInt8 = get()
                x |= UInt(b & 0x7F) << shift
                if b < 0x80 { return Int(x) }
                shift += 7
            }
        }
        mutating func bytes() -> [UInt8] {
            let n = varint()
            let out = Array(UnsafeRawBufferPointer(start: base + offset, count: n))
            offset += n
            return out
        }
        mutating func ipv6() -> IPv6Address {
            let high: UInt64 = get()
            return IPv6Address(high: high, low: get())
        }
        mutating func family() -> AddressFamily {
            let afi = AFI(rawValue: get())
            return AddressFamily(afi: afi, safi: SAFI(rawValue: get()))
        }
        mutating func prefix() -> IPPrefix {
            let family: UInt8 = get()
            let length: UInt8 = get()
            if family == 4 { return .v4(IPv4Prefix(address: IPv4Address(rawValue: get()), length: length)) }
            return .v6(IPv6Prefix(address: ipv6(), length: length))
        }
    }
}
