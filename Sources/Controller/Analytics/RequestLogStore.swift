import Foundation
import GRDB
import StarlingModel

/// The request logs the SEs ship in their heartbeats (table `request_logs`), kept up to a number of rows
/// (the oldest go first), and read in Avi's application-log shape (`GET /api/analytics/logs?type=1`).
enum RequestLogStore {
    /// Stores `logs` from SE `se` (`seName`), then trims the table to `keep` rows.
    static func insert(_ db: Database, _ logs: [RequestLog], se: String, seName: String, keep: Int) throws {
        let encoder = JSONEncoder()
        for log in logs {
            try db.execute(
                sql: """
                    INSERT INTO request_logs (vs, ts, se, se_name, client_ip, method, uri_path, response_code,
                        total_time, server_ip, significant, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    log.vs_uuid, log.timestamp_ms, se, seName, log.client_ip, log.method, log.uri_path,
                    log.response_code, log.total_time_ms, log.server_ip, log.significant,
                    String(decoding: try encoder.encode(log), as: UTF8.self),
                ])
        }
        try db.execute(
            sql: "DELETE FROM request_logs WHERE id <= (SELECT MAX(id) FROM request_logs) - ?", arguments: [keep])
    }

    /// One filter of Avi's `filter=op(field,value)`.
    struct Filter: Equatable, Sendable {
        enum Op: String { case eq, ne, lt, le, gt, ge, co, nc }
        var op: Op
        var column: String
        var value: DatabaseValue

        /// Fields a filter may name, with their column and whether they are numbers.
        static let fields: [String: (column: String, numeric: Bool)] = [
            "response_code": ("response_code", true), "total_time": ("total_time", true),
            "client_ip": ("client_ip", false), "uri_path": ("uri_path", false), "method": ("method", false),
            "server_ip": ("server_ip", false), "significant": ("significant", true),
            "service_engine": ("se_name", false),
        ]

        /// `eq(response_code,404)`, `co(uri_path,/api)`, `ge(total_time,100)`; 400 naming `filter` otherwise.
        static func parse(_ text: String) throws(APIError) -> Filter {
            let usage =
                "filter: expected op(field,value) with op one of eq, ne, lt, le, gt, ge, co, nc and field one of "
                + fields.keys.sorted().joined(separator: ", ")
            guard let open = text.firstIndex(of: "("), text.hasSuffix(")"),
                let op = Op(rawValue: String(text[..<open]))
            else { throw APIError(400, "\(usage); got \"\(text)\"") }
            let inner = text[text.index(after: open)..<text.index(before: text.endIndex)]
            guard let comma = inner.firstIndex(of: ",") else { throw APIError(400, "\(usage); got \"\(text)\"") }
            let name = String(inner[..<comma]).trimmingCharacters(in: .whitespaces)
            let raw = String(inner[inner.index(after: comma)...])
            guard let field = fields[name] else { throw APIError(400, "\(usage); got field \"\(name)\"") }
            if field.numeric {
                guard op != .co, op != .nc else {
                    throw APIError(400, "filter: \(name) is a number: use eq, ne, lt, le, gt or ge")
                }
                let value: DatabaseValue
                if name == "significant", let b = Bool(raw) {
                    value = b.databaseValue
                } else if let n = Double(raw.trimmingCharacters(in: .whitespaces)), n.isFinite {
                    value = n.databaseValue
                } else {
                    throw APIError(400, "filter: \(name) needs a number, got \"\(raw)\"")
                }
                return Filter(op: op, column: field.column, value: value)
            }
            return Filter(op: op, column: field.column, value: raw.databaseValue)
        }

        /// The SQL condition (the value is a bound argument).
        var sql: String {
            switch op {
            case .eq: "\(column) = ?"
            case .ne: "\(column) <> ?"
            case .lt: "\(column) < ?"
            case .le: "\(column) <= ?"
            case .gt: "\(column) > ?"
            case .ge: "\(column) >= ?"
            case .co: "instr(\(column), ?) > 0"
            case .nc: "instr(\(column), ?) = 0"
            }
        }
    }

    struct Query: Sendable {
        var vs: String
        var filters: [Filter] = []
        /// Milliseconds since the epoch (inclusive), or nil.
        var start: Int64?
        var end: Int64?
        var page = 1
        var pageSize = 25
    }

    /// The newest logs first, one page, with the total count.
    static func read(_ db: Database, _ q: Query) throws -> JSONValue {
        var sql = "FROM request_logs WHERE vs = ?"
        var args: [(any DatabaseValueConvertible)?] = [q.vs]
        for f in q.filters {
            sql += " AND " + f.sql
            args.append(f.value)
        }
        if let s = q.start {
            sql += " AND ts >= ?"
            args.append(s)
        }
        if let e = q.end {
            sql += " AND ts <= ?"
            args.append(e)
        }
        let arguments = StatementArguments(args)
        let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) " + sql, arguments: arguments) ?? 0
        let rows = try Row.fetchAll(
            db, sql: "SELECT id, se, se_name, json " + sql + " ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?",
            arguments: arguments + [q.pageSize, (q.page - 1) * q.pageSize])
        let decoder = JSONDecoder()
        let results: [JSONValue] = rows.compactMap { row in
            let text: String = row["json"]
            guard let log = try? decoder.decode(RequestLog.self, from: Data(text.utf8)) else { return nil }
            return present(log, id: row["id"], se: row["se"], seName: row["se_name"])
        }
        return .object(["count": .int(Int64(count)), "results": .array(results), "percent_remaining": .double(0)])
    }

    /// Avi's field names for one application log.
    static func present(_ log: RequestLog, id: Int64, se: String, seName: String) -> JSONValue {
        .object([
            "log_id": .int(id), "report_timestamp": .string(timestamp(log.timestamp_ms)),
            "virtualservice": .string(log.vs_uuid), "service_engine": .string(seName), "se_uuid": .string(se),
            "client_ip": .string(log.client_ip), "client_src_port": .int(Int64(log.client_src_port)),
            "method": .string(log.method), "uri_path": .string(log.uri_path), "uri_query": .string(log.uri_query),
            "host": .string(log.host), "protocol": .string(log.http_version),
            "response_code": .int(Int64(log.response_code)), "total_time": .double(log.total_time_ms),
            "request_length": .int(Int64(log.request_length)), "response_length": .int(Int64(log.response_length)),
            "server_ip": .string(log.server_ip), "server_dest_port": .int(Int64(log.server_port)),
            "significant": .bool(log.significant), "significance": .string(log.significance),
        ])
    }

    /// `2026-12-07T02:30:00.123Z`.
    static func timestamp(_ ms: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
