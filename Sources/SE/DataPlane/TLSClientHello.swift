import NIOCore

/// What the proxy reads from a client's first TLS flight before BoringSSL sees it: the server name (SNI)
/// and whether the client can verify an ECDSA signature, so that a virtual service with several
/// certificates (one per name, or an RSA and an ECDSA one for the same names) picks the context to
/// hand the connection to. Pure (STYLE "Protocol logic is pure").
///
/// RFC 8446 §4.1.2 / RFC 5246 §7.4.1.2 ClientHello, RFC 6066 §3 server_name, RFC 8446 §4.2.3
/// signature_algorithms. A ClientHello may span several records (§5.1); they are joined up to
/// `maxHelloBytes`.
struct TLSClientHello: Equatable, Sendable {
    /// `server_name` host_name, lowercased; nil without SNI.
    var serverName: String?
    /// The client offers an ECDSA signature scheme (or, without signature_algorithms, an ECDSA suite).
    var acceptsECDSA: Bool

    /// The result of looking at the bytes received so far.
    enum Parse: Equatable {
        /// More bytes are needed.
        case incomplete
        /// A ClientHello.
        case hello(TLSClientHello)
        /// Not a ClientHello (BoringSSL will answer with the right alert).
        case notHello
    }

    /// Largest ClientHello looked at.
    static let maxHelloBytes = 64 * 1024

    /// Parses the bytes at the start of `buffer` (not consumed).
    static func parse(_ buffer: ByteBuffer) -> Parse {
        var records = buffer
        var handshake: [UInt8] = []
        var needed: Int?
        while true {
            guard let header = records.readBytes(length: 5) else { return .incomplete }
            // Record: handshake (22), legacy version 3.x.
            guard header[0] == 22, header[1] == 3 else { return .notHello }
            let length = Int(header[3]) << 8 | Int(header[4])
            guard length > 0, length <= 16_384 + 2048 else { return .notHello }
            guard let fragment = records.readBytes(length: length) else { return .incomplete }
            handshake += fragment
            if needed == nil, handshake.count >= 4 {
                guard handshake[0] == 1 else { return .notHello }
                needed = 4 + (Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3]))
                guard needed! <= maxHelloBytes else { return .notHello }
            }
            if let needed, handshake.count >= needed {
                return parseBody(handshake[4..<needed]).map { .hello($0) } ?? .notHello
            }
        }
    }

    /// The ClientHello body (after the handshake header).
    static func parseBody(_ body: ArraySlice<UInt8>) -> TLSClientHello? {
        var r = Reader(body)
        guard r.skip(2 + 32),  // legacy_version, random
            let sessionID = r.u8(), r.skip(Int(sessionID)),
            let suitesLength = r.u16(), suitesLength % 2 == 0, let suites = r.bytes(Int(suitesLength)),
            let compression = r.u8(), r.skip(Int(compression))
        else { return nil }
        var hello = TLSClientHello(serverName: nil, acceptsECDSA: false)
        var sawSignatureAlgorithms = false
        if r.remaining > 0 {
            guard let extensionsLength = r.u16(), var ext = r.sub(Int(extensionsLength)) else { return nil }
            while ext.remaining > 0 {
                guard let type = ext.u16(), let length = ext.u16(), var data = ext.sub(Int(length)) else {
                    return nil
                }
                switch type {
                case 0:  // server_name
                    guard let listLength = data.u16(), var list = data.sub(Int(listLength)) else { return nil }
                    while list.remaining > 0 {
                        guard let nameType = list.u8(), let nameLength = list.u16(),
                            let name = list.bytes(Int(nameLength))
                        else { return nil }
                        if nameType == 0, hello.serverName == nil {
                            hello.serverName = String(decoding: name, as: UTF8.self).lowercased()
                        }
                    }
                case 13:  // signature_algorithms
                    sawSignatureAlgorithms = true
                    guard let listLength = data.u16(), listLength % 2 == 0, var list = data.sub(Int(listLength))
                    else { return nil }
                    while let scheme = list.u16() {
                        // ecdsa_secp256r1_sha256 .. ecdsa_secp521r1_sha512 (0x0403, 0x0503, 0x0603) and
                        // TLS 1.2's (hash, ecdsa=3) pairs such as 0x0203.
                        if scheme & 0xff == 3 && scheme >> 8 >= 2 && scheme >> 8 <= 6 { hello.acceptsECDSA = true }
                    }
                default:
                    break
                }
            }
        }
        if !sawSignatureAlgorithms {
            // TLS 1.1 and older: an ECDHE_ECDSA suite (0xC0 0x07..0x0A, 0x23, 0x24, 0x2B, 0x2C, 0xCCA9).
            var s = Reader(suites)
            while let suite = s.u16() {
                switch suite {
                case 0xC007...0xC00A, 0xC023, 0xC024, 0xC02B, 0xC02C, 0xCCA9: hello.acceptsECDSA = true
                default: break
                }
            }
        }
        return hello
    }

    /// Big-endian reads over a byte slice; every read checks the length.
    struct Reader {
        var bytes: ArraySlice<UInt8>
        init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }
        var remaining: Int { bytes.count }
        mutating func skip(_ n: Int) -> Bool {
            guard n <= bytes.count else { return false }
            bytes = bytes.dropFirst(n)
            return true
        }
        mutating func u8() -> UInt8? {
            guard let b = bytes.first else { return nil }
            bytes = bytes.dropFirst()
            return b
        }
        mutating func u16() -> UInt16? {
            guard bytes.count >= 2 else { return nil }
            let v = UInt16(bytes[bytes.startIndex]) << 8 | UInt16(bytes[bytes.startIndex + 1])
            bytes = bytes.dropFirst(2)
            return v
        }
        mutating func bytes(_ n: Int) -> ArraySlice<UInt8>? {
            guard n <= bytes.count else { return nil }
            let out = bytes.prefix(n)
            bytes = bytes.dropFirst(n)
            return out
        }
        mutating func sub(_ n: Int) -> Reader? { bytes(n).map(Reader.init) }
    }
}

/// Picks one of a service's certificates for a handshake: the certificates whose names match the SNI
/// (exact, or a `*.` wildcard covering one label, RFC 6125 §6.4.3), else all of them (the first is the
/// default, as an Avi virtual service's first certificate); among those an ECDSA one when the client
/// accepts ECDSA, else an RSA one, else the first.
struct CertificateSelector: Sendable, Hashable {
    struct Entry: Sendable, Hashable {
        /// DNS names (subjectAltName, else the common name), lowercased.
        var names: [String]
        var isECDSA: Bool
    }
    var entries: [Entry]

    func pick(_ hello: TLSClientHello?) -> Int {
        guard entries.count > 1 else { return 0 }
        var candidates = Array(entries.indices)
        if let name = hello?.serverName {
            let matching = candidates.filter { i in entries[i].names.contains { Self.matches(pattern: $0, name) } }
            if !matching.isEmpty { candidates = matching }
        }
        let wantECDSA = hello?.acceptsECDSA ?? false
        return candidates.first { entries[$0].isECDSA == wantECDSA } ?? candidates[0]
    }

    /// Whether certificate name `pattern` covers host `name` (both lowercase).
    static func matches(pattern: String, _ name: String) -> Bool {
        if pattern == name { return true }
        guard pattern.hasPrefix("*."), let dot = name.firstIndex(of: ".") else { return false }
        return name[name.index(after: dot)...] == pattern.dropFirst(2) && dot != name.startIndex
    }
}
