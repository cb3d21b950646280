import ArgumentParser
import Foundation
import StarlingModel

/// `logs VS`: the requests the SEs logged for a virtual service (`GET /api/analytics/logs?type=1`), newest
/// first, with Avi's filters.
struct CtlLogs: CtlSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Show the request logs of a virtual service (newest first).",
        discussion: """
            The SEs log every significant request (4xx or 5xx, answered by the SE itself, cut off, or slower \
            than 500 ms) and, when the virtual service's analytics_policy.full_client_logs is enabled, the \
            others, each up to its throttle per second per SE. Filters: op(field,value) with op one of eq, ne, \
            lt, le, gt, ge, co (contains), nc (does not contain) and field one of response_code, total_time \
            (ms), client_ip, uri_path, method, server_ip, significant, service_engine; e.g. \
            --filter 'ge(response_code,500)' --filter 'co(uri_path,/api)'.
            """)

    @OptionGroup var global: CtlGlobalOptions

    @Argument(help: "Virtual service name.")
    var name: String

    @Option(help: "A filter, op(field,value); repeat for more (all must hold).")
    var filter: [String] = []

    @Option(help: "Only the last this many seconds.")
    var duration: Int?

    @Option(name: .customLong("page-size"), help: "Number of logs (1-1000).")
    var pageSize = 25

    @Option(name: [.short, .customLong("output")], help: "Output format: table or json (the API's answer).")
    var output: CtlFormat = .table

    func validate() throws {
        guard (1...1000).contains(pageSize) else { throw ValidationError("--page-size: 1-1000") }
        if let duration, duration < 1 { throw ValidationError("--duration: at least 1 second") }
        let ops = ["eq", "ne", "lt", "le", "gt", "ge", "co", "nc"]
        for f in filter {
            guard f.hasSuffix(")"), let open = f.firstIndex(of: "("), ops.contains(String(f[..<open])),
                f[open...].contains(",")
            else {
                throw ValidationError(
                    "--filter: '\(f)' is not op(field,value) with op one of \(ops.joined(separator: ", "))")
            }
        }
    }

    func execute(_ context: CtlContext) async throws(CtlError) {
        let api = try await global.connection(context.environment)
        var query = "type=1&page_size=\(pageSize)"
        for f in filter { query += "&filter=\(CtlAPI.percentEncoded(f))" }
        if let duration { query += "&duration=\(duration)" }
        guard
            let (_, answer) = try await api.objectResource(
                "virtualservice", named: name, output: output, context: context,
                path: { "/api/analytics/logs?virtualservice=\($0)&\(query)" })
        else { return }
        let rows = answer["results"]?.array ?? []
        context.out(Self.table(answer).render())
        context.out("\(rows.count) of \(answer["count"]?.display ?? "?") logs")
    }

    /// One row per log: time, client, request line, status, milliseconds, bytes out, server, SE, why.
    static func table(_ answer: JSONValue) -> CtlTable {
        CtlTable(
            headers: ["time", "client", "request", "status", "ms", "bytes out", "server", "se", "why"],
            rows: (answer["results"]?.array ?? []).map { r in
                let path = r["uri_path"]?.string ?? ""
                let q = r["uri_query"]?.string ?? ""
                let server = r["server_ip"]?.string ?? ""
                return [
                    r["report_timestamp"]?.string ?? "",
                    "\(r["client_ip"]?.string ?? ""):\(r["client_src_port"]?.display ?? "")",
                    "\(r["method"]?.string ?? "") \(path)\(q.isEmpty ? "" : "?" + q)",
                    r["response_code"]?.display ?? "", Self.milliseconds(r["total_time"]),
                    r["response_length"]?.display ?? "",
                    server.isEmpty ? "-" : "\(server):\(r["server_dest_port"]?.display ?? "")",
                    r["service_engine"]?.string ?? "", r["significance"]?.string ?? "",
                ]
            })
    }

    private static func milliseconds(_ value: JSONValue?) -> String {
        switch value {
        case .double(let d)?: String(format: "%.1f", d)
        case let v?: v.display
        case nil: ""
        }
    }
}
