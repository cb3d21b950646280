import NIOCore

/// AS4_AGGREGATOR (type code 18, optional transitive; RFC 6793 §3): AGGREGATOR with a 4-octet
/// ASN, sent beside an AGGREGATOR holding AS_TRANS on 2-octet sessions only.
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                  Aggregator AS (4 octets)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                  Aggregator IP address                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
enum AS4AggregatorAttribute {
    static let flags = AttributeFlags.optionalTransitive

    static func decode(_ value: ByteBuffer) throws(AttributeDefect) -> Aggregator {
        // RFC 6793 §6: an AS4_AGGREGATOR whose length is not 8 is malformed (attribute discard).
        try Aggregator(attributeValue: value, asnSize: 4)
    }

    /// RFC 6793 §4.2.2: "if the aggregating AS is non-mappable ... the speaker MUST use the
    /// AS4_AGGREGATOR attribute and set the AS number field in the existing AGGREGATOR attribute to
    /// the reserved AS number, AS_TRANS"; a mappable one is sent without AS4_AGGREGATOR.
    static func needed(for aggregator: Aggregator) -> Bool { aggregator.asn > UInt32(UInt16.max) }

    static func write(_ aggregator: Aggregator, to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: flags, type: .as4Aggregator) {
            $0.writeInteger(aggregator.asn)
            $0.writeIPv4(aggregator.address)
        }
    }
}
