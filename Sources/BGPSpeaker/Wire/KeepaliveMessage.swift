/// KEEPALIVE message (RFC 4271 §4.4): the 19-octet header alone, no body.
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Marker (16) | Length = 19  |  Type = 4       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// It is `BGPMessage.keepalive`; encoding writes the header only.
extension BGPMessage {
    /// Checks a KEEPALIVE frame. RFC 4271 §6.1: "if the Length field of ... a KEEPALIVE message is not
    /// equal to 19 ... the Error Subcode MUST be set to Bad Message Length."
    static func decodeKeepalive(_ frame: BGPFrame) throws(BGPError) {
        guard frame.body.readableBytes == 0 else {
            throw MessageHeaderError.badMessageLength(frame.length, "KEEPALIVE length \(frame.length) is not 19")
        }
    }
}
