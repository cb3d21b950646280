import NIOCore

/// COMMUNITIES (type code 8, optional transitive; RFC 1997).
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          ASN (2 octets)       |        Value (2 octets)       |   repeated
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
enum CommunitiesAttribute {
    static let flags = AttributeFlags.optionalTransitive

    static func decode(_ value: ByteBuffer) throws(AttributeDefect) -> [Community] {
        // RFC 7606 §7.8: "The error handling of [RFC1997] is revised as follows: The Community
        // attribute SHALL be considered malformed if its length is not a non-zero multiple of 4."
        let length = value.readableBytes
        guard length > 0, length % 4 == 0 else {
            throw .length("COMMUNITIES length \(length) is not a non-zero multiple of 4")
        }
        var buffer = value
        var out: [Community] = []
        out.reserveCapacity(length / 4)
        while let raw = buffer.readInteger(as: UInt32.self) { out.append(Community(rawValue: raw)) }
        return out
    }

    static func write(_ communities: [Community], to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: flags, type: .communities) {
            for c in communities { $0.writeInteger(c.rawValue) }
        }
    }
}
