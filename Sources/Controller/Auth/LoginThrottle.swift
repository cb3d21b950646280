/// Login throttling as a pure value: failed password checks are counted per user name and per source
/// address over a sliding window; once either count reaches its limit, further attempts for that name or
/// from that address are refused (429 with `Retry-After`) until the oldest failure in the window ages
/// out. A success clears the name's failures, not the address's. Unknown and known names are counted
/// alike, so the throttle says nothing about which names exist. Memory is bounded: past `maxKeys` names or
/// addresses, the ones whose last failure is oldest are forgotten.
struct LoginThrottle: Sendable {
    struct Limit: Sendable, Hashable {
        /// Failures allowed in `window` seconds; the next attempt is refused.
        var failures: Int
        var window: Double
    }

    var perUser: Limit
    var perSource: Limit
    var maxKeys: Int

    private var users: [String: [Double]] = [:]
    private var sources: [String: [Double]] = [:]

    init(perUser: Limit, perSource: Limit, maxKeys: Int = 10_000) {
        self.perUser = perUser
        self.perSource = perSource
        self.maxKeys = maxKeys
    }

    /// Seconds until an attempt for `user` from `source` is allowed again; nil when it is allowed now.
    func retryAfter(user: String, source: String, now: Double) -> Double? {
        let waits = [
            Self.wait(users[user] ?? [], perUser, now), Self.wait(sources[source] ?? [], perSource, now),
        ].compactMap { $0 }
        return waits.max()
    }

    mutating func recordFailure(user: String, source: String, now: Double) {
        Self.add(&users, user, now, perUser, maxKeys)
        Self.add(&sources, source, now, perSource, maxKeys)
    }

    mutating func recordSuccess(user: String) { users[user] = nil }

    private static func wait(_ failures: [Double], _ limit: Limit, _ now: Double) -> Double? {
        let recent = failures.filter { now - $0 < limit.window }
        guard recent.count >= limit.failures else { return nil }
        // Allowed again when enough of the recent failures have left the window.
        let oldestThatMustExpire = recent.sorted()[recent.count - limit.failures]
        return max(0, oldestThatMustExpire + limit.window - now)
    }

    private static func add(
        _ map: inout [String: [Double]], _ key: String, _ now: Double, _ limit: Limit, _ maxKeys: Int
    ) {
        let window = limit.window
        var list = (map[key] ?? []).filter { now - $0 < window }
        list.append(now)
        // Only the newest `failures` entries decide; keep no more.
        if list.count > max(1, limit.failures) { list.removeFirst(list.count - max(1, limit.failures)) }
        map[key] = list
        if map.count > maxKeys {
            let expired = map.filter { ($0.value.last ?? 0) <= now - window }.map(\.key)
            for k in expired { map[k] = nil }
            while map.count > maxKeys, let oldest = map.min(by: { ($0.value.last ?? 0) < ($1.value.last ?? 0) }) {
                map[oldest.key] = nil
            }
        }
    }
}
