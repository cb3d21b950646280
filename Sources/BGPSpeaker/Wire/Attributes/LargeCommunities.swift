import NIOCore

/// LARGE_COMMUNITY (type code 32, optional transitive; RFC 8092 §2, §3).
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Global Administrator                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Local Data Part 1                       |   12 octets each, repeated
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Local Data Part 2                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
enum LargeCommunitiesAttribute {
    static let flags = AttributeFlags.optionalTransitive

    static func decode(_ value: ByteBuffer) throws(AttributeDefect) -> [LargeCommunity] {
        // RFC 8092 §6: "A BGP Large Communities attribute SHALL be considered malformed if the length
        // of the BGP Large Communities Attribute value, expressed in octets, is not a non-zero
        // multiple of 12."
        let length = value.readableBytes
        guard length > 0, length % 12 == 0 else {
            throw .length("LARGE_COMMUNITY length \(length) is not a non-zero multiple of 12")
        }
        var buffer = value
        var out: [LargeCommunity] = []
        out.reserveCapacity(length / 12)
        var seen = Set<LargeCommunity>()
        while let g = buffer.readInteger(as: UInt32.self), let l1 = buffer.readInteger(as: UInt32.self),
            let l2 = buffer.readInteger(as: UInt32.self)
        {
            // RFC 8092 §3: "A receiving speaker MUST silently remove redundant BGP Large Community
            // values from a BGP Large Community attribute." (and RFC 8092 §6: duplicates alone do not
            // make the attribute malformed).
            let c = LargeCommunity(g, l1, l2)
            if seen.insert(c).inserted { out.append(c) }
        }
        return out
    }

    static func write(_ communities: [LargeCommunity], to buffer: inout ByteBuffer) {
        // RFC 8092 §3: "Duplicate BGP Large Community values MUST NOT be transmitted."
        var seen = Set<LargeCommunity>()
        buffer.writePathAttribute(flags: flags, type: .largeCommunity) {
            for c in communities where seen.insert(c).inserted {
                $0.writeInteger(c.globalAdministrator)
                $0.writeInteger(c.localData1)
                $0.writeInteger(c.localData2)
            }
        }
    }
}
