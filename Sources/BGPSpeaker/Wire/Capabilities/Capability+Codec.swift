import NIOCore

// One capability inside a Capabilities optional parameter (RFC 5492 §4):
// ```
// +------------------------------+
// | Capability Code (1 octet)    |
// +------------------------------+
// | Capability Length (1 octet)  |
// +------------------------------+
// | Capability Value (variable)  |
// ~                              ~
// +------------------------------+
// ```
// The value codecs live one per file beside this one; codes we do not interpret are kept verbatim
// (RFC 5492 §3: "If a BGP speaker receives from its peer a capability that it does not itself support
// or recognize, it MUST ignore that capability", and we carry it so it can be shown and re-encoded).
extension Capability {
    /// Decodes one capability triple. A known capability whose value has the wrong length or shape is
    /// an OPEN Message Error, subcode 0 (see `OpenMessageError.malformedCapability`).
    init(from buffer: inout ByteBuffer) throws(BGPError) {
        guard let rawCode = buffer.readInteger(as: UInt8.self) else {
            throw OpenMessageError.malformed("empty capability")
        }
        let code = CapabilityCode(rawValue: rawCode)
        guard let length = buffer.readInteger(as: UInt8.self), var value = buffer.readSlice(length: Int(length)) else {
            throw OpenMessageError.malformedCapability(code, "capability overruns its optional parameter")
        }
        switch code {
        case .multiprotocol: self = try Self.decodeMultiprotocol(&value)
        case .routeRefresh: self = try Self.decodeRouteRefresh(value)
        case .enhancedRouteRefresh: self = try Self.decodeEnhancedRouteRefresh(value)
        case .extendedMessage: self = try Self.decodeExtendedMessage(value)
        case .fourOctetAS: self = try Self.decodeFourOctetAS(&value)
        case .gracefulRestart: self = .gracefulRestart(try GracefulRestartCapability(from: &value))
        default: self = Self.decodeUnknown(code: code, value)
        }
    }

    /// Writes the capability triple, back-patching Capability Length.
    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(code.rawValue)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt8(0))
        switch self {
        case .multiprotocol(let family): Self.writeMultiprotocol(family, to: &buffer)
        case .routeRefresh, .enhancedRouteRefresh, .extendedMessage: break
        case .fourOctetAS(let asn): Self.writeFourOctetAS(asn, to: &buffer)
        case .gracefulRestart(let gr): gr.write(to: &buffer)
        case .unknown(_, let value): Self.writeUnknown(value, to: &buffer)
        }
        buffer.setInteger(UInt8(clamping: buffer.writerIndex - lengthIndex - 1), at: lengthIndex)
    }

    /// Checks that a capability defined with an empty value has one.
    static func expectEmpty(_ value: ByteBuffer, _ code: CapabilityCode) throws(BGPError) {
        guard value.readableBytes == 0 else {
            throw OpenMessageError.malformedCapability(code, "length \(value.readableBytes), expected 0")
        }
    }
}
