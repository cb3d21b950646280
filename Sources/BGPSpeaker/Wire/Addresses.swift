/// IP addresses and prefixes as fixed-size values (no `String`, no Foundation, no class per prefix).
///
/// `IPv4Address` keeps the address as a host-order `UInt32` (so `0xC0000201` is 192.0.2.1);
/// `IPv6Address` as two host-order `UInt64` halves. Prefixes are an address plus a length, with the
/// host bits always zero (the initialisers mask them), so equal prefixes hash equally.

/// An IPv4 address.
public struct IPv4Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }
    /// Parses dotted-quad text ("192.0.2.1"); nil when it is not exactly four decimal octets.
    public init?(_ text: some StringProtocol) {
        var value: UInt32 = 0
        var octets = 0
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.count <= 3, let octet = UInt8(part), octets < 4 else { return nil }
            if part.count > 1 && part.first == "0" { return nil }
            value = value << 8 | UInt32(octet)
            octets += 1
        }
        guard octets == 4 else { return nil }
        self.rawValue = value
    }
    public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
    public var description: String {
        "\(rawValue >> 24).\(rawValue >> 16 & 0xFF).\(rawValue >> 8 & 0xFF).\(rawValue & 0xFF)"
    }
}

/// An IPv6 address.
public struct IPv6Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    @inlinable public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
    /// The 16 bytes in network order.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }
    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 16)
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
        }
        self.high = h
        self.low = l
    }
    /// Parses RFC 4291 text ("2001:db8::1", "::ffff:192.0.2.1"); nil when invalid.
    public init?(_ text: some StringProtocol) {
        let s = Array(text.utf8)
        guard !s.isEmpty, s.count <= 45 else { return nil }
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var sawDouble = false
        var doubleAt = -1
        for i in 0..<(s.count - 1) where s[i] == UInt8(ascii: ":") && s[i + 1] == UInt8(ascii: ":") {
            if doubleAt >= 0 { return nil }
            doubleAt = i
        }
        let str = Substring(text)
        if doubleAt >= 0 {
            sawDouble = true
            let head = str.utf8.prefix(doubleAt)
            let rest = str.utf8.dropFirst(doubleAt + 2)
            guard let h = Self.parseGroups(Substring(head)), let t = Self.parseGroups(Substring(rest)) else {
                return nil
            }
            groups = h
            tail = t
        } else {
            guard let g = Self.parseGroups(str) else { return nil }
            groups = g
        }
        let total = groups.count + tail.count
        if sawDouble {
            guard total <= 7 else { return nil }
            groups += Array(repeating: 0, count: 8 - total) + tail
        } else {
            guard total == 8 else { return nil }
        }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, g) in groups.enumerated() {
            if i < 4 { h = h << 16 | UInt64(g) } else { l = l << 16 | UInt64(g) }
        }
        self.high = h
        self.low = l
    }
    private static func parseGroups(_ text: Substring) -> [UInt16]? {
        if text.isEmpty { return [] }
        var out: [UInt16] = []
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            if i == parts.count - 1, part.contains(".") {
                guard let v4 = IPv4Address(part) else { return nil }
                out.append(UInt16(v4.rawValue >> 16))
                out.append(UInt16(v4.rawValue & 0xFFFF))
                continue
            }
            guard !part.isEmpty, part.count <= 4, let g = UInt16(part, radix: 16) else { return nil }
            out.append(g)
        }
        return out
    }
    public static func < (l: Self, r: Self) -> Bool { (l.high, l.low) < (r.high, r.low) }
    /// True for fe80::/10.
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }
    /// RFC 5952 text: lower case, longest run of two or more zero groups compressed.
    public var description: String {
        let g = (0..<8).map { i -> UInt16 in
            let word = i < 4 ? high : low
            return UInt16(truncatingIfNeeded: word >> (48 - 16 * UInt64(i % 4)))
        }
        var bestStart = -1
        var bestLen = 0
        var i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 {
                    bestStart = i
                    bestLen = j - i
                }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ r: Range<Int>) -> String { r.map { String(g[$0], radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLen)..<8)
    }
}

/// An IPv4 or IPv6 address.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)
    public init?(_ text: some StringProtocol) {
        if let a = IPv4Address(text) {
            self = .v4(a)
        } else if let a = IPv6Address(text) {
            self = .v6(a)
        } else {
            return nil
        }
    }
    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }
}

/// An IPv4 prefix; host bits are always zero.
public struct IPv4Prefix: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let address: IPv4Address
    public let length: UInt8
    /// Masks host bits. `length` must be at most 32.
    @inlinable public init(address: IPv4Address, length: UInt8) {
        precondition(length <= 32)
        let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << (32 - UInt32(length))
        self.address = IPv4Address(rawValue: address.rawValue & mask)
        self.length = length
    }
    /// Parses "192.0.2.0/24" (or a bare address as /32); nil when invalid or when host bits are set.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = IPv4Address(parts[0]) else { return nil }
        var len: UInt8 = 32
        if parts.count == 2 {
            guard let l = UInt8(parts[1]), l <= 32 else { return nil }
            len = l
        }
        let p = IPv4Prefix(address: a, length: len)
        guard p.address == a else { return nil }
        self = p
    }
    public static func < (l: Self, r: Self) -> Bool { (l.address, l.length) < (r.address, r.length) }
    public var description: String { "\(address)/\(length)" }
}

/// An IPv6 prefix; host bits are always zero.
public struct IPv6Prefix: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let address: IPv6Address
    public let length: UInt8
    /// Masks host bits. `length` must be at most 128.
    @inlinable public init(address: IPv6Address, length: UInt8) {
        precondition(length <= 128)
        let l = UInt64(length)
        let hm: UInt64 = l == 0 ? 0 : (l >= 64 ? ~0 : ~UInt64(0) << (64 - l))
        let lm: UInt64 = l <= 64 ? 0 : (l == 128 ? ~0 : ~UInt64(0) << (128 - l))
        self.address = IPv6Address(high: address.high & hm, low: address.low & lm)
        self.length = length
    }
    /// Parses "2001:db8::/32" (or a bare address as /128); nil when invalid or when host bits are set.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = IPv6Address(parts[0]) else { return nil }
        var len: UInt8 = 128
        if parts.count == 2 {
            guard let l = UInt8(parts[1]), l <= 128 else { return nil }
            len = l
        }
        let p = IPv6Prefix(address: a, length: len)
        guard p.address == a else { return nil }
        self = p
    }
    public static func < (l: Self, r: Self) -> Bool { (l.address, l.length) < (r.address, r.length) }
    public var description: String { "\(address)/\(length)" }
}

/// An IPv4 or IPv6 prefix.
public enum IPPrefix: Sendable, Hashable, Comparable, CustomStringConvertible {
    case v4(IPv4Prefix)
    case v6(IPv6Prefix)
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let p = IPv6Prefix(text) else { return nil }
            self = .v6(p)
        } else {
            guard let p = IPv4Prefix(text) else { return nil }
            self = .v4(p)
        }
    }
    public var family: AddressFamily {
        switch self {
        case .v4: .ipv4Unicast
        case .v6: .ipv6Unicast
        }
    }
    public static func < (l: Self, r: Self) -> Bool {
        switch (l, r) {
        case (.v4(let a), .v4(let b)): a < b
        case (.v6(let a), .v6(let b)): a < b
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }
    public var description: String {
        switch self {
        case .v4(let p): p.description
        case .v6(let p): p.description
        }
    }
}
