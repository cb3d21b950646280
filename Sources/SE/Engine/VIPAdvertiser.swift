import BGPSpeaker
import StarlingModel

/// Decides which VIPs the SE's BGP speaker advertises, with a reason for each decision (STYLE "Desired state, level-triggered").
///
/// DESIGN §4: a VIP is advertised only while its virtual service can serve: enabled, placed on this
/// SE, `enable_rhi` set, its pool has a server up, and the SE is not draining. The result is the full
/// desired set handed to `Speaker.setAdvertisements(_:)`, which sends only the difference.
public enum VIPAdvertiser {
    /// What the SE knows about one virtual service at this moment.
    public struct ServiceState: Sendable, Hashable {
        public var name: String
        public var vips: [IPAddress]
        public var enabled: Bool
        public var placedHere: Bool
        public var enableRHI: Bool
        public var serversUp: Int
        /// Why the service cannot serve here although placed (listener not bound, VIP not plumbed,
        /// unsupported option), or nil.
        public var blocker: String?
        /// The peers its VIPs go to (its vsvip's `bgp_peer_labels`); nil: every peer.
        public var peers: PeerSelection?
        public init(
            name: String, vips: [IPAddress], enabled: Bool, placedHere: Bool, enableRHI: Bool, serversUp: Int,
            blocker: String? = nil, peers: PeerSelection? = nil
        ) {
            self.blocker = blocker
            self.peers = peers
            self.name = name
            self.vips = vips
            self.enabled = enabled
            self.placedHere = placedHere
            self.enableRHI = enableRHI
            self.serversUp = serversUp
        }
    }

    /// The peers chosen by labels, and the labels (for the reason).
    public struct PeerSelection: Sendable, Hashable {
        public var labels: [String]
        public var addresses: Set<IPAddress>
        public init(labels: [String], addresses: Set<IPAddress>) {
            self.labels = labels
            self.addresses = addresses
        }
    }

    /// One decision, shown by the runtime API ("advertised or not and why").
    public struct Decision: Sendable, Hashable {
        public var service: String
        public var advertised: Bool
        public var reason: String
        public init(service: String, advertised: Bool, reason: String) {
            self.service = service
            self.advertised = advertised
            self.reason = reason
        }
    }

    /// Host prefixes (/32, /128) to advertise and the decision per service.
    ///
    /// - Parameter gracefulShutdown: the SE is about to stop (RFC 8326): what would be advertised still is,
    ///   with the GRACEFUL_SHUTDOWN community and, to iBGP peers, LOCAL_PREF 0, so that routers move
    ///   traffic to the other SEs before the withdrawal. `draining` (the withdrawal) wins over it.
    /// - Parameter policy: the attributes of a VIP's route from the `bgp_profile` (communities, large
    ///   communities, LOCAL_PREF, AS-path prepending), named in the decision's reason.
    public static func desired(
        _ services: [ServiceState], draining: Bool, gracefulShutdown: Bool = false,
        policy: (IPAddress) -> OriginatedRoute = { _ in OriginatedRoute() }
    ) -> (routes: [IPPrefix: OriginatedRoute], decisions: [Decision]) {
        var routes: [IPPrefix: OriginatedRoute] = [:]
        var decisions: [Decision] = []
        for s in services {
            let reason: String? =
                if !s.enabled { "virtual service is disabled" } else if !s.placedHere {
                    "not placed on this SE"
                } else if let b = s.blocker { b } else if !s.enableRHI { "enable_rhi is off" } else if s.serversUp == 0
                {
                    "no pool server is up"
                } else if draining { "SE is draining" } else if let p = s.peers, p.addresses.isEmpty {
                    "bgp_peer_labels \(p.labels.joined(separator: ", ")) match no bgp_profile peer"
                } else { nil }
            if let reason {
                decisions.append(Decision(service: s.name, advertised: false, reason: reason))
                continue
            }
            var any = false
            var tagged: [String] = []
            for vip in s.vips {
                guard let prefix = hostPrefix(vip) else { continue }
                var route = policy(vip)
                if let p = s.peers {
                    // A VIP of two services goes to the peers of either.
                    route.peers = (routes[prefix]?.peers ?? []).union(p.addresses)
                }
                if let text = describe(route) { tagged.append("\(vip) with \(text)") }
                if gracefulShutdown {
                    // RFC 8326 §4: "the GRACEFUL_SHUTDOWN community ... and, for iBGP, LOCAL_PREF set to 0".
                    route.communities.append(.gracefulShutdown)
                    route.localPref = 0
                }
                routes[prefix] = route
                any = true
            }
            decisions.append(
                Decision(
                    service: s.name, advertised: any,
                    reason: !any
                        ? "VIP is loopback-only (127.0.0.0/8 or ::1)"
                        : gracefulShutdown
                            ? "SE is shutting down: advertised with GRACEFUL_SHUTDOWN (RFC 8326) until withdrawn"
                            : "up: \(s.serversUp) server(s) up"
                                + (tagged.isEmpty ? "" : "; \(tagged.joined(separator: "; "))")))
        }
        return (routes, decisions)
    }

    /// What the route carries beyond the defaults, for a reason: `communities 65001:100; LOCAL_PREF 200
    /// (iBGP); AS path prepended 2 times (eBGP); only to peers 198.18.1.1`; nil when nothing.
    static func describe(_ route: OriginatedRoute) -> String? {
        var parts: [String] = []
        if !route.communities.isEmpty {
            parts.append("communities \(route.communities.map(\.description).joined(separator: " "))")
        }
        if !route.largeCommunities.isEmpty {
            parts.append("large communities \(route.largeCommunities.map(\.description).joined(separator: " "))")
        }
        if let lp = route.localPref { parts.append("LOCAL_PREF \(lp) (iBGP)") }
        if route.asPathPrepend > 0 { parts.append("AS path prepended \(route.asPathPrepend) times (eBGP)") }
        if let peers = route.peers {
            parts.append("only to peers \(peers.map(\.description).sorted().joined(separator: ", "))")
        }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    /// The /32 or /128 for a VIP; nil for loopback VIPs, which are served locally and never advertised
    /// (DESIGN §3.1).
    public static func hostPrefix(_ vip: IPAddress) -> IPPrefix? {
        vip.isLoopback ? nil : IPPrefix(host: vip)
    }
}
