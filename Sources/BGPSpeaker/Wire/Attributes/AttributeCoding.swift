import NIOCore

/// Path attribute framing (RFC 4271 §4.3) shared by every attribute file:
///
/// ```
///  0                   1
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Attr. Flags  |Attr. Type Code|   then Attribute Length: 1 octet, or 2 octets when the
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Extended Length flag is set; then the value.
/// ```

/// Why one attribute's value failed to decode. The UPDATE decoder turns it into a `BGPError` carrying
/// the attribute's NOTIFICATION data and the RFC 7606 action that attribute's specification names.
struct AttributeDefect: Error, Hashable {
    /// The UPDATE Message Error subcode (RFC 4271 §6.3).
    var subcode: UInt8
    var reason: String
    /// Overrides the attribute's usual action (for MP_REACH/MP_UNREACH, which know best).
    var action: BGPError.Action?

    init(subcode: UInt8, reason: String, action: BGPError.Action? = nil) {
        self.subcode = subcode
        self.reason = reason
        self.action = action
    }

    /// RFC 4271 §6.3: "If any recognized attribute has Attribute Length that conflicts with the
    /// expected length (based on the attribute type code), then the Error Subcode MUST be set to
    /// Attribute Length Error."
    static func length(_ reason: String) -> Self {
        Self(subcode: NotificationSubcode.Update.attributeLengthError, reason: reason)
    }

    /// RFC 4271 §6.3: a recognized optional attribute whose value is in error: Optional Attribute Error.
    static func optional(_ reason: String, action: BGPError.Action? = nil) -> Self {
        Self(subcode: NotificationSubcode.Update.optionalAttributeError, reason: reason, action: action)
    }
}

extension AttributeFlags {
    /// Well-known attributes: Optional 0, Transitive 1 (RFC 4271 §4.3).
    static let wellKnown: Self = [.transitive]
    static let optionalTransitive: Self = [.optional, .transitive]
    static let optionalNonTransitive: Self = [.optional]
}

extension ByteBuffer {
    /// Writes one path attribute: flags, type code, length and the value `body` writes. The Extended
    /// Length bit is set exactly when the value is longer than 255 octets (RFC 4271 §4.3); the length
    /// is back-patched, never computed in advance.
    ///
    /// The header is first written in extended form; a value of 255 octets or fewer is then moved
    /// down one octet, so the move never copies more than 255 octets.
    mutating func writePathAttribute(
        flags: AttributeFlags, type: AttributeType, _ body: (inout ByteBuffer) -> Void
    ) {
        let start = self.writerIndex
        self.writeInteger(flags.union(.extendedLength).rawValue)
        self.writeInteger(type.rawValue)
        self.writeInteger(UInt16(0))
        let valueStart = self.writerIndex
        body(&self)
        let length = self.writerIndex - valueStart
        precondition(length <= Int(UInt16.max), "attribute \(type) value of \(length) octets does not fit")
        if length > 255 {
            self.setInteger(UInt16(length), at: start + 2)
        } else {
            self.setInteger(flags.subtracting(.extendedLength).rawValue, at: start)
            self.setInteger(UInt8(length), at: start + 2)
            if length > 0 {
                // Cannot fail: the source range was just written and is readable.
                _ = try? self.copyBytes(at: valueStart, to: start + 3, length: length)
            }
            self.moveWriterIndex(to: start + 3 + length)
        }
    }

    /// Writes a 4-octet IPv4 address in network order.
    mutating func writeIPv4(_ address: IPv4Address) {
        self.writeInteger(address.rawValue)
    }

    /// Writes a 16-octet IPv6 address in network order.
    mutating func writeIPv6(_ address: IPv6Address) {
        self.writeInteger(address.high)
        self.writeInteger(address.low)
    }

    /// Reads a 16-octet IPv6 address.
    mutating func readIPv6() -> IPv6Address? {
        guard let high = self.readInteger(as: UInt64.self), let low = self.readInteger(as: UInt64.self) else {
            return nil
        }
        return IPv6Address(high: high, low: low)
    }
}
