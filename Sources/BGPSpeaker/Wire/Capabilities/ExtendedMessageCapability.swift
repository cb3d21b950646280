import NIOCore

// Extended Message capability, code 6 (RFC 8654 §3): "The Capability Length field ... is set to zero."
// Once both sides advertised it, messages other than OPEN and KEEPALIVE may be up to 65535 octets
// (`WireContext.extendedMessages`).
extension Capability {
    static func decodeExtendedMessage(_ value: ByteBuffer) throws(BGPError) -> Capability {
        try expectEmpty(value, .extendedMessage)
        return .extendedMessage
    }
}
