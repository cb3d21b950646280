import NIOCore

/// MULTI_EXIT_DISC (type code 4, optional non-transitive; RFC 4271 §4.3 (d), §5.1.4).
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    MED (4-octet unsigned)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
enum MultiExitDiscAttribute {
    static let flags = AttributeFlags.optionalNonTransitive

    static func decode(_ value: ByteBuffer) throws(AttributeDefect) -> UInt32 {
        // RFC 7606 §7.4: "The attribute is considered malformed if its length is not 4."
        guard value.readableBytes == 4, let med = value.getInteger(at: value.readerIndex, as: UInt32.self) else {
            throw .length("MULTI_EXIT_DISC length \(value.readableBytes), expected 4")
        }
        return med
    }

    static func write(_ med: UInt32, to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: flags, type: .multiExitDisc) { $0.writeInteger(med) }
    }
}
