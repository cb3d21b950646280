import Crypto
import Metrics
import NIOCore
import NIOSSL
import NIOTLS
import StarlingModel
import X509

/// TLS termination for one virtual service: one BoringSSL context per certificate, built once per
/// configuration and shared by every event loop (so session tickets and their keys, which BoringSSL
/// rotates itself, are the same whichever loop accepts a connection). A new configuration (a rotated
/// certificate) makes a new terminator; connections already open keep the context they started with.
final class TLSTerminator: Sendable {
    let settings: TLSSettings
    /// Per certificate: ALPN `http/1.1` for HTTP services, none for L4 ones.
    let contexts: [NIOSSLContext]
    /// Per certificate, for listeners that offer HTTP/2: ALPN `h2` then `http/1.1` (empty when none does).
    let h2Contexts: [NIOSSLContext]
    let selector: CertificateSelector
    let metrics: TLSMetrics
    /// Time a client has to complete the handshake.
    let handshakeTimeout: TimeAmount
    /// Built for an HTTP service; with `h2` contexts.
    let http: Bool
    let http2: Bool

    /// The contexts for `settings`; a certificate or key that BoringSSL refuses is an error naming it.
    init(
        _ settings: TLSSettings, http: Bool, http2: Bool, handshakeTimeout: TimeAmount, metrics: TLSMetrics
    ) throws(ServiceSetupError) {
        self.settings = settings
        self.metrics = metrics
        self.handshakeTimeout = handshakeTimeout
        self.http = http
        self.http2 = http2
        // NIOSSL traps on a cipher list BoringSSL refuses: only known names get that far.
        guard SSLProfile.isValidCipherList(settings.cipherString) else {
            throw ServiceSetupError(field: "tls.cipherString", reason: "unknown cipher in \"\(settings.cipherString)\"")
        }
        var contexts: [NIOSSLContext] = []
        var h2Contexts: [NIOSSLContext] = []
        var entries: [CertificateSelector.Entry] = []
        for (i, c) in settings.certificates.enumerated() {
            let field = "tls.certificates[\(i)] (\(c.name))"
            let chain: [NIOSSLCertificate]
            let key: NIOSSLPrivateKey
            do {
                chain = try NIOSSLCertificate.fromPEMBytes(Array(c.chainPEM.utf8))
            } catch {
                throw ServiceSetupError(field: field, reason: "certificate: not PEM (\(error))")
            }
            guard let leaf = chain.first else {
                throw ServiceSetupError(field: field, reason: "certificate: no certificate in the PEM text")
            }
            do {
                // Always a passphrase callback: without one BoringSSL prompts on the terminal.
                key = try NIOSSLPrivateKey(bytes: Array(c.keyPEM.utf8), format: .pem) {
                    (setter: ([UInt8]) -> Void) in setter(Array((c.passphrase ?? "").utf8))
                }
            } catch {
                throw ServiceSetupError(field: field, reason: "key: cannot be read (wrong passphrase?)")
            }
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            tls.minimumTLSVersion = Self.nio(settings.minimumVersion)
            tls.maximumTLSVersion = Self.nio(settings.maximumVersion)
            tls.cipherSuites = settings.cipherString
            do {
                tls.applicationProtocols = http ? ["http/1.1"] : []
                contexts.append(try NIOSSLContext(configuration: tls))
                if http2 {
                    tls.applicationProtocols = ["h2", "http/1.1"]
                    h2Contexts.append(try NIOSSLContext(configuration: tls))
                }
            } catch {
                throw ServiceSetupError(field: field, reason: "BoringSSL refused the certificate or key: \(error)")
            }
            entries.append(Self.entry(leaf))
        }
        guard !contexts.isEmpty else { throw ServiceSetupError(field: "tls.certificates", reason: "none") }
        self.contexts = contexts
        self.h2Contexts = h2Contexts
        self.selector = CertificateSelector(entries: entries)
    }

    /// The names and key type of a leaf certificate.
    static func entry(_ leaf: NIOSSLCertificate) -> CertificateSelector.Entry {
        guard let der = try? leaf.toDERBytes(), let cert = try? Certificate(derEncoded: der) else {
            return .init(names: [], isECDSA: false)
        }
        var names: [String] = []
        if let sans = try? cert.extensions.subjectAlternativeNames {
            for case .dnsName(let d) in sans { names.append(d.lowercased()) }
        }
        if names.isEmpty {
            for rdn in cert.subject {
                for a in rdn where a.type == .RDNAttributeType.commonName { names.append("\(a.value)".lowercased()) }
            }
        }
        let ecdsa = P256.Signing.PublicKey(cert.publicKey) != nil || P384.Signing.PublicKey(cert.publicKey) != nil
        return .init(names: names, isECDSA: ecdsa)
    }

    static func nio(_ v: TLSSettings.Version) -> TLSVersion {
        switch v {
        case .tls1: .tlsv1
        case .tls1_1: .tlsv11
        case .tls1_2: .tlsv12
        case .tls1_3: .tlsv13
        }
    }
}

/// A setting of a service that the data plane cannot use (reported as a ``ServiceProblem``).
struct ServiceSetupError: Error, CustomStringConvertible {
    var field: String
    var reason: String
    var description: String { "\(field): \(reason)" }
}

/// What follows the handshake on a TLS connection.
enum TLSNext {
    /// The handlers are already there (L4 proxy).
    case installed
    /// The HTTP/1.1 proxy, or HTTP/2 when the client chose `h2`.
    case http(LoopService)
}

/// First handler of a TLS connection: waits for the ClientHello, picks the certificate's context
/// (``CertificateSelector``), puts BoringSSL's handler after itself, hands it the bytes and leaves.
final class TLSAcceptHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let terminator: TLSTerminator
    private let http2: Bool
    private let next: TLSNext
    private var buffered: ByteBuffer?

    /// `http2`: offer `h2` in ALPN (the listener has `enable_http2`).
    init(terminator: TLSTerminator, http2: Bool, next: TLSNext) {
        self.terminator = terminator
        self.http2 = http2 && !terminator.h2Contexts.isEmpty
        self.next = next
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var b = buffered {
            b.writeBuffer(&bytes)
            bytes = b
        }
        let hello: TLSClientHello?
        switch TLSClientHello.parse(bytes) {
        case .incomplete:
            buffered = bytes
            if bytes.readableBytes > TLSClientHello.maxHelloBytes + 1024 { hello = nil } else { return }
        case .hello(let h): hello = h
        case .notHello: hello = nil
        }
        buffered = nil
        let index = terminator.selector.pick(hello)
        do {
            // Both go right after this handler: the events handler first, so that BoringSSL ends up before it.
            let ops = context.pipeline.syncOperations
            try ops.addHandler(
                TLSEventHandler(metrics: terminator.metrics, timeout: terminator.handshakeTimeout, next: next),
                position: .after(self))
            try ops.addHandler(
                NIOSSLServerHandler(context: http2 ? terminator.h2Contexts[index] : terminator.contexts[index]),
                position: .after(self))
        } catch {
            context.close(promise: nil)
            return
        }
        // The NIOSSL handler is next: hand it what came so far, then leave the pipeline.
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// After BoringSSL: closes a connection whose handshake does not complete in time, counts handshakes by
/// TLS version and failed ones by reason, puts the HTTP proxy of the protocol the client chose (ALPN)
/// after itself, then leaves the pipeline.
final class TLSEventHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let metrics: TLSMetrics
    private let timeout: TimeAmount
    private let next: TLSNext
    private var done = false
    private var timer: Scheduled<Void>?

    init(metrics: TLSMetrics, timeout: TimeAmount, next: TLSNext) {
        self.metrics = metrics
        self.timeout = timeout
        self.next = next
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) {
            // The handshake did not complete in time.
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case TLSUserEvent.handshakeCompleted(let negotiated) = event, !done else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        done = true
        timer?.cancel()
        timer = nil
        let version = (try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))?.tlsVersion
        metrics.handshake(version: version)
        if case .http(let service) = next {
            do {
                if negotiated == "h2" {
                    try HTTP2Front.install(on: context.channel, service: service)
                } else {
                    try context.pipeline.syncOperations.addHandler(HTTPFrontHandler(service: service, tls: true))
                }
            } catch {
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            metrics.failed(reason: TLSMetrics.reason(error))
        }
        context.fireErrorCaught(error)
    }
}

/// `starling_se_tls_handshakes_total{vs, version}` and `starling_se_tls_handshake_failures_total{vs,
/// reason}`.
final class TLSMetrics: Sendable {
    private let byVersion: [Counter]
    private let unknownVersion: Counter
    private let failures: [String: Counter]
    static let reasons = ["protocol_version", "no_shared_cipher", "bad_hello", "closed", "other"]

    init(service: String, factory: any MetricsFactory) {
        let dims = [("vs", service)]
        byVersion = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"].map {
            Counter(label: "starling_se_tls_handshakes_total", dimensions: dims + [("version", $0)], factory: factory)
        }
        unknownVersion = Counter(
            label: "starling_se_tls_handshakes_total", dimensions: dims + [("version", "other")], factory: factory)
        failures = Dictionary(
            uniqueKeysWithValues: Self.reasons.map {
                (
                    $0,
                    Counter(
                        label: "starling_se_tls_handshake_failures_total", dimensions: dims + [("reason", $0)],
                        factory: factory)
                )
            })
    }

    func handshake(version: TLSVersion?) {
        switch version {
        case .tlsv1: byVersion[0].increment()
        case .tlsv11: byVersion[1].increment()
        case .tlsv12: byVersion[2].increment()
        case .tlsv13: byVersion[3].increment()
        default: unknownVersion.increment()
        }
    }

    func failed(reason: String) { failures[reason, default: failures["other"]!].increment() }

    /// A short reason for a handshake error (BoringSSL's reason string, folded).
    static func reason(_ error: any Error) -> String {
        let text = "\(error)".uppercased()
        if text.contains("UNSUPPORTED_PROTOCOL") || text.contains("PROTOCOL_VERSION") { return "protocol_version" }
        if text.contains("NO_SHARED_CIPHER") { return "no_shared_cipher" }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("HTTP_REQUEST") || text.contains("DECODE_ERROR") {
            return "bad_hello"
        }
        if text.contains("UNCLEANSHUTDOWN") || text.contains("EOF") { return "closed" }
        return "other"
    }
}
