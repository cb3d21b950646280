import Crypto
import Foundation

/// Encrypts the secrets the store keeps (a certificate's private key and its passphrase) with AES-256-GCM
/// under a key that lives outside the SQLite file: `<data-dir>/secrets.key` (mode 0600, made on first
/// start) or the file `starling controller --secrets-key-file` names. A copy of `controller.sqlite`
/// alone holds only ciphertext; losing the key file loses the private keys (import them again).
///
/// A sealed value is the text `$starling-aead-v1$<base64 of nonce|ciphertext|tag>`; the field name is
/// the associated data, so a value moved to another field does not open.
public struct SecretBox: Sendable {
    static let prefix = "$starling-aead-v1$"
    private let key: SymmetricKey

    /// A box with this 32-byte key.
    public init(key: SymmetricKey) { self.key = key }

    /// The box whose key is in `path`, creating the file (32 random bytes, mode 0600) when it does not
    /// exist. A file that exists but is not 32 bytes is an error (never replaced: that would lose keys).
    public init(keyFile path: String) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
            guard fm.createFile(atPath: path, contents: bytes, attributes: [.posixPermissions: 0o600]) else {
                throw SecretBoxError("cannot create the secrets key file \(path)")
            }
        }
        guard let data = fm.contents(atPath: path) else {
            throw SecretBoxError("cannot read the secrets key file \(path)")
        }
        guard data.count == 32 else {
            throw SecretBoxError("the secrets key file \(path) must hold 32 bytes, not \(data.count)")
        }
        key = SymmetricKey(data: data)
    }

    /// Whether `text` is a sealed value.
    static func isSealed(_ text: String) -> Bool { text.hasPrefix(prefix) }

    /// `plaintext` sealed for `field`.
    func seal(_ plaintext: String, field: String) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: key, authenticating: Data(field.utf8))
        guard let combined = box.combined else { throw SecretBoxError("AES-GCM produced no output") }
        return Self.prefix + combined.base64EncodedString()
    }

    /// The plaintext of a value sealed for `field`; a value that is not sealed is returned as it is.
    func open(_ text: String, field: String) throws -> String {
        guard Self.isSealed(text) else { return text }
        guard let data = Data(base64Encoded: String(text.dropFirst(Self.prefix.count))) else {
            throw SecretBoxError("\(field): the sealed value is not base64")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: data)
            let plain = try AES.GCM.open(box, using: key, authenticating: Data(field.utf8))
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw SecretBoxError("\(field): cannot be decrypted with this controller's secrets key")
        }
    }
}

/// Why the secrets key or a sealed value cannot be used.
public struct SecretBoxError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
