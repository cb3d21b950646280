import Foundation
import StarlingModel

/// The audit trail: one row per write, recorded in the same transaction as the write itself (a write
/// that rolls back leaves no row; a write never lands without its row) — except scale out/in, whose
/// row follows the reconciler's pass that applies it. Rows say who (user name or
/// `se:<name>` for an SE registering), from where, when, in which tenant, what object, and its stored form
/// before and after (passwords are never stored in objects; certificate keys are left out here).
///
/// Read through `GET /api/analytics/logs?type=2` in the shape of Avi's config events (`CONFIG_CREATE`,
/// `CONFIG_UPDATE`, `CONFIG_DELETE` with `event_details.config_*_details`), newest first. The table keeps
/// the newest `maxRows` rows.
enum AuditLog {
    enum Event: String, Sendable {
        case create = "CONFIG_CREATE"
        case update = "CONFIG_UPDATE"
        case delete = "CONFIG_DELETE"
        /// An operation on an object that is not a field change (scale out/in, a join token).
        case action = "CONFIG_ACTION"
        case passwordChange = "USER_PASSWORD_CHANGE"
    }

    /// Who made a request, for the trail.
    struct Actor: Sendable, Hashable {
        var user: String
        var clientIP: String

        static let system = Actor(user: "system", clientIP: "")
    }

    static let maxRows = 100_000

    static func record(
        _ tx: any StoreWriter, _ event: Event, actor: Actor, tenant: String, type: String, uuid: String, name: String,
        old: JSONValue? = nil, new: JSONValue? = nil, now: Double
    ) throws {
        try tx.appendAudit(
            AuditRecord(
                time: now, event: event.rawValue, user: actor.user, clientIP: actor.clientIP, tenant: tenant,
                type: type,
                uuid: uuid, name: name, old: old.map { JSONText.encode(redacted(type, $0)) },
                new: new.map { JSONText.encode(redacted(type, $0)) }))
    }

    /// Write-only fields (private keys) stay out of the trail.
    static func redacted(_ type: String, _ json: JSONValue) -> JSONValue {
        guard let kind = ObjectKind[type], !kind.writeOnly.isEmpty, case .object(var m) = json else { return json }
        for k in kind.writeOnly where m[k] != nil { m[k] = .string("<hidden>") }
        return .object(m)
    }

    typealias Query = AuditQuery

    /// `{"count", "results": [...]}`, newest first.
    static func read(_ store: any ControllerStore, _ q: Query, base: String) async throws -> JSONValue {
        let (count, records) = try await store.auditPage(q)
        return .object(["count": .int(Int64(count)), "results": .array(records.map { present($0, base: base) })])
    }

    static func present(_ record: AuditRecord, base: String) -> JSONValue {
        let (event, type, name, user, old, new) = (
            record.event, record.type, record.name, record.user, record.old, record.new
        )
        var details: [String: JSONValue] = [
            "request_user": .string(user), "client_ip": .string(record.clientIP), "resource_type": .string(type),
            "resource_name": .string(name),
        ]
        let key: String
        var verb: String
        switch Event(rawValue: event) {
        case .create:
            key = "config_create_details"
            details["resource_data"] = new.map { .string($0) } ?? .null
            verb = "created"
        case .delete:
            key = "config_delete_details"
            details["resource_data"] = old.map { .string($0) } ?? .null
            verb = "deleted"
        case .update, .passwordChange:
            key = event == Event.update.rawValue ? "config_update_details" : "config_password_change_details"
            details["old_resource_data"] = old.map { .string($0) } ?? .null
            details["new_resource_data"] = new.map { .string($0) } ?? .null
            let changed = changedFields(old, new)
            details["changed_fields"] = .array(changed.map { .string($0) })
            verb = event == Event.update.rawValue ? "updated" : "password changed"
            if !changed.isEmpty { verb += " (\(changed.joined(separator: ", ")))" }
        case .action, nil:
            key = "config_action_details"
            details["resource_data"] = new.map { .string($0) } ?? .null
            verb = new.flatMap { try? StrictJSON.parse(Data($0.utf8))["action"]?.string } ?? "acted on"
        }
        let micros = Int64((record.time * 1_000_000).rounded())
        return .object([
            "event_id": .string(event), "module": .string("CONFIG"), "report_timestamp": .string(timestamp(micros)),
            "report_timestamp_us": .int(micros), "obj_type": .string(type), "obj_uuid": .string(record.uuid),
            "obj_name": .string(name), "tenant_ref": .string("\(base)/api/tenant/\(record.tenant)"),
            "event_details": .object([key: .object(details)]),
            "event_description": .string("\(type) \(name) \(verb) by \(user)"),
        ])
    }

    /// Top-level fields whose value differs (ignoring the bookkeeping ones).
    static func changedFields(_ old: String?, _ new: String?) -> [String] {
        let a = old.flatMap { try? StrictJSON.parse(Data($0.utf8)).object } ?? [:]
        let b = new.flatMap { try? StrictJSON.parse(Data($0.utf8)).object } ?? [:]
        return Set(a.keys).union(b.keys).subtracting(["_last_modified", "url", "uuid"]).filter { a[$0] != b[$0] }
            .sorted()
    }

    /// ISO 8601 UTC with microseconds, as Avi's `report_timestamp`.
    static func timestamp(_ micros: Int64) -> String {
        let seconds = micros / 1_000_000
        let fraction = micros % 1_000_000
        let date = Date(timeIntervalSince1970: Double(seconds))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!,
            Int(fraction))
    }
}
