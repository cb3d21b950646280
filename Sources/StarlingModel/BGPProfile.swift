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

/// One router an SE peers with (Avi `BgpPeer`).
public struct BgpPeer: Codable, Sendable, Hashable {
    public var peer_ip: IpAddr
    public var remote_as: UInt32?
    public var md5_secret: String?
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
    }
}
