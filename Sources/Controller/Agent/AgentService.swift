import Foundation
import StarlingModel
import X509

/// SE registration and agent authentication (DESIGN §3.4).
///
/// Over HTTPS (the default) a join token registers one SE once: the SE sends a CSR with it and gets a client
/// certificate signed by the cluster CA, which it keeps (with its secret) across restarts; every later call
/// must present that certificate, and a new registration of the SE or its deletion revokes it (its serial
/// is bound to the SE's current secret). A captured token is worthless once used.
///
/// Over plain HTTP (`--insecure-http`, labs and tests) the SE has only its secret, and these rules hold:
/// Token rules: a join token is valid 24 h for its first use; it binds to the first SE name that
/// registers with it. The same name may register again with it at any time (an SE restart) and gets the
/// same `se_uuid` (unless that SE was deleted, then a new one) and a new secret; another name gets 401.
/// A fresh token may take over the name of an SE that is down (a re-installed or replaced SE host): it
/// gets that SE's `se_uuid` (so its placement is kept) and the old secret stops working. The name of an
/// SE that is up is refused with 409, so two live SEs never share one registration.
struct AgentService: Sendable {
    let store: any ControllerStore
    let heartbeatInterval: Double

    func register(
        _ r: SERegistration, now: Double, downSEs: Set<String> = [], clientIP: String = "",
        overTLS: Bool = false, ca: ClusterCA? = nil
    ) async throws -> SERegistered {
        guard !r.name.isEmpty else { throw APIError(400, "name: must not be empty") }
        var csr: CertificateSigningRequest?
        if overTLS {
            guard let text = r.csr, !text.isEmpty else {
                throw APIError(400, "csr: required over HTTPS (the SE's certificate signing request)")
            }
            csr = try ClusterCA.parseCSR(text)
        }
        do {
            try r.data_address.validate(field: "data_address")
        } catch {
            throw APIError(error)
        }
        let secret = Secrets.token()
        let digest = Secrets.digest(secret)
        let uuid = try await store.write { tx -> String in
            guard let row = try tx.joinToken(r.token) else { throw APIError(401, "token: unknown join token") }
            let boundName = row.seName
            var seUUID = row.seUUID
            if let boundName {
                guard !overTLS else {
                    throw APIError(
                        401,
                        "token: this join token was used already (by SE \(boundName)); a token registers one SE once "
                            + "(an SE keeps its certificate across restarts): make a new token for this SE")
                }
                guard boundName == r.name else {
                    throw APIError(401, "token: this join token belongs to SE \(boundName)")
                }
            } else {
                guard row.expires >= now else { throw APIError(401, "token: the join token expired") }
            }
            if let u = seUUID, try tx.object(uuid: u) == nil { seUUID = nil }
            let kind = ObjectKind.all[ServiceEngine.objectType]!
            if let u = seUUID, var o = try tx.object(uuid: u) {
                o.json["data_address"] = JSONValue.from(r.data_address)
                o.json["mgmt_url"] = r.mgmt_url.map { .string($0) } ?? .null
                o.json["threads"] = r.threads.map { .int(Int64($0)) } ?? .null
                if case .object(let m) = o.json { o.json = .object(m.filter { $0.value != .null }) }
                try tx.putObject(o, lastModified: Int64(now * 1_000_000))
            } else {
                if let existing = try tx.object(type: kind.name, tenant: ObjectService.admin, name: r.name) {
                    guard downSEs.contains(existing.uuid) else {
                        throw APIError(
                            409, "name: an SE named \(r.name) is up and registered with another join token")
                    }
                    var o = existing
                    o.json["data_address"] = JSONValue.from(r.data_address)
                    o.json["mgmt_url"] = r.mgmt_url.map { .string($0) } ?? .null
                    o.json["threads"] = r.threads.map { .int(Int64($0)) } ?? .null
                    if case .object(let m) = o.json { o.json = .object(m.filter { $0.value != .null }) }
                    try tx.putObject(o, lastModified: Int64(now * 1_000_000))
                    seUUID = existing.uuid
                }
            }
            if seUUID == nil {
                var se = ServiceEngine(
                    name: r.name, se_group_ref: "/api/serviceenginegroup/?name=\(SystemDefaults.defaultSEGroup)",
                    data_address: r.data_address, mgmt_url: r.mgmt_url, threads: r.threads)
                se.cloud_ref = "/api/cloud/?name=Default-Cloud"
                let json = try ObjectService.check(kind, JSONValue.from(se))
                let o = try ObjectService.insert(
                    tx, kind, json, uuid: "serviceengine-\(Secrets.uuid4())", scope: Scope(), passwordHash: nil,
                    now: now)
                try AuditLog.record(
                    tx, .create, actor: .init(user: "se:\(r.name)", clientIP: clientIP), tenant: o.tenant,
                    type: kind.name, uuid: o.uuid, name: o.name, new: o.json, now: now)
                seUUID = o.uuid
            }
            let u = seUUID!
            try tx.bindJoinToken(r.token, seName: r.name, seUUID: u)
            try tx.setSESecret(se: u, digest: digest, token: r.token)
            return u
        }
        var certificate: String?
        if let csr, let ca {
            certificate = try ca.signSE(
                csr: csr, uuid: uuid, name: r.name, secretDigest: digest, now: Date(timeIntervalSince1970: now))
        }
        return SERegistered(
            se_uuid: uuid, se_secret: secret, heartbeat_interval: heartbeatInterval, client_certificate: certificate)
    }

    /// Checks `Authorization: Bearer <secret>` for an SE: 404 unknown SE, 401 bad secret; over TLS also the
    /// client certificate: 401 without one, or with one that is not the SE's current certificate.
    func authenticate(
        se: String, authorization: String?, transport: ControllerRequestContext.Transport = .plainHTTP
    ) async throws {
        let digest = try await store.read { tx -> String? in
            guard try tx.object(uuid: se)?.type == ServiceEngine.objectType else { return nil }
            return try tx.seSecretDigest(se: se) ?? ""
        }
        guard let digest else { throw APIError(404, "serviceengine \(se) not found: register again") }
        guard let auth = authorization, auth.hasPrefix("Bearer ") else {
            throw APIError(401, "Authorization: Bearer <se_secret> required")
        }
        let presented = Secrets.digest(String(auth.dropFirst("Bearer ".count)))
        guard !digest.isEmpty,
            PasswordHasher.constantTimeEqual(Array(presented.utf8), Array(digest.utf8))
        else { throw APIError(401, "Authorization: bad SE secret") }
        if case .tls(let certificate) = transport {
            guard let certificate else {
                throw APIError(401, "over HTTPS an SE presents the client certificate it got at registration")
            }
            guard ClusterCA.seUUID(of: certificate, secretDigest: digest) == se else {
                throw APIError(
                    401,
                    "the client certificate is not SE \(se)'s current one (a newer registration or the SE's "
                        + "deletion revoked it): register again with a new token")
            }
        }
    }
}
