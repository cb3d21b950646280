/// Convenience views of the capabilities an OPEN carries (RFC 5492), for negotiation and the status API.
extension OpenMessage {
    /// The ASN of the first 4-octet AS capability (RFC 6793 §3), or nil when the speaker did not send one.
    public var fourOctetASCapability: UInt32? {
        for case .fourOctetAS(let asn) in capabilities { return asn }
        return nil
    }

    /// The AFI/SAFI pairs of the Multiprotocol capabilities (RFC 4760 §8), in order, without repeats.
    public var multiprotocolFamilies: [AddressFamily] {
        var seen: Set<AddressFamily> = []
        var out: [AddressFamily] = []
        for case .multiprotocol(let family) in capabilities where seen.insert(family).inserted {
            out.append(family)
        }
        return out
    }

    /// The families the speaker can exchange: its Multiprotocol capabilities, or IPv4 unicast alone when
    /// it sent none (a plain RFC 4271 speaker carries IPv4 unicast only).
    public var advertisedFamilies: Set<AddressFamily> {
        let families = multiprotocolFamilies
        return families.isEmpty ? [.ipv4Unicast] : Set(families)
    }

    /// Route Refresh capability (RFC 2918).
    public var supportsRouteRefresh: Bool { capabilities.contains(.routeRefresh) }
    /// Enhanced Route Refresh capability (RFC 7313).
    public var supportsEnhancedRouteRefresh: Bool { capabilities.contains(.enhancedRouteRefresh) }
    /// Extended Message capability (RFC 8654).
    public var supportsExtendedMessages: Bool { capabilities.contains(.extendedMessage) }

    /// The Graceful Restart capability. RFC 4724 §3: "If more than one instance of the Graceful Restart
    /// Capability is carried in the capability advertisement, the receiver of the advertisement MUST
    /// ignore all but the last instance."
    public var gracefulRestart: GracefulRestartCapability? {
        var last: GracefulRestartCapability?
        for case .gracefulRestart(let gr) in capabilities { last = gr }
        return last
    }
}
