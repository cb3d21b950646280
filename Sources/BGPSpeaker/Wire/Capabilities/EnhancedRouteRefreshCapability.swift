import NIOCore

// Enhanced Route Refresh capability, code 70 (RFC 7313 §3.1): "Capability Length: 0" and no value.
extension Capability {
    static func decodeEnhancedRouteRefresh(_ value: ByteBuffer) throws(BGPError) -> Capability {
        try expectEmpty(value, .enhancedRouteRefresh)
        return .enhancedRouteRefresh
    }
}
