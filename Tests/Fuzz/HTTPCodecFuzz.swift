// libFuzzer entry point for the SE's HTTP/1.x codec (Sources/SE/DataPlane/HTTPCodec.swift; built by
// scripts/fuzz.sh, not by SwiftPM).
//
// The first byte chooses how the rest is read: request or response, the head limit, and where the
// stream is cut (so that heads split across reads are parsed too). A parsed head is rewritten for the
// other side (both writers), and the bytes after it are read as the body its framing says, plain and
// de-chunked, in pieces. Invariants checked, a trap otherwise:
//  - a head is found only when the bytes up to it end in CRLF CRLF and fit the limit;
//  - a rewritten request head parses again, with the same method/target/version, framing and Host;
//  - the body reader never reads more than it is given and stops at its end.
import NIOCore

/// The head parsed from `bytes` given in two reads cut at `cut`, and the bytes after it; the same head
/// must come out of the bytes given at once.
private func parseAll(_ bytes: ArraySlice<UInt8>, isRequest: Bool, limit: Int, cut: Int) -> (HTTPHead, ByteBuffer)? {
    var buffer = ByteBuffer(bytes: bytes.prefix(cut))
    var scanned = 0
    var head: HTTPHead?
    do {
        head = try HTTPHeadParser.parse(&buffer, isRequest: isRequest, limit: limit, scanned: &scanned)
        if head == nil {
            buffer.writeBytes(bytes.dropFirst(cut))
            head = try HTTPHeadParser.parse(&buffer, isRequest: isRequest, limit: limit, scanned: &scanned)
        }
    } catch {
        return nil
    }
    guard let head else { return nil }
    var whole = ByteBuffer(bytes: bytes)
    var s = 0
    guard let once = try? HTTPHeadParser.parse(&whole, isRequest: isRequest, limit: limit, scanned: &s),
        once.bytes == head.bytes, once.info == head.info
    else { fatalError("a head read in two pieces differs from the same bytes read at once") }
    return (head, whole)
}

private func readBody(_ framing: HTTPBodyFraming, _ body: ByteBuffer, dechunk: Bool, piece: Int) {
    var reader = HTTPBodyReader(framing, dechunk: dechunk)
    var input = body
    var total = 0
    let given = body.readableBytes
    while input.readableBytes > 0 {
        var part = input.readSlice(length: min(piece, input.readableBytes))!
        while part.readableBytes > 0 {
            let before = part.readableBytes
            guard let (out, ended) = try? reader.read(&part) else { return }
            total += out?.readableBytes ?? 0
            if total > given { fatalError("the body reader returned more bytes than it was given") }
            if ended { return }
            if part.readableBytes == before { break }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let all = UnsafeBufferPointer(start: data, count: size)
    let control = all[0]
    let bytes = ArraySlice(all.dropFirst())
    let isRequest = control & 1 == 0
    let limit = control & 2 == 0 ? 32 * 1024 : 64
    let cut = Int(control >> 2) % (bytes.count + 1)
    let piece = Int(control >> 4) + 1
    guard let (head, rest) = parseAll(bytes, isRequest: isRequest, limit: limit, cut: cut) else { return 0 }
    if head.bytes.readableBytes > limit { fatalError("head over the limit accepted") }
    let allocator = ByteBufferAllocator()
    let info = head.info
    if isRequest {
        var rewritten = HTTPHeadWriter.request(
            head, clientIP: "192.0.2.7", https: control & 8 != 0, allocator: allocator)
        var s = 0
        guard let again = try? HTTPHeadParser.parse(&rewritten, isRequest: true, limit: .max, scanned: &s)
        else { fatalError("the rewritten request head does not parse: \(String(buffer: head.bytes).debugDescription)") }
        if again.info.isHEAD != info.isHEAD || requestFraming(again.info) != requestFraming(info)
            || again.info.hostCount != max(info.hostCount, 1)
        {
            fatalError("the rewritten request head differs: \(String(buffer: head.bytes).debugDescription)")
        }
        readBody(requestFraming(info), rest, dechunk: false, piece: piece)
        readBody(requestFraming(info), rest, dechunk: true, piece: piece)
    } else {
        var rewritten = HTTPHeadWriter.response(
            head, clientMinor: control & 4 == 0 ? 1 : 0, keepAlive: control & 8 == 0, keepTransferEncoding: true,
            extraFields: "Strict-Transport-Security: max-age=1\r\n", allocator: allocator)
        var s = 0
        guard (try? HTTPHeadParser.parse(&rewritten, isRequest: false, limit: .max, scanned: &s)) != nil else {
            fatalError("the rewritten response head does not parse")
        }
        let framing = responseFraming(info, requestWasHEAD: control & 16 != 0)
        readBody(framing, rest, dechunk: false, piece: piece)
        readBody(framing, rest, dechunk: true, piece: piece)
    }
    return 0
}
