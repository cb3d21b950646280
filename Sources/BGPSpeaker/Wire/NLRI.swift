import NIOCore

/// NLRI encoding shared by the Withdrawn Routes and NLRI fields (RFC 4271 §4.3) and by
/// MP_REACH_NLRI / MP_UNREACH_NLRI for AFI 1 and 2 (RFC 4760 §5):
///
/// ```
/// +---------------------------+
/// |   Length (1 octet)        |
/// +---------------------------+
/// |   Prefix (variable)       |
/// +---------------------------+
/// ```
/// `Length` is in bits; `Prefix` holds the fewest whole octets that contain those bits, and trailing
/// bits are irrelevant (they are masked on decode).
///
/// This is the hot path of UPDATE decoding: prefixes are read straight from the buffer's bytes into
/// fixed-size values, with one `reserveCapacity` per field and no allocation per prefix.
enum NLRI {
    /// Why a field failed to parse (RFC 7606 §5.3).
    enum Defect: Error, Hashable {
        /// A prefix length greater than the family's address size (RFC 7606 §5.3 (a)).
        case prefixTooLong(UInt8)
        /// The last prefix runs past the end of the field (RFC 7606 §5.3 (b)).
        case overrun

        var reason: String {
            switch self {
            case .prefixTooLong(let l): "prefix length \(l) is too long for the address family"
            case .overrun: "last prefix runs past the end of the field"
            }
        }
    }

    /// Octets a prefix of `length` bits occupies on the wire, including the length octet.
    @inlinable
    static func encodedSize(length: UInt8) -> Int { 1 + (Int(length) + 7) >> 3 }

    static func encodedSize(_ prefix: IPPrefix) -> Int {
        switch prefix {
        case .v4(let p): encodedSize(length: p.length)
        case .v6(let p): encodedSize(length: p.length)
        }
    }

    // MARK: Decoding

    /// Decodes every readable byte of `field` as IPv4 prefixes.
    static func decodeIPv4(_ field: ByteBuffer) throws(Defect) -> [IPv4Prefix] {
        var out: [IPv4Prefix] = []
        try decodeIPv4(field, into: &out)
        return out
    }

    /// Decodes every readable byte of `field` as IPv4 prefixes, appending to `out`.
    static func decodeIPv4(_ field: ByteBuffer, into out: inout [IPv4Prefix]) throws(Defect) {
        let count = field.readableBytes
        guard count > 0 else { return }
        // A /32 takes 5 octets, a /24 4: this covers every prefix of /17 or longer without regrowth.
        out.reserveCapacity(out.count + count / 4 + 1)
        try field.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) throws(Defect) in
            var i = 0
            while i < count {
                let length = raw[i]
                i &+= 1
                // RFC 7606 §5.3 (a): the length of an IPv4 NLRI must not be greater than 32.
                guard length <= 32 else { throw .prefixTooLong(length) }
                let octets = (Int(length) &+ 7) >> 3
                // RFC 7606 §5.3 (b): the last prefix must not exceed the data left in the field.
                guard octets <= count &- i else { throw .overrun }
                var address: UInt32 = 0
                var k = 0
                while k < octets {
                    address |= UInt32(raw[i &+ k]) << (24 &- 8 &* UInt32(k))
                    k &+= 1
                }
                i &+= octets
                out.append(IPv4Prefix(address: IPv4Address(rawValue: address), length: length))
            }
        }
    }

    /// Decodes every readable byte of `field` as IPv6 prefixes, appending to `out`.
    static func decodeIPv6(_ field: ByteBuffer, into out: inout [IPPrefix]) throws(Defect) {
        let count = field.readableBytes
        guard count > 0 else { return }
        // A /128 takes 17 octets, a /64 9.
        out.reserveCapacity(out.count + count / 9 + 1)
        try field.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) throws(Defect) in
            var i = 0
            while i < count {
                let length = raw[i]
                i &+= 1
                // RFC 7606 §5.3 (a): an IPv6 NLRI longer than 128 bits is inconsistent with the AFI.
                guard length <= 128 else { throw .prefixTooLong(length) }
                let octets = (Int(length) &+ 7) >> 3
                // RFC 7606 §5.3 (b).
                guard octets <= count &- i else { throw .overrun }
                var high: UInt64 = 0
                var low: UInt64 = 0
                var k = 0
                while k < octets {
                    let byte = UInt64(raw[i &+ k])
                    if k < 8 {
                        high |= byte << (56 &- 8 &* UInt64(k))
                    } else {
                        low |= byte << (56 &- 8 &* UInt64(k &- 8))
                    }
                    k &+= 1
                }
                i &+= octets
                out.append(.v6(IPv6Prefix(address: IPv6Address(high: high, low: low), length: length)))
            }
        }
    }

    /// Decodes every readable byte of `field` as IPv4 prefixes wrapped in `IPPrefix` (MP attributes).
    static func decodeIPv4(_ field: ByteBuffer, into out: inout [IPPrefix]) throws(Defect) {
        let v4 = try decodeIPv4(field)
        out.reserveCapacity(out.count + v4.count)
        for p in v4 { out.append(.v4(p)) }
    }

    // MARK: Encoding

    static func write(_ prefix: IPv4Prefix, to buffer: inout ByteBuffer) {
        buffer.writeInteger(prefix.length)
        let raw = prefix.address.rawValue
        switch (Int(prefix.length) + 7) >> 3 {
        case 0: break
        case 1: buffer.writeInteger(UInt8(truncatingIfNeeded: raw >> 24))
        case 2: buffer.writeInteger(UInt16(truncatingIfNeeded: raw >> 16))
        case 3:
            buffer.writeInteger(UInt16(truncatingIfNeeded: raw >> 16))
            buffer.writeInteger(UInt8(truncatingIfNeeded: raw >> 8))
        default: buffer.writeInteger(raw)
        }
    }

    static func write(_ prefix: IPv6Prefix, to buffer: inout ByteBuffer) {
        buffer.writeInteger(prefix.length)
        let octets = (Int(prefix.length) + 7) >> 3
        var k = 0
        while k < octets {
            let word = k < 8 ? prefix.address.high : prefix.address.low
            buffer.writeInteger(UInt8(truncatingIfNeeded: word >> (56 - 8 * UInt64(k % 8))))
            k += 1
        }
    }

    static func write(_ prefix: IPPrefix, to buffer: inout ByteBuffer) {
        switch prefix {
        case .v4(let p): write(p, to: &buffer)
        case .v6(let p): write(p, to: &buffer)
        }
    }
}
