import NIOCore

/// EXTENDED_COMMUNITIES (type code 16, optional transitive; RFC 4360 §2).
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Type high    |  Type low(*)  |                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+          Value                |
/// |                                                               |   8 octets each, repeated
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// Each community is kept as one `UInt64` in network order, whatever its type.
enum ExtendedCommunitiesAttribute {
    static let flags = AttributeFlags.optionalTransitive

    static func decode(_ value: ByteBuffer) throws(AttributeDefect) -> [ExtendedCommunity] {
        // RFC 7606 §7.14: "The Extended Community attribute SHALL be considered malformed if its
        // length is not a non-zero multiple of 8." And: "a BGP speaker MUST NOT treat an
        // unrecognized Extended Community Type or Sub-Type as an error" -- types are not checked.
        let length = value.readableBytes
        guard length > 0, length % 8 == 0 else {
            throw .length("EXTENDED_COMMUNITIES length \(length) is not a non-zero multiple of 8")
        }
        var buffer = value
        var out: [ExtendedCommunity] = []
        out.reserveCapacity(length / 8)
        while let raw = buffer.readInteger(as: UInt64.self) { out.append(ExtendedCommunity(rawValue: raw)) }
        return out
    }

    static func write(_ communities: [ExtendedCommunity], to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: flags, type: .extendedCommunities) {
            for c in communities { $0.writeInteger(c.rawValue) }
        }
    }
}
