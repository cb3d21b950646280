import Foundation
import Logging
import StarlingHTTP
import StarlingModel
import Synchronization

/// The SE's side of DESIGN §3.4: registers with the join token, holds a long-poll watch on its desired
/// state and applies every new version to the ``SEEngine``, and sends a heartbeat with its status every
/// interval. The SE is the client (it works behind NAT and through restarts): when the controller is
/// away, the engine keeps serving its last state and the agent retries until it returns; when the
/// controller no longer knows the SE (401/404) it registers again, which keeps its uuid.
public struct SEAgent: Sendable {
    public struct Identity: Sendable {
        public var token: String
        public var name: String
        public var dataAddress: IpAddr
        public var mgmtURL: String?
        public var threads: Int?
        /// Where an SE talking HTTPS keeps the cluster CA, its key, certificate and registration
        /// (``SEIdentityFiles``); nil keeps them in memory only (a restart then needs a new token).
        public var stateDirectory: String?
        public init(
            token: String, name: String, dataAddress: IpAddr, mgmtURL: String? = nil, threads: Int? = nil,
            stateDirectory: String? = nil
        ) {
            self.token = token
            self.name = name
            self.dataAddress = dataAddress
            self.mgmtURL = mgmtURL
            self.threads = threads
            self.stateDirectory = stateDirectory
        }
    }

    /// One client per controller node, in the order given; the agent talks to one at a time.
    let clients: [HTTPClient]
    /// The controller the agent talks to now (an index into `clients`).
    let current = ControllerChoice()
    let identity: Identity
    let engine: SEEngine
    let logger: Logger
    /// Long-poll wait the agent asks for (the controller caps it at 60 s).
    var watchWait = 30
    /// The registration in use, shared with a successor process on a hitless restart: registering again
    /// would give it a new secret and cut this process's watch off before the handover.
    public let registration: AgentRegistration

    /// - Parameters:
    ///   - clients: one per controller node of the cluster (`--controller URL[,URL...]`). When the one in use
    ///     cannot be reached or answers 503 (a follower: the SEs talk to the leader), the agent moves to the
    ///     next, keeping its registration (it is the cluster's) and its data plane as it is.
    ///   - registration: holds a registration to use before registering (a predecessor's).
    public init(
        clients: [HTTPClient], identity: Identity, engine: SEEngine, logger: Logger,
        registration: AgentRegistration = AgentRegistration()
    ) {
        precondition(!clients.isEmpty, "an SE agent needs a controller")
        self.clients = clients
        self.identity = identity
        self.engine = engine
        self.logger = logger
        self.registration = registration
    }

    /// Whether the controllers are `https://` (then the agent uses mutual TLS, ``ManagementTrust``).
    var usesTLS: Bool { clients.contains(where: \.isTLS) }
    private var files: SEIdentityFiles? { identity.stateDirectory.map(SEIdentityFiles.init(directory:)) }
    /// Over TLS: the cluster CA once it is trusted (from the state directory, or fetched and checked).
    private let trustedCA = SharedText()

    /// Runs until the task is cancelled.
    public func run() async {
        var backoff = Backoff()
        if usesTLS {
            await establishTrust()
            guard !Task.isCancelled else { return }
        }
        while !Task.isCancelled {
            let registered: SERegistered
            do {
                if let inherited = registration.current {
                    registered = inherited
                    logger.notice(
                        "using the registration of the previous process", metadata: ["se.uuid": "\(inherited.se_uuid)"])
                } else {
                    registered = try await register()
                    registration.set(registered)
                    logger.notice(
                        "registered with the controller",
                        metadata: ["se.uuid": "\(registered.se_uuid)", "se.name": "\(identity.name)"])
                }
                backoff.reset()
            } catch {
                logger.warning("registration failed, retrying: \(error)")
                try? await Task.sleep(for: backoff.next())
                continue
            }
            // Watch and heartbeat until one of them finds the registration gone.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await watch(registered) }
                group.addTask { await heartbeat(registered) }
                await group.next()
                group.cancelAll()
            }
            // The registration failed (401/404): the next round registers again.
            if Task.isCancelled { break }
            registration.clear(ifStill: registered)
            if usesTLS { files?.removeRegistration() }
        }
    }

    private func register() async throws -> SERegistered {
        var body = SERegistration(
            token: identity.token, name: identity.name, data_address: identity.dataAddress, mgmt_url: identity.mgmtURL,
            threads: identity.threads)
        var keyPEM: String?
        if usesTLS {
            let made = try ManagementTrust.keyAndCSR(name: identity.name)
            keyPEM = made.keyPEM
            body.csr = made.csrPEM
            // Registering again: the certificate of the last registration is worthless now.
            try useTLS(certificatePEM: nil, keyPEM: nil)
        }
        let response = try await request(
            "POST", "/api/se-agent/register", headers: [("Content-Type", "application/json")],
            body: Array(try JSONEncoder().encode(body)))
        guard response.status == 200 else {
            throw AgentError(message: "register: HTTP \(response.status) \(Self.errorText(response))")
        }
        let registered = try JSONDecoder().decode(SERegistered.self, from: Data(response.body))
        if let keyPEM {
            guard let certificate = registered.client_certificate else {
                throw AgentError(message: "register: the controller sent no client certificate")
            }
            try useTLS(certificatePEM: certificate, keyPEM: keyPEM)
            do {
                try files?.saveRegistration(registered, keyPEM: keyPEM, certificatePEM: certificate)
            } catch {
                logger.warning("cannot keep the registration for a restart: \(error)")
            }
        }
        return registered
    }

    /// Over TLS, before anything else: the cluster CA from the state directory when it is the one the join
    /// token names (with the key, certificate and registration kept there), else from the first node that
    /// answers with a CA of that hash. Retries until it has one or the task is cancelled.
    private func establishTrust() async {
        guard let expected = ManagementTrust.caHash(inToken: identity.token) else {
            logger.error(
                """
                the join token names no cluster CA (<secret>.<sha256>): cannot verify the controller over HTTPS; \
                make a new token with GET /api/securetoken-generate
                """)
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            return
        }
        if let saved = files?.load(), (try? ManagementTrust.fingerprint(pem: saved.caPEM)) == expected {
            trustedCA.set(saved.caPEM)
            if let key = saved.keyPEM, let certificate = saved.certificatePEM, let registered = saved.registration,
                (try? useTLS(certificatePEM: certificate, keyPEM: key)) != nil
            {
                if registration.current == nil { registration.set(registered) }
                logger.notice(
                    "using the registration kept in the state directory",
                    metadata: ["se.uuid": "\(registered.se_uuid)", "se.state_dir": "\(files?.directory ?? "")"])
            } else {
                try? useTLS(certificatePEM: nil, keyPEM: nil)
            }
            return
        }
        var backoff = Backoff()
        while !Task.isCancelled {
            for client in clients {
                do {
                    let pem = try await ManagementTrust.fetchCA(from: client.baseURL, expected: expected)
                    trustedCA.set(pem)
                    try useTLS(certificatePEM: nil, keyPEM: nil)
                    do {
                        try files?.saveCA(pem)
                    } catch {
                        logger.warning("cannot keep the cluster CA in the state directory: \(error)")
                    }
                    logger.notice(
                        "trusting the cluster CA the join token names", metadata: ["se.ca_sha256": "\(expected)"])
                    return
                } catch {
                    logger.warning("cluster CA: \(error)")
                }
            }
            try? await Task.sleep(for: backoff.next())
        }
    }

    /// Every client trusts the cluster CA (and the system's roots) and presents this certificate.
    private func useTLS(certificatePEM: String?, keyPEM: String?) throws {
        let ca = trustedCA.value ?? ""
        for client in clients where client.isTLS {
            try client.use(.init(trustedPEM: ca, clientCertificatePEM: certificatePEM, clientKeyPEM: keyPEM))
        }
    }

    /// Long-polls the desired state; returns when the registration is no longer valid.
    private func watch(_ registered: SERegistered) async {
        var backoff = Backoff()
        while !Task.isCancelled {
            let version = await engine.version
            let path = "/api/se-agent/\(registered.se_uuid)/desired?version=\(version)&wait=\(watchWait)"
            do {
                let response = try await request(
                    "GET", path, headers: auth(registered), timeout: .seconds(watchWait + 15))
                switch response.status {
                case 200:
                    let desired = try JSONDecoder().decode(SEDesiredState.self, from: Data(response.body))
                    await engine.apply(
                        version: desired.version, services: desired.virtual_services, vrf: desired.vrfcontext,
                        scaleout: desired.scaleout)
                    backoff.reset()
                case 304:
                    backoff.reset()
                case 401, 404:
                    logger.warning("controller no longer knows this SE (HTTP \(response.status)): registering again")
                    return
                default:
                    throw AgentError(message: "desired state: HTTP \(response.status) \(Self.errorText(response))")
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("watch failed, keeping the last state and retrying: \(error)")
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Most request logs sent in one heartbeat.
    static let requestLogsPerHeartbeat = 2000

    /// Sends the status every heartbeat interval; returns when the registration is no longer valid.
    private func heartbeat(_ registered: SERegistered) async {
        let interval = Duration.milliseconds(Int(max(0.2, min(registered.heartbeat_interval, 30)) * 1000))
        let logs = engine.requestLogs
        while !Task.isCancelled {
            var status = await engine.status(seUUID: registered.se_uuid)
            // A batch of request logs rides along; when the heartbeat does not get through they go back
            // to the queue (bounded: a long outage drops the oldest, counted).
            let batch = logs.take(max: Self.requestLogsPerHeartbeat)
            status.request_logs = batch.isEmpty ? nil : batch
            status.request_logs_dropped = logs.dropped
            do {
                let response = try await request(
                    "POST", "/api/se-agent/\(registered.se_uuid)/heartbeat",
                    headers: auth(registered) + [("Content-Type", "application/json")],
                    body: Array(try JSONEncoder().encode(status)), timeout: .seconds(5))
                if response.status != 200 { logs.putBack(batch) }
                if response.status == 401 || response.status == 404 {
                    logger.warning("heartbeat refused (HTTP \(response.status)): registering again")
                    return
                }
                if response.status != 200 {
                    logger.warning("heartbeat: HTTP \(response.status) \(Self.errorText(response))")
                }
            } catch {
                logs.putBack(batch)
                if Task.isCancelled { return }
                logger.debug("heartbeat failed: \(error)")
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Sends to the controller in use; when it cannot be reached or answers 503, to the next ones in turn,
    /// and the first that answers otherwise is used from then on.
    func request(
        _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeout: Duration = .seconds(10)
    ) async throws -> HTTPResponse {
        let first = current.index
        var failure: Error = AgentError(message: "no controller")
        for offset in 0..<clients.count {
            let index = (first + offset) % clients.count
            do {
                let response = try await clients[index].request(
                    method, path, headers: headers, body: body, timeout: timeout)
                if response.status == 503, clients.count > 1 {
                    failure = AgentError(message: "HTTP 503 \(Self.errorText(response))")
                    continue
                }
                if index != first {
                    current.set(index, from: first)
                    logger.notice(
                        "talking to another controller node", metadata: ["se.controller": "\(clients[index].baseURL)"])
                }
                return response
            } catch {
                failure = error
            }
        }
        throw failure
    }

    private func auth(_ registered: SERegistered) -> [(String, String)] {
        [("Authorization", "Bearer \(registered.se_secret)")]
    }

    static func errorText(_ response: HTTPResponse) -> String {
        if let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let error = object["error"] as? String
        {
            return error
        }
        return String(decoding: response.body.prefix(200), as: UTF8.self)
    }
}

/// The registration an agent uses, readable from outside (a successor process takes it over).
public final class AgentRegistration: Sendable {
    private let value: Mutex<SERegistered?>
    public init(_ registered: SERegistered? = nil) { value = Mutex(registered) }
    public var current: SERegistered? { value.withLock { $0 } }
    func set(_ registered: SERegistered) { value.withLock { $0 = registered } }
    func clear(ifStill registered: SERegistered) { value.withLock { if $0 == registered { $0 = nil } } }
}

/// A text shared by an agent's tasks (the trusted cluster CA).
final class SharedText: Sendable {
    private let text = Mutex<String?>(nil)
    var value: String? { text.withLock { $0 } }
    func set(_ value: String) { text.withLock { $0 = value } }
}

/// Which controller node an agent talks to, shared by its watch and heartbeat tasks.
final class ControllerChoice: Sendable {
    private let value = Mutex(0)
    var index: Int { value.withLock { $0 } }
    /// Moves to `index` unless another task moved already since `from` was read.
    func set(_ index: Int, from: Int) { value.withLock { if $0 == from { $0 = index } } }
}

/// Exponential back-off from 0.5 s to 5 s for reconnecting to the controller.
struct Backoff {
    private var current: Duration = .milliseconds(500)
    mutating func next() -> Duration {
        defer { current = min(current * 2, .seconds(5)) }
        return current
    }
    mutating func reset() { current = .milliseconds(500) }
}

/// A controller answer the agent cannot use.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
