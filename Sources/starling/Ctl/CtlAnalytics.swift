import ArgumentParser
import Controller
import Foundation
import StarlingModel

/// `analytics vs|se|pool NAME`: the controller's time series of a virtual service, SE or pool (one of its
/// servers with `--server`) (`GET /api/analytics/metrics/<type>/<uuid>`), one row per sample, one column
/// per metric.
struct CtlAnalytics: CtlSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "analytics",
        abstract: "Show the metrics of a virtual service (vs), service engine (se) or pool over time.",
        discussion: """
            Each row is one sample (its end time); --step picks the resolution (5 s kept for an hour, 300 s for \
            a day, 3600 s for a week). Metrics of vs and se: \(Self.known.joined(separator: ", ")). Metrics of \
            a pool (all its servers, or one with --server IP:PORT): \(Self.poolKnown.joined(separator: ", ")).
            """)

    /// The metric ids the controller answers.
    static let known = Analytics.metricIDs
    static let poolKnown = Analytics.poolMetricIDs

    @OptionGroup var global: CtlGlobalOptions

    @Argument(help: "vs (virtualservice), se (serviceengine) or pool.")
    var type: String

    @Argument(help: "Object name.")
    var name: String

    @Option(help: "Comma-separated metric ids (default: requests, errors, latency and bandwidth; for a pool its own).")
    var metric: String?

    @Option(help: "A pool's server, IP:PORT (pool only).")
    var server: String?

    var metrics: String {
        metric
            ?? (isPool
                ? "l7_server.avg_complete_responses,l7_server.avg_error_responses,l7_server.avg_resp_latency,"
                    + "l4_server.avg_new_established_conns,l4_server.avg_connection_errors"
                : "l7_client.avg_total_requests,l7_client.avg_error_responses,l7_client.avg_client_txn_latency,"
                    + "l4_client.avg_bandwidth")
    }

    var isPool: Bool { type == "pool" }

    @Option(help: "Seconds per sample: 5, 300 or 3600.")
    var step = 5

    @Option(help: "Number of samples (the latest).")
    var limit = 12

    @Option(name: [.short, .customLong("output")], help: "Output format: table or json (the API's answer).")
    var output: CtlFormat = .table

    func validate() throws {
        guard isPool || (try? CtlShow.runtimeType(type)) != nil else {
            throw ValidationError("TYPE '\(type)' has no metrics: use vs (virtualservice), se (serviceengine) or pool")
        }
        if server != nil, !isPool { throw ValidationError("--server: only with pool") }
        guard [5, 300, 3600].contains(step) else { throw ValidationError("--step: 5, 300 or 3600 seconds") }
        guard limit >= 1 else { throw ValidationError("--limit: at least 1") }
        let known = isPool ? Self.poolKnown : Self.known
        for id in metrics.split(separator: ",") where !known.contains(String(id)) {
            throw ValidationError("--metric: unknown metric \(id); known: \(known.joined(separator: ", "))")
        }
    }

    func execute(_ context: CtlContext) async throws(CtlError) {
        let type = isPool ? "pool" : try CtlShow.runtimeType(self.type)
        let api = try await global.connection(context.environment)
        let server = self.server.map { "&obj_id=\(CtlAPI.percentEncoded($0))" } ?? ""
        guard
            let (_, answer) = try await api.objectResource(
                type, named: name, output: output, context: context,
                path: {
                    "/api/analytics/metrics/\(type)/\($0)?metric_id=\(metrics)&step=\(step)&limit=\(limit)\(server)"
                })
        else { return }
        context.out(Self.table(answer).render())
    }

    /// One row per timestamp, one column per series (`-` where a series has no sample).
    static func table(_ answer: JSONValue) -> CtlTable {
        let series = answer["series"]?.array ?? []
        var headers = ["time"]
        var columns: [[String: String]] = []
        for s in series {
            let name = s["header"]?["name"]?.string ?? "?"
            let units = s["header"]?["units"]?.string.map {
                " (\($0.lowercased().replacingOccurrences(of: "_", with: " ")))"
            }
            headers.append(name + (units ?? ""))
            var column: [String: String] = [:]
            for point in s["data"]?.array ?? [] {
                guard let time = point["timestamp"]?.string else { continue }
                column[time] = point["value"].map(Self.number) ?? "-"
            }
            columns.append(column)
        }
        let times = Set(columns.flatMap(\.keys)).sorted()
        return CtlTable(headers: headers, rows: times.map { time in [time] + columns.map { $0[time] ?? "-" } })
    }

    private static func number(_ value: JSONValue) -> String {
        switch value {
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(format: "%.2f", d)
        default: return value.display
        }
    }
}
