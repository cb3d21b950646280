import NIOCore

/// ORIGIN (type code 1, well-known mandatory; RFC 4271 §4.3 (a), §5.1.1).
///
/// ```
/// +-+-+-+-+-+-+-+-+
/// |    Origin     |   0 IGP, 1 EGP, 2 INCOMPLETE
/// +-+-+-+-+-+-+-+-+
/// ```
extension Origin {
    static let attributeFlags = AttributeFlags.wellKnown

    /// Decodes the attribute value.
    init(attributeValue value: ByteBuffer) throws(AttributeDefect) {
        // RFC 7606 §7.1: "The attribute is considered malformed if its length is not 1 or if it has
        // an undefined value."
        guard value.readableBytes == 1, let raw = value.getInteger(at: value.readerIndex, as: UInt8.self) else {
            throw .length("ORIGIN length \(value.readableBytes), expected 1")
        }
        // RFC 4271 §6.3: "If the ORIGIN attribute has an undefined value, then the Error Sub-code
        // MUST be set to Invalid Origin Attribute."
        guard raw <= Origin.incomplete.rawValue else {
            throw AttributeDefect(
                subcode: NotificationSubcode.Update.invalidOriginAttribute, reason: "undefined ORIGIN value \(raw)")
        }
        self.init(rawValue: raw)
    }

    func writeAttribute(to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: Self.attributeFlags, type: .origin) { $0.writeInteger(self.rawValue) }
    }
}
