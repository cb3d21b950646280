import Glibc

/// Conversions between address text and the binary form netlink carries, through
/// `inet_pton` / `inet_ntop` so that every address Starling prints is canonical
/// (`2001:db8::1`, never `2001:DB8:0::1`) and compares equal to what it reads back.
enum AddressText {
    /// Parses IPv4 or IPv6 text into its family and network-order bytes.
    static func parse(_ text: String) -> (family: IPFamily, bytes: [UInt8])? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return (.ipv4, withUnsafeBytes(of: &v4) { Array($0) })
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return (.ipv6, withUnsafeBytes(of: &v6) { Array($0) })
        }
        return nil
    }

    /// Formats network-order bytes of `family` as text; nil if the length does not fit.
    static func format(family: IPFamily, bytes: some Collection<UInt8>) -> String? {
        guard let length = family.addressLength, bytes.count == length else { return nil }
        var storage = [UInt8](repeating: 0, count: 16)
        storage.replaceSubrange(0..<length, with: bytes)
        var output = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok = storage.withUnsafeBytes { raw in
            inet_ntop(Int32(family.rawValue), raw.baseAddress, &output, socklen_t(output.count)) != nil
        }
        guard ok else { return nil }
        return String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Canonical text for `text`, or `text` itself when it is not an address.
    static func canonical(_ text: String) -> String {
        guard let (family, bytes) = parse(text), let out = format(family: family, bytes: bytes) else {
            return text
        }
        return out
    }

    /// Whether every bit after the first `length` bits of `bytes` is zero.
    static func hostBitsAreZero(_ bytes: [UInt8], length: UInt8) -> Bool {
        for (index, byte) in bytes.enumerated() {
            let firstBit = index * 8
            let keep = max(0, min(8, Int(length) - firstBit))
            let mask: UInt8 = keep == 8 ? 0xFF : ~(0xFF >> UInt8(keep))
            if byte & ~mask != 0 { return false }
        }
        return true
    }

    /// Splits `"address/length"`; a missing length means a host prefix (/32 or /128).
    static func parsePrefix(_ text: String) -> (family: IPFamily, bytes: [UInt8], length: UInt8)? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let (family, bytes) = parse(String(parts[0])), let maximum = family.maximumPrefixLength else {
            return nil
        }
        var length = maximum
        if parts.count == 2 {
            guard let parsed = UInt8(parts[1]), parsed <= maximum else { return nil }
            length = parsed
        }
        return (family, bytes, length)
    }
}

/// Formats a MAC (or other link-layer) address as lowercase colon-separated hex.
func formatHardwareAddress(_ bytes: some Collection<UInt8>) -> String {
    let digits: [Character] = Array("0123456789abcdef")
    return bytes.map { String([digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]]) }.joined(separator: ":")
}
