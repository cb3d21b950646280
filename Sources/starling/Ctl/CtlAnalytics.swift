import ArgumentParser
import Controller
import Foundation

/// `analytics vs|se NAME`: the controller's time series of a virtual service or SE
/// (`GET /api/analytics/metrics/<type>/<uuid>`), one row per sample, one column per metric.
struct CtlAnalytics: CtlSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "analytics",
        abstract: "Show the metrics of a virtual service (vs) or service engine (se) over time.",
        discussion: """
            Each row is one sample (its end time); --step picks the resolution (5 s kept for an hour, 300 s for \
            a day, 3600 s for a week). Metrics: \(Self.known.joined(separator: ", ")).
            """)

    /// The metric ids the controller answers.
    static let known = Analytics.metricIDs

    @OptionGroup var global: CtlGlobalOptions

    @Argument(help: "vs (virtualservice) or se (serviceengine).")
    var type: String

    @Argument(help: "Object name.")
    var name: String

    @Option(help: "Comma-separated metric ids.")
    var metric =
        "l7_client.avg_total_requests,l7_client.avg_error_responses,l7_client.avg_client_txn_latency,l4_client.avg_bandwidth"

    @Option(help: "Seconds per sample: 5, 300 or 3600.")
    var step = 5

    @Option(help: "Number of samples (the latest).")
    var limit = 12

    @Option(name: [.short, .customLong("output")], help: "Output format: table or json (the API's answer).")
    var output: CtlFormat = .table

    func validate() throws {
        guard (try? CtlShow.runtimeType(type)) != nil else {
            throw ValidationError("TYPE '\(type)' has no metrics: use vs (virtualservice) or se (serviceengine)")
        }
        guard [5, 300, 3600].contains(step) else { throw ValidationError("--step: 5, 300 or 3600 seconds") }
        guard limit >= 1 else { throw ValidationError("--limit: at least 1") }
        for id in metric.split(separator: ",") where !Self.known.contains(String(id)) {
            throw ValidationError("--metric: unknown metric \(id); known: \(Self.known.joined(separator: ", "))")
        }
    }

    func execute(_ context: CtlContext) async throws(CtlError) {
        let type = try CtlShow.runtimeType(self.type)
        let api = try global.connection(context.environment)
        guard
            let (_, answer) = try await api.objectResource(
                type, named: name, output: output, context: context,
                path: { "/api/analytics/metrics/\(type)/\($0)?metric_id=\(metric)&step=\(step)&limit=\(limit)" })
        else { return }
        context.out(Self.table(answer).render())
    }

    /// One row per timestamp, one column per series (`-` where a series has no sample).
    static func table(_ answer: CtlJSON) -> CtlTable {
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

    private static func number(_ value: CtlJSON) -> String {
        switch value {
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(format: "%.2f", d)
        default: return value.display
        }
    }
}
