/// IP addresses and prefixes as fixed-size values (no `String`, no Foundation, no class per prefix).
///
/// `IPv4Address` keeps the address as a host-order `UInt32` (so `0xC0000201` is 192.0.2.1);
/// `IPv6Address` as two host-order `UInt64` halves. Prefixes are an address plus a length, with the
/// host bits always zero (the initialisers mask them), so equal prefixes hash equally.
///
/// This is Starling's one address vocabulary: BGP, netlink, the API model, the appliance, VIP plumbing
/// and the HTTP client all parse and print addresses through it, so every address compares and prints
/// the same way everywhere (RFC 5952 text).

/// An IPv4 address.
public struct IPv4Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The address in host order: `0xC0000201` is 192.0.2.1.
    public var rawValue: UInt32
    /// The address whose host-order value is `rawValue`.
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The address `a.b.c.d`.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }
    /// The address from its 4 bytes in network order. `bytes` must hold exactly 4 bytes.
    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 4, "an IPv4 address is 4 bytes")
        self.rawValue = bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
    /// Parses dotted-quad text ("192.0.2.1"); nil when it is not exactly four decimal octets without
    /// leading zeros (as `inet_pton(AF_INET)` reads it).
    public init?(_ text: some StringProtocol) {
        var value: UInt32 = 0
        var octets = 0
        for part in text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard octets < 4, let octet = decimal(part, maximum: 255) else { return nil }
            value = value << 8 | UInt32(octet)
            octets += 1
        }
        guard octets == 4 else { return nil }
        self.rawValue = value
    }
    /// The 4 bytes in network order.
    public var bytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: rawValue >> (24 - 8 * $0)) } }
    /// True for 169.254.0.0/16 (RFC 3927).
    public var isLinkLocal: Bool { rawValue >> 16 == 0xA9FE }
    /// True for 127.0.0.0/8.
    public var isLoopback: Bool { rawValue >> 24 == 127 }
    @inlinable public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
    /// Dotted-quad text, e.g. `192.0.2.1`.
    public var description: String {
        "\(rawValue >> 24).\(rawValue >> 16 & 0xFF).\(rawValue >> 8 & 0xFF).\(rawValue & 0xFF)"
    }
}

/// An IPv6 address.
public struct IPv6Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The first 64 bits, host order.
    public var high: UInt64
    /// The last 64 bits, host order.
    public var low: UInt64
    /// The address from its two 64-bit halves.
    @inlinable public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
    /// The 16 bytes in network order.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }
    /// The address from its 16 bytes in network order. `bytes` must hold exactly 16 bytes.
    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 16, "an IPv6 address is 16 bytes")
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
        }
        self.high = h
        self.low = l
    }
    /// Parses RFC 4291 §2.2 text ("2001:db8::1", "::ffff:192.0.2.1"); nil when invalid. Accepts what
    /// `inet_pton(AF_INET6)` accepts: upper or lower case, leading zeros in a group (at most 4 digits),
    /// one `::`, and a dotted quad only as the last 32 bits. Zone indices (`%eth0`) are refused.
    public init?(_ text: some StringProtocol) {
        let s = Array(text.utf8)
        guard !s.isEmpty, s.count <= 45 else { return nil }
        var doubleAt = -1
        for i in 0..<(s.count - 1) where s[i] == UInt8(ascii: ":") && s[i + 1] == UInt8(ascii: ":") {
            if doubleAt >= 0 { return nil }
            doubleAt = i
        }
        var groups: [UInt16]
        if doubleAt >= 0 {
            guard let head = Self.parseGroups(s[..<doubleAt], dottedQuadAllowed: false),
                let tail = Self.parseGroups(s[(doubleAt + 2)...], dottedQuadAllowed: true),
                head.count + tail.count <= 7
            else { return nil }
            groups = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = Self.parseGroups(s[...], dottedQuadAllowed: true), all.count == 8 else { return nil }
            groups = all
        }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, g) in groups.enumerated() {
            if i < 4 { h = h << 16 | UInt64(g) } else { l = l << 16 | UInt64(g) }
        }
        self.high = h
        self.low = l
    }
    private static func parseGroups(_ text: ArraySlice<UInt8>, dottedQuadAllowed: Bool) -> [UInt16]? {
        if text.isEmpty { return [] }
        var out: [UInt16] = []
        let parts = text.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            if dottedQuadAllowed, i == parts.count - 1, part.contains(UInt8(ascii: ".")) {
                guard let v4 = IPv4Address(Substring(decoding: part, as: UTF8.self)) else { return nil }
                out.append(UInt16(v4.rawValue >> 16))
                out.append(UInt16(v4.rawValue & 0xFFFF))
                continue
            }
            guard (1...4).contains(part.count) else { return nil }
            var group: UInt16 = 0
            for c in part {
                guard let digit = hexDigit(c) else { return nil }
                group = group << 4 | UInt16(digit)
            }
            out.append(group)
        }
        return out
    }
    @inlinable public static func < (l: Self, r: Self) -> Bool { (l.high, l.low) < (r.high, r.low) }
    /// True for fe80::/10: such an address needs an interface to mean anything.
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }
    /// True for ::1.
    public var isLoopback: Bool { high == 0 && low == 1 }
    /// True for ::ffff:0:0/96, an IPv4 address written as IPv6 (RFC 4291 §2.5.5.2).
    public var isIPv4Mapped: Bool { high == 0 && low >> 32 == 0xFFFF }
    /// RFC 5952 §4 text: lower case, no leading zeros, the longest run of two or more zero groups (the
    /// first of equal runs) compressed to `::`; IPv4-mapped addresses as `::ffff:192.0.2.1` (§5). The same
    /// text as glibc's `inet_ntop` except for the deprecated IPv4-compatible form (::a.b.c.d), which is
    /// printed in hexadecimal here.
    public var description: String {
        if isIPv4Mapped { return "::ffff:\(IPv4Address(rawValue: UInt32(truncatingIfNeeded: low)))" }
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

/// An IPv4 or IPv6 address. IPv4 addresses sort before IPv6 ones.
public enum IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// An IPv4 address.
    case v4(IPv4Address)
    /// An IPv6 address.
    case v6(IPv6Address)
    /// Parses IPv4 dotted-quad or IPv6 text; nil when it is neither.
    public init?(_ text: some StringProtocol) {
        if let a = IPv4Address(text) {
            self = .v4(a)
        } else if let a = IPv6Address(text) {
            self = .v6(a)
        } else {
            return nil
        }
    }
    /// The address from network-order bytes: 4 for IPv4, 16 for IPv6; nil for any other count.
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4: self = .v4(IPv4Address(bytes: bytes))
        case 16: self = .v6(IPv6Address(bytes: bytes))
        default: return nil
        }
    }
    /// The bytes in network order (4 or 16), as `sockaddr_in`, netlink and the wire carry them.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let a): a.bytes
        case .v6(let a): a.bytes
        }
    }
    /// True for an IPv6 address.
    public var isIPv6: Bool {
        if case .v6 = self { return true }
        return false
    }
    /// The length of a host prefix of this family: 32 or 128.
    public var maximumPrefixLength: UInt8 { isIPv6 ? 128 : 32 }
    /// True for 127.0.0.0/8 and ::1.
    public var isLoopback: Bool {
        switch self {
        case .v4(let a): a.isLoopback
        case .v6(let a): a.isLoopback
        }
    }
    /// True for the all-zero address (0.0.0.0, ::).
    public var isUnspecified: Bool {
        switch self {
        case .v4(let a): a.rawValue == 0
        case .v6(let a): a.high == 0 && a.low == 0
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
    /// Dotted-quad or RFC 5952 text.
    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }

    /// Parses `"address/length"` keeping the host bits (`192.0.2.10/24` as an interface address is
    /// written); a missing length means a host prefix (/32 or /128). Nil when the address is invalid or
    /// the length is not a decimal number up to the family's maximum.
    public static func parseWithPrefixLength(_ text: some StringProtocol) -> (address: IPAddress, length: UInt8)? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        guard parts.count == 2 else { return (address, address.maximumPrefixLength) }
        guard let length = decimal(parts[1].utf8, maximum: Int(address.maximumPrefixLength)) else { return nil }
        return (address, UInt8(length))
    }

    /// Whether every bit after the first `length` bits is zero (always true for a length at or beyond
    /// the family's maximum).
    public func hostBitsAreZero(length: UInt8) -> Bool {
        guard length < maximumPrefixLength else { return true }
        return IPPrefix(address: self, length: length).address == self
    }
}

/// An IPv4 prefix; host bits are always zero.
public struct IPv4Prefix: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The network address (host bits zero).
    public let address: IPv4Address
    /// The prefix length, 0...32.
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
        guard case .v4(let p)? = IPPrefix(text) else { return nil }
        self = p
    }
    /// Whether `address` lies in the prefix.
    public func contains(_ address: IPv4Address) -> Bool {
        IPv4Prefix(address: address, length: length).address == self.address
    }
    @inlinable public static func < (l: Self, r: Self) -> Bool { (l.address, l.length) < (r.address, r.length) }
    /// `address/length`.
    public var description: String { "\(address)/\(length)" }
}

/// An IPv6 prefix; host bits are always zero.
public struct IPv6Prefix: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The network address (host bits zero).
    public let address: IPv6Address
    /// The prefix length, 0...128.
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
        guard case .v6(let p)? = IPPrefix(text) else { return nil }
        self = p
    }
    /// Whether `address` lies in the prefix.
    public func contains(_ address: IPv6Address) -> Bool {
        IPv6Prefix(address: address, length: length).address == self.address
    }
    @inlinable public static func < (l: Self, r: Self) -> Bool { (l.address, l.length) < (r.address, r.length) }
    /// `address/length` in RFC 5952 text.
    public var description: String { "\(address)/\(length)" }
}

/// An IPv4 or IPv6 prefix. IPv4 prefixes sort before IPv6 ones.
public enum IPPrefix: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// An IPv4 prefix.
    case v4(IPv4Prefix)
    /// An IPv6 prefix.
    case v6(IPv6Prefix)
    /// Parses `"address/length"` (a bare address is a host prefix, /32 or /128); nil when invalid or
    /// when host bits are set.
    public init?(_ text: some StringProtocol) {
        guard let (address, length) = IPAddress.parseWithPrefixLength(text) else { return nil }
        self.init(exactly: address, length: length)
    }
    /// The prefix of `length` bits holding `address`: host bits are masked. `length` must be at most
    /// the family's maximum (32 or 128).
    public init(address: IPAddress, length: UInt8) {
        switch address {
        case .v4(let a): self = .v4(IPv4Prefix(address: a, length: length))
        case .v6(let a): self = .v6(IPv6Prefix(address: a, length: length))
        }
    }
    /// The prefix `address/length`; nil when the length exceeds the family's maximum or host bits are
    /// set (as the kernel refuses a route to `192.0.2.1/24`).
    public init?(exactly address: IPAddress, length: UInt8) {
        guard length <= address.maximumPrefixLength else { return nil }
        let p = IPPrefix(address: address, length: length)
        guard p.address == address else { return nil }
        self = p
    }
    /// The host prefix of `address` (/32 or /128).
    public init(host address: IPAddress) {
        self.init(address: address, length: address.maximumPrefixLength)
    }
    /// The network address.
    public var address: IPAddress {
        switch self {
        case .v4(let p): .v4(p.address)
        case .v6(let p): .v6(p.address)
        }
    }
    /// The prefix length.
    public var length: UInt8 {
        switch self {
        case .v4(let p): p.length
        case .v6(let p): p.length
        }
    }
    /// Whether `address` lies in the prefix (false for the other family).
    public func contains(_ address: IPAddress) -> Bool {
        switch (self, address) {
        case (.v4(let p), .v4(let a)): p.contains(a)
        case (.v6(let p), .v6(let a)): p.contains(a)
        default: false
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
    /// `address/length`.
    public var description: String {
        switch self {
        case .v4(let p): p.description
        case .v6(let p): p.description
        }
    }
}

/// A decimal number of 1 to 3 ASCII digits without a leading zero (a lone "0" is fine), at most
/// `maximum`. `UInt8("+1")` would accept a sign; addresses do not.
private func decimal(_ digits: some Collection<UInt8>, maximum: Int) -> Int? {
    guard (1...3).contains(digits.count), digits.count == 1 || digits.first != UInt8(ascii: "0") else { return nil }
    var value = 0
    for c in digits {
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else { return nil }
        value = value * 10 + Int(c - UInt8(ascii: "0"))
    }
    return value <= maximum ? value : nil
}

private func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
