import Foundation
import Hummingbird
import StarlingModel

extension Controller {
    /// What one virtual service's runtime shows beyond placement: its health score and its last hour.
    struct VSState: Sendable {
        var runtime: JSONValue
        var health: HealthScore
        var summary: Analytics.Summary
    }

    /// Runtime, health score and recent analytics of each of `list`.
    func vsStates(_ list: [(uuid: String, name: String, enabled: Bool)]) async -> [String: VSState] {
        let runtimes = await reconciler.vsRuntimes(list)
        let summaries = await analytics.summaries(list.map(\.uuid), now: wallClock())
        var out: [String: VSState] = [:]
        for vs in list {
            guard let r = runtimes[vs.uuid] else { continue }
            let summary = summaries[vs.uuid] ?? Analytics.Summary()
            let health = HealthScore.compute(
                r.health, recent: summary.hasRecent ? summary.recent : nil,
                windowMinutes: Analytics.Summary.windowMinutes)
            out[vs.uuid] = VSState(runtime: r.json, health: health, summary: summary)
        }
        return out
    }
}

extension ControllerAPI {
    /// The metrics of the inventory's sparklines: the last hour, one point per minute.
    static let inventoryMetrics = [
        "l7_client.avg_complete_responses", "l7_client.avg_resp_latency", "l7_client.avg_error_responses",
        "l4_client.avg_bandwidth",
    ]

    /// `GET /api/virtualservice-inventory`: one page of virtual services (`page`, `page_size`, `name`), each
    /// with its configuration, runtime summary, VIP addresses, health score and last-hour sparklines, in one
    /// answer (the console's dashboard). Read access on virtualservice.
    func vsInventory(_ query: [String: String], caller: Caller, base: String) async throws -> Response {
        try await inventory(VirtualService.objectType, query, caller: caller, base: base) { configs in
            try await vsRows(configs)
        }
    }

    /// One page of `type`'s objects (`page`, `page_size`, `name`; read access on the type), each made a row
    /// by `rows` (given the configurations), with `next` pointing at the inventory.
    private func inventory(
        _ type: String, _ query: [String: String], caller: Caller, base: String,
        rows: ([JSONValue]) async throws -> [JSONValue]
    ) async throws -> Response {
        let kind = ObjectKind.all[type]!
        let scope = try caller.scope(.read, kind)
        var list = try Self.list(query)
        list.fields = nil
        guard case .object(var page) = try await controller.objects.list(kind, scope: scope, query: list, base: base),
            case .array(let configs)? = page["results"]
        else { throw APIError(500, "internal error") }
        page["results"] = .array(try await rows(configs))
        if let next = page["next"]?.string {
            page["next"] = .string(next.replacingOccurrences(of: "/api/\(type)?", with: "/api/\(type)-inventory?"))
        }
        return Self.json(.ok, .object(page))
    }

    private func vsRows(_ configs: [JSONValue]) async throws -> [JSONValue] {
        let services = configs.compactMap { c -> (uuid: String, name: String, enabled: Bool)? in
            guard let uuid = c["uuid"]?.string else { return nil }
            return (uuid, c["name"]?.string ?? uuid, c["enabled"] != .bool(false))
        }
        let addresses = try await controller.store.read { tx in
            try tx.objects(type: VsVip.objectType).reduce(into: [String: [String]]()) { out, o in
                out[o.uuid] = (try? o.decode(VsVip.self))?.vip.flatMap { $0.addresses.map(\.addr) } ?? []
            }
        }
        let states = await controller.vsStates(services)
        return configs.map { config in
            guard let uuid = config["uuid"]?.string, let state = states[uuid] else { return config }
            let vsvip = Self.refUUID(config["vsvip_ref"]?.string)
            var metrics: [String: JSONValue] = [:]
            for id in Self.inventoryMetrics { metrics[id] = state.summary.series(id) }
            return .object([
                "uuid": .string(uuid), "config": config, "runtime": Self.runtimeSummary(state.runtime),
                "health_score": state.health.json,
                "vip": .array((vsvip.flatMap { addresses[$0] } ?? []).map { .string($0) }),
                "metrics": .object(metrics),
            ])
        }
    }

    /// `GET /api/serviceengine-inventory`: one page of SEs, each with its configuration, runtime (state,
    /// BGP peers, the services it serves) and last-hour sparklines. Read access on serviceengine.
    func seInventory(_ query: [String: String], caller: Caller, base: String) async throws -> Response {
        try await inventory(ServiceEngine.objectType, query, caller: caller, base: base) { configs in
            try await seRows(configs)
        }
    }

    private func seRows(_ configs: [JSONValue]) async throws -> [JSONValue] {
        let uuids = configs.compactMap { $0["uuid"]?.string }
        let summaries = await controller.analytics.summaries(uuids, now: controller.wallClock())
        var results: [JSONValue] = []
        for config in configs {
            guard let uuid = config["uuid"]?.string else { continue }
            // The address is in the configuration already listed (no second read of the object).
            let address = config["data_address"].flatMap { try? StrictJSON.decode(IpAddr.self, from: $0) }
            let runtime = await controller.reconciler.seRuntime(
                uuid, name: config["name"]?.string ?? uuid, dataAddress: address)
            var metrics: [String: JSONValue] = [:]
            for id in Self.inventoryMetrics { metrics[id] = (summaries[uuid] ?? Analytics.Summary()).series(id) }
            results.append(
                .object(["uuid": .string(uuid), "config": config, "runtime": runtime, "metrics": .object(metrics)]))
        }
        return results
    }

    /// The uuid at the end of a reference URL (`.../api/vsvip/<uuid>#name`).
    static func refUUID(_ ref: String?) -> String? {
        guard let ref else { return nil }
        let path = ref.split(separator: "#").first.map(String.init) ?? ref
        return path.split(separator: "/").last.map(String.init)
    }

    /// A VS runtime without the per-SE server lists, steering and decision history (the inventory's rows).
    static func runtimeSummary(_ runtime: JSONValue) -> JSONValue {
        guard case .object(var r) = runtime else { return runtime }
        r["decisions"] = nil
        if case .array(let entries)? = r["placement"] {
            r["placement"] = .array(
                entries.map { e in
                    guard case .object(var o) = e else { return e }
                    o["servers"] = nil
                    o["steering"] = nil
                    return .object(o)
                })
        }
        return .object(r)
    }
}
