/// The `bgp_profile` of a `vrfcontext` (Avi `BgpProfile`): how SEs peer with upstream routers.
public struct BgpProfile: Codable, Sendable, Hashable {
    public var local_as: UInt32
    public var ibgp: Bool?
    public var hold_time: Int?
    public var keepalive_interval: Int?
    public var send_community: Bool?
    public var peers: [BgpPeer]?

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
        guard local_as != 0 else {
            throw ModelError(field: "\(field).local_as", message: "must be between 1 and 4294967295")
        }
        // RFC 6793 §9: AS_TRANS stands in for a 4-octet AS; the speaker refuses it as an AS of its own.
        guard local_as != 23456 else {
            throw ModelError(field: "\(field).local_as", message: "23456 is AS_TRANS (RFC 6793), not a usable AS")
        }
        if let h = hold_time, !(h == 0 || (3...65535).contains(h)) {
            // RFC 4271 §4.2: zero or at least three seconds.
            throw ModelError(field: "\(field).hold_time", message: "must be 0 or between 3 and 65535")
        }
        if let k = keepalive_interval, !(0...21845).contains(k) {
            throw ModelError(field: "\(field).keepalive_interval", message: "must be between 0 and 21845")
        }
        for (i, p) in (peers ?? []).enumerated() {
            try p.validate(field: "\(field).peers[\(i)]")
        }
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
        if let a = remote_as, a == 0 {
            throw ModelError(field: "\(field).remote_as", message: "must be between 1 and 4294967295")
        }
        if remote_as == 23456 {
            throw ModelError(field: "\(field).remote_as", message: "23456 is AS_TRANS (RFC 6793), not a usable AS")
        }
        // RFC 2385 TCP-MD5 key; Linux takes at most 80 octets.
        if let secret = md5_secret, secret.utf8.count > 80 {
            throw ModelError(field: "\(field).md5_secret", message: "must be at most 80 octets")
        }
    }
}
