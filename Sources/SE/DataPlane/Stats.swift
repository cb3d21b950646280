import Metrics
import StarlingModel
import Synchronization

/// Counters of one virtual service on one event loop. Only that loop writes them (a relaxed load and
/// store, no locked read-modify-write); `DataPlane.status()` reads and sums them from any thread.
final class LoopStats: Sendable {
    let connections = Atomic<Int>(0)
    let active = Atomic<Int>(0)
    let requests = Atomic<Int>(0)
    let bytesIn = Atomic<Int>(0)
    let bytesOut = Atomic<Int>(0)
    let responses1xx = Atomic<Int>(0)
    let responses2xx = Atomic<Int>(0)
    let responses3xx = Atomic<Int>(0)
    let responses4xx = Atomic<Int>(0)
    let responses5xx = Atomic<Int>(0)
    /// Requests answered through to the end by a server, and their total time (request start to the end
    /// of the response), in microseconds: the mean latency the controller's analytics show.
    let timedResponses = Atomic<Int>(0)
    let latencyMicros = Atomic<Int>(0)
    /// Timed responses per latency bucket (`VSCounters.latencyBoundsMs`, then the slower ones): the
    /// controller's percentiles.
    let latencyBuckets = InlineArray<14, Atomic<Int>> { _ in Atomic<Int>(0) }
    static let boundsMicros = VSCounters.latencyBoundsMs.map { $0 * 1000 }

    /// Adds `n` to a counter this loop owns.
    @inline(__always)
    static func add(_ counter: borrowing Atomic<Int>, _ n: Int) {
        counter.store(counter.load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }

    @inline(__always)
    func response(_ code: Int) {
        switch code {
        case ..<200: Self.add(responses1xx, 1)
        case 200..<300: Self.add(responses2xx, 1)
        case 300..<400: Self.add(responses3xx, 1)
        case 400..<500: Self.add(responses4xx, 1)
        default: Self.add(responses5xx, 1)
        }
    }

    /// A response that ended `nanoseconds` after its request started.
    @inline(__always)
    func timed(nanoseconds: Int64) {
        let micros = Int(max(0, nanoseconds) / 1000)
        Self.add(timedResponses, 1)
        Self.add(latencyMicros, micros)
        var i = 0
        while i < Self.boundsMicros.count, micros > Self.boundsMicros[i] { i += 1 }
        Self.add(latencyBuckets[i], 1)
    }

    func add(into totals: inout ServiceTotals) {
        totals.connections += connections.load(ordering: .relaxed)
        totals.requests += requests.load(ordering: .relaxed)
        totals.bytesIn += bytesIn.load(ordering: .relaxed)
        totals.bytesOut += bytesOut.load(ordering: .relaxed)
        totals.responses[0] += responses1xx.load(ordering: .relaxed)
        totals.responses[1] += responses2xx.load(ordering: .relaxed)
        totals.responses[2] += responses3xx.load(ordering: .relaxed)
        totals.responses[3] += responses4xx.load(ordering: .relaxed)
        totals.responses[4] += responses5xx.load(ordering: .relaxed)
        totals.timedResponses += timedResponses.load(ordering: .relaxed)
        totals.latencyMicros += latencyMicros.load(ordering: .relaxed)
        for i in 0..<VSCounters.latencyBucketCount {
            totals.latencyBuckets[i] += latencyBuckets[i].load(ordering: .relaxed)
        }
    }
}

/// Counters of one pool server on one event loop (the controller's per-server analytics): connections
/// opened to it, attempts that failed (no connection, or no valid response), responses it answered to the
/// end, the 5xx among them and their summed latency. Only that loop writes them; `DataPlane.status()` sums
/// the loops'. Compared by identity (it rides in ``ResolvedServer``).
final class ServerStats: Sendable, Hashable {
    let connections = Atomic<Int>(0)
    let failures = Atomic<Int>(0)
    let responses = Atomic<Int>(0)
    let responses5xx = Atomic<Int>(0)
    let latencyMicros = Atomic<Int>(0)

    @inline(__always)
    func response(status: Int, nanoseconds: Int64) {
        LoopStats.add(responses, 1)
        if status >= 500 { LoopStats.add(responses5xx, 1) }
        LoopStats.add(latencyMicros, Int(max(0, nanoseconds) / 1000))
    }

    func add(into totals: inout ServerTotals) {
        totals.connections += connections.load(ordering: .relaxed)
        totals.failures += failures.load(ordering: .relaxed)
        totals.responses += responses.load(ordering: .relaxed)
        totals.responses5xx += responses5xx.load(ordering: .relaxed)
        totals.latencyMicros += latencyMicros.load(ordering: .relaxed)
    }

    static func == (a: ServerStats, b: ServerStats) -> Bool { a === b }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// The swift-metrics objects of one virtual service, made once per service (label `vs`). Counters are
/// fed once a second from the per-loop `LoopStats` (`LoopService.exportCounters`); the active
/// connections meter per connection and the latency timer per request.
///
/// - `starling_se_connections_total`, `starling_se_active_connections`
/// - `starling_se_requests_total`, `starling_se_responses_total{code="2xx"}`
/// - `starling_se_bytes_in_total`, `starling_se_bytes_out_total`
/// - `starling_se_request_duration_seconds` (Timer: a histogram in Prometheus)
final class ServiceMetrics: Sendable {
    let connections: Counter
    let active: Meter
    let requests: Counter
    let responses: [Counter]
    let bytesIn: Counter
    let bytesOut: Counter
    let latency: Timer

    init(service: String, factory: any MetricsFactory = MetricsSystem.factory) {
        let dims = [("vs", service)]
        connections = Counter(label: "starling_se_connections_total", dimensions: dims, factory: factory)
        active = Meter(label: "starling_se_active_connections", dimensions: dims, factory: factory)
        requests = Counter(label: "starling_se_requests_total", dimensions: dims, factory: factory)
        responses = ["1xx", "2xx", "3xx", "4xx", "5xx"].map {
            Counter(label: "starling_se_responses_total", dimensions: dims + [("code", $0)], factory: factory)
        }
        bytesIn = Counter(label: "starling_se_bytes_in_total", dimensions: dims, factory: factory)
        bytesOut = Counter(label: "starling_se_bytes_out_total", dimensions: dims, factory: factory)
        latency = Timer(label: "starling_se_request_duration_seconds", dimensions: dims, factory: factory)
    }

}
