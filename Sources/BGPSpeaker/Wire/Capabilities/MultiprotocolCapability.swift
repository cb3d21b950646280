import NIOCore

// Multiprotocol Extensions capability, code 1 (RFC 4760 §8), length 4:
// ```
//  0       7      15      23      31
// +-------+-------+-------+-------+
// |      AFI      | Res.  | SAFI  |
// +-------+-------+-------+-------+
// ```
// RFC 4760 §8: "Res. - Reserved (8 bit) field. SHOULD be set to 0 by the sender and ignored by the
// receiver."
extension Capability {
    static func decodeMultiprotocol(_ value: inout ByteBuffer) throws(BGPError) -> Capability {
        guard value.readableBytes == 4, let afi = value.readInteger(as: UInt16.self),
            value.readInteger(as: UInt8.self) != nil, let safi = value.readInteger(as: UInt8.self)
        else {
            throw OpenMessageError.malformedCapability(.multiprotocol, "length \(value.readableBytes), expected 4")
        }
        return .multiprotocol(AddressFamily(afi: AFI(rawValue: afi), safi: SAFI(rawValue: safi)))
    }

    static func writeMultiprotocol(_ family: AddressFamily, to buffer: inout ByteBuffer) {
        buffer.writeInteger(family.afi.rawValue)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(family.safi.rawValue)
    }
}
