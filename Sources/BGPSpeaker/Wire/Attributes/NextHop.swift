import NIOCore

/// NEXT_HOP (type code 3, well-known mandatory when the NLRI field is not empty; RFC 4271 §4.3 (c),
/// §5.1.3; RFC 4760 §3 makes it effectively discretionary for MP_REACH_NLRI-only UPDATEs).
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   IPv4 next hop address                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Only the syntax is checked here. The semantic checks of RFC 4271 §6.3 (the address is not the
/// receiving speaker's own, shares a subnet with an external peer, is not a martian) need the
/// session's addresses and belong to the route import step, not the codec.
enum NextHopAttribute {
    static let flags = AttributeFlags.wellKnown

    static func decode(_ value: ByteBuffer) throws(AttributeDefect) -> IPv4Address {
        // RFC 7606 §7.3: "The attribute is considered malformed if its length is not 4."
        guard value.readableBytes == 4, let raw = value.getInteger(at: value.readerIndex, as: UInt32.self) else {
            throw .length("NEXT_HOP length \(value.readableBytes), expected 4")
        }
        return IPv4Address(rawValue: raw)
    }

    static func write(_ nextHop: IPv4Address, to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: flags, type: .nextHop) { $0.writeIPv4(nextHop) }
    }
}
