import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A client of etcd's v3 API (3.4 and later) through the JSON gateway every etcd member serves beside
/// gRPC (`POST /v3/kv/range`, `/v3/kv/txn`, `/v3/lease/*`, `/v3/watch`), over AsyncHTTPClient.
///
/// Why the gateway and not gRPC: it is the same API, message for message, and needs no generated protobuf
/// code nor the gRPC stack in a build that is already long on 2 cores; AsyncHTTPClient brings TLS with
/// client certificates and connection pooling, and is what the controller uses for HTTP anyway.
///
/// Keys and values are UTF-8 text here (the controller stores JSON under readable keys); the gateway
/// carries them base64-encoded and 64-bit integers as strings, as proto3's JSON mapping does.
/// A request goes to the first endpoint that answers; one that cannot be reached is tried last next time.
final class EtcdClient: Sendable {
    let endpoints: [String]
    let http: HTTPClient
    /// How long one unary request may take.
    let timeout: TimeAmount
    /// The endpoint tried first.
    private let preferred = Mutex(0)
    /// The running watches and the endpoint each streams from: cancelled when that endpoint stops answering
    /// (a member whose host died leaves its connections open and silent), so that their owner watches anew
    /// through another member.
    private let watches = Mutex<[UInt64: RunningWatch]>([:])
    private let nextWatch = Mutex<UInt64>(0)

    private struct RunningWatch {
        var task: Task<Void, Never>
        /// Known once the watch's request was answered.
        var endpoint: Int?
    }

    /// - Parameters:
    ///   - endpoints: `http://HOST:PORT` or `https://HOST:PORT` (client URLs of the members).
    ///   - http: the client to send with, nil for one made here (connect timeout 1 s, so that a dead member is
    ///     passed over quickly); its TLS configuration carries a client certificate when etcd asks for one.
    init(endpoints: [String], http: HTTPClient? = nil, timeout: TimeAmount = .seconds(5)) throws {
        let trimmed = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
        guard !trimmed.isEmpty else { throw EtcdError(.badEndpoint, "no etcd endpoint") }
        for e in trimmed where !(e.hasPrefix("http://") || e.hasPrefix("https://")) {
            throw EtcdError(.badEndpoint, "\(e): an etcd endpoint is http://HOST:PORT or https://HOST:PORT")
        }
        self.endpoints = trimmed
        self.timeout = timeout
        self.http = http ?? Self.sharedHTTP
    }

    /// A client for `https://` endpoints of a secured etcd: verifies the members against `tls.caFile` (the
    /// system's roots when nil) and presents the client certificate when given.
    convenience init(endpoints: [String], tls: TLSFiles, timeout: TimeAmount = .seconds(5)) throws {
        try self.init(endpoints: endpoints, http: try Self.sharedHTTP(tls: tls), timeout: timeout)
    }

    /// The files of a client's TLS: the CA that signed the members' certificates, and a client certificate
    /// with its key (`etcd --client-cert-auth`).
    struct TLSFiles: Sendable, Hashable {
        var caFile: String?
        var certFile: String?
        var keyFile: String?

        init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    private static func configuration(tls: TLSConfiguration?) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(1), read: nil)
        configuration.tlsConfiguration = tls
        return configuration
    }

    /// The client for plain-HTTP endpoints, for the life of the process (as `HTTPClient.shared`): a connect
    /// timeout of 1 s, so that a dead member is passed over quickly, and no read timeout (watches stay open).
    static let sharedHTTP = HTTPClient(
        eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration(tls: nil))

    /// One client per set of TLS files, for the life of the process too (a client must be shut down before
    /// it goes; these never go).
    private static let tlsClients = Mutex<[TLSFiles: HTTPClient]>([:])

    static func sharedHTTP(tls files: TLSFiles) throws -> HTTPClient {
        if let client = tlsClients.withLock({ $0[files] }) { return client }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        do {
            if let ca = files.caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
            switch (files.certFile, files.keyFile) {
            case (let cert?, let key?):
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            case (nil, nil):
                break
            default:
                throw EtcdError(.badEndpoint, "a client certificate needs both its certificate and its key file")
            }
        } catch let error as EtcdError {
            throw error
        } catch {
            throw EtcdError(.badEndpoint, "etcd TLS files: \(error)")
        }
        return tlsClients.withLock { clients in
            if let client = clients[files] { return client }
            let client = HTTPClient(
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration(tls: tls))
            clients[files] = client
            return client
        }
    }

    // MARK: Key-value

    /// One key, or with `end` every key in [key, end) (``prefixEnd(_:)`` for a prefix), at `revision`
    /// (nil: the latest), sorted by key.
    func range(_ key: String, end: String? = nil, revision: Int64? = nil) async throws -> RangeResult {
        var body: [String: Any] = ["key": Self.b64(key)]
        if let end { body["range_end"] = Self.b64(end) }
        if let revision { body["revision"] = String(revision) }
        let r: Wire.RangeResponse = try await call("/v3/kv/range", body)
        return RangeResult(revision: r.header.revisionValue, kvs: try (r.kvs ?? []).map { try $0.decoded() })
    }

    /// Sets `key`; returns the store's revision after the write.
    @discardableResult
    func put(_ key: String, _ value: String, lease: Int64? = nil) async throws -> Int64 {
        var body: [String: Any] = ["key": Self.b64(key), "value": Self.b64(value)]
        if let lease { body["lease"] = String(lease) }
        let r: Wire.HeaderOnly = try await call("/v3/kv/put", body)
        return r.header.revisionValue
    }

    /// Deletes `key` (with `end`, every key in [key, end)); returns how many went.
    @discardableResult
    func delete(_ key: String, end: String? = nil) async throws -> Int {
        var body: [String: Any] = ["key": Self.b64(key)]
        if let end { body["range_end"] = Self.b64(end) }
        let r: Wire.DeleteResponse = try await call("/v3/kv/deleterange", body)
        return Int(r.deleted ?? "0") ?? 0
    }

    /// A condition of a transaction.
    enum Compare: Sendable, Hashable {
        /// The key was last modified at this revision (0: the key does not exist).
        case modRevision(String, equals: Int64)
        /// The key was created at this revision (0: the key does not exist).
        case createRevision(String, equals: Int64)
        /// The key's value is this.
        case value(String, equals: String)
    }

    /// An operation of a transaction.
    enum Operation: Sendable, Hashable {
        case put(String, String, lease: Int64? = nil)
        case delete(String, end: String? = nil)
        case range(String, end: String? = nil)
    }

    /// If every comparison holds, `success` runs, else `failure`, atomically at one revision.
    func txn(_ compare: [Compare], success: [Operation], failure: [Operation] = []) async throws -> TxnResult {
        let body: [String: Any] = [
            "compare": compare.map(Self.json), "success": success.map(Self.json), "failure": failure.map(Self.json),
        ]
        let r: Wire.TxnResponse = try await call("/v3/kv/txn", body)
        var ranges: [[KeyValue]] = []
        for response in r.responses ?? [] {
            if let range = response.response_range { ranges.append(try (range.kvs ?? []).map { try $0.decoded() }) }
        }
        return TxnResult(succeeded: r.succeeded ?? false, revision: r.header.revisionValue, ranges: ranges)
    }

    // MARK: Leases

    /// A new lease of `ttl` seconds; returns its id.
    func grantLease(ttl: Int) async throws -> Int64 {
        let r: Wire.LeaseGrantResponse = try await call("/v3/lease/grant", ["TTL": String(ttl)])
        guard let id = r.ID.flatMap(Int64.init), id != 0 else {
            throw EtcdError(.protocolError, "lease grant: no lease id (\(r.error ?? "no error"))")
        }
        return id
    }

    /// Renews a lease; returns its remaining time to live in seconds, 0 when it is gone (expired or revoked).
    func keepAlive(_ lease: Int64) async throws -> Int {
        let r: Wire.KeepAliveStreamMessage = try await call("/v3/lease/keepalive", ["ID": String(lease)])
        return Int(r.result?.TTL ?? "0") ?? 0
    }

    /// Ends a lease at once: the keys attached to it go.
    func revoke(_ lease: Int64) async throws {
        let _: Wire.HeaderOnly = try await call("/v3/lease/revoke", ["ID": String(lease)])
    }

    // MARK: Watch

    /// The changes to the keys in [key, end) from revision `from` on, in batches as etcd sends them, until
    /// the task is cancelled or the stream breaks (an error: the caller reads again and watches anew).
    /// A batch of an empty `events` is a progress report (its revision only).
    func watch(_ key: String, end: String, from revision: Int64) -> AsyncThrowingStream<WatchBatch, Error> {
        let id = nextWatch.withLock {
            $0 += 1
            return $0
        }
        return AsyncThrowingStream { continuation in
            // Started under the lock, so that it is listed before its own end can take it off the list.
            let task = self.watches.withLock { watches in
                let task = Task {
                    do {
                        try await self.runWatch(id, key, end: end, from: revision) { continuation.yield($0) }
                        continuation.finish(throwing: EtcdError(.watchEnded, "etcd closed the watch stream"))
                    } catch {
                        continuation.finish(throwing: error)
                    }
                    _ = self.watches.withLock { $0.removeValue(forKey: id) }
                }
                watches[id] = RunningWatch(task: task)
                return task
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func runWatch(
        _ id: UInt64, _ key: String, end: String, from revision: Int64, _ yield: (WatchBatch) -> Void
    ) async throws {
        let body: [String: Any] = [
            "create_request": [
                "key": Self.b64(key), "range_end": Self.b64(end), "start_revision": String(revision),
                "progress_notify": true,
            ]
        ]
        let (response, endpoint) = try await send("/v3/watch", body, deadline: .now() + timeout)
        watches.withLock { $0[id]?.endpoint = endpoint }
        try Task.checkCancellation()
        var buffer = ByteBuffer()
        for try await chunk in response.body {
            var chunk = chunk
            buffer.writeBuffer(&chunk)
            // One JSON object per line.
            while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let length = newline - buffer.readerIndex
                let line = buffer.readSlice(length: length)!
                buffer.moveReaderIndex(forwardBy: 1)
                guard line.readableBytes > 0 else { continue }
                let message = try JSONDecoder().decode(Wire.WatchStreamMessage.self, from: line)
                if let error = message.error {
                    throw EtcdError(.server(message.code ?? 0), "watch: \(error.message ?? "error")")
                }
                guard let result = message.result else { continue }
                if result.canceled == true {
                    // Compacted: the revision asked for is gone; the caller reads the whole range again.
                    throw EtcdError(
                        .compacted,
                        "watch canceled: \(result.cancel_reason ?? "compacted at \(result.compact_revision ?? "?")")")
                }
                if result.created == true, (result.events ?? []).isEmpty { continue }
                yield(
                    WatchBatch(
                        revision: result.header.revisionValue,
                        events: try (result.events ?? []).map {
                            WatchEvent(deleted: $0.type == "DELETE", kv: try $0.kv.decoded())
                        }))
            }
            buffer.discardReadBytes()
        }
    }

    // MARK: Results

    struct KeyValue: Sendable, Hashable {
        var key: String
        var value: String
        var createRevision: Int64
        var modRevision: Int64
        var version: Int64
        var lease: Int64
    }

    struct RangeResult: Sendable {
        /// The store's revision the range was read at.
        var revision: Int64
        var kvs: [KeyValue]
    }

    struct TxnResult: Sendable {
        var succeeded: Bool
        /// The store's revision after the transaction.
        var revision: Int64
        /// The results of the `range` operations that ran, in order.
        var ranges: [[KeyValue]]
    }

    struct WatchEvent: Sendable, Hashable {
        /// A delete (its `kv` has the key and the revision only); else a put.
        var deleted: Bool
        var kv: KeyValue
    }

    struct WatchBatch: Sendable {
        var revision: Int64
        var events: [WatchEvent]
    }

    /// The end of the range of every key that starts with `prefix`.
    static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return "\u{0}"
    }

    // MARK: Transport

    private func call<T: Decodable>(_ path: String, _ body: [String: Any]) async throws -> T {
        let (response, _) = try await send(path, body, deadline: .now() + timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            let error = try? JSONDecoder().decode(Wire.ErrorBody.self, from: bytes)
            throw EtcdError(
                .server(error?.code ?? 0),
                "\(path): \(error?.message ?? error?.error ?? "HTTP \(response.status.code)")")
        }
        do {
            return try JSONDecoder().decode(T.self, from: bytes)
        } catch {
            throw EtcdError(.protocolError, "\(path): unexpected answer (\(error))")
        }
    }

    /// Sends to the preferred endpoint, then to the others while the connection fails; returns the answer and
    /// the endpoint that gave it. A member that is connected but does not answer in time (its host died: the
    /// connection stays open and silent) is passed over from then on, and the watches on it end, but the
    /// request fails: it may have reached the member, so it is not sent again here.
    private func send(_ path: String, _ body: [String: Any], deadline: NIODeadline) async throws
        -> (HTTPClientResponse, Int)
    {
        let data = try JSONSerialization.data(withJSONObject: body)
        let first = preferred.withLock { $0 }
        var failures: [String] = []
        for offset in 0..<endpoints.count {
            let index = (first + offset) % endpoints.count
            var request = HTTPClientRequest(url: endpoints[index] + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: data))
            do {
                let response = try await http.execute(request, deadline: deadline)
                if offset != 0 { preferred.withLock { $0 = index } }
                return (response, index)
            } catch let error where Self.isConnectFailure(error) {
                // Not connected: the request never reached this member, so another may take it.
                failures.append("\(endpoints[index]): cannot connect (\(Self.reason(error)))")
            } catch let error where Self.isTimeout(error) {
                passOver(index)
                throw EtcdError(.unavailable, "\(endpoints[index]): no answer in time (\(error))")
            }
        }
        throw EtcdError(.unavailable, "no etcd endpoint answered: " + failures.joined(separator: "; "))
    }

    /// A connect failure in a few words ("Connection refused", "timed out").
    private static func reason(_ error: Error) -> String {
        if let e = error as? IOError { return String(cString: strerror(e.errnoCode)) }
        if let e = error as? NIOConnectionError, let first = e.connectionErrors.first?.error {
            return reason(first)
        }
        if let e = error as? HTTPClientError, e == .connectTimeout { return "timed out" }
        if case .connectTimeout? = error as? ChannelError { return "timed out" }
        return "\(error)"
    }

    /// Prefers the next endpoint to `index` (unless another was preferred meanwhile) and ends the watches
    /// streaming from `index`.
    private func passOver(_ index: Int) {
        guard endpoints.count > 1 else { return }
        preferred.withLock { if $0 == index { $0 = (index + 1) % endpoints.count } }
        let stale = watches.withLock { $0.values.filter { $0.endpoint == index }.map(\.task) }
        for task in stale { task.cancel() }
    }

    private static func isTimeout(_ error: Error) -> Bool {
        guard let e = error as? HTTPClientError else { return false }
        return e == .deadlineExceeded || e == .readTimeout || e == .writeTimeout
    }

    private static func isConnectFailure(_ error: Error) -> Bool {
        if let e = error as? HTTPClientError { return e == .connectTimeout || e == .getConnectionFromPoolTimeout }
        if case .connectTimeout? = error as? ChannelError { return true }
        return error is NIOConnectionError || error is IOError
    }

    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    private static func json(_ c: Compare) -> [String: Any] {
        switch c {
        case .modRevision(let key, let r):
            return ["key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": String(r)]
        case .createRevision(let key, let r):
            return ["key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": String(r)]
        case .value(let key, let v):
            return ["key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(v)]
        }
    }

    private static func json(_ o: Operation) -> [String: Any] {
        switch o {
        case .put(let key, let value, let lease):
            var p: [String: Any] = ["key": b64(key), "value": b64(value)]
            if let lease { p["lease"] = String(lease) }
            return ["request_put": p]
        case .delete(let key, let end):
            var d: [String: Any] = ["key": b64(key)]
            if let end { d["range_end"] = b64(end) }
            return ["request_delete_range": d]
        case .range(let key, let end):
            var r: [String: Any] = ["key": b64(key)]
            if let end { r["range_end"] = b64(end) }
            return ["request_range": r]
        }
    }
}

/// Why an etcd request failed.
struct EtcdError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case badEndpoint
        /// No endpoint could be reached.
        case unavailable
        /// etcd answered with an error (its gRPC code).
        case server(Int)
        /// An answer that is not what the API says.
        case protocolError
        /// A watch asked for a revision that was compacted away.
        case compacted
        case watchEnded
    }

    var kind: Kind
    var message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    var description: String { "etcd: \(message)" }
}

/// The gateway's JSON shapes (proto3 JSON: int64 as strings, bytes as base64, defaults left out).
private enum Wire {
    struct Header: Decodable {
        var revision: String?
        var revisionValue: Int64 { Int64(revision ?? "0") ?? 0 }
    }

    struct HeaderOnly: Decodable { var header: Header }

    struct KV: Decodable {
        var key: String?
        var value: String?
        var create_revision: String?
        var mod_revision: String?
        var version: String?
        var lease: String?

        func decoded() throws -> EtcdClient.KeyValue {
            func text(_ b: String?) throws -> String {
                guard let b else { return "" }
                guard let d = Data(base64Encoded: b) else {
                    throw EtcdError(.protocolError, "bad base64 in a key or value")
                }
                return String(decoding: d, as: UTF8.self)
            }
            return EtcdClient.KeyValue(
                key: try text(key), value: try text(value), createRevision: Int64(create_revision ?? "0") ?? 0,
                modRevision: Int64(mod_revision ?? "0") ?? 0, version: Int64(version ?? "0") ?? 0,
                lease: Int64(lease ?? "0") ?? 0)
        }
    }

    struct RangeResponse: Decodable {
        var header: Header
        var kvs: [KV]?
    }

    struct DeleteResponse: Decodable {
        var header: Header
        var deleted: String?
    }

    struct TxnResponse: Decodable {
        struct Op: Decodable { var response_range: RangeResponse? }
        var header: Header
        var succeeded: Bool?
        var responses: [Op]?
    }

    struct LeaseGrantResponse: Decodable {
        var ID: String?
        var TTL: String?
        var error: String?
    }

    struct KeepAliveStreamMessage: Decodable {
        struct Result: Decodable {
            var ID: String?
            var TTL: String?
        }
        var result: Result?
    }

    struct WatchStreamMessage: Decodable {
        struct Event: Decodable {
            var type: String?
            var kv: KV
        }
        struct Result: Decodable {
            var header: Header
            var created: Bool?
            var canceled: Bool?
            var cancel_reason: String?
            var compact_revision: String?
            var events: [Event]?
        }
        struct StreamError: Decodable {
            var message: String?
        }
        var result: Result?
        var error: StreamError?
        var code: Int?
    }

    struct ErrorBody: Decodable {
        var error: String?
        var message: String?
        var code: Int?
    }
}
