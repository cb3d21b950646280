import NIOCore

// Graceful Restart capability, code 64 (RFC 4724 §3, flags per RFC 8538 §2):
// ```
// +--------------------------------------------------+
// | Restart Flags (4 bits)                           |
// +--------------------------------------------------+
// | Restart Time in seconds (12 bits)                |
// +--------------------------------------------------+
// | Address Family Identifier (16 bits)              |
// +--------------------------------------------------+
// | Subsequent Address Family Identifier (8 bits)    |
// +--------------------------------------------------+
// | Flags for Address Family (8 bits)                |
// +--------------------------------------------------+
// | ...  (AFI, SAFI, flags) repeated                 |
// +--------------------------------------------------+
// ```
extension GracefulRestartCapability {
    /// Bit 0 of "Flags for Address Family": Forwarding State (RFC 4724 §3).
    static let forwardingStateBit: UInt8 = 0x80
    /// Restart flag R (RFC 4724 §3).
    public static let restartStateFlag: UInt8 = 0x8
    /// Notification flag N (RFC 8538 §2).
    public static let notificationFlag: UInt8 = 0x4

    /// Decodes the capability value: two octets of flags and restart time, then four octets per family.
    init(from value: inout ByteBuffer) throws(BGPError) {
        guard value.readableBytes >= 2, (value.readableBytes - 2) % 4 == 0,
            let flagsAndTime = value.readInteger(as: UInt16.self)
        else {
            throw OpenMessageError.malformedCapability(
                .gracefulRestart, "length \(value.readableBytes), expected 2 + 4n")
        }
        var families: [Family] = []
        while let afi = value.readInteger(as: UInt16.self), let safi = value.readInteger(as: UInt8.self),
            let flags = value.readInteger(as: UInt8.self)
        {
            families.append(
                Family(
                    family: AddressFamily(afi: AFI(rawValue: afi), safi: SAFI(rawValue: safi)),
                    forwardingPreserved: flags & Self.forwardingStateBit != 0))
        }
        self.init(
            flags: UInt8(truncatingIfNeeded: flagsAndTime >> 12), restartTime: flagsAndTime & 0x0FFF,
            families: families)
    }

    /// Writes the capability value. Flags keep their low 4 bits and the restart time its low 12 bits;
    /// at most 63 families fit the 1-octet Capability Length.
    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(flags & 0x0F) << 12 | restartTime & 0x0FFF)
        for entry in families.prefix(63) {
            buffer.writeInteger(entry.family.afi.rawValue)
            buffer.writeInteger(entry.family.safi.rawValue)
            buffer.writeInteger(entry.forwardingPreserved ? Self.forwardingStateBit : 0)
        }
    }
}
