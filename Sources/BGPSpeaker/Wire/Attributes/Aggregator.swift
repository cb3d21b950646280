import NIOCore

/// AGGREGATOR (type code 7, optional transitive; RFC 4271 §4.3 (g), §5.1.7; RFC 6793 §3).
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  AS number: 2 octets, or 4 when the 4-octet AS capability was negotiated
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 IP address of the aggregating speaker         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
extension Aggregator {
    static let attributeFlags = AttributeFlags.optionalTransitive

    /// Decodes an AGGREGATOR value (`asnSize` 2 or 4) or an AS4_AGGREGATOR value (`asnSize` 4).
    init(attributeValue value: ByteBuffer, asnSize: Int) throws(AttributeDefect) {
        // RFC 7606 §7.7: "The error conditions specified in [RFC4271] for the attribute are revised
        // as follows: The AGGREGATOR attribute SHALL be considered malformed if any of the following
        // applies: Its length is not 6 (when the 4-octet AS number capability is not advertised to
        // or not received from the peer [RFC6793]). Its length is not 8 (when the 4-octet AS number
        // capability is both advertised to and received from the peer)."
        var buffer = value
        guard buffer.readableBytes == asnSize + 4 else {
            throw .length("aggregator length \(value.readableBytes), expected \(asnSize + 4)")
        }
        let asn = asnSize == 4 ? buffer.readInteger(as: UInt32.self)! : UInt32(buffer.readInteger(as: UInt16.self)!)
        self.init(asn: asn, address: IPv4Address(rawValue: buffer.readInteger(as: UInt32.self)!))
    }

    /// Writes AGGREGATOR; on a 2-octet session a non-mappable ASN is written as AS_TRANS
    /// (RFC 6793 §4.2.2) and the caller adds AS4_AGGREGATOR.
    func writeAttribute(to buffer: inout ByteBuffer, fourOctetAS: Bool) {
        buffer.writePathAttribute(flags: Self.attributeFlags, type: .aggregator) {
            if fourOctetAS {
                $0.writeInteger(self.asn)
            } else {
                $0.writeInteger(self.asn > UInt32(UInt16.max) ? asTrans : UInt16(self.asn))
            }
            $0.writeIPv4(self.address)
        }
    }
}
