import BGPPeerRules
import IPAddresses

/// The `bgp_profile` of a `vrfcontext` (Avi `BgpProfile`): how SEs peer with upstream routers.
public struct BgpProfile: Codable, Sendable, Hashable {
    public var local_as: UInt32
    public var ibgp: Bool?
    public var hold_time: Int?
    public var keepalive_interval: Int?
    public var send_community: Bool?
    public var peers: [BgpPeer]?
    /// Communities on every VIP route (Avi `community`): `ASN:VALUE` (16 bits each), `no-export`,
    /// `no-advertise`, `local-AS` (NO_EXPORT_SUBCONFED) or `internet` (none); `GLOBAL:DATA1:DATA2` (32 bits
    /// each) is a large community (RFC 8092).
    public var community: [String]?
    /// More communities for the VIPs in an address range (Avi `ip_communities`).
    public var ip_communities: [IpCommunity]?
    /// LOCAL_PREF of the VIP routes to iBGP peers (Avi `local_preference`; 100 when absent).
    public var local_preference: UInt32?
    /// Times the SE's AS is prepended again to the AS_PATH of the VIP routes to eBGP peers, 1–10 (Avi
    /// `num_as_path_prepend`): an SE group that routers should use less.
    public var num_as_path_prepend: Int?

    public init(
        local_as: UInt32, ibgp: Bool? = nil, hold_time: Int? = nil, keepalive_interval: Int? = nil,
        send_community: Bool? = nil, peers: [BgpPeer]? = nil
    ) {
        self.local_as = local_as
        self.ibgp = ibgp
        self.hold_time = hold_time
        self.keepalive_interval = keepalive_interval
        self.send_community = send_community
        self.peers = peers
    }

    /// Checks what the API must refuse with a 400 naming the field.
    public func validate(field: String = "bgp_profile") throws(ModelError) {
        // The speaker's rules (`PeerRules`, shared with `PeerConfiguration` and `starling bgp`).
        try PeerRules.modelChecked(field: field) { () throws(PeerRules.Violation) in
            try PeerRules.checkAS(local_as, field: .localAS)
            if let h = hold_time { try PeerRules.checkHoldTime(h) }
            if let k = keepalive_interval { try PeerRules.checkKeepaliveInterval(k, holdTime: hold_time) }
        }
        for (i, p) in (peers ?? []).enumerated() {
            try p.validate(field: "\(field).peers[\(i)]")
        }
        for (i, c) in (community ?? []).enumerated() where BgpCommunity.parse(c) == nil {
            throw ModelError(field: "\(field).community[\(i)]", message: BgpCommunity.expected(c))
        }
        for (i, r) in (ip_communities ?? []).enumerated() {
            try r.validate(field: "\(field).ip_communities[\(i)]")
        }
        if let n = num_as_path_prepend, !(1...10).contains(n) {
            throw ModelError(field: "\(field).num_as_path_prepend", message: "must be between 1 and 10")
        }
    }

    /// The communities a VIP route carries: `community` and those of every `ip_communities` range holding
    /// the VIP, in that order without repeats; none when `send_community` is false.
    public func communities(for vip: IPAddress) -> [BgpCommunity.Value] {
        guard send_community ?? true else { return [] }
        var texts = community ?? []
        for r in ip_communities ?? [] where r.contains(vip) { texts += r.community }
        var out: [BgpCommunity.Value] = []
        for t in texts {
            guard let c = BgpCommunity.parse(t), let value = c else { continue }
            if !out.contains(value) { out.append(value) }
        }
        return out
    }
}

/// Communities for the VIPs from `ip_begin` to `ip_end` (Avi `IpCommunity`).
public struct IpCommunity: Codable, Sendable, Hashable {
    public var ip_begin: IpAddr
    /// The last address of the range; the range is `ip_begin` alone when absent.
    public var ip_end: IpAddr?
    public var community: [String]

    public init(ip_begin: IpAddr, ip_end: IpAddr? = nil, community: [String]) {
        self.ip_begin = ip_begin
        self.ip_end = ip_end
        self.community = community
    }

    public func validate(field: String) throws(ModelError) {
        try ip_begin.validate(field: "\(field).ip_begin")
        try ip_end?.validate(field: "\(field).ip_end")
        if let end = ip_end {
            guard let a = ip_begin.ipAddress, let b = end.ipAddress, a.isIPv6 == b.isIPv6 else {
                throw ModelError(field: "\(field).ip_end", message: "must be of the same family as ip_begin")
            }
            guard a <= b else {
                throw ModelError(field: "\(field).ip_end", message: "must not be below ip_begin")
            }
        }
        if community.isEmpty {
            throw ModelError(field: "\(field).community", message: "at least one community is needed")
        }
        for (i, c) in community.enumerated() where BgpCommunity.parse(c) == nil {
            throw ModelError(field: "\(field).community[\(i)]", message: BgpCommunity.expected(c))
        }
    }

    /// Whether `address` lies in the range (same family, `ip_begin` ≤ address ≤ `ip_end`).
    public func contains(_ address: IPAddress) -> Bool {
        guard let begin = IPAddress(ip_begin.addr), address.isIPv6 == begin.isIPv6 else { return false }
        let end = ip_end.flatMap { IPAddress($0.addr) } ?? begin
        return begin <= address && address <= end
    }
}

/// Avi's community strings, and large communities (RFC 8092) written `GLOBAL:DATA1:DATA2`.
public enum BgpCommunity {
    public enum Value: Sendable, Hashable {
        /// RFC 1997: the 32-bit value.
        case standard(UInt32)
        /// RFC 8092: Global Administrator, Local Data Part 1, Local Data Part 2.
        case large(UInt32, UInt32, UInt32)
    }

    /// The value, nil inside for `internet` (no community), nil for text that is no community.
    public static func parse(_ text: String) -> Value?? {
        switch text.lowercased() {
        case "internet": return .some(nil)
        case "no-export", "no_export": return .standard(0xFFFF_FF01)
        case "no-advertise", "no_advertise": return .standard(0xFFFF_FF02)
        case "local-as", "local_as", "no-export-subconfed": return .standard(0xFFFF_FF03)
        default: break
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 3, let g = UInt32(parts[0]), let d1 = UInt32(parts[1]), let d2 = UInt32(parts[2]) {
            return .large(g, d1, d2)
        }
        guard parts.count == 2, let a = UInt16(parts[0]), let v = UInt16(parts[1]) else { return nil }
        return .standard(UInt32(a) << 16 | UInt32(v))
    }

    static func expected(_ text: String) -> String {
        "'\(text)' is not ASN:VALUE (16 bits each), GLOBAL:DATA1:DATA2 (32 bits each), no-export, no-advertise, local-AS or internet"
    }
}

/// Avi `BfdProfile` (the `bfd_profile` of a `vrfcontext`): the BFD timers of the SEs' BGP peers with
/// `bfd` on. Avi's defaults (1000 ms × 3); unlike Avi, intervals down to 10 ms are accepted, since failover
/// in a few hundred milliseconds is what BFD is for.
public struct BfdProfile: Codable, Sendable, Hashable {
    /// Desired minimum transmit interval, in milliseconds.
    public var mintx: Int?
    /// Required minimum receive interval, in milliseconds.
    public var minrx: Int?
    /// Detection multiplier: packets missed before the session goes down.
    public var multi: Int?

    public static let defaultInterval = 1000
    public static let defaultMultiplier = 3
    /// Intervals in milliseconds: Avi's upper bound, a lower bound a loaded VM still keeps.
    public static let intervalRange = 10...4_000_000

    public init(mintx: Int? = nil, minrx: Int? = nil, multi: Int? = nil) {
        self.mintx = mintx
        self.minrx = minrx
        self.multi = multi
    }

    public func validate(field: String = "bfd_profile") throws(ModelError) {
        let range = Self.intervalRange
        if let v = mintx, !range.contains(v) {
            throw ModelError(
                field: "\(field).mintx", message: "must be between \(range.lowerBound) and \(range.upperBound) ms")
        }
        if let v = minrx, !range.contains(v) {
            throw ModelError(
                field: "\(field).minrx", message: "must be between \(range.lowerBound) and \(range.upperBound) ms")
        }
        // RFC 5880 §4.1: Detect Mult is nonzero and one octet.
        if let v = multi, !(1...255).contains(v) {
            throw ModelError(field: "\(field).multi", message: "must be between 1 and 255")
        }
    }
}

/// One router an SE peers with (Avi `BgpPeer`).
public struct BgpPeer: Codable, Sendable, Hashable {
    public var peer_ip: IpAddr
    public var remote_as: UInt32?
    /// TCP-MD5 key (RFC 2385) of the session, at most 80 octets.
    public var md5_secret: String?
    /// Run BFD with the router (Avi: on unless set to false), with the vrfcontext's `bfd_profile` timers.
    public var bfd: Bool?
    public var advertise_vip: Bool?
    /// Names the peer for `vsvip.bgp_peer_labels` (Avi `label`): a VsVip with labels is advertised only to
    /// the peers carrying one of them.
    public var label: String?

    public init(
        peer_ip: IpAddr, remote_as: UInt32? = nil, md5_secret: String? = nil, bfd: Bool? = nil,
        advertise_vip: Bool? = nil
    ) {
        self.peer_ip = peer_ip
        self.remote_as = remote_as
        self.md5_secret = md5_secret
        self.bfd = bfd
        self.advertise_vip = advertise_vip
    }

    public func validate(field: String) throws(ModelError) {
        guard peer_ip.type != .dns else {
            throw ModelError(field: "\(field).peer_ip.type", message: "a BGP peer needs an IP address, not DNS")
        }
        try peer_ip.validate(field: "\(field).peer_ip")
        try PeerRules.modelChecked(field: field) { () throws(PeerRules.Violation) in
            if let address = peer_ip.ipAddress { try PeerRules.checkSessionAddress(address, field: .peerAddress) }
            if let a = remote_as { try PeerRules.checkAS(a, field: .peerAS) }
        }
        // RFC 2385 TCP-MD5 key; Linux takes at most 80 octets.
        if let secret = md5_secret, secret.utf8.count > 80 {
            throw ModelError(field: "\(field).md5_secret", message: "must be at most 80 octets")
        }
        if let label, label.isEmpty || label.count > 128 {
            throw ModelError(field: "\(field).label", message: "must be 1 to 128 characters")
        }
    }
}

extension PeerRules {
    /// Runs `body`, naming the field at fault as the API does (`bgp_profile.local_as`,
    /// `bgp_profile.peers[0].remote_as`): `field` is the profile's or the peer's path.
    static func modelChecked(field: String, _ body: () throws(Violation) -> Void) throws(ModelError) {
        do {
            try body()
        } catch {
            let name =
                switch error.field {
                case .localAS: "local_as"
                case .peerAS: "remote_as"
                case .routerID: "router_id"
                case .holdTime: "hold_time"
                case .keepaliveInterval: "keepalive_interval"
                case .peerAddress: "peer_ip.addr"
                case .localAddress: "local_address"
                }
            throw ModelError(field: "\(field).\(name)", message: error.reason)
        }
    }
}
