// Addresses and prefixes live in the dependency-free IPAddresses module, Starling's one address
// vocabulary; re-exported so that `import BGPSpeaker` keeps bringing them.
@_exported import IPAddresses

extension IPPrefix {
    /// The BGP address family (unicast AFI/SAFI) a route to this prefix travels in.
    public var family: AddressFamily {
        switch self {
        case .v4: .ipv4Unicast
        case .v6: .ipv6Unicast
        }
    }
}
