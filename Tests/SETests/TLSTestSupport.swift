import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SE
import XCTest

/// Runs a program (openssl, curl) and returns its exit status and its stdout+stderr.
@discardableResult
func runTool(_ path: String, _ args: [String], stdin: String = "") throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe()
    let input = Pipe()
    p.standardOutput = out
    p.standardError = out
    p.standardInput = input
    try p.run()
    input.fileHandleForWriting.write(Data(stdin.utf8))
    try input.fileHandleForWriting.close()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A certificate and key made by the openssl command line (an independent generator), in a temporary
/// directory.
struct TestCertificate {
    var chainPEM: String
    var keyPEM: String
    var name: String

    /// A self-signed certificate for `cn` with DNS `sans`; `key`: `ec` (P-256) or `rsa` (2048 bits).
    static func make(cn: String, sans: [String], key: String = "ec", dir: URL) throws -> TestCertificate {
        let k = dir.appendingPathComponent("\(cn)-\(key).key").path
        let c = dir.appendingPathComponent("\(cn)-\(key).crt").path
        let newkey = key == "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", "rsa:2048"]
        let san = "subjectAltName=" + sans.map { "DNS:\($0)" }.joined(separator: ",")
        let r = try runTool(
            "/usr/bin/openssl",
            ["req", "-x509"] + newkey + [
                "-nodes", "-keyout", k, "-out", c, "-subj", "/CN=\(cn)", "-addext", san, "-days", "2",
            ])
        guard r.status == 0 else { throw TestToolError("openssl req: \(r.output)") }
        return TestCertificate(
            chainPEM: try String(contentsOfFile: c, encoding: .utf8),
            keyPEM: try String(contentsOfFile: k, encoding: .utf8),
            name: cn)
    }

    /// A certificate for `cn` with DNS `sans` issued by `ca` (a self-signed one from ``make``); P-256.
    /// `isCA`: an intermediate CA certificate (basicConstraints CA:TRUE).
    static func make(
        cn: String, sans: [String], signedBy ca: TestCertificate, isCA: Bool = false, dir: URL
    ) throws -> TestCertificate {
        let caKey = dir.appendingPathComponent("\(ca.name)-ca.key").path
        let caCrt = dir.appendingPathComponent("\(ca.name)-ca.crt").path
        try ca.keyPEM.write(toFile: caKey, atomically: true, encoding: .utf8)
        try ca.chainPEM.write(toFile: caCrt, atomically: true, encoding: .utf8)
        let k = dir.appendingPathComponent("\(cn)-leaf.key").path
        let csr = dir.appendingPathComponent("\(cn)-leaf.csr").path
        let c = dir.appendingPathComponent("\(cn)-leaf.crt").path
        let ext = dir.appendingPathComponent("\(cn)-leaf.ext").path
        let caLines = isCA ? "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n" : ""
        try ("subjectAltName=" + sans.map { "DNS:\($0)" }.joined(separator: ",") + "\n" + caLines)
            .write(toFile: ext, atomically: true, encoding: .utf8)
        let req = try runTool(
            "/usr/bin/openssl",
            [
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", k, "-out",
                csr, "-subj", "/CN=\(cn)",
            ])
        guard req.status == 0 else { throw TestToolError("openssl req: \(req.output)") }
        let sign = try runTool(
            "/usr/bin/openssl",
            [
                "x509", "-req", "-in", csr, "-CA", caCrt, "-CAkey", caKey, "-CAcreateserial", "-out", c, "-days", "2",
                "-extfile", ext,
            ])
        guard sign.status == 0 else { throw TestToolError("openssl x509: \(sign.output)") }
        return TestCertificate(
            chainPEM: try String(contentsOfFile: c, encoding: .utf8),
            keyPEM: try String(contentsOfFile: k, encoding: .utf8), name: cn)
    }

    var settings: TLSSettings.Certificate { .init(name: name, chainPEM: chainPEM, keyPEM: keyPEM) }

    /// A server context for a test TLS server; `onSNI` hears the name each client asked for.
    func serverContext(onSNI: (@Sendable (String?) -> Void)? = nil) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)))
        if let onSNI {
            tls.sslContextCallback = { values, promise in
                onSNI(values.serverHostname)
                promise.succeed(NIOSSLContextConfigurationOverride())
            }
        }
        return try NIOSSLContext(configuration: tls)
    }
}

struct TestToolError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A TLS client written with swift-nio-ssl: connects with a given SNI, TLS versions and signature
/// algorithms, sends HTTP/1.1 requests on one connection and reads the responses; tells which
/// certificate the server presented and what was negotiated.
final class TLSTestClient {
    let channel: any Channel
    private let collector: Collector

    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var bytes = ByteBuffer()
        var error: (any Error)?
        var closed = false
        var alpn: String?
        var handshakeDone = false
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            bytes.writeBuffer(&b)
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted(let p) = event {
                alpn = p
                handshakeDone = true
            }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.error = error
            context.close(promise: nil)
        }
        func channelInactive(context: ChannelHandlerContext) { closed = true }
    }

    init(
        group: any EventLoopGroup, port: Int, serverName: String?,
        configure: (inout TLSConfiguration) -> Void = { _ in }
    ) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        tls.applicationProtocols = ["http/1.1"]
        configure(&tls)
        let context = try NIOSSLContext(configuration: tls)
        let collector = Collector()
        self.collector = collector
        channel = try await ClientBootstrap(group: group)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try ch.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable (Collector) -> T) async throws -> T {
        let c = collector
        return try await channel.eventLoop.submit { body(c) }.get()
    }

    /// Waits for the handshake; throws the TLS error when it fails.
    func handshake(timeout: Double = 5) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let (done, error, closed) = try await onLoop { ($0.handshakeDone, $0.error.map { "\($0)" }, $0.closed) }
            if done { return }
            if let error { throw TestToolError("handshake failed: \(error)") }
            if closed { throw TestToolError("closed during the handshake") }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestToolError("no handshake within \(timeout) s")
    }

    /// Sends a GET and returns the response (status, lowercased headers, body); Content-Length framed.
    func get(_ path: String, host: String = "test", timeout: Double = 5) async throws -> (
        status: Int, headers: [String: String], body: String
    ) {
        try await channel.writeAndFlush(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: \(host)\r\n\r\n"))
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = try await onLoop { c -> String? in
                let s = String(buffer: c.bytes)
                guard let end = s.range(of: "\r\n\r\n") else { return nil }
                let head = s[..<end.lowerBound]
                let length =
                    head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                guard s.utf8.count >= s[..<end.upperBound].utf8.count + length else { return nil }
                let total = s[..<end.upperBound].utf8.count + length
                c.bytes.moveReaderIndex(forwardBy: total)
                c.bytes.discardReadBytes()
                return String(s.utf8.prefix(total))!
            }
            if let text {
                let parts = text.components(separatedBy: "\r\n\r\n")
                let lines = parts[0].components(separatedBy: "\r\n")
                var headers: [String: String] = [:]
                for l in lines.dropFirst() {
                    if let i = l.firstIndex(of: ":") {
                        headers[l[..<i].lowercased()] = l[l.index(after: i)...].trimmingCharacters(in: .whitespaces)
                    }
                }
                let status = Int(lines[0].split(separator: " ")[1]) ?? 0
                return (status, headers, parts.dropFirst().joined(separator: "\r\n\r\n"))
            }
            if let error = try await onLoop({ $0.error.map { "\($0)" } }) { throw TestToolError("\(error)") }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestToolError("no response within \(timeout) s")
    }

    /// The common name of the certificate the server presented.
    func peerCommonName() async throws -> String? {
        guard let cert = try await channel.nioSSL_peerCertificate().get() else { return nil }
        let text = "\(cert)"
        // NIOSSLCertificate's description: `<NIOSSLCertificate;serial_number=...;common_name=www-ec>`.
        guard let r = text.range(of: "common_name=") else { return text }
        return String(text[r.upperBound...].prefix { $0 != ";" && $0 != ">" })
    }

    func tlsVersion() async throws -> TLSVersion? { try await channel.nioSSL_tlsVersion().get() }
    func negotiatedALPN() async throws -> String? { try await onLoop { $0.alpn } }

    func close() async { try? await channel.close() }

    /// The bytes received since the last call, and whether the server closed the connection.
    func take() async throws -> (bytes: ByteBuffer, closed: Bool) {
        try await onLoop { c in
            let b = c.bytes
            c.bytes = ByteBuffer()
            return (b, c.closed)
        }
    }
}
