import Crypto
import Foundation
import Hummingbird
import NIOCore

/// The Admin Console's files (`console/` in the tree), served at `/` (index.html) and `/console/<file>`:
/// the copy built into the binary (the ConsoleAssets plugin), or, with `--console-dir`, the files of a
/// folder read on every request (for working on the console without rebuilding).
struct ConsoleAssets: Sendable {
    struct File: Sendable {
        var bytes: ByteBuffer
        var contentType: String
        var etag: String
    }

    private let embedded: [String: File]
    private let directory: String?

    init(directory: String?) {
        self.directory = directory
        var files: [String: File] = [:]
        for (name, base64) in consoleAssetFiles {
            guard let data = Data(base64Encoded: base64) else { continue }
            files[name] = Self.file(name, data)
        }
        embedded = files
    }

    /// The file `name` (a plain file name: no folders, no dot files), or nil.
    func file(_ name: String) -> File? {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), !name.contains("\\") else { return nil }
        guard let directory else { return embedded[name] }
        guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { return nil }
        return Self.file(name, data)
    }

    private static func file(_ name: String, _ data: Data) -> File {
        let types = [
            "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
            "css": "text/css; charset=utf-8", "svg": "image/svg+xml", "png": "image/png",
            "ico": "image/x-icon", "json": "application/json", "txt": "text/plain; charset=utf-8",
        ]
        let ext = name.split(separator: ".").last.map(String.init) ?? ""
        let digest = SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined()
        return File(
            bytes: ByteBuffer(bytes: data), contentType: types[ext] ?? "application/octet-stream",
            etag: "\"\(digest)\"")
    }

    /// Headers on every console response: the page runs only its own scripts and styles, is never framed,
    /// and is revalidated on each load (a new binary's console replaces the old at once).
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        .init("X-Content-Type-Options")!: "nosniff",
        .init("X-Frame-Options")!: "DENY",
        .init("Referrer-Policy")!: "same-origin",
        .cacheControl: "no-cache",
    ]

    /// The response for `GET|HEAD` of `name`: 200 with the file, 304 when `If-None-Match` has its ETag.
    func response(_ name: String, request: Request) throws(APIError) -> Response {
        guard let file = file(name) else { throw APIError(404, "no such console file: \(name)") }
        var headers = Self.securityHeaders
        headers[.eTag] = file.etag
        if let match = request.headers[.ifNoneMatch],
            match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == file.etag })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.contentType
        headers[.contentLength] = String(file.bytes.readableBytes)
        return Response(
            status: .ok, headers: headers, body: .init(byteBuffer: request.method == .head ? ByteBuffer() : file.bytes))
    }
}
