import NIOCore

/// The bytes of one TCP connection, cut into `BGPFrame`s as they arrive (RFC 4271 §4.1), for
/// `BGPConnectionHandler`.
///
/// Framing is `BGPFrameDecoder.decodeFrame`: a partial message stays buffered until the rest arrives;
/// a bad header throws its `BGPError` (after which the caller drops the stream with `reset()`). Bytes
/// appended while a frame handed out earlier is still being processed follow the buffered remainder,
/// so frames always come out in stream order.
struct BGPFrameStream {
    /// Received bytes not yet returned as frames, or nil.
    private var pending: ByteBuffer?

    init() {}

    /// Octets buffered (the start of a message not yet complete, or frames not yet taken).
    var bufferedBytes: Int { pending?.readableBytes ?? 0 }

    /// Appends bytes read from the connection.
    mutating func append(_ bytes: inout ByteBuffer) {
        if pending == nil {
            pending = bytes
        } else {
            pending!.writeBuffer(&bytes)
        }
    }

    /// The next whole frame, or nil when no whole message is buffered.
    mutating func next() throws(BGPError) -> BGPFrame? {
        guard var buffer = pending else { return nil }
        pending = nil  // the storage stays uniquely referenced while it is cut
        guard let frame = try BGPFrameDecoder.decodeFrame(&buffer) else {
            // A partial message: moved to the front of its storage, to be completed by the next read.
            if buffer.readerIndex > 0 { buffer.discardReadBytes() }
            pending = buffer
            return nil
        }
        pending = buffer.readableBytes > 0 ? buffer : nil
        return frame
    }

    /// Drops everything buffered (after a framing error, or at end of stream).
    mutating func reset() { pending = nil }
}
