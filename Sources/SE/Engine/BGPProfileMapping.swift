import BGPSpeaker
import StarlingModel

/// Turns the controller's `vrfcontext.bgp_profile` into the SE speaker's configuration.
public enum BGPProfileMapping {
    /// - Parameters:
    ///   - dataAddress: the SE's `--data-address`: source of the sessions and the next hop of every VIP.
    ///   - routerID: the SE's BGP identifier (its IPv4 data address when it has one).
    ///   - bfdProfile: the vrfcontext's `bfd_profile`: the timers of the peers with `bfd` (Avi: on unless
    ///     false).
    public static func speakerConfiguration(
        _ profile: BgpProfile, bfdProfile: BfdProfile? = nil, dataAddress: IPAddress, routerID: IPv4Address
    ) throws(ModelError) -> SpeakerConfiguration {
        try profile.validate()
        try bfdProfile?.validate()
        let bfd = bfdProfile ?? BfdProfile()
        let timers = BFDTimers(
            desiredMinTx: .milliseconds(Int64(bfd.mintx ?? BfdProfile.defaultInterval)),
            requiredMinRx: .milliseconds(Int64(bfd.minrx ?? BfdProfile.defaultInterval)),
            detectMultiplier: UInt8(bfd.multi ?? BfdProfile.defaultMultiplier))
        var peers: [PeerSettings] = []
        for (i, p) in (profile.peers ?? []).enumerated() where p.advertise_vip ?? true {
            let field = "bgp_profile.peers[\(i)]"
            guard let address = p.peer_ip.ipAddress else {
                throw ModelError(field: "\(field).peer_ip.addr", message: "'\(p.peer_ip.addr)' is not an IP address")
            }
            let remoteAS: UInt32
            if profile.ibgp ?? false {
                remoteAS = profile.local_as
            } else {
                guard let r = p.remote_as else {
                    throw ModelError(field: "\(field).remote_as", message: "is required for eBGP")
                }
                remoteAS = r
            }
            var settings = PeerSettings(address: address, peerAS: remoteAS)
            switch (address, dataAddress) {
            case (.v4, .v4), (.v6, .v6): settings.localAddress = dataAddress
            default: break
            }
            if case .v4(let a) = dataAddress { settings.nextHopV4 = a }
            if case .v6(let a) = dataAddress { settings.nextHopV6 = a }
            if let h = profile.hold_time { settings.holdTime = UInt16(h) }
            if p.bfd ?? true { settings.bfd = timers }
            settings.password = p.md5_secret.flatMap { $0.isEmpty ? nil : $0 }
            peers.append(settings)
        }
        return SpeakerConfiguration(localAS: profile.local_as, routerID: routerID, listenPort: 0, peers: peers)
    }

    /// A VIP's route as the profile shapes it: communities and large communities (`community`,
    /// `ip_communities`; none with `send_community: false`), `local_preference`, `num_as_path_prepend`.
    public static func route(for vip: IPAddress, profile: BgpProfile?) -> OriginatedRoute {
        var route = OriginatedRoute()
        guard let profile else { return route }
        for value in profile.communities(for: vip) {
            switch value {
            case .standard(let v): route.communities.append(Community(rawValue: v))
            case .large(let g, let d1, let d2):
                route.largeCommunities.append(LargeCommunity(g, d1, d2))
            }
        }
        route.localPref = profile.local_preference
        route.asPathPrepend = profile.num_as_path_prepend ?? 0
        return route
    }

    /// The addresses of the peers (that get VIPs) whose `label` is one of `labels`.
    public static func peers(labelled labels: [String], in profile: BgpProfile?) -> Set<IPAddress> {
        Set(
            (profile?.peers ?? []).filter { p in (p.advertise_vip ?? true) && p.label.map(labels.contains) == true }
                .compactMap(\.peer_ip.ipAddress))
    }
}
