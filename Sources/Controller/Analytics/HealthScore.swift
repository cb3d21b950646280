import StarlingModel

/// A virtual service's health score, 0 (down) to 100 (nothing wrong), and the reasons for every point
/// taken off (at 100: what was looked at), from what the SEs report and the last minutes of analytics. Pure.
///
/// - Down (no SE serves it): 0, with the runtime's reason. Disabled: no score.
/// - Pool servers down: up to 50 points, by the share of servers down on the SE that sees the most down.
/// - SEs: 10 points for each SE it is placed on that does not serve it (at most 30).
/// - Server errors: 5xx responses in the window (once there are at least ``minimumResponses``), 2 points
///   per percent, at most 40.
/// - Latency: a mean response time above ``latencyThresholdMs`` (Avi's default apdex threshold) takes 10
///   points, above four times that 20.
struct HealthScore: Sendable, Equatable {
    /// nil when the virtual service is disabled.
    var score: Int?
    var reasons: [String]

    /// What the placement and the SEs say about one virtual service.
    struct Placement: Sendable, Equatable {
        var state: String
        var reason: String
        /// SEs it is placed on, and those of them that report it up.
        var ses = 0
        var sesUp = 0
        /// Pool servers on the SE reporting the largest share of them down (0 of 0 when none reported).
        var serversUp = 0
        var serversTotal = 0
        var worstSE = ""
    }

    static let latencyThresholdMs = 500.0
    static let minimumResponses = 20

    static func compute(_ p: Placement, recent: MetricSample?, windowMinutes: Int) -> HealthScore {
        if p.state == "OPER_DISABLED" { return HealthScore(score: nil, reasons: [p.reason]) }
        if p.state != "OPER_UP" { return HealthScore(score: 0, reasons: [p.reason]) }
        var penalty = 0
        var reasons: [String] = []
        if p.serversTotal > 0, p.serversUp < p.serversTotal {
            let down = p.serversTotal - p.serversUp
            let points = Int((50.0 * Double(down) / Double(p.serversTotal)).rounded())
            penalty += points
            reasons.append("\(down) of \(p.serversTotal) pool servers down on \(p.worstSE) (-\(points))")
        }
        if p.sesUp < p.ses {
            let points = min(30, 10 * (p.ses - p.sesUp))
            penalty += points
            reasons.append("up on \(p.sesUp) of the \(p.ses) SEs it is placed on (-\(points))")
        }
        if let s = recent {
            let responses = s.responses.reduce(0, +)
            if responses >= minimumResponses, s.responses[4] > 0 {
                let percent = 100.0 * Double(s.responses[4]) / Double(responses)
                let points = min(40, Int((2 * percent).rounded()))
                if points > 0 {
                    penalty += points
                    reasons.append(
                        "\(format(percent))% of \(responses) responses in the last \(windowMinutes) minutes were "
                            + "server errors (5xx) (-\(points))")
                }
            }
            if s.timedResponses > 0 {
                let mean = Double(s.latencyMicros) / Double(s.timedResponses) / 1000
                if mean > latencyThresholdMs {
                    let points = mean > 4 * latencyThresholdMs ? 20 : 10
                    penalty += points
                    reasons.append(
                        "mean response time \(Int(mean.rounded())) ms in the last \(windowMinutes) minutes, above "
                            + "\(Int(latencyThresholdMs)) ms (-\(points))")
                }
            }
        }
        if penalty == 0 {
            // Nothing taken off: say what was looked at.
            var seen = ["up on \(p.sesUp) of \(p.ses) SEs"]
            if p.serversTotal > 0 { seen.append("\(p.serversUp) of \(p.serversTotal) pool servers up") }
            if let s = recent, s.responses.reduce(0, +) > 0 {
                let responses = s.responses.reduce(0, +)
                let percent = 100.0 * Double(s.responses[4]) / Double(responses)
                let errors =
                    responses < minimumResponses
                    ? "too few responses (\(responses)) to judge the error rate"
                    : "\(format(percent))% server errors over \(responses) responses"
                seen.append(
                    "\(errors) and \(Int(s.meanLatencyMs.rounded())) ms mean response time in the last "
                        + "\(windowMinutes) minutes")
            }
            reasons.append("no problem found: " + seen.joined(separator: "; "))
        }
        return HealthScore(score: max(0, 100 - penalty), reasons: reasons)
    }

    private static func format(_ v: Double) -> String {
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    var json: JSONValue {
        .object([
            "health_score": score.map { .int(Int64($0)) } ?? .null,
            "reasons": .array(reasons.map { .string($0) }),
        ])
    }
}
