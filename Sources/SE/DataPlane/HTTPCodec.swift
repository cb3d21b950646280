import NIOCore

// A small HTTP/1.x codec for the reverse proxy: it finds the end of a head, reads what the proxy needs
// from it (method, version, status, framing, `Connection`), writes the head for the other side from the
// original bytes (hop-by-hop fields dropped, `X-Forwarded-*` added) and frames bodies by length or
// chunked encoding, passing the bytes through as slices of the read buffer (chunked stays chunked).
// Pure value code: no channel, no clock.

/// Why a head or body was refused.
enum HTTPCodecError: Error, Equatable {
    /// The head is larger than the limit (→ 431 for a request).
    case headTooLarge
    /// The bytes are not valid HTTP/1.x; `reason` names the part at fault.
    case malformed(String)
}

/// How a message body is delimited (RFC 9112 §6).
enum HTTPBodyFraming: Equatable {
    case none
    case length(Int)
    case chunked
    /// A response without length: it ends when the server closes.
    case untilClose
}

/// What the proxy needs from a head. Offsets are into the head's bytes (`HTTPHead.bytes`).
struct HTTPHeadInfo: Equatable {
    /// 0 or 1 (HTTP/1.0, HTTP/1.1).
    var minorVersion: UInt8 = 1
    /// Request: `HEAD`.
    var isHEAD = false
    /// Request: the method is idempotent (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE).
    var isIdempotent = false
    /// Response: the status code.
    var status = 0
    /// The start line's first part (request: method; response: version) and the rest after the version
    /// (request: target, from `targetStart` to `targetEnd`; response: `SP status SP reason`).
    var methodEnd = 0
    var targetStart = 0
    var targetEnd = 0
    /// Where the header fields start (after the start line's CRLF).
    var fieldsStart = 0
    var contentLength: Int?
    /// `Transfer-Encoding` was present; `chunked`: its last coding is chunked.
    var hasTransferEncoding = false
    var chunked = false
    var connectionClose = false
    var connectionKeepAlive = false
    /// `Connection` names fields other than close/keep-alive (they must be dropped too).
    var connectionNamesOthers = false
    /// Offset of the last `X-Forwarded-For` line, if any.
    var lastForwardedFor: Int?
    /// Request: the `Host` value (`hostStart..<hostEnd`) and how many `Host` lines there were.
    var hostStart = 0
    var hostEnd = 0
    var hostCount = 0

    /// Whether the sender wants to keep the connection (RFC 9112 §9.3).
    var keepAlive: Bool {
        minorVersion >= 1 ? !connectionClose : connectionKeepAlive && !connectionClose
    }
}

/// A complete head: its bytes (start line to the empty line included) and what was read from them.
struct HTTPHead {
    var bytes: ByteBuffer
    var info: HTTPHeadInfo
}

enum HTTPHeadParser {
    /// Looks for a complete head at the start of `buffer`: nil while more bytes are needed (`scanned`
    /// remembers how far the search went). On success the head is read off `buffer`.
    static func parse(
        _ buffer: inout ByteBuffer, isRequest: Bool, limit: Int, scanned: inout Int
    ) throws(HTTPCodecError) -> HTTPHead? {
        let n = buffer.readableBytes
        let end: Int? = buffer.withUnsafeReadableBytes { p -> Int? in
            var i = max(scanned, 3)
            while i < n {
                if p[i] == 10 && p[i - 1] == 13 && p[i - 2] == 10 && p[i - 3] == 13 { return i + 1 }
                i += 1
            }
            return nil
        }
        guard let end else {
            if n > limit { throw .headTooLarge }
            scanned = max(n, 3)
            return nil
        }
        scanned = 0
        if end > limit { throw .headTooLarge }
        let bytes = buffer.readSlice(length: end)!
        let info: HTTPHeadInfo
        do {
            info = try bytes.withUnsafeReadableBytes { p in
                try (isRequest ? parseRequest(p) : parseResponse(p))
            }
        } catch let e as HTTPCodecError {
            throw e
        } catch {
            throw .malformed("head")
        }
        return HTTPHead(bytes: bytes, info: info)
    }

    /// tchar (RFC 9110 §5.6.2).
    @inline(__always)
    static func isToken(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// `HTTP/1.0` or `HTTP/1.1` at `i`: the minor version.
    static func version(_ p: UnsafeRawBufferPointer, at i: Int) throws(HTTPCodecError) -> UInt8 {
        guard i + 8 <= p.count, p[i] == 72, p[i + 1] == 84, p[i + 2] == 84, p[i + 3] == 80, p[i + 4] == 47,
            p[i + 5] == 49, p[i + 6] == 46, p[i + 7] == 48 || p[i + 7] == 49
        else { throw .malformed("version") }
        return p[i + 7] - 48
    }

    /// RFC 9110 §9.2.2: "the request methods defined by this specification" that are idempotent are PUT,
    /// DELETE and the safe methods (GET, HEAD, OPTIONS, TRACE). Method names are case-sensitive (§9.1).
    static func isIdempotent(_ method: UnsafeRawBufferPointer) -> Bool {
        switch method.count {
        case 3: return method.elementsEqual("GET".utf8) || method.elementsEqual("PUT".utf8)
        case 4: return method.elementsEqual("HEAD".utf8)
        case 5: return method.elementsEqual("TRACE".utf8)
        case 6: return method.elementsEqual("DELETE".utf8)
        case 7: return method.elementsEqual("OPTIONS".utf8)
        default: return false
        }
    }

    static func parseRequest(_ p: UnsafeRawBufferPointer) throws(HTTPCodecError) -> HTTPHeadInfo {
        var info = HTTPHeadInfo()
        var i = 0
        while i < p.count && isToken(p[i]) { i += 1 }
        guard i > 0, i < p.count, p[i] == 32 else { throw .malformed("method") }
        info.methodEnd = i
        info.isHEAD = i == 4 && p[0] == 72 && p[1] == 69 && p[2] == 65 && p[3] == 68
        info.isIdempotent = isIdempotent(UnsafeRawBufferPointer(rebasing: p[0..<i]))
        i += 1
        info.targetStart = i
        while i < p.count && p[i] > 32 && p[i] != 127 { i += 1 }
        guard i > info.targetStart, i < p.count, p[i] == 32 else { throw .malformed("request target") }
        info.targetEnd = i
        i += 1
        info.minorVersion = try version(p, at: i)
        i += 8
        guard i + 1 < p.count, p[i] == 13, p[i + 1] == 10 else { throw .malformed("request line") }
        info.fieldsStart = i + 2
        try parseFields(p, &info)
        // RFC 9112 §3.2: an HTTP/1.1 request without Host, or any request with several, gets a 400.
        if info.hostCount > 1 { throw .malformed("several Host fields") }
        if info.minorVersion == 1 && info.hostCount == 0 { throw .malformed("no Host field") }
        if info.hasTransferEncoding {
            // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; chunked
            // must be last; with Content-Length too the message is refused (request smuggling).
            guard info.minorVersion == 1 else { throw .malformed("Transfer-Encoding in an HTTP/1.0 request") }
            guard info.chunked else { throw .malformed("Transfer-Encoding") }
            guard info.contentLength == nil else { throw .malformed("Content-Length with Transfer-Encoding") }
        }
        return info
    }

    static func parseResponse(_ p: UnsafeRawBufferPointer) throws(HTTPCodecError) -> HTTPHeadInfo {
        var info = HTTPHeadInfo()
        info.minorVersion = try version(p, at: 0)
        info.methodEnd = 8
        guard p.count > 12, p[8] == 32 else { throw .malformed("status line") }
        var status = 0
        for k in 9..<12 {
            let d = p[k]
            guard d >= 48 && d <= 57 else { throw .malformed("status code") }
            status = status * 10 + Int(d - 48)
        }
        guard status >= 100 else { throw .malformed("status code") }
        info.status = status
        var i = 12
        while i < p.count && p[i] != 13 && p[i] != 10 { i += 1 }
        guard i + 1 < p.count, p[i] == 13, p[i + 1] == 10, i == 12 || p[12] == 32 else {
            throw .malformed("status line")
        }
        info.targetStart = 8
        info.targetEnd = i
        info.fieldsStart = i + 2
        try parseFields(p, &info)
        if info.hasTransferEncoding && info.contentLength != nil {
            throw .malformed("Content-Length with Transfer-Encoding")
        }
        return info
    }

    /// Calls `body(nameStart, nameEnd, valueStart, valueEnd, lineStart)` for every field line, the value
    /// without surrounding spaces; stops before the final empty line.
    @inline(__always)
    static func forEachField(
        _ p: UnsafeRawBufferPointer, from start: Int,
        _ body: (Int, Int, Int, Int, Int) throws(HTTPCodecError) -> Void
    ) throws(HTTPCodecError) {
        var i = start
        while i + 1 < p.count {
            if p[i] == 13 && p[i + 1] == 10 { return }
            let lineStart = i
            while i < p.count && isToken(p[i]) { i += 1 }
            guard i > lineStart, i < p.count, p[i] == 58 else { throw .malformed("header field name") }
            let nameEnd = i
            i += 1
            while i < p.count && (p[i] == 32 || p[i] == 9) { i += 1 }
            let valueStart = i
            while i < p.count && p[i] != 13 {
                let c = p[i]
                guard c >= 32 || c == 9, c != 127 else { throw .malformed("header field value") }
                i += 1
            }
            guard i + 1 < p.count, p[i + 1] == 10 else { throw .malformed("line ending") }
            var valueEnd = i
            while valueEnd > valueStart && (p[valueEnd - 1] == 32 || p[valueEnd - 1] == 9) { valueEnd -= 1 }
            try body(lineStart, nameEnd, valueStart, valueEnd, lineStart)
            i += 2
        }
        throw .malformed("head end")
    }

    private static func parseFields(_ p: UnsafeRawBufferPointer, _ info: inout HTTPHeadInfo) throws(HTTPCodecError) {
        try forEachField(p, from: info.fieldsStart) { (ns, ne, vs, ve, line) throws(HTTPCodecError) in
            switch FieldKind(p, ns, ne) {
            case .contentLength:
                guard ve > vs, ve - vs <= 18 else { throw .malformed("Content-Length") }
                var n = 0
                for k in vs..<ve {
                    let d = p[k]
                    guard d >= 48 && d <= 57 else { throw .malformed("Content-Length") }
                    n = n * 10 + Int(d - 48)
                }
                if let old = info.contentLength, old != n { throw .malformed("Content-Length") }
                info.contentLength = n
            case .transferEncoding:
                info.hasTransferEncoding = true
                // The last coding decides; a later field line adds codings after the earlier ones.
                var k = ve
                while k > vs && p[k - 1] != 44 { k -= 1 }
                while k < ve && (p[k] == 32 || p[k] == 9) { k += 1 }
                info.chunked = asciiEqual(p, k, ve, "chunked")
            case .connection:
                forEachToken(p, vs, ve) { s, e in
                    if asciiEqual(p, s, e, "close") {
                        info.connectionClose = true
                    } else if asciiEqual(p, s, e, "keep-alive") {
                        info.connectionKeepAlive = true
                    } else {
                        info.connectionNamesOthers = true
                    }
                }
            case .forwardedFor:
                info.lastForwardedFor = line
            case .host:
                info.hostCount += 1
                info.hostStart = vs
                info.hostEnd = ve
            default:
                break
            }
        }
    }

    /// The comma-separated tokens of a value, without spaces.
    @inline(__always)
    static func forEachToken(_ p: UnsafeRawBufferPointer, _ vs: Int, _ ve: Int, _ body: (Int, Int) -> Void) {
        var s = vs
        while s < ve {
            var e = s
            while e < ve && p[e] != 44 { e += 1 }
            var a = s
            var b = e
            while a < b && (p[a] == 32 || p[a] == 9) { a += 1 }
            while b > a && (p[b - 1] == 32 || p[b - 1] == 9) { b -= 1 }
            if b > a { body(a, b) }
            s = e + 1
        }
    }

    /// ASCII case-insensitive comparison of `p[s..<e]` with a lowercase literal.
    @inline(__always)
    static func asciiEqual(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int, _ lower: StaticString) -> Bool {
        guard e - s == lower.utf8CodeUnitCount else { return false }
        return lower.withUTF8Buffer { l in
            for k in 0..<l.count {
                let c = p[s + k]
                if (c >= 65 && c <= 90 ? c | 0x20 : c) != l[k] { return false }
            }
            return true
        }
    }

    /// Whether field `p[ns..<ne]` is named in a `Connection` field of the head (only looked at when the
    /// head has such names, rare).
    static func namedInConnection(_ p: UnsafeRawBufferPointer, from start: Int, _ ns: Int, _ ne: Int) -> Bool {
        var found = false
        try? forEachField(p, from: start) { (cs, ce, vs, ve, _) throws(HTTPCodecError) in
            guard FieldKind(p, cs, ce) == .connection else { return }
            forEachToken(p, vs, ve) { s, e in
                guard e - s == ne - ns else { return }
                for k in 0..<(e - s) {
                    let a = p[s + k]
                    let b = p[ns + k]
                    if (a >= 65 && a <= 90 ? a | 0x20 : a) != (b >= 65 && b <= 90 ? b | 0x20 : b) { return }
                }
                found = true
            }
        }
        return found
    }
}

/// The header fields the proxy treats specially.
enum FieldKind: Equatable {
    case other
    case contentLength, transferEncoding, connection, forwardedFor, forwardedProto, host
    /// Connection-specific (RFC 9110 §7.6.1) besides `Connection` and `Transfer-Encoding`: `Keep-Alive`,
    /// `Proxy-Connection`, `TE`, `Trailer`, `Upgrade`.
    case hopByHop

    @inline(__always)
    init(_ p: UnsafeRawBufferPointer, _ s: Int, _ e: Int) {
        let eq = HTTPHeadParser.asciiEqual
        switch e - s {
        case 2: self = eq(p, s, e, "te") ? .hopByHop : .other
        case 4: self = eq(p, s, e, "host") ? .host : .other
        case 7: self = eq(p, s, e, "trailer") || eq(p, s, e, "upgrade") ? .hopByHop : .other
        case 10:
            self = eq(p, s, e, "connection") ? .connection : eq(p, s, e, "keep-alive") ? .hopByHop : .other
        case 14: self = eq(p, s, e, "content-length") ? .contentLength : .other
        case 15: self = eq(p, s, e, "x-forwarded-for") ? .forwardedFor : .other
        case 16: self = eq(p, s, e, "proxy-connection") ? .hopByHop : .other
        case 17:
            self =
                eq(p, s, e, "transfer-encoding")
                ? .transferEncoding : eq(p, s, e, "x-forwarded-proto") ? .forwardedProto : .other
        default: self = .other
        }
    }
}

enum HTTPHeadWriter {
    /// The request head for the server: the client's method and target over HTTP/1.1 (an empty `Host`
    /// added when an HTTP/1.0 client sent none), the end-to-end
    /// fields as they came (`Transfer-Encoding` kept: the body passes through as it is), the client
    /// appended to `X-Forwarded-For` and `X-Forwarded-Proto: http` (`https` behind TLS).
    static func request(_ head: HTTPHead, clientIP: String, https: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        let info = head.info
        var out = allocator.buffer(capacity: head.bytes.readableBytes + 64 + clientIP.utf8.count)
        head.bytes.withUnsafeReadableBytes { p in
            out.writeBytes(UnsafeRawBufferPointer(rebasing: p[0..<info.targetEnd]))
            out.writeStaticString(" HTTP/1.1\r\n")
            try? HTTPHeadParser.forEachField(p, from: info.fieldsStart) {
                (ns, ne, vs, ve, line) throws(HTTPCodecError) in
                let kind = FieldKind(p, ns, ne)
                switch kind {
                case .connection, .hopByHop, .forwardedProto: return
                case .forwardedFor where line == info.lastForwardedFor:
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: p[line..<ve]))
                    out.writeStaticString(", ")
                    out.writeString(clientIP)
                    out.writeStaticString("\r\n")
                    return
                case .other where info.connectionNamesOthers:
                    if HTTPHeadParser.namedInConnection(p, from: info.fieldsStart, ns, ne) { return }
                default: break
                }
                out.writeBytes(UnsafeRawBufferPointer(rebasing: p[line..<(ve)]))
                out.writeStaticString("\r\n")
            }
        }
        if info.hostCount == 0 {
            // An HTTP/1.0 request without Host goes out as HTTP/1.1, which must have one: empty when the
            // target has no authority (RFC 9112 §3.2).
            out.writeStaticString("Host: \r\n")
        }
        if info.lastForwardedFor == nil {
            out.writeStaticString("X-Forwarded-For: ")
            out.writeString(clientIP)
            out.writeStaticString("\r\n")
        }
        out.writeStaticString(https ? "X-Forwarded-Proto: https\r\n\r\n" : "X-Forwarded-Proto: http\r\n\r\n")
        return out
    }

    /// The response head for the client: HTTP/1.`clientMinor`, the end-to-end fields as they came,
    /// `Transfer-Encoding` kept only when `keepTransferEncoding`, then `Connection: keep-alive` for an
    /// HTTP/1.0 client that keeps the connection or `Connection: close` for an HTTP/1.1 one that does not.
    static func response(
        _ head: HTTPHead, clientMinor: UInt8, keepAlive: Bool, keepTransferEncoding: Bool, extraFields: String = "",
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let info = head.info
        var out = allocator.buffer(capacity: head.bytes.readableBytes + 32)
        head.bytes.withUnsafeReadableBytes { p in
            out.writeStaticString(clientMinor == 0 ? "HTTP/1.0" : "HTTP/1.1")
            out.writeBytes(UnsafeRawBufferPointer(rebasing: p[8..<info.targetEnd]))
            out.writeStaticString("\r\n")
            try? HTTPHeadParser.forEachField(p, from: info.fieldsStart) {
                (ns, ne, vs, ve, line) throws(HTTPCodecError) in
                switch FieldKind(p, ns, ne) {
                case .connection, .hopByHop: return
                case .transferEncoding where !keepTransferEncoding: return
                case .other where info.connectionNamesOthers:
                    if HTTPHeadParser.namedInConnection(p, from: info.fieldsStart, ns, ne) { return }
                default: break
                }
                out.writeBytes(UnsafeRawBufferPointer(rebasing: p[line..<ve]))
                out.writeStaticString("\r\n")
            }
        }
        out.writeString(extraFields)
        if info.status >= 200 {
            if clientMinor == 0 && keepAlive {
                out.writeStaticString("Connection: keep-alive\r\n")
            } else if clientMinor != 0 && !keepAlive {
                out.writeStaticString("Connection: close\r\n")
            }
        }
        out.writeStaticString("\r\n")
        return out
    }

    /// A complete local response with a short text body; `extraFields`: more field lines, each ending
    /// in CRLF.
    static func local(
        status: Int, reason: StaticString, text: String, clientMinor: UInt8, keepAlive: Bool,
        extraFields: String = "", allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var out = allocator.buffer(capacity: 128 + text.utf8.count + extraFields.utf8.count)
        out.writeStaticString(clientMinor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        out.writeString(String(status))
        out.writeStaticString(" ")
        out.writeStaticString(reason)
        out.writeStaticString("\r\n")
        out.writeString(extraFields)
        out.writeStaticString("Content-Type: text/plain\r\nContent-Length: ")
        out.writeString(String(text.utf8.count))
        out.writeStaticString(keepAlive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n")
        out.writeString(text)
        return out
    }
}

/// The response framing of RFC 9112 §6.3 for a response to a request (`requestWasHEAD`).
func responseFraming(_ info: HTTPHeadInfo, requestWasHEAD: Bool) -> HTTPBodyFraming {
    if requestWasHEAD || info.status < 200 || info.status == 204 || info.status == 304 { return .none }
    if info.hasTransferEncoding { return info.chunked ? .chunked : .untilClose }
    if let n = info.contentLength { return n == 0 ? .none : .length(n) }
    return .untilClose
}

/// The request framing (RFC 9112 §6.3): chunked, by length or none.
func requestFraming(_ info: HTTPHeadInfo) -> HTTPBodyFraming {
    if info.chunked { return .chunked }
    if let n = info.contentLength, n > 0 { return .length(n) }
    return .none
}

/// Reads one message body off the incoming buffers: by length, by chunked framing (the chunk framing
/// passes through with the data unless `dechunk`), or all bytes until the connection closes.
struct HTTPBodyReader {
    private enum Chunk: Equatable {
        case size(digits: Int, value: Int)
        case ext(value: Int)
        case sizeLF(value: Int)
        case data(Int)
        case dataCR, dataLF
        case trailerStart, trailerLine, trailerLF, finalLF
        case end
    }

    private enum Mode: Equatable {
        case length(Int)
        case chunked(Chunk)
        case untilClose
        case done
    }

    private var mode: Mode
    private let dechunk: Bool

    init(_ framing: HTTPBodyFraming, dechunk: Bool = false) {
        switch framing {
        case .none: mode = .done
        case .length(let n): mode = n > 0 ? .length(n) : .done
        case .chunked: mode = .chunked(.size(digits: 0, value: 0))
        case .untilClose: mode = .untilClose
        }
        self.dechunk = dechunk
    }

    /// Whether the body has ended.
    var isDone: Bool { mode == .done }

    /// Whether the body ends when the connection closes.
    var endsAtClose: Bool { mode == .untilClose }

    /// The next body bytes from `buffer` (nil when none are there) and whether the body ended with them.
    mutating func read(_ buffer: inout ByteBuffer) throws(HTTPCodecError) -> (ByteBuffer?, Bool) {
        switch mode {
        case .done:
            return (nil, true)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return (nil, false) }
            return (buffer.readSlice(length: buffer.readableBytes), false)
        case .length(let remaining):
            let n = min(remaining, buffer.readableBytes)
            guard n > 0 else { return (nil, false) }
            let slice = buffer.readSlice(length: n)!
            mode = remaining == n ? .done : .length(remaining - n)
            return (slice, remaining == n)
        case .chunked(let start):
            var st = start
            let n = buffer.readableBytes
            var i = 0
            var dataAt = -1
            var dataLen = 0
            let dechunk = self.dechunk
            let failure: HTTPCodecError? = buffer.withUnsafeReadableBytes { p -> HTTPCodecError? in
                while i < n {
                    if case .data(let rem) = st {
                        let k = min(rem, n - i)
                        st = rem == k ? .dataCR : .data(rem - k)
                        if dechunk {
                            dataAt = i
                            dataLen = k
                            i += k
                            return nil
                        }
                        i += k
                        continue
                    }
                    let c = p[i]
                    i += 1
                    do throws(HTTPCodecError) {
                        st = try Self.step(st, c)
                    } catch {
                        return error
                    }
                    if st == .end { return nil }
                }
                return nil
            }
            if let failure { throw failure }
            let ended = st == .end
            mode = ended ? .done : .chunked(st)
            if dechunk {
                let body = dataAt >= 0 ? buffer.getSlice(at: buffer.readerIndex + dataAt, length: dataLen) : nil
                buffer.moveReaderIndex(forwardBy: i)
                return (body, ended)
            }
            guard i > 0 else { return (nil, ended) }
            return (buffer.readSlice(length: i), ended)
        }
    }

    @inline(__always)
    private static func hex(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: Int(c - 48)
        case 65...70: Int(c - 55)
        case 97...102: Int(c - 87)
        default: nil
        }
    }

    /// One byte of chunk framing (RFC 9112 §7.1): size, extensions, CRLFs, trailer section.
    private static func step(_ st: Chunk, _ c: UInt8) throws(HTTPCodecError) -> Chunk {
        switch st {
        case .size(let digits, let value):
            if let d = hex(c) {
                guard digits < 15 else { throw .malformed("chunk size") }
                return .size(digits: digits + 1, value: value << 4 | d)
            }
            guard digits > 0 else { throw .malformed("chunk size") }
            if c == 13 { return .sizeLF(value: value) }
            if c == 59 || c == 32 || c == 9 { return .ext(value: value) }
            throw .malformed("chunk size")
        case .ext(let value):
            if c == 13 { return .sizeLF(value: value) }
            guard c >= 32 || c == 9, c != 127 else { throw .malformed("chunk extension") }
            return st
        case .sizeLF(let value):
            guard c == 10 else { throw .malformed("chunk size line") }
            return value == 0 ? .trailerStart : .data(value)
        case .dataCR:
            guard c == 13 else { throw .malformed("chunk data end") }
            return .dataLF
        case .dataLF:
            guard c == 10 else { throw .malformed("chunk data end") }
            return .size(digits: 0, value: 0)
        case .trailerStart:
            if c == 13 { return .finalLF }
            guard c >= 32 || c == 9, c != 127 else { throw .malformed("trailer field") }
            return .trailerLine
        case .trailerLine:
            if c == 13 { return .trailerLF }
            guard c >= 32 || c == 9, c != 127 else { throw .malformed("trailer field") }
            return st
        case .trailerLF:
            guard c == 10 else { throw .malformed("trailer line end") }
            return .trailerStart
        case .finalLF:
            guard c == 10 else { throw .malformed("chunked body end") }
            return .end
        case .data, .end:
            return st
        }
    }
}
