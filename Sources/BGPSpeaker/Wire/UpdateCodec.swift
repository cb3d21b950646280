import NIOCore

// SCAFFOLD (replaced by the UPDATE codec branch before landing): signatures only.
extension UpdateMessage {
    /// Decodes an UPDATE body (after the 19-octet header) under RFC 4271 §6.3 and RFC 7606.
    public static func decode(body: inout ByteBuffer, context: WireContext) throws(BGPError) -> DecodedUpdate {
        throw BGPError(code: .updateMessageError, subcode: 0, reason: "scaffold")
    }
    /// Writes the UPDATE body (after the 19-octet header).
    public func write(body: inout ByteBuffer, context: WireContext) {}
    /// Packs withdrawals and announcements into as few UPDATEs as fit `context.maxMessageSize`.
    public static func pack(
        withdrawn: [IPPrefix], announced: [(attributes: PathAttributes, prefixes: [IPPrefix])], context: WireContext
    ) -> [UpdateMessage] { [] }
}
