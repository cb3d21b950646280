import NIOCore

/// MP_REACH_NLRI (type code 14, optional non-transitive; RFC 4760 §3).
///
/// ```
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Length of Next Hop Network Address (1 octet)            |
/// +---------------------------------------------------------+
/// | Network Address of Next Hop (variable)                  |
/// +---------------------------------------------------------+
/// | Reserved (1 octet)                                      |
/// +---------------------------------------------------------+
/// | Network Layer Reachability Information (variable)       |
/// +---------------------------------------------------------+
/// ```
/// Decoded families: AFI 1 and 2 with SAFI 1 and 2 (RFC 4760 §5 NLRI encoding). Next hops: 4 octets
/// for IPv4; 16 (global) or 32 (global then link-local, RFC 2545 §3) octets for IPv6.
///
/// Every error is an error of the whole attribute: RFC 7606 §7.11 and §5.3 leave "session reset"
/// or "AFI/SAFI disable" (RFC 4760 §7), both of which end the UPDATE's processing here.
extension MPReach {
    static let attributeFlags = AttributeFlags.optionalNonTransitive

    init(attributeValue value: ByteBuffer, context: WireContext) throws(AttributeDefect) {
        var buffer = value
        // RFC 7606 §5.3 (d): the attribute is incorrect if "the length of the MP_REACH_NLRI
        // attribute is less than 5".
        guard buffer.readableBytes >= 5 else {
            throw .optional(
                "MP_REACH_NLRI length \(buffer.readableBytes) is less than 5",
                action: buffer.readableBytes >= 3 ? .afiSafiDisable : .sessionReset)
        }
        let family = AddressFamily(
            afi: AFI(rawValue: buffer.readInteger(as: UInt16.self)!),
            safi: SAFI(rawValue: buffer.readInteger(as: UInt8.self)!))
        try MPFamilies.check(family, in: context, attribute: "MP_REACH_NLRI")
        let nextHopLength = Int(buffer.readInteger(as: UInt8.self)!)
        // The next hop and the reserved octet must fit before the NLRI.
        guard buffer.readableBytes >= nextHopLength + 1 else {
            throw .optional(
                "MP_REACH_NLRI next hop of \(nextHopLength) octets overruns the attribute", action: .afiSafiDisable)
        }
        let nextHop: NextHop
        switch (family.afi, nextHopLength) {
        case (.ipv4, 4):
            nextHop = .ipv4(IPv4Address(rawValue: buffer.readInteger(as: UInt32.self)!))
        case (.ipv6, 16):
            nextHop = .ipv6(global: buffer.readIPv6()!, linkLocal: nil)
        case (.ipv6, 32):
            // RFC 2545 §3: "the length of the next hop address ... 32, if both a global and a
            // link-local address are included" -- global first, then link-local.
            let global = buffer.readIPv6()!
            nextHop = .ipv6(global: global, linkLocal: buffer.readIPv6()!)
        default:
            // RFC 7606 §7.11: "If the Length of Next Hop Network Address field of the MP_REACH
            // attribute is inconsistent with that which was expected, the attribute is considered
            // malformed. Since the next hop precedes the NLRI field in the attribute, in this case
            // it will not be possible to reliably locate the NLRI; thus, the "session reset"
            // approach or the "AFI/SAFI disable" approach MUST be used."
            throw .optional(
                "MP_REACH_NLRI next hop length \(nextHopLength) is inconsistent with \(family)",
                action: .afiSafiDisable)
        }
        // RFC 4760 §3: Reserved "MUST be set to 0, and SHOULD be ignored upon receipt."
        buffer.moveReaderIndex(forwardBy: 1)
        var nlri: [IPPrefix] = []
        do throws(NLRI.Defect) {
            if family.afi == .ipv4 {
                try NLRI.decodeIPv4(buffer, into: &nlri)
            } else {
                try NLRI.decodeIPv6(buffer, into: &nlri)
            }
        } catch {
            // RFC 7606 §5.3: MP_REACH_NLRI is incorrect if an NLRI length is inconsistent with the
            // AFI/SAFI or the last NLRI overruns the attribute.
            throw .optional("MP_REACH_NLRI: \(error.reason)", action: .afiSafiDisable)
        }
        self.init(family: family, nextHop: nextHop, nlri: nlri)
    }

    func writeAttribute(to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: Self.attributeFlags, type: .mpReachNLRI) {
            $0.writeInteger(self.family.afi.rawValue)
            $0.writeInteger(self.family.safi.rawValue)
            switch self.nextHop {
            case .ipv4(let a):
                $0.writeInteger(UInt8(4))
                $0.writeIPv4(a)
            case .ipv6(let global, nil):
                $0.writeInteger(UInt8(16))
                $0.writeIPv6(global)
            case .ipv6(let global, let linkLocal?):
                $0.writeInteger(UInt8(32))
                $0.writeIPv6(global)
                $0.writeIPv6(linkLocal)
            case .raw(let bytes):
                $0.writeInteger(UInt8(truncatingIfNeeded: bytes.count))
                $0.writeBytes(bytes.prefix(255))
            }
            // RFC 4760 §3: Reserved "MUST be set to 0".
            $0.writeInteger(UInt8(0))
            for prefix in self.nlri { NLRI.write(prefix, to: &$0) }
        }
    }

    /// Octets of the attribute value before the NLRI (AFI, SAFI, next hop length and address, reserved).
    var valueLengthBeforeNLRI: Int {
        let nextHopLength =
            switch nextHop {
            case .ipv4: 4
            case .ipv6(_, nil): 16
            case .ipv6: 32
            case .raw(let bytes): min(bytes.count, 255)
            }
        return 5 + nextHopLength
    }
}

/// The address families MP_REACH_NLRI and MP_UNREACH_NLRI can carry here.
enum MPFamilies {
    static func check(_ family: AddressFamily, in context: WireContext, attribute: String) throws(AttributeDefect) {
        // RFC 4760 §7 / RFC 7606 §7.11-§7.12: an MP attribute we cannot take -- a family that was
        // not negotiated, or one whose NLRI we cannot parse (RFC 7606 §3 (j)) -- is an incorrect
        // attribute: "AFI/SAFI disable" or "session reset", with the NOTIFICATION "UPDATE Message
        // Error"/"Optional Attribute Error" (RFC 4760 §7).
        guard context.families.contains(family) else {
            throw .optional("\(attribute) for \(family), which was not negotiated", action: .afiSafiDisable)
        }
        guard family.afi == .ipv4 || family.afi == .ipv6, family.safi == .unicast || family.safi == .multicast else {
            throw .optional("\(attribute) for \(family), whose NLRI this speaker cannot parse", action: .afiSafiDisable)
        }
    }
}
