/// Salted, iterated password hashes in Django's text format, `pbkdf2_sha256$<iterations>$<salt>$<hash>`
/// (salt and hash in base64), so the stored form names its own parameters and can be strengthened later.
public struct PasswordHasher: Sendable {
    /// PBKDF2 iterations for new hashes.
    public var iterations: Int

    public init(iterations: Int = 100_000) { self.iterations = iterations }

    /// A new hash of `password` with a fresh 16-byte random salt.
    public func hash(_ password: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let saltText = Base64.encode(salt)
        let dk = PBKDF2.sha256(password: Array(password.utf8), salt: Array(saltText.utf8), iterations: iterations)
        return "pbkdf2_sha256$\(iterations)$\(saltText)$\(Base64.encode(dk))"
    }

    /// Whether `password` matches `stored` (constant-time comparison of the derived keys).
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2_sha256", let iterations = Int(parts[1]), iterations > 0,
            iterations <= 10_000_000, let expected = Base64.decode(String(parts[3])), expected.count == 32
        else { return false }
        let dk = PBKDF2.sha256(password: Array(password.utf8), salt: Array(parts[2].utf8), iterations: iterations)
        return constantTimeEqual(dk, expected)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// Random tokens and hex digests for sessions, CSRF tokens, join tokens and SE secrets.
public enum Secrets {
    /// `bytes` random bytes from the system CSPRNG, as lowercase hex.
    public static func token(bytes: Int = 32) -> String {
        var rng = SystemRandomNumberGenerator()
        return hex((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// A random version-4 UUID, lowercase (`6f1c...-...`).
    public static func uuid4() -> String {
        var rng = SystemRandomNumberGenerator()
        var b = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        b[6] = (b[6] & 0x0f) | 0x40
        b[8] = (b[8] & 0x3f) | 0x80
        let h = hex(b)
        let c = Array(h)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-"
            + String(c[20..<32])
    }

    /// SHA-256 of the UTF-8 text, as hex (how SE secrets are stored).
    public static func digest(_ s: String) -> String { hex(SHA256.hash(Array(s.utf8))) }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var s = ""
        s.reserveCapacity(bytes.count * 2)
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 0xf)])
        }
        return s
    }
}

/// Standard base64 (RFC 4648 §4) with padding.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = bytes[i]
            let b1 = n > 1 ? bytes[i + 1] : 0
            let b2 = n > 2 ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x3) << 4 | b1 >> 4)])
            out.append(n > 1 ? alphabet[Int((b1 & 0xf) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(n > 2 ? alphabet[Int(b2 & 0x3f)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ s: String) -> [UInt8]? {
        var table = [Int](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = i }
        let chars = Array(s.utf8).filter { $0 != UInt8(ascii: "=") }
        guard (s.utf8.count % 4) == 0 || !s.contains("=") else { return nil }
        var out: [UInt8] = []
        var acc = 0
        var bits = 0
        for c in chars {
            let v = table[Int(c)]
            guard v >= 0 else { return nil }
            acc = (acc << 6) | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> bits) & 0xff))
            }
        }
        return out
    }
}
