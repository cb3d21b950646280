import NIOCore

// NOTIFICATION codec (RFC 4271 §4.5): error code, subcode, then data to the end of the message.
//
// ```
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Error code    | Error subcode |   Data (variable)             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ```
extension NotificationMessage {
    /// The shortest NOTIFICATION: header plus code and subcode (RFC 4271 §4.5).
    public static let minimumLength = 21

    /// Decodes a NOTIFICATION body (after the header); the Data field is everything after the subcode.
    /// Unknown codes and subcodes are kept as received (RFC 4271 §6.4 forbids answering a NOTIFICATION
    /// with one, so nothing here is an error except a body shorter than two octets).
    public init(from buffer: inout ByteBuffer, context: WireContext) throws(BGPError) {
        guard let code = buffer.readInteger(as: UInt8.self), let subcode = buffer.readInteger(as: UInt8.self)
        else {
            let length = BGPFrame.headerLength + buffer.readableBytes
            throw MessageHeaderError.badMessageLength(length, "NOTIFICATION length \(length) below 21")
        }
        let data = buffer.readBytes(length: buffer.readableBytes) ?? []
        self.init(code: NotificationCode(rawValue: code), subcode: subcode, data: data)
    }

    /// Writes the NOTIFICATION body (after the header).
    public func write(to buffer: inout ByteBuffer, context: WireContext) {
        buffer.writeInteger(code.rawValue)
        buffer.writeInteger(subcode)
        buffer.writeBytes(data)
    }
}
