import NIOCore

// Route Refresh capability, code 2 (RFC 2918 §2): "Capability Length: 0" and no value.
// (The pre-standard code 128 some routers still send is not interpreted and stays `.unknown`.)
extension Capability {
    static func decodeRouteRefresh(_ value: ByteBuffer) throws(BGPError) -> Capability {
        try expectEmpty(value, .routeRefresh)
        return .routeRefresh
    }
}
