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
            guard let address = IPAddress(p.peer_ip.addr) else {
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
}
