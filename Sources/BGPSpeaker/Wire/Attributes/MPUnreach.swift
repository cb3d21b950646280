import NIOCore

/// MP_UNREACH_NLRI (type code 15, optional non-transitive; RFC 4760 §4).
///
/// ```
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Withdrawn Routes (variable)                             |
/// +---------------------------------------------------------+
/// ```
/// With no withdrawn routes and nothing else in the UPDATE it is that family's End-of-RIB marker
/// (RFC 4724 §2).
extension MPUnreach {
    static let attributeFlags = AttributeFlags.optionalNonTransitive

    init(attributeValue value: ByteBuffer, context: WireContext) throws(AttributeDefect) {
        var buffer = value
        // RFC 7606 §5.3 (d): incorrect if "the length of the MP_UNREACH_NLRI attribute is less than 3".
        guard buffer.readableBytes >= 3 else {
            throw .optional("MP_UNREACH_NLRI length \(buffer.readableBytes) is less than 3", action: .sessionReset)
        }
        let family = AddressFamily(
            afi: AFI(rawValue: buffer.readInteger(as: UInt16.self)!),
            safi: SAFI(rawValue: buffer.readInteger(as: UInt8.self)!))
        try MPFamilies.check(family, in: context, attribute: "MP_UNREACH_NLRI")
        var withdrawn: [IPPrefix] = []
        do throws(NLRI.Defect) {
            if family.afi == .ipv4 {
                try NLRI.decodeIPv4(buffer, into: &withdrawn)
            } else {
                try NLRI.decodeIPv6(buffer, into: &withdrawn)
            }
        } catch {
            // RFC 7606 §5.3 (a), (b) for MP_UNREACH_NLRI.
            throw .optional("MP_UNREACH_NLRI: \(error.reason)", action: .afiSafiDisable)
        }
        self.init(family: family, withdrawn: withdrawn)
    }

    func writeAttribute(to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: Self.attributeFlags, type: .mpUnreachNLRI) {
            $0.writeInteger(self.family.afi.rawValue)
            $0.writeInteger(self.family.safi.rawValue)
            for prefix in self.withdrawn { NLRI.write(prefix, to: &$0) }
        }
    }
}
