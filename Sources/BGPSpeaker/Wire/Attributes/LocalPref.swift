import NIOCore

/// LOCAL_PREF (type code 5, well-known; RFC 4271 §4.3 (e), §5.1.5). Sent to internal peers only.
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 LOCAL_PREF (4-octet unsigned)                 |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
enum LocalPrefAttribute {
    static let flags = AttributeFlags.wellKnown

    static func decode(_ value: ByteBuffer) throws(AttributeDefect) -> UInt32 {
        // RFC 7606 §7.5: from an internal neighbor "it SHALL be considered malformed if its length
        // is not equal to 4".
        guard value.readableBytes == 4, let pref = value.getInteger(at: value.readerIndex, as: UInt32.self) else {
            throw .length("LOCAL_PREF length \(value.readableBytes), expected 4")
        }
        return pref
    }

    static func write(_ pref: UInt32, to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: flags, type: .localPref) { $0.writeInteger(pref) }
    }
}
