import IPAddresses

extension IpAddr {
    /// The address, when `type` is `V4` or `V6` and `addr` is an address of that family; nil otherwise
    /// (and for `DNS`). Parsed by the one address type, so the API accepts what the SE can use.
    public var ipAddress: IPAddress? {
        switch (type, IPAddress(addr)) {
        case (.v4, .some(.v4(let a))): .v4(a)
        case (.v6, .some(.v6(let a))): .v6(a)
        default: nil
        }
    }

    /// Checks that `addr` is an address of family `type` (a host name for `DNS`).
    public func validate(field: String) throws(ModelError) {
        switch type {
        case .v4:
            guard ipAddress != nil else {
                throw ModelError(field: "\(field).addr", message: "\"\(addr)\" is not an IPv4 address")
            }
        case .v6:
            guard ipAddress != nil else {
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
}
