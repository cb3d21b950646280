import Foundation
import GRDB
import Logging
import StarlingModel

/// The controller's analytics (issue 11): time series of what the virtual services and SEs did, fed by
/// the SEs' heartbeats (their cumulative counters, over the agent channel they already use), kept in the
/// store in three resolutions and answered in Avi's metrics API shape.
///
/// - 5-second samples for an hour, 5-minute rollups for a day, 1-hour rollups for a week (``retention``);
///   a 5-second bucket is written when it has ended, and added to its 5-minute and hour rows at once.
/// - A bucket that has not ended yet lives in memory only: a controller restart loses at most those
///   5 seconds, and the first heartbeat of each SE after it only sets the baseline.
/// - `GET /api/analytics/metrics/virtualservice/<uuid>` and `.../serviceengine/<uuid>` with `metric_id`,
///   `step` (5, 300, 3600), `limit` (default 60) and `stop` (ISO 8601, default now) (``query``).
public actor Analytics {
    /// Resolutions kept (seconds per sample) and for how long (seconds).
    static let retention: [(step: Int, keep: Int)] = [(5, 3600), (300, 86_400), (3600, 7 * 86_400)]

    /// The node-local tables `metrics` and `request_logs`.
    let database: LocalDatabase
    let logger: Logger
    /// Most request logs kept (the oldest go first).
    let requestLogLimit: Int
    private var ingest = MetricsIngest()
    /// The last hour per entity in one-minute sums, in memory (the inventory's sparklines and the health
    /// score's recent window; refilled from the heartbeats after a restart).
    private var minutes: [String: [Int: MetricSample]] = [:]
    private var lastSweep = 0

    init(database: LocalDatabase, requestLogLimit: Int = 500_000, logger: Logger) {
        self.requestLogLimit = requestLogLimit
        self.database = database
        self.logger = logger
    }

    /// One SE heartbeat at `now` (seconds since the epoch). Never throws: analytics must not fail a
    /// heartbeat (a store error is logged and the samples of that bucket are lost).
    func heartbeat(_ status: SEStatus, pools: [String: String] = [:], now: Double) {
        ingest.ingest(se: status.se_uuid, services: status.virtual_services, pools: pools, now: now)
        flush(now: now)
    }

    /// Request logs from SE `se` (of services placed on it). Never throws: a store error is logged and
    /// those logs are lost.
    func requestLogs(_ logs: [RequestLog], se: String, seName: String) {
        guard !logs.isEmpty else { return }
        do {
            try database.writeNow { [requestLogLimit] db in
                try RequestLogStore.insert(db, logs, se: se, seName: seName, keep: requestLogLimit)
            }
        } catch {
            logger.error("request logs not stored: \(error)", metadata: ["controller.logs": "\(logs.count)"])
        }
    }

    /// An SE was deleted.
    func forget(se: String) { ingest.forget(se: se) }

    /// Writes the buckets that have ended, their rollups, and drops what is past its retention.
    func flush(now: Double) {
        let done = ingest.closed(at: now)
        guard !done.isEmpty else { return }
        keepMinutes(done, now: now)
        do {
            try database.writeNow { db in
                for (key, sample) in done {
                    for (step, _) in Self.retention {
                        let start = key.start / step * step
                        var merged = sample
                        if step != MetricsIngest.step,
                            let row = try Row.fetchOne(
                                db, sql: "SELECT sample FROM metrics WHERE entity = ? AND step = ? AND start = ?",
                                arguments: [key.entity, step, start]),
                            let text = row["sample"] as String?,
                            let before = try? JSONDecoder().decode(MetricSample.self, from: Data(text.utf8))
                        {
                            merged.add(before)
                        }
                        let json = String(decoding: try JSONEncoder().encode(merged), as: UTF8.self)
                        try db.execute(
                            sql: "INSERT INTO metrics (entity, step, start, sample) VALUES (?, ?, ?, ?) "
                                + "ON CONFLICT(entity, step, start) DO UPDATE SET sample = excluded.sample",
                            arguments: [key.entity, step, start, json])
                    }
                }
                for (step, keep) in Self.retention {
                    try db.execute(
                        sql: "DELETE FROM metrics WHERE step = ? AND start < ?",
                        arguments: [step, Int(now) - keep - step])
                }
            }
        } catch {
            logger.error("analytics samples not stored: \(error)", metadata: ["controller.samples": "\(done.count)"])
        }
    }

    private func keepMinutes(_ done: [(key: MetricsIngest.Key, sample: MetricSample)], now: Double) {
        for (key, sample) in done {
            minutes[key.entity, default: [:]][key.start / 60 * 60, default: MetricSample()].add(sample)
        }
        let oldest = Int(now) - 3600 - 60
        if Int(now) - lastSweep >= 60 {
            lastSweep = Int(now)
            for entity in Array(minutes.keys) {
                minutes[entity] = minutes[entity]?.filter { $0.key >= oldest }
                if minutes[entity]?.isEmpty == true { minutes[entity] = nil }
            }
        }
    }

    /// What the inventory shows of one entity: the last hour by minute (the current minute as far as its
    /// stored 5-second samples go), and the sum of the last ``Summary/windowMinutes`` minutes (the current
    /// one included) for its health score.
    struct Summary: Sendable {
        static let windowMinutes = 5
        /// Each minute's start, sum, and the seconds of it the sum covers (60, less for the current one).
        var minutes: [(start: Int, sample: MetricSample, seconds: Int)] = []
        var recent = MetricSample()
        var hasRecent = false

        /// `[[end of the covered part of the minute, value per second], ...]` of metric `id` (one of
        /// ``Analytics/metricIDs``).
        func series(_ id: String) -> JSONValue {
            guard let metric = Analytics.metrics.first(where: { $0.id == id }) else { return .array([]) }
            return .array(
                minutes.map {
                    .array([.int(Int64($0.start + $0.seconds)), .double(metric.value($0.sample, Double($0.seconds)))])
                })
        }
    }

    /// ``Summary`` of each of `entities` at `now`.
    func summaries(_ entities: [String], now: Double) -> [String: Summary] {
        flush(now: now)
        let current = Int(now) / 60 * 60
        var out: [String: Summary] = [:]
        for entity in entities {
            var summary = Summary()
            // The current minute's samples are stored up to the last 5-second bucket that has ended.
            let covered = (Int(now) - current) / MetricsIngest.step * MetricsIngest.step
            for (start, sample) in (minutes[entity] ?? [:]).sorted(by: { $0.key < $1.key })
            where start >= current - 3600 {
                if start < current {
                    summary.minutes.append((start, sample, 60))
                } else if covered > 0 {
                    summary.minutes.append((start, sample, covered))
                }
                if start > current - Summary.windowMinutes * 60 {
                    summary.recent.add(sample)
                    summary.hasRecent = true
                }
            }
            out[entity] = summary
        }
        return out
    }

    /// A metric the API answers: its Avi id, units and how it is computed from a sample of `step` seconds;
    /// `pool`: a pool's (server-side) metric, else a virtual service's or SE's (client side).
    struct Metric: Sendable {
        var id: String
        var units: String
        var description: String
        var pool = false
        var value: @Sendable (MetricSample, Double) -> Double

        init(
            id: String, units: String, description: String, pool: Bool = false,
            value: @escaping @Sendable (MetricSample, Double) -> Double
        ) {
            self.id = id
            self.units = units
            self.description = description
            self.pool = pool
            self.value = value
        }
    }

    /// The metrics of a pool (`GET /api/analytics/metrics/pool/<uuid>`, with `obj_id=<ip>:<port>` one
    /// server's): what the SEs' proxies sent its servers.
    static let poolMetrics: [Metric] = [
        Metric(
            id: "l4_server.avg_new_established_conns", units: "PER_SECOND",
            description: "New connections to the servers per second", pool: true
        ) { s, step in Double(s.connections) / step },
        Metric(
            id: "l4_server.avg_connection_errors", units: "PER_SECOND",
            description: "Failed attempts per second (no connection, or no valid response)", pool: true
        ) { s, step in Double(s.failures ?? 0) / step },
        Metric(
            id: "l7_server.avg_complete_responses", units: "PER_SECOND",
            description: "Responses the servers answered to the end, per second", pool: true
        ) { s, step in Double(s.responses.reduce(0, +)) / step },
        Metric(
            id: "l7_server.avg_error_responses", units: "PER_SECOND", description: "5xx responses per second",
            pool: true
        ) { s, step in Double(s.responses[4]) / step },
        Metric(
            id: "l7_server.avg_resp_latency", units: "MILLISECONDS",
            description: "Mean time from a request's start to the end of the server's response", pool: true
        ) { s, _ in s.meanLatencyMs },
    ]

    /// The metric ids ``query`` answers for virtual services and SEs.
    public static var metricIDs: [String] { metrics.map(\.id) }
    /// ... and for pools.
    public static var poolMetricIDs: [String] { poolMetrics.map(\.id) }

    static let metrics: [Metric] =
        [
            Metric(
                id: "l4_client.avg_bandwidth", units: "BITS_PER_SECOND",
                description: "Bits per second between the clients and the virtual service, both ways"
            ) { s, step in Double(s.bytesIn + s.bytesOut) * 8 / step },
            Metric(
                id: "l4_client.avg_rx_bytes", units: "BYTES_PER_SECOND", description: "Bytes per second from clients"
            ) {
                s, step in Double(s.bytesIn) / step
            },
            Metric(id: "l4_client.avg_tx_bytes", units: "BYTES_PER_SECOND", description: "Bytes per second to clients")
            {
                s, step in Double(s.bytesOut) / step
            },
            Metric(
                id: "l4_client.avg_new_established_conns", units: "PER_SECOND",
                description: "New client connections per second"
            ) { s, step in Double(s.connections) / step },
            Metric(
                id: "l7_client.avg_total_requests", units: "PER_SECOND", description: "HTTP requests per second"
            ) { s, step in Double(s.requests) / step },
            Metric(
                id: "l7_client.avg_complete_responses", units: "PER_SECOND", description: "HTTP responses per second"
            ) { s, step in Double(s.responses.reduce(0, +)) / step },
            Metric(
                id: "l7_client.avg_error_responses", units: "PER_SECOND",
                description: "HTTP 4xx and 5xx responses per second"
            ) { s, step in Double(s.responses[3] + s.responses[4]) / step },
            Metric(
                id: "l7_client.avg_client_txn_latency", units: "MILLISECONDS",
                description: "Mean time from a request's start to the end of its response"
            ) { s, _ in s.meanLatencyMs },
            Metric(
                id: "l7_client.avg_resp_latency", units: "MILLISECONDS",
                description: "Mean response time: from a request's start to the end of its response"
            ) { s, _ in s.meanLatencyMs },
        ]
        + [(50, "median"), (90, "90th percentile"), (99, "99th percentile")].map { p, name in
            Metric(
                id: "l7_client.pct_resp_latency_\(p)", units: "MILLISECONDS",
                description: "Response time, \(name) (from the SEs' latency histograms)"
            ) { s, _ in s.latencyPercentile(Double(p) / 100) }
        }
        + (1...5).map { c in
            Metric(
                id: "l7_client.avg_resp_\(c)xx", units: "PER_SECOND", description: "HTTP \(c)xx responses per second"
            ) { s, step in Double(s.responses[c - 1]) / step }
        }

    /// Avi's `MetricsQueryResponse` for `entity` (`metricEntity`: `VSERVER_METRICS_ENTITY`,
    /// `SE_METRICS_ENTITY` or `POOL_METRICS_ENTITY`; a pool's `obj_id=<ip>:<port>` picks one of its servers).
    /// Throws 400 naming the parameter for an unknown metric, step or limit.
    func query(
        entity: String, metricEntity: String, tenant: String, parameters: [String: String], now: Double
    ) throws -> JSONValue {
        flush(now: now)
        var stored = entity
        if metricEntity == "POOL_METRICS_ENTITY", let server = parameters["obj_id"], !server.isEmpty {
            stored = MetricsIngest.serverEntity(pool: entity, server: server)
        }
        let ids = (parameters["metric_id"] ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        guard !ids.isEmpty else {
            let known = metricEntity == "POOL_METRICS_ENTITY" ? Self.poolMetrics : Self.metrics
            throw APIError(400, "metric_id: give one or more of \(known.map(\.id).joined(separator: ", "))")
        }
        let known = metricEntity == "POOL_METRICS_ENTITY" ? Self.poolMetrics : Self.metrics
        var chosen: [Metric] = []
        for id in ids {
            guard let m = known.first(where: { $0.id == id }) else {
                throw APIError(
                    400, "metric_id: unknown metric \(id); known: \(known.map(\.id).joined(separator: ", "))")
            }
            chosen.append(m)
        }
        let step = try Self.integer(parameters["step"], "step", default: 5)
        guard let resolution = Self.retention.first(where: { $0.step == step }) else {
            throw APIError(
                400, "step: one of \(Self.retention.map { String($0.step) }.joined(separator: ", ")) seconds")
        }
        let limit = try Self.integer(parameters["limit"], "limit", default: 60)
        guard (1...resolution.keep / step).contains(limit) else {
            throw APIError(400, "limit: between 1 and \(resolution.keep / step) samples at step \(step)")
        }
        var stop = now
        if let text = parameters["stop"] {
            guard let t = Self.parseTime(text) else { throw APIError(400, "stop: expected ISO 8601 time") }
            stop = min(t, now)
        }
        // The latest `limit` samples up to `stop`: 5-second samples are stored once ended; the current
        // 5-minute or hour row is partial (it grows with every 5-second sample).
        let last = (Int(stop.rounded(.up)) - 1) / step * step
        let first = last - (limit - 1) * step
        let rows = try database.readNow { db in
            try Row.fetchAll(
                db,
                sql: "SELECT start, sample FROM metrics WHERE entity = ? AND step = ? AND start BETWEEN ? AND ? "
                    + "ORDER BY start",
                arguments: [stored, step, first, last])
        }
        let samples: [(start: Int, sample: MetricSample)] = rows.compactMap { row in
            let text: String = row["sample"]
            guard let sample = try? JSONDecoder().decode(MetricSample.self, from: Data(text.utf8)) else { return nil }
            return (row["start"], sample)
        }
        let series: [JSONValue] = chosen.map { metric in
            let points = samples.map { (start: $0.start, value: metric.value($0.sample, Double(step))) }
            var statistics: [String: JSONValue] = ["num_samples": .int(Int64(points.count))]
            if let lowest = points.min(by: { $0.value < $1.value }),
                let highest = points.max(by: { $0.value < $1.value }), let latest = points.last
            {
                let sum = points.reduce(0) { $0 + $1.value }
                statistics["min"] = .double(lowest.value)
                statistics["min_ts"] = .string(Self.time(lowest.start + step))
                statistics["max"] = .double(highest.value)
                statistics["max_ts"] = .string(Self.time(highest.start + step))
                statistics["mean"] = .double(sum / Double(points.count))
                statistics["sum"] = .double(sum)
                statistics["last_sample"] = .double(latest.value)
            }
            return .object([
                "header": .object([
                    "name": .string(metric.id), "entity_uuid": .string(entity), "tenant_uuid": .string(tenant),
                    "units": .string(metric.units), "metric_description": .string(metric.description),
                    "statistics": .object(statistics),
                ]),
                // Avi stamps a sample with the end of its interval.
                "data": .array(
                    points.map {
                        .object(["timestamp": .string(Self.time($0.start + step)), "value": .double($0.value)])
                    }),
            ])
        }
        return .object([
            "entity_uuid": .string(entity), "metric_entity": .string(metricEntity),
            "metric_id": .string(ids.joined(separator: ",")), "step": .int(Int64(step)), "limit": .int(Int64(limit)),
            "start": .string(Self.time(first)), "stop": .string(Self.time(last + step)), "series": .array(series),
        ])
    }

    private static func integer(_ text: String?, _ name: String, default value: Int) throws(APIError) -> Int {
        guard let text else { return value }
        guard let n = Int(text) else { throw APIError(400, "\(name): expected a whole number, got \"\(text)\"") }
        return n
    }

    /// `2026-12-06T23:40:05+00:00`.
    static func time(_ seconds: Int) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))).replacingOccurrences(
            of: "Z", with: "+00:00")
    }

    /// ISO 8601 with or without a zone (UTC when none, as Avi's `start`/`stop`).
    static func parseTime(_ text: String) -> Double? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: text) { return d.timeIntervalSince1970 }
        f.timeZone = TimeZone(identifier: "UTC")
        f.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
        return f.date(from: text).map(\.timeIntervalSince1970)
    }
}
