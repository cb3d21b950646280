import Crypto
import Foundation
import NIOPosix
import _CryptoExtras

/// Salted, iterated password hashes in Django's text format, `pbkdf2_sha256$<iterations>$<salt>$<hash>`
/// (salt and hash in base64), so the stored form names its own parameters and can be strengthened later.
/// PBKDF2-HMAC-SHA256 comes from swift-crypto (BoringSSL). It costs tens of milliseconds by design, so
/// the async forms run it on NIO's blocking thread pool, never on the cooperative pool that serves requests.
public struct PasswordHasher: Sendable {
    /// PBKDF2 iterations for new hashes.
    public var iterations: Int

    public init(iterations: Int = 100_000) { self.iterations = iterations }

    /// A new hash of `password` with a fresh 16-byte random salt.
    public func hash(_ password: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let saltText = Data(salt).base64EncodedString()
        let dk = Self.derive(password: Array(password.utf8), salt: Array(saltText.utf8), iterations: iterations)
        return "pbkdf2_sha256$\(iterations)$\(saltText)$\(Data(dk).base64EncodedString())"
    }

    /// ``hash(_:)`` on the blocking thread pool.
    public func hashOffloaded(_ password: String) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { [self] in hash(password) }
    }

    /// Whether `password` matches `stored` (constant-time comparison of the derived keys).
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2_sha256", let iterations = Int(parts[1]), iterations > 0,
            iterations <= 10_000_000, let expected = Data(base64Encoded: String(parts[3])), expected.count == 32
        else { return false }
        let dk = derive(password: Array(password.utf8), salt: Array(parts[2].utf8), iterations: iterations)
        return constantTimeEqual(dk, Array(expected))
    }

    /// ``verify(_:against:)`` on the blocking thread pool.
    public static func verifyOffloaded(_ password: String, against stored: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { verify(password, against: stored) }
    }

    /// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2), `length` bytes.
    static func derive(password: [UInt8], salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8] {
        // Rounds are checked by the callers (1...10,000,000); should the library refuse anyway, the empty key
        // matches no stored hash (a failed login, never a crash).
        guard
            let key = try? KDF.Insecure.PBKDF2.deriveKey(
                from: password, salt: salt, using: .sha256, outputByteCount: length, unsafeUncheckedRounds: iterations)
        else { return [] }
        return key.withUnsafeBytes { Array($0) }
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
    public static func digest(_ s: String) -> String { hex(Array(SHA256.hash(data: Array(s.utf8)))) }

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
