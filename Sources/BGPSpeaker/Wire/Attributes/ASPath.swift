import NIOCore

/// AS_PATH (type code 2, well-known mandatory; RFC 4271 §4.3 (b), §5.1.2; RFC 5065 confederation
/// segments; RFC 6793 4-octet ASNs).
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Segment Type  | Segment Length|   Type 1 AS_SET, 2 AS_SEQUENCE, 3 AS_CONFED_SEQUENCE,
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   4 AS_CONFED_SET; Length = number of ASNs (not octets)
/// |  AS numbers: 2 octets each, or 4 octets when both sides have the 4-octet AS capability
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// The value is zero or more segments. `ASPath` always holds 4-octet ASNs; on a 2-octet session the
/// codec writes AS_TRANS for ASNs above 65535 and adds AS4_PATH (see `AS4Path.swift`).
extension ASPath {
    static let attributeFlags = AttributeFlags.wellKnown

    /// Decodes an AS_PATH (or AS4_PATH) value whose ASNs are `asnSize` (2 or 4) octets.
    init(attributeValue value: ByteBuffer, asnSize: Int) throws(AttributeDefect) {
        var buffer = value
        var segments: [Segment] = []
        while buffer.readableBytes > 0 {
            // RFC 7606 §7.2: malformed on "an underrun where after the last successfully parsed
            // segment there is only a single octet remaining".
            guard let type = buffer.readInteger(as: UInt8.self), let count = buffer.readInteger(as: UInt8.self) else {
                throw Self.malformed("a single octet left after the last segment")
            }
            // RFC 7606 §7.2: malformed "if an unrecognized segment type is encountered".
            guard (1...4).contains(type) else { throw Self.malformed("unrecognized segment type \(type)") }
            // RFC 7606 §7.2: a segment "is considered malformed if ... It has a Path Segment Length
            // field of zero."
            guard count > 0 else { throw Self.malformed("segment of length zero") }
            // RFC 7606 §7.2: "an overrun where the Path Segment Length field of the last segment
            // encountered would cause the Attribute Length to be exceeded".
            guard buffer.readableBytes >= Int(count) * asnSize else {
                throw Self.malformed("segment of \(count) ASNs overruns the attribute")
            }
            var asns: [UInt32] = []
            asns.reserveCapacity(Int(count))
            for _ in 0..<count {
                if asnSize == 4 {
                    asns.append(buffer.readInteger(as: UInt32.self)!)
                } else {
                    asns.append(UInt32(buffer.readInteger(as: UInt16.self)!))
                }
            }
            segments.append(Segment(type: SegmentType(rawValue: type), asns: asns))
        }
        self.init(segments: segments)
    }

    /// RFC 4271 §6.3: "If the AS_PATH attribute is syntactically incorrect, then the Error Subcode
    /// MUST be set to Malformed AS_PATH." No data is specified for this subcode.
    private static func malformed(_ reason: String) -> AttributeDefect {
        AttributeDefect(subcode: NotificationSubcode.Update.malformedASPath, reason: "malformed AS path: \(reason)")
    }

    /// Writes the segments with `asnSize`-octet ASNs. Segments longer than 255 ASNs are split (the
    /// length field is one octet); empty segments are skipped (RFC 7606 §7.2 calls them malformed).
    /// With 2-octet ASNs, an ASN above 65535 is written as AS_TRANS (RFC 6793 §4.2.2).
    func writeValue(to buffer: inout ByteBuffer, asnSize: Int) {
        for segment in segments {
            var start = 0
            while start < segment.asns.count {
                let end = Swift.min(start + 255, segment.asns.count)
                buffer.writeInteger(segment.type.rawValue)
                buffer.writeInteger(UInt8(end - start))
                for asn in segment.asns[start..<end] {
                    if asnSize == 4 {
                        buffer.writeInteger(asn)
                    } else {
                        buffer.writeInteger(asn > UInt32(UInt16.max) ? asTrans : UInt16(asn))
                    }
                }
                start = end
            }
        }
    }

    /// Writes the AS_PATH attribute with 4-octet ASNs when `fourOctetAS`, else 2-octet ones.
    func writeAttribute(to buffer: inout ByteBuffer, fourOctetAS: Bool) {
        buffer.writePathAttribute(flags: Self.attributeFlags, type: .asPath) {
            self.writeValue(to: &$0, asnSize: fourOctetAS ? 4 : 2)
        }
    }

    /// True when some ASN does not fit in two octets ("non-mappable", RFC 6793 §2).
    var hasNonMappableASN: Bool {
        segments.contains { $0.asns.contains { $0 > UInt32(UInt16.max) } }
    }
}
