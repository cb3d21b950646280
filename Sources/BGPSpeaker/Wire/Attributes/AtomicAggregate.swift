import NIOCore

/// ATOMIC_AGGREGATE (type code 6, well-known discretionary; RFC 4271 §4.3 (f), §5.1.6). No value.
enum AtomicAggregateAttribute {
    static let flags = AttributeFlags.wellKnown

    static func decode(_ value: ByteBuffer) throws(AttributeDefect) {
        // RFC 7606 §7.6: "The attribute SHALL be considered malformed if its length is not 0."
        guard value.readableBytes == 0 else {
            throw .length("ATOMIC_AGGREGATE length \(value.readableBytes), expected 0")
        }
    }

    static func write(to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: flags, type: .atomicAggregate) { _ in }
    }
}
