import NIOCore
import NIOSSL
import StarlingModel

/// TLS to a pool's servers (re-encryption): one BoringSSL client context per configuration, shared by
/// every event loop; each new server connection gets a `NIOSSLClientHandler` from it, under the HTTP
/// server handler, so kept-alive connections stay encrypted and are reused like plain ones. A new
/// configuration makes a new `ServerTLS`, and the loops close their idle connections made with the old one.
final class ServerTLS: Sendable {
    let settings: ServerTLSSettings
    let context: NIOSSLContext

    init(_ settings: ServerTLSSettings) throws(ServiceSetupError) {
        self.settings = settings
        guard SSLProfile.isValidCipherList(settings.cipherString) else {
            throw ServiceSetupError(
                field: "pool.tls.cipherString", reason: "unknown cipher in \"\(settings.cipherString)\"")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = TLSTerminator.nio(settings.minimumVersion)
        tls.maximumTLSVersion = TLSTerminator.nio(settings.maximumVersion)
        tls.cipherSuites = settings.cipherString
        tls.applicationProtocols = ["http/1.1"]
        if let pem = settings.trustedCAsPEM {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
            } catch {
                throw ServiceSetupError(field: "pool.tls.trustedCAs", reason: "not PEM certificates (\(error))")
            }
            tls.certificateVerification = settings.checkHostname ? .fullVerification : .noHostnameVerification
        } else {
            tls.certificateVerification = .none
        }
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw ServiceSetupError(field: "pool.tls", reason: "BoringSSL refused the settings: \(error)")
        }
    }

    /// The TLS handler for one new server connection (SNI: `serverName`).
    func makeHandler() throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: settings.serverName)
    }
}
