/// SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104) and PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) in plain Swift:
/// the package has no crypto dependency, and these three are all the controller needs (password hashes,
/// SE secret digests). Checked against the FIPS, RFC 4231 and RFC 7914 test vectors in the tests.
public struct SHA256: Sendable {
    private var h: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    public init() {}

    /// Adds message bytes.
    public mutating func update(_ bytes: some Collection<UInt8>) {
        length &+= UInt64(bytes.count)
        pending.append(contentsOf: bytes)
        var start = 0
        while pending.count - start >= 64 {
            pending.withUnsafeBufferPointer { compress(UnsafeBufferPointer(rebasing: $0[start..<start + 64])) }
            start += 64
        }
        if start > 0 { pending.removeFirst(start) }
    }

    /// The 32-byte digest.
    public consuming func finalize() -> [UInt8] {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        let padded = (pending.count + 1) % 64
        tail += [UInt8](repeating: 0, count: padded <= 56 ? 56 - padded : 120 - padded)
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        let saved = length
        update(tail)
        length = saved
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in h { for i in (0..<4).reversed() { out.append(UInt8(truncatingIfNeeded: word >> (UInt32(i) * 8))) } }
        return out
    }

    /// One-shot digest.
    public static func hash(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var s = SHA256()
        s.update(bytes)
        return s.finalize()
    }

    private mutating func compress(_ block: UnsafeBufferPointer<UInt8>) {
        h.withUnsafeMutableBufferPointer { Self.compress($0, block) }
    }

    /// The chaining state after whole blocks only (for HMAC's precomputed pads).
    var state: [UInt32] { h }

    /// One SHA-256 compression of a 64-byte block into the state `h`.
    static func compress(_ h: UnsafeMutableBufferPointer<UInt32>, _ block: UnsafeBufferPointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 {
                w[i] =
                    UInt32(block[i * 4]) << 24 | UInt32(block[i * 4 + 1]) << 16 | UInt32(block[i * 4 + 2]) << 8
                    | UInt32(block[i * 4 + 3])
            }
            for i in 16..<64 {
                let s0 = Self.rotr(w[i - 15], 7) ^ Self.rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = Self.rotr(w[i - 2], 17) ^ Self.rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            do {
                var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
                Self.k.withUnsafeBufferPointer { k in
                    for i in 0..<64 {
                        let s1 = Self.rotr(e, 6) ^ Self.rotr(e, 11) ^ Self.rotr(e, 25)
                        let ch = (e & f) ^ (~e & g)
                        let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                        let s0 = Self.rotr(a, 2) ^ Self.rotr(a, 13) ^ Self.rotr(a, 22)
                        let maj = (a & b) ^ (a & c) ^ (b & c)
                        let t2 = s0 &+ maj
                        hh = g
                        g = f
                        f = e
                        e = d &+ t1
                        d = c
                        c = b
                        b = a
                        a = t1 &+ t2
                    }
                }
                h[0] &+= a
                h[1] &+= b
                h[2] &+= c
                h[3] &+= d
                h[4] &+= e
                h[5] &+= f
                h[6] &+= g
                h[7] &+= hh
            }
        }
    }

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
}

/// HMAC-SHA256 (RFC 2104) with the key's inner and outer states computed once.
public struct HMACSHA256: Sendable {
    let inner: SHA256
    let outer: SHA256

    public init(key: some Collection<UInt8>) {
        var k = key.count > 64 ? SHA256.hash(key) : Array(key)
        k += [UInt8](repeating: 0, count: 64 - k.count)
        var i = SHA256()
        i.update(k.map { $0 ^ 0x36 })
        var o = SHA256()
        o.update(k.map { $0 ^ 0x5c })
        inner = i
        outer = o
    }

    /// HMAC of `message` under the key.
    public func authenticate(_ message: some Collection<UInt8>) -> [UInt8] {
        var i = inner
        i.update(message)
        var o = outer
        o.update(i.finalize())
        return o.finalize()
    }
}

/// PBKDF2 with HMAC-SHA256 (RFC 8018 §5.2).
public enum PBKDF2 {
    public static func sha256(
        password: some Collection<UInt8>, salt: [UInt8], iterations: Int, length: Int = 32
    ) -> [UInt8] {
        let prf = HMACSHA256(key: password)
        let innerState = prf.inner.state
        let outerState = prf.outer.state
        var out: [UInt8] = []
        var block: UInt32 = 1
        // Each further iteration is HMAC of a 32-byte value: one compression from the inner pad's state
        // over (U ‖ padding for 96 bytes), one from the outer pad's state over (inner digest ‖ padding).
        var message = [UInt8](repeating: 0, count: 64)
        message[32] = 0x80
        message[62] = 0x03  // 768 bits = 64-byte pad block + 32-byte message
        var state = [UInt32](repeating: 0, count: 8)
        while out.count < length {
            var u = prf.authenticate(
                salt + [
                    UInt8(block >> 24), UInt8(truncatingIfNeeded: block >> 16), UInt8(truncatingIfNeeded: block >> 8),
                    UInt8(truncatingIfNeeded: block),
                ])
            var t = u
            for _ in 1..<max(1, iterations) {
                for j in 0..<32 { message[j] = u[j] }
                for pass in 0..<2 {
                    for j in 0..<8 { state[j] = pass == 0 ? innerState[j] : outerState[j] }
                    state.withUnsafeMutableBufferPointer { h in
                        message.withUnsafeBufferPointer { SHA256.compress(h, $0) }
                    }
                    for j in 0..<8 {
                        let w = state[j]
                        message[j * 4] = UInt8(truncatingIfNeeded: w >> 24)
                        message[j * 4 + 1] = UInt8(truncatingIfNeeded: w >> 16)
                        message[j * 4 + 2] = UInt8(truncatingIfNeeded: w >> 8)
                        message[j * 4 + 3] = UInt8(truncatingIfNeeded: w)
                    }
                }
                for j in 0..<32 {
                    u[j] = message[j]
                    t[j] ^= u[j]
                }
            }
            out += t
            block += 1
        }
        return Array(out.prefix(length))
    }
}
