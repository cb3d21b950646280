#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension IpAddr {
    /// Checks that `addr` is an address of family `type` (a host name for `DNS`).
    public func validate(field: String) throws(ModelError) {
        switch type {
        case .v4:
            guard Self.parse(addr, family: AF_INET) else {
                throw ModelError(field: "\(field).addr", message: "\"\(addr)\" is not an IPv4 address")
            }
        case .v6:
            guard Self.parse(addr, family: AF_INET6) else {
                throw ModelError(field: "\(field).addr", message: "\"\(addr)\" is not an IPv6 address")
            }
        case .dns:
            guard !addr.isEmpty, addr.count <= 253,
                addr.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0 != "/" })
            else {
                throw ModelError(field: "\(field).addr", message: "\"\(addr)\" is not a host name")
            }
        }
    }

    private static func parse(_ s: String, family: Int32) -> Bool {
        var buf = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buf) { inet_pton(family, s, $0.baseAddress) == 1 }
    }
}
