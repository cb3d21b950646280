import StarlingModel

/// A text table: a header row and rows of cells, columns padded to their widest cell.
struct CtlTable: Equatable {
    var headers: [String]
    var rows: [[String]]

    /// The table as lines; columns are separated by two spaces, the last column is not padded.
    func render() -> String {
        let all = [headers] + rows.map { row in headers.indices.map { $0 < row.count ? Self.clean(row[$0]) : "" } }
        let widths = headers.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            var line = ""
            for (column, cell) in row.enumerated() {
                if column == row.count - 1 {
                    line += cell
                } else {
                    line += cell + String(repeating: " ", count: widths[column] - cell.count + 2)
                }
            }
            return String(line.reversed().drop { $0 == " " }.reversed())
        }.joined(separator: "\n")
    }

    private static func clean(_ cell: String) -> String {
        let flat = cell.replacingOccurrences(of: "\n", with: " ")
        return flat.isEmpty ? "-" : flat
    }
}

/// Names and addresses behind references, fetched once per `get` (refs are `/api/<type>/<uuid>`).
struct CtlRefLookup: Equatable {
    /// uuid → name, for every related object fetched.
    var names: [String: String] = [:]
    /// vsvip uuid → its VIP addresses.
    var vipAddresses: [String: [String]] = [:]

    /// Builds the lookup from related objects (any types; vsvips also give their addresses).
    init(related: [JSONValue] = []) {
        for object in related {
            guard let uuid = CtlAPI.uuid(of: object) else { continue }
            if let name = object["name"]?.string { names[uuid] = name }
            if let vips = object["vip"]?.array {
                vipAddresses[uuid] = vips.compactMap { CtlViews.address($0["ip_address"]) }
            }
        }
    }

    /// The name behind `ref`: its `#name` suffix, a fetched object's name, or else the uuid.
    func name(_ ref: JSONValue?) -> String {
        guard let ref = ref?.string, !ref.isEmpty else { return "-" }
        if let hash = ref.lastIndex(of: "#") { return String(ref[ref.index(after: hash)...]) }
        if let query = ref.range(of: "?name=") { return String(ref[query.upperBound...]) }
        guard let uuid = CtlAPI.refUUID(ref) else { return ref }
        return names[uuid] ?? uuid
    }
}

/// What `starling ctl get` and `show` print.
enum CtlViews {
    /// Related types whose names (or addresses) a table of `type` shows.
    static func relatedTypes(for type: String) -> [String] {
        switch type {
        case "virtualservice": return ["vsvip", "pool"]
        case "serviceengine": return ["serviceenginegroup"]
        case "pool": return ["healthmonitor"]
        default: return []
        }
    }

    /// The table for `objects` of `type`: name, uuid and the fields that matter for that type.
    static func table(type: String, objects: [JSONValue], lookup: CtlRefLookup) -> CtlTable {
        func uuid(_ o: JSONValue) -> String { CtlAPI.uuid(of: o) ?? "-" }
        func name(_ o: JSONValue) -> String { o["name"]?.display ?? "-" }
        switch type {
        case "virtualservice":
            return CtlTable(
                headers: ["NAME", "UUID", "VIP", "PORTS", "POOL", "ENABLED"],
                rows: objects.map { vs in
                    [
                        name(vs), uuid(vs), vips(of: vs, lookup: lookup), ports(of: vs), lookup.name(vs["pool_ref"]),
                        yesNo(vs["enabled"], default: true),
                    ]
                })
        case "pool":
            return CtlTable(
                headers: ["NAME", "UUID", "SERVERS", "LB_ALGORITHM", "HEALTH_MONITORS"],
                rows: objects.map { pool in
                    let defaultPort = pool["default_server_port"]?.display ?? "80"
                    let servers = (pool["servers"]?.array ?? []).map { server -> String in
                        let port = server["port"]?.display ?? defaultPort
                        var text = "\(address(server["ip"]) ?? "?"):\(port)"
                        if case .bool(false) = server["enabled"] ?? .null { text += "(disabled)" }
                        return text
                    }
                    let monitors = (pool["health_monitor_refs"]?.array ?? []).map { lookup.name($0) }
                    return [
                        name(pool), uuid(pool), servers.isEmpty ? "-" : servers.joined(separator: ","),
                        pool["lb_algorithm"]?.display ?? "LB_ALGORITHM_ROUND_ROBIN",
                        monitors.isEmpty ? "-" : monitors.joined(separator: ","),
                    ]
                })
        case "serviceengine":
            return CtlTable(
                headers: ["NAME", "UUID", "DATA_ADDRESS", "GROUP", "OPER_STATE", "CONNECTED"],
                rows: objects.map { se in
                    [
                        name(se), uuid(se), address(se["data_address"]) ?? "-", lookup.name(se["se_group_ref"]),
                        operState(se["oper_status"]) ?? se["oper_state"]?.display ?? "-",
                        se["se_connected"].map { yesNo($0, default: false) } ?? "-",
                    ]
                })
        case "vsvip":
            return CtlTable(
                headers: ["NAME", "UUID", "VIPS"],
                rows: objects.map { vsvip in
                    let addresses = (vsvip["vip"]?.array ?? []).compactMap { address($0["ip_address"]) }
                    return [name(vsvip), uuid(vsvip), addresses.isEmpty ? "-" : addresses.joined(separator: ",")]
                })
        case "healthmonitor":
            return CtlTable(
                headers: ["NAME", "UUID", "TYPE", "SEND_INTERVAL", "RECEIVE_TIMEOUT", "SUCCESSFUL/FAILED"],
                rows: objects.map { hm in
                    [
                        name(hm), uuid(hm), hm["type"]?.display ?? "-", hm["send_interval"]?.display ?? "-",
                        hm["receive_timeout"]?.display ?? "-",
                        "\(hm["successful_checks"]?.display ?? "-")/\(hm["failed_checks"]?.display ?? "-")",
                    ]
                })
        case "serviceenginegroup":
            return CtlTable(
                headers: ["NAME", "UUID", "HA_MODE", "SCALEOUT_PER_VS", "BUFFER_SE", "ALGO"],
                rows: objects.map { group in
                    [
                        name(group), uuid(group), group["ha_mode"]?.display ?? "-",
                        "\(group["min_scaleout_per_vs"]?.display ?? "-")-\(group["max_scaleout_per_vs"]?.display ?? "-")",
                        group["buffer_se"]?.display ?? "-", group["algo"]?.display ?? "-",
                    ]
                })
        case "vrfcontext":
            return CtlTable(
                headers: ["NAME", "UUID", "LOCAL_AS", "BGP_PEERS"],
                rows: objects.map { vrf in
                    let profile = vrf["bgp_profile"]
                    let peers = (profile?["peers"]?.array ?? []).map { peer in
                        "\(address(peer["peer_ip"]) ?? "?")@AS\(peer["remote_as"]?.display ?? "?")"
                    }
                    return [
                        name(vrf), uuid(vrf), profile?["local_as"]?.display ?? "-",
                        peers.isEmpty ? "-" : peers.joined(separator: ","),
                    ]
                })
        default:
            return CtlTable(headers: ["NAME", "UUID"], rows: objects.map { [name($0), uuid($0)] })
        }
    }

    /// The address in an Avi `IpAddr` (`{"addr", "type"}`) or a bare string.
    static func address(_ value: JSONValue?) -> String? {
        if let text = value?.string { return text }
        return value?["addr"]?.string
    }

    /// `STATE` or `STATE (reason)` of an Avi `oper_status`.
    static func operState(_ value: JSONValue?) -> String? {
        guard let state = value?["state"]?.display else { return nil }
        return reasonText(value?["reason"]).map { "\(state) (\($0))" } ?? state
    }

    /// A reason given as a string or a list of strings (Avi), or nil when empty.
    static func reasonText(_ value: JSONValue?) -> String? {
        let text: String
        switch value {
        case .string(let s)?: text = s
        case .array(let items)?: text = items.map(\.display).joined(separator: "; ")
        default: return nil
        }
        return text.isEmpty ? nil : text
    }

    static func yesNo(_ value: JSONValue?, default fallback: Bool) -> String {
        switch value {
        case .bool(let b)?: return b ? "yes" : "no"
        case nil, .null?: return fallback ? "yes" : "no"
        case let other?: return other.display
        }
    }

    private static func vips(of vs: JSONValue, lookup: CtlRefLookup) -> String {
        var addresses: [String] = []
        if let ref = vs["vsvip_ref"]?.string, let uuid = CtlAPI.refUUID(ref) {
            addresses = lookup.vipAddresses[uuid] ?? []
            if addresses.isEmpty { addresses = [lookup.name(vs["vsvip_ref"])] }
        }
        for vip in vs["vip"]?.array ?? [] {
            if let address = address(vip["ip_address"]), !addresses.contains(address) { addresses.append(address) }
        }
        return addresses.isEmpty ? "-" : addresses.joined(separator: ",")
    }

    private static func ports(of vs: JSONValue) -> String {
        let services = vs["services"]?.array ?? []
        let ports = services.map { service -> String in
            var text = service["port"]?.display ?? "?"
            if let end = service["port_range_end"]?.display, end != text { text += "-\(end)" }
            if case .bool(true) = service["enable_ssl"] ?? .null { text += "/ssl" }
            return text
        }
        return ports.isEmpty ? "-" : ports.joined(separator: ",")
    }

    // MARK: Runtime

    /// Keys shown first (in this order) in runtime views and their tables; other keys follow sorted.
    static let preferredKeys = [
        "name", "uuid", "se_name", "se_uuid", "vip", "vips", "oper_status", "oper_state", "state", "reason",
        "advertised", "advertise_reason", "servers_up", "placement", "data_address", "virtual_services",
        "bgp_peers",
    ]

    /// A readable rendering of a runtime document: scalars as `key: value`, `oper_status` as `STATE (reason)`,
    /// lists of objects as tables, nested objects indented. Any field is shown; none is required.
    /// `show cluster`: the cluster's state, then one row per controller node with its role.
    static func cluster(_ runtime: JSONValue) -> String {
        let state = runtime["cluster_state"]?["state"]?.string ?? "-"
        let rows = (runtime["node_states"]?.array ?? []).map { node in
            [
                node["name"]?.string ?? "", (node["role"]?.string ?? "").replacingOccurrences(of: "CLUSTER_", with: ""),
                node["state"]?.string ?? "", node["up_since"]?.string ?? "",
            ]
        }
        return "cluster: \(state)\n" + CtlTable(headers: ["NAME", "ROLE", "STATE", "UP_SINCE"], rows: rows).render()
    }

    static func runtime(_ json: JSONValue, title: String) -> String {
        var lines = [title]
        render(json, indent: "  ", into: &lines)
        return lines.joined(separator: "\n")
    }

    private static func orderedKeys(_ members: [String: JSONValue]) -> [String] {
        let preferred = preferredKeys.filter { members[$0] != nil }
        return preferred + members.keys.filter { !preferredKeys.contains($0) }.sorted()
    }

    private static func render(_ json: JSONValue, indent: String, into lines: inout [String]) {
        guard let members = json.object else {
            lines.append(indent + json.display)
            return
        }
        for key in orderedKeys(members) {
            let value = members[key] ?? .null
            if let state = operState(value),
                value.object?.keys.allSatisfy({ ["state", "reason", "last_changed_time"].contains($0) }) == true
            {
                lines.append("\(indent)\(key): \(state)")
            } else if value.isScalar {
                lines.append("\(indent)\(key): \(scalar(value))")
            } else if let items = value.array {
                if items.isEmpty {
                    lines.append("\(indent)\(key): none")
                } else if items.allSatisfy(\.isScalar) {
                    lines.append("\(indent)\(key): \(items.map(scalar).joined(separator: ", "))")
                } else if items.allSatisfy({ $0.object != nil }) {
                    lines.append("\(indent)\(key):")
                    let table = objectTable(items.compactMap(\.object))
                    lines += table.render().split(separator: "\n", omittingEmptySubsequences: false).map {
                        indent + "  " + $0
                    }
                } else {
                    lines.append("\(indent)\(key): \(value.display)")
                }
            } else {
                lines.append("\(indent)\(key):")
                render(value, indent: indent + "  ", into: &lines)
            }
        }
    }

    /// A table of objects: one column per key found in any of them (preferred keys first); nested values
    /// as `STATE (reason)`, an address, or compact JSON.
    static func objectTable(_ objects: [[String: JSONValue]]) -> CtlTable {
        var keys: Set<String> = []
        for object in objects { keys.formUnion(object.keys) }
        let columns = preferredKeys.filter(keys.contains) + keys.filter { !preferredKeys.contains($0) }.sorted()
        return CtlTable(
            headers: columns.map { $0.uppercased() },
            rows: objects.map { object in
                columns.map { column in
                    guard let value = object[column] else { return "-" }
                    if let state = operState(value) { return state }
                    if let addr = value["addr"]?.string { return addr }
                    return scalar(value)
                }
            })
    }

    private static func scalar(_ value: JSONValue) -> String {
        if case .bool(let b) = value { return b ? "yes" : "no" }
        return value.display
    }
}
