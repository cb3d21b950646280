import NIOCore

/// BGP message framing (RFC 4271 §4.1): the 19-octet header in front of every message.
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                           Marker                              |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Length               |      Type     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// `BGPFrameDecoder` cuts the TCP byte stream into `BGPFrame`s and checks only what the header alone
/// can tell (marker, length at least 19). The per-type length rules and the 4096-octet limit without
/// extended messages need the type and the negotiated context, so `BGPMessage.decode(_:context:warnings:)`
/// applies them.

/// One BGP message as cut from the stream: its type and its body (everything after the header).
public struct BGPFrame: Sendable, Hashable {
    /// The Type octet of the header.
    public var type: MessageType
    /// The octets after the 19-octet header; `body.readableBytes + 19` is the header's Length field.
    public var body: ByteBuffer

    public init(type: MessageType, body: ByteBuffer) {
        self.type = type
        self.body = body
    }

    /// Length of the marker (RFC 4271 §4.1).
    public static let markerLength = 16
    /// Length of the header: marker, 2-octet length, 1-octet type (RFC 4271 §4.1).
    public static let headerLength = 19
    /// The largest message the Length field can express, and the limit with extended messages (RFC 8654).
    public static let maxLength = 65535
    /// The message size limit without extended messages (RFC 4271 §4.1).
    public static let maxNonExtendedLength = 4096

    /// The Length field this frame arrived with (header included).
    public var length: Int { Self.headerLength + body.readableBytes }
}

/// Splits a byte stream into BGP frames (RFC 4271 §4.1, §6.1).
///
/// Throws `BGPError` (Message Header Error, action `.sessionReset`) when the marker is not all ones
/// (Connection Not Synchronized) or the Length field is below 19 (Bad Message Length, data = the Length
/// field). Lengths up to 65535 pass; `BGPMessage.decode(_:context:warnings:)` applies the rest.
public struct BGPFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = BGPFrame

    public init() {}

    public mutating func decode(buffer: inout ByteBuffer) throws -> BGPFrame? {
        try Self.decodeFrame(&buffer)
    }

    /// At end of stream a trailing partial message is left in the buffer: the connection is gone, so
    /// there is nobody to send a NOTIFICATION to, and the FSM handles the TCP close.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> BGPFrame? {
        try Self.decodeFrame(&buffer)
    }

    /// Reads one frame from `buffer` if a whole message is there; moves the reader index only when
    /// it returns a frame.
    static func decodeFrame(_ buffer: inout ByteBuffer) throws(BGPError) -> BGPFrame? {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= BGPFrame.headerLength,
            let lengthField = buffer.getInteger(at: start + BGPFrame.markerLength, as: UInt16.self),
            let typeOctet = buffer.getInteger(at: start + BGPFrame.markerLength + 2, as: UInt8.self)
        else { return nil }
        // RFC 4271 §6.1: "If the Marker field of the message header is not as expected, then a
        // synchronization error has occurred and the Error Subcode MUST be set to Connection Not
        // Synchronized."
        let markerOK =
            buffer.withUnsafeReadableBytes { bytes in
                bytes.prefix(BGPFrame.markerLength).allSatisfy { $0 == 0xFF }
            }
        guard markerOK else { throw MessageHeaderError.connectionNotSynchronized() }
        let length = Int(lengthField)
        // RFC 4271 §6.1: "if the Length field of the message header is less than 19 ... the Error
        // Subcode MUST be set to Bad Message Length. The Data field MUST contain the erroneous Length
        // field." (The upper bound depends on type and context; see BGPMessage.decode.)
        guard length >= BGPFrame.headerLength else {
            throw MessageHeaderError.badMessageLength(length, "message length \(length) below 19")
        }
        guard buffer.readableBytes >= length else { return nil }
        buffer.moveReaderIndex(forwardBy: BGPFrame.headerLength)
        guard let body = buffer.readSlice(length: length - BGPFrame.headerLength) else {
            buffer.moveReaderIndex(to: start)
            return nil
        }
        return BGPFrame(type: MessageType(rawValue: typeOctet), body: body)
    }
}

extension BGPFrame {
    /// Writes the header (marker, length placeholder, type), calls `body`, then back-patches the length.
    /// The caller keeps the message within `context.maxMessageSize`; a longer body is a programming
    /// error and its Length field saturates at 65535.
    static func write(type: MessageType, to buffer: inout ByteBuffer, body: (inout ByteBuffer) -> Void) {
        let start = buffer.writerIndex
        buffer.writeRepeatingByte(0xFF, count: markerLength)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(type.rawValue)
        body(&buffer)
        buffer.setInteger(UInt16(clamping: buffer.writerIndex - start), at: lengthIndex)
    }

    /// The complete message (header and body) as bytes, for NOTIFICATION data that must carry it.
    var messageBytes: [UInt8] {
        var out: [UInt8] = Array(repeating: 0xFF, count: Self.markerLength)
        let len = UInt16(clamping: length)
        out.append(UInt8(len >> 8))
        out.append(UInt8(len & 0xFF))
        out.append(type.rawValue)
        out.append(contentsOf: body.readableBytesView)
        return out
    }
}
