import Foundation
import Hummingbird
import NIOCore
import StarlingHTTP
import StarlingModel

/// `GET /api/cluster` and `GET /api/cluster/runtime` in Avi's shape, and the rule that the SEs talk to the
/// leader. On SQLite the controller is a one-node cluster that always leads; on etcd the nodes are the
/// store's members and the leader is the node holding the leadership key (``EtcdStore``).
extension ControllerAPI {
    /// The SE endpoints run on the leader only (its reconciler holds the SEs' liveness and desired
    /// states): a follower answers 503 naming the leader, and the SE tries its next controller.
    func leaderOnly() async throws {
        guard !controller.isLeader, let etcd = controller.store as? EtcdStore else { return }
        let leader = (try? await etcd.leader()) ?? nil
        let members = (try? await etcd.members()) ?? []
        let address = members.first { $0.name == leader }?.address ?? ""
        throw APIError(
            503,
            "controller node \(controller.configuration.nodeName) is a follower: SEs talk to the leader, "
                + (leader.map { "\($0)" + (address.isEmpty ? "" : " at \(address)") } ?? "not elected yet"))
    }

    /// On a follower, what only the leader knows (runtime, inventories with health, scaling, analytics from
    /// the heartbeats) is asked of the leader: the request goes there with the caller's credentials and
    /// tenant, and its answer comes back as it is, naming the node in `X-Starling-Node`. Nil on the leader
    /// (and on SQLite): the caller answers itself.
    func forwardedToLeader(_ request: Request) async throws -> Response? {
        guard !controller.isLeader, let etcd = controller.store as? EtcdStore else { return nil }
        guard request.headers[Self.forwardedHeader] == nil else {
            throw APIError(
                503, "controller node \(controller.configuration.nodeName) was asked as the leader but does not lead")
        }
        let leader = try await etcd.leader()
        guard let leader, let member = try await etcd.members().first(where: { $0.name == leader }),
            let host = Self.host(member.address), !["0.0.0.0", "::", ""].contains(host)
        else {
            throw APIError(
                503,
                "the cluster's leader (\(leader ?? "not elected yet")) cannot be reached from this node: "
                    + "start every node with --listen on its own address")
        }
        // The nodes of one cluster serve alike: HTTPS with certificates of the cluster CA, or all plain HTTP.
        // The answer's URLs name the node the client asked (its Host), not the leader.
        var headers: [(String, String)] = request.head.authority.map { [("Host", $0)] } ?? []
        for name in ["Authorization", "Cookie", "X-CSRFToken", "X-Avi-Tenant", "X-Avi-Tenant-UUID", "Content-Type"] {
            if let field = HTTPFields.Element.Name(name), let value = request.headers[field] {
                headers.append((name, value))
            }
        }
        headers.append((Self.forwardedHeader.rawName, controller.configuration.nodeName))
        var body: [UInt8]?
        if request.method == .post || request.method == .put || request.method == .patch {
            body = Array(try await Self.body(request))
        }
        let answer: StarlingHTTP.HTTPResponse
        do {
            answer = try await controller.forwardingClient(to: member.address).request(
                request.method.rawValue, request.uri.description, headers: headers, body: body, timeout: .seconds(30))
        } catch {
            throw APIError(503, "the cluster's leader \(leader) at \(member.address) did not answer: \(error)")
        }
        var response = Response(status: .init(code: answer.status))
        if let type = answer.header("Content-Type") { response.headers[.contentType] = type }
        response.headers[Self.nodeHeader] = leader
        response.body = .init(byteBuffer: ByteBuffer(bytes: answer.body))
        return response
    }

    static let forwardedHeader = HTTPFields.Element.Name("X-Starling-Forwarded-By")!
    static let nodeHeader = HTTPFields.Element.Name("X-Starling-Node")!

    /// The nodes of the cluster (the members now), as Avi's `cluster` object.
    func cluster(base: String) async throws -> JSONValue {
        let nodes = try await members().map { m in
            var node: [String: JSONValue] = ["name": .string(m.name), "vm_hostname": .string(m.name)]
            if let host = Self.host(m.address) { node["ip"] = JSONValue.from(IpAddr(addressOrName: host)) }
            return JSONValue.object(node)
        }
        return .object([
            "uuid": .string("cluster-0"), "name": .string("cluster-0-1"), "url": .string("\(base)/api/cluster"),
            "tenant_ref": .string("\(base)/api/tenant/admin"), "nodes": .array(nodes),
        ])
    }

    /// Each node's role and since when it is up, and the cluster's state, as Avi's cluster runtime.
    func clusterRuntime() async throws -> JSONValue {
        let all = try await members()
        let leader: String? =
            if let etcd = controller.store as? EtcdStore { try await etcd.leader() } else {
                controller.configuration.nodeName
            }
        let states = all.map { m in
            JSONValue.object([
                "name": .string(m.name), "role": .string(m.name == leader ? "CLUSTER_LEADER" : "CLUSTER_FOLLOWER"),
                "state": .string("CLUSTER_ACTIVE"),
                "up_since": .string(AuditLog.timestamp(Int64(m.up_since * 1_000_000))),
            ])
        }
        let state =
            leader == nil
            ? "CLUSTER_STARTING"
            : all.count >= 3
                ? "CLUSTER_UP_HA_ACTIVE"
                : all.count == 2
                    ? "CLUSTER_UP_HA_COMPROMISED" : "CLUSTER_UP_NO_HA"
        let since = all.map(\.up_since).min() ?? controller.startedAt
        return .object([
            "cluster_state": .object([
                "state": .string(state), "up_since": .string(AuditLog.timestamp(Int64(since * 1_000_000))),
            ]),
            "node_states": .array(states),
        ])
    }

    private func members() async throws -> [EtcdStore.Member] {
        if let etcd = controller.store as? EtcdStore { return try await etcd.members().sorted { $0.name < $1.name } }
        return [
            .init(
                name: controller.configuration.nodeName, address: controller.configuration.nodeAddress,
                up_since: controller.startedAt)
        ]
    }

    /// The host of `host:port` or `[v6]:port`.
    static func host(_ address: String) -> String? {
        guard !address.isEmpty else { return nil }
        if address.hasPrefix("["), let end = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<end])
        }
        return address.split(separator: ":").first.map(String.init)
    }

    // MARK: Backup and restore

    /// `GET /api/configuration/export`: the whole configuration (``ConfigurationBackup``); System-Admin only.
    func exportConfiguration(caller: Caller) async throws -> JSONValue {
        guard caller.principal.isSystemAdmin else {
            throw APIError(403, "configuration export: only a System-Admin may export the whole configuration")
        }
        let now = controller.wallClock()
        return try await controller.store.read { tx in try ConfigurationBackup.export(tx, now: now) }
    }

    /// `POST /api/configuration/import` (`{"configuration": BACKUP}` or the backup itself): replaces the
    /// whole configuration; System-Admin only, on the leader (its reconciler reloads what was restored).
    func importConfiguration(_ request: Request, caller: Caller) async throws -> JSONValue {
        guard caller.principal.isSystemAdmin else {
            throw APIError(403, "configuration import: only a System-Admin may replace the whole configuration")
        }
        try await leaderOnly()
        let body = try Self.parse(try await Self.body(request, limit: 256 << 20))
        let contents = try ConfigurationBackup.read(body["configuration"] ?? body, box: controller.objects.secrets)
        try await controller.restore(contents, actor: caller.actor)
        return .object([
            "objects": .int(Int64(contents.objects.count)), "users": .int(Int64(contents.credentials.count)),
            "serviceengines": .int(Int64(contents.seSecrets.count)),
        ])
    }
}
