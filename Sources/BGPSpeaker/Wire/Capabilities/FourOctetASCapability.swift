import NIOCore

// Support for 4-octet AS number capability, code 65 (RFC 6793 §3), length 4: the speaker's ASN as a
// 4-octet integer. A speaker whose ASN does not fit 2 octets puts AS_TRANS (23456) in My Autonomous System.
extension Capability {
    static func decodeFourOctetAS(_ value: inout ByteBuffer) throws(BGPError) -> Capability {
        guard value.readableBytes == 4, let asn = value.readInteger(as: UInt32.self) else {
            throw OpenMessageError.malformedCapability(.fourOctetAS, "length \(value.readableBytes), expected 4")
        }
        return .fourOctetAS(asn)
    }

    static func writeFourOctetAS(_ asn: UInt32, to buffer: inout ByteBuffer) {
        buffer.writeInteger(asn)
    }
}
