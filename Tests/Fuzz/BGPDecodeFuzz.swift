// libFuzzer entry point for the BGP wire codec (built by scripts/fuzz.sh, not by SwiftPM).
//
// Each input is used four ways, so that nested length fields do not hide the inner codecs:
//  1. as a TCP byte stream: cut into frames by `BGPFrameDecoder` and decoded under several contexts;
//  2. as one message without the header: the first octet is the Type, the rest the body, so the
//     per-type codecs are reached without the fuzzer having to find the 16-octet marker first;
//  3. the bytes after the first as a list of capabilities (code, length, value);
//  4. the same bytes as the value of one Capabilities parameter inside an OPEN whose header and
//     optional parameter lengths are made consistent here (RFC 9072 form when over 255 octets).
// Any decoded message other than UPDATE, and any decoded capability, must survive encode → decode
// unchanged.
// A trap anywhere (force unwrap, overflow, out-of-bounds, failed round trip) is a crash libFuzzer keeps.
import NIOCore

private let contexts: [WireContext] = [
    .preOpen,
    WireContext(),
    WireContext(fourOctetAS: true, extendedMessages: true, internalPeer: true, families: [.ipv4Unicast]),
]

private func checkRoundTrip(_ message: BGPMessage, context: WireContext) {
    if case .update = message { return }
    var encoded = message.encoded(context: context)
    var decoder = BGPFrameDecoder()
    guard let frame = try? decoder.decode(buffer: &encoded), encoded.readableBytes == 0 else {
        fatalError("re-encoded \(message.type) does not frame")
    }
    var warnings: [BGPError] = []
    do {
        let again = try BGPMessage.decode(frame, context: context, warnings: &warnings)
        guard again == message else { fatalError("round trip changed \(message) into \(again)") }
    } catch {
        fatalError("re-encoded \(message) does not decode: \(error)")
    }
}

private func decode(_ frame: BGPFrame) {
    for context in contexts {
        var warnings: [BGPError] = []
        guard let message = try? BGPMessage.decode(frame, context: context, warnings: &warnings) else { continue }
        checkRoundTrip(message, context: context)
    }
}

/// Mode 3: a bare capability list; each capability must re-encode to something that decodes equal.
private func decodeCapabilities(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) {
    var buffer = ByteBuffer(bytes: bytes)
    while buffer.readableBytes > 0, let capability = try? Capability(from: &buffer) {
        var encoded = ByteBuffer()
        capability.write(to: &encoded)
        guard let again = try? Capability(from: &encoded), again == capability, encoded.readableBytes == 0 else {
            fatalError("capability \(capability) does not round-trip")
        }
    }
}

/// Mode 4: `value` as the Capabilities parameter of an otherwise valid OPEN.
private func decodeWrappedOpen(_ value: Slice<UnsafeBufferPointer<UInt8>>) {
    var body: [UInt8] = [4, 0xFD, 0xE9, 0x00, 0xB4, 0xC0, 0x00, 0x02, 0x02]
    if value.count + 2 <= 255 {
        body += [UInt8(value.count + 2), 2, UInt8(value.count)]
    } else {
        let total = value.count + 3
        body += [255, 255, UInt8(truncatingIfNeeded: total >> 8), UInt8(truncatingIfNeeded: total)]
        body += [2, UInt8(truncatingIfNeeded: value.count >> 8), UInt8(truncatingIfNeeded: value.count)]
    }
    body += value
    guard body.count + BGPFrame.headerLength <= BGPFrame.maxNonExtendedLength else { return }
    decode(BGPFrame(type: .open, body: ByteBuffer(bytes: body)))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)

    // 1. Byte stream through the frame decoder, then decodeLast as at end of stream.
    var stream = ByteBuffer(bytes: bytes)
    var decoder = BGPFrameDecoder()
    while let frame = try? decoder.decode(buffer: &stream) {
        decode(frame)
    }
    _ = try? decoder.decodeLast(buffer: &stream, seenEOF: true)

    // 2. Type octet + body, straight to the per-type codecs.
    if let type = bytes.first {
        decode(BGPFrame(type: MessageType(rawValue: type), body: ByteBuffer(bytes: bytes.dropFirst())))
        // The per-type initialisers on their own, as other code may call them.
        for context in contexts {
            var body = ByteBuffer(bytes: bytes.dropFirst())
            _ = try? OpenMessage(from: &body, context: context)
            body = ByteBuffer(bytes: bytes.dropFirst())
            _ = try? NotificationMessage(from: &body, context: context)
            body = ByteBuffer(bytes: bytes.dropFirst())
            _ = try? RouteRefreshMessage(from: &body, context: context)
        }
        decodeCapabilities(bytes.dropFirst())
        decodeWrappedOpen(bytes.dropFirst())
    }
    return 0
}
