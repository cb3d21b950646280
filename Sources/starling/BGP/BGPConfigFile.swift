import BGPPeerRules
import BGPSpeaker
import Foundation
import NIOCore
import Yams

/// The `starling bgp --config FILE` document (YAML or JSON; JSON is read as YAML's subset).
///
/// ```yaml
/// asn: 65010
/// router_id: 198.18.1.2
/// listen: {addresses: ["198.18.1.2"], port: 179}   # optional
/// peers:
///   - {address: 198.18.1.1, asn: 65000, local_address: 198.18.1.2, hold_time: 9, passive: false,
///      bfd: {min_tx_ms: 100, min_rx_ms: 100, multiplier: 3},   # or bfd: true (100/100/3)
///      idle_hold_time: 1,   # s in Idle after an error, doubling per error up to 60; 0: no damping
///      password: "secret", ttl_security: true,   # TCP-MD5 (RFC 2385), GTSM (RFC 5082)
///      max_prefixes: {limit: 1000, action: restart}}   # or warn; `max_prefixes: 1000` restarts
/// announce:
///   - 192.0.2.10/32
///   - {prefix: "2001:db8::10/128", communities: ["65010:100"], large_communities: ["65010:1:2"], med: 10}
/// ```
struct BGPConfigFile: Decodable {
    struct Listen: Decodable {
        var addresses: [String]?
        var port: Int?
    }
    struct Peer: Decodable {
        var address: String
        var asn: UInt32
        var local_address: String?
        var hold_time: Int?
        var passive: Bool?
        var port: Int?
        var connect_retry: Int?
        var next_hop_ipv4: String?
        var next_hop_ipv6: String?
        var families: [String]?
        var bfd: BFD?
        var idle_hold_time: Int?
        var password: String?
        var ttl_security: Bool?
        var max_prefixes: MaxPrefixes?
    }
    /// `max_prefixes: N` (restart beyond N) or `{limit: N, action: warn|restart}`.
    struct MaxPrefixes: Decodable {
        var limit: Int
        var action: String?

        init(from decoder: any Decoder) throws {
            if let n = try? decoder.singleValueContainer().decode(Int.self) {
                limit = n
                return
            }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            limit = try c.decode(Int.self, forKey: .limit)
            action = try c.decodeIfPresent(String.self, forKey: .action)
        }
        enum CodingKeys: String, CodingKey { case limit, action }
    }
    /// `bfd: true` (100 ms × 3), `bfd: false`, or the timers.
    struct BFD: Decodable {
        var enabled: Bool
        var min_tx_ms: Int?
        var min_rx_ms: Int?
        var multiplier: Int?

        init(from decoder: any Decoder) throws {
            if let flag = try? decoder.singleValueContainer().decode(Bool.self) {
                enabled = flag
                return
            }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = true
            min_tx_ms = try c.decodeIfPresent(Int.self, forKey: .min_tx_ms)
            min_rx_ms = try c.decodeIfPresent(Int.self, forKey: .min_rx_ms)
            multiplier = try c.decodeIfPresent(Int.self, forKey: .multiplier)
        }
        enum CodingKeys: String, CodingKey { case min_tx_ms, min_rx_ms, multiplier }
    }
    struct Announcement: Decodable {
        var prefix: String
        var communities: [String]?
        var large_communities: [String]?
        var med: UInt32?
        var local_pref: UInt32?

        init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                prefix = text
                return
            }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            prefix = try c.decode(String.self, forKey: .prefix)
            communities = try c.decodeIfPresent([String].self, forKey: .communities)
            large_communities = try c.decodeIfPresent([String].self, forKey: .large_communities)
            med = try c.decodeIfPresent(UInt32.self, forKey: .med)
            local_pref = try c.decodeIfPresent(UInt32.self, forKey: .local_pref)
        }
        enum CodingKeys: String, CodingKey { case prefix, communities, large_communities, med, local_pref }
    }
    var asn: UInt32
    var router_id: String
    var listen: Listen?
    var peers: [Peer]?
    var announce: [Announcement]?
}

/// The validated result of reading a config file.
struct BGPDaemonConfig: Equatable {
    var speaker: SpeakerConfiguration
    var announce: [IPPrefix: OriginatedRoute]
}

enum BGPConfigLoader {
    static func load(path: String) throws(ConfigError) -> BGPDaemonConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(field: "", message: "cannot read config file \(path): \(error.localizedDescription)")
        }
        return try parse(text)
    }

    static func parse(_ text: String) throws(ConfigError) -> BGPDaemonConfig {
        guard let node = try ConfigDocument.document(text) else {
            throw ConfigError(field: "", message: "the configuration document is empty")
        }
        try checkKeys(node)
        return try validate(ConfigDocument.decode(BGPConfigFile.self, from: node))
    }

    /// Refuses keys the file format does not have, so a typo (`hold-time`, `pasive`) is an error
    /// rather than a silently ignored setting.
    static func checkKeys(_ document: Node) throws(ConfigError) {
        try ConfigDocument.checkKeys(
            document, allowed: ["asn", "router_id", "listen", "peers", "announce"], path: "")
        guard let top = document.mapping else { return }
        try ConfigDocument.checkKeys(top["listen"], allowed: ["addresses", "port"], path: "listen")
        for (i, peer) in (top["peers"]?.sequence.map(Array.init) ?? []).enumerated() {
            try ConfigDocument.checkKeys(
                peer,
                allowed: [
                    "address", "asn", "local_address", "hold_time", "passive", "port", "connect_retry",
                    "next_hop_ipv4", "next_hop_ipv6", "families", "bfd", "idle_hold_time", "password", "ttl_security",
                    "max_prefixes",
                ], path: "peers[\(i)]")
            try ConfigDocument.checkKeys(
                peer.mapping?["bfd"], allowed: ["min_tx_ms", "min_rx_ms", "multiplier"], path: "peers[\(i)].bfd")
            try ConfigDocument.checkKeys(
                peer.mapping?["max_prefixes"], allowed: ["limit", "action"], path: "peers[\(i)].max_prefixes")
        }
        for (i, a) in (top["announce"]?.sequence.map(Array.init) ?? []).enumerated() {
            try ConfigDocument.checkKeys(
                a, allowed: ["prefix", "communities", "large_communities", "med", "local_pref"],
                path: "announce[\(i)]")
        }
    }

    static func validate(_ file: BGPConfigFile) throws(ConfigError) -> BGPDaemonConfig {
        // Text is parsed here; the values are checked by the speaker's own rules (`PeerConfiguration`,
        // `PeerSettings.validate`, which share `PeerRules` with the API's `bgp_profile`), with their
        // field names mapped to the file's.
        guard let routerID = IPv4Address(file.router_id) else {
            throw ConfigError(field: "router_id", message: "'\(file.router_id)' is not an IPv4 address")
        }
        try checked(peer: nil) { () throws(PeerConfigurationError) in
            try PeerConfiguration.validate(localAS: file.asn, routerID: routerID)
        }
        var listenAddresses: [IPAddress] = []
        for (i, a) in (file.listen?.addresses ?? []).enumerated() {
            guard let ip = IPAddress(a) else {
                throw ConfigError(field: "listen.addresses[\(i)]", message: "'\(a)' is not an IP address")
            }
            guard !listenAddresses.contains(ip) else {
                throw ConfigError(field: "listen.addresses[\(i)]", message: "\(ip) is listed twice")
            }
            do throws(PeerRules.Violation) {
                try PeerRules.checkListenAddress(ip)
            } catch {
                throw ConfigError(field: "listen.addresses[\(i)]", message: error.reason)
            }
            listenAddresses.append(ip)
        }
        let listenPort = file.listen?.port ?? 179
        guard (0...65535).contains(listenPort) else {
            throw ConfigError(field: "listen.port", message: "must be between 0 and 65535")
        }
        var peers: [PeerSettings] = []
        var seen = Set<IPAddress>()
        for (i, p) in (file.peers ?? []).enumerated() {
            let f = "peers[\(i)]"
            guard let address = IPAddress(p.address) else {
                throw ConfigError(field: "\(f).address", message: "'\(p.address)' is not an IP address")
            }
            guard seen.insert(address).inserted else {
                throw ConfigError(field: "\(f).address", message: "\(address) is configured twice")
            }
            var settings = PeerSettings(address: address, peerAS: p.asn)
            if let l = p.local_address {
                guard let local = IPAddress(l) else {
                    throw ConfigError(field: "\(f).local_address", message: "'\(l)' is not an IP address")
                }
                settings.localAddress = local
            }
            if let h = p.hold_time {
                // Checked as the file's Int, so that 70000 is refused rather than narrowed.
                do throws(PeerRules.Violation) {
                    try PeerRules.checkHoldTime(h)
                } catch {
                    throw ConfigError(field: "\(f).hold_time", message: error.reason)
                }
                settings.holdTime = UInt16(h)
            }
            settings.passive = p.passive ?? false
            if settings.passive && listenPort == 0 {
                throw ConfigError(
                    field: "\(f).passive", message: "a passive peer needs a listener, but listen.port is 0")
            }
            if let port = p.port {
                guard (1...65535).contains(port) else {
                    throw ConfigError(field: "\(f).port", message: "must be between 1 and 65535")
                }
                settings.port = port
            }
            if let r = p.connect_retry {
                guard (1...3600).contains(r) else {
                    throw ConfigError(field: "\(f).connect_retry", message: "must be between 1 and 3600 seconds")
                }
                settings.connectRetryTime = .seconds(Int64(r))
            }
            if let password = p.password {
                // RFC 2385 keys; Linux takes at most 80 octets (TCP_MD5SIG_MAXKEYLEN).
                guard (1...80).contains(password.utf8.count) else {
                    throw ConfigError(field: "\(f).password", message: "must be 1 to 80 octets")
                }
                settings.password = password
            }
            settings.ttlSecurity = p.ttl_security ?? false
            if let m = p.max_prefixes {
                guard m.limit >= 1 else {
                    throw ConfigError(field: "\(f).max_prefixes.limit", message: "must be at least 1")
                }
                let action = m.action.map { $0.lowercased() } ?? "restart"
                guard let a = PrefixLimit.Action(rawValue: action) else {
                    throw ConfigError(field: "\(f).max_prefixes.action", message: "'\(action)' is not warn or restart")
                }
                settings.maxPrefixes = PrefixLimit(limit: m.limit, action: a)
            }
            if let t = p.idle_hold_time {
                // RFC 4271 §8.1.1 DampPeerOscillations: the wait in Idle after an error, doubling per error
                // up to 60 s (or this value, if larger); 0 switches damping off (BIRD `error wait time`).
                guard (0...3600).contains(t) else {
                    throw ConfigError(field: "\(f).idle_hold_time", message: "must be between 0 and 3600 seconds")
                }
                settings.idleHoldTime = .seconds(Int64(t))
            }
            if let n = p.next_hop_ipv4 {
                guard let a = IPv4Address(n), a.rawValue != 0 else {
                    throw ConfigError(field: "\(f).next_hop_ipv4", message: "'\(n)' is not a usable IPv4 address")
                }
                settings.nextHopV4 = a
            }
            if let n = p.next_hop_ipv6 {
                guard let a = IPv6Address(n), a.high != 0 || a.low != 0, !a.isLinkLocal else {
                    throw ConfigError(
                        field: "\(f).next_hop_ipv6", message: "'\(n)' is not a usable global IPv6 address")
                }
                settings.nextHopV6 = a
            }
            if let fams = p.families {
                var set = Set<AddressFamily>()
                for (j, name) in fams.enumerated() {
                    switch name.lowercased() {
                    case "ipv4", "ipv4-unicast", "ipv4_unicast": set.insert(.ipv4Unicast)
                    case "ipv6", "ipv6-unicast", "ipv6_unicast": set.insert(.ipv6Unicast)
                    default:
                        throw ConfigError(
                            field: "\(f).families[\(j)]", message: "'\(name)' is not ipv4-unicast or ipv6-unicast")
                    }
                }
                guard !set.isEmpty else { throw ConfigError(field: "\(f).families", message: "must not be empty") }
                settings.families = set
            } else {
                // Negotiate the session's own family, plus the other one only when we have a next hop
                // for it: a family we could never announce in is not worth negotiating.
                switch address {
                case .v4: settings.families = settings.nextHopV6 == nil ? [.ipv4Unicast] : [.ipv4Unicast, .ipv6Unicast]
                case .v6: settings.families = settings.nextHopV4 == nil ? [.ipv6Unicast] : [.ipv4Unicast, .ipv6Unicast]
                }
            }
            if let bfd = p.bfd, bfd.enabled {
                let fast = BFDTimers.fast
                let tx = bfd.min_tx_ms.map { TimeAmount.milliseconds(Int64($0)) } ?? fast.desiredMinTx
                let rx = bfd.min_rx_ms.map { TimeAmount.milliseconds(Int64($0)) } ?? fast.requiredMinRx
                // Detect Mult is one octet on the wire; 0 is refused by `BFDTimers.validate`.
                guard let multiplier = UInt8(exactly: bfd.multiplier ?? Int(fast.detectMultiplier)) else {
                    throw ConfigError(field: "\(f).bfd.multiplier", message: "must be between 1 and 255")
                }
                let timers = BFDTimers(desiredMinTx: tx, requiredMinRx: rx, detectMultiplier: multiplier)
                do throws(PeerConfigurationError) {
                    try timers.validate()
                } catch {
                    throw ConfigError(field: "\(f).\(error.field)", message: error.reason)
                }
                settings.bfd = timers
            }
            try checked(peer: f) { () throws(PeerConfigurationError) in
                try settings.validate(localAS: file.asn, routerID: routerID)
            }
            peers.append(settings)
        }
        var announce: [IPPrefix: OriginatedRoute] = [:]
        for (i, a) in (file.announce ?? []).enumerated() {
            let f = "announce[\(i)]"
            guard let prefix = IPPrefix(a.prefix) else {
                throw ConfigError(
                    field: f, message: "'\(a.prefix)' is not a prefix (address/length with no host bits set)")
            }
            var route = OriginatedRoute()
            for (j, c) in (a.communities ?? []).enumerated() {
                guard let community = parseCommunity(c) else {
                    throw ConfigError(field: "\(f).communities[\(j)]", message: "'\(c)' is not ASN:VALUE (16-bit each)")
                }
                route.communities.append(community)
            }
            for (j, c) in (a.large_communities ?? []).enumerated() {
                let parts = c.split(separator: ":", omittingEmptySubsequences: false).map { UInt32($0) }
                guard parts.count == 3, let g = parts[0], let l1 = parts[1], let l2 = parts[2] else {
                    throw ConfigError(
                        field: "\(f).large_communities[\(j)]", message: "'\(c)' is not GLOBAL:LOCAL1:LOCAL2")
                }
                route.largeCommunities.append(LargeCommunity(g, l1, l2))
            }
            route.med = a.med
            route.localPref = a.local_pref
            guard announce[prefix] == nil else {
                throw ConfigError(field: f, message: "\(prefix) is announced twice")
            }
            announce[prefix] = route
        }
        return BGPDaemonConfig(
            speaker: SpeakerConfiguration(
                localAS: file.asn, routerID: routerID, listenAddresses: listenAddresses, listenPort: listenPort,
                peers: peers),
            announce: announce)
    }

    /// Runs one of the speaker's validations, naming the field at fault as the file does (`peerAS` of
    /// `peers[0]` is `peers[0].asn`).
    static func checked(peer: String?, _ body: () throws(PeerConfigurationError) -> Void) throws(ConfigError) {
        do {
            try body()
        } catch {
            throw ConfigError(field: fileField(error.field, peer: peer), message: error.reason)
        }
    }

    /// The file's name for a `PeerConfigurationError` field of the peer at path `peer`.
    static func fileField(_ field: String, peer: String?) -> String {
        let fileNames = [
            "localAS": "asn", "routerID": "router_id", "peerAS": "asn", "address": "address",
            "localAddress": "local_address", "holdTime": "hold_time", "connectRetryTime": "connect_retry",
            "idleHoldTime": "idle_hold_time", "families": "families",
        ]
        let name = fileNames[field] ?? field
        guard let peer, field != "localAS", field != "routerID" else { return name }
        return "\(peer).\(name)"
    }

    static func parseCommunity(_ text: String) -> Community? {
        switch text.lowercased() {
        case "no-export", "no_export": return .noExport
        case "no-advertise", "no_advertise": return .noAdvertise
        default: break
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = UInt16(parts[0]), let v = UInt16(parts[1]) else { return nil }
        return Community(asn: a, value: v)
    }
}
