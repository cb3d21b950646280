import BGPSpeaker
import Foundation
import Hummingbird
import Prometheus

/// The JSON status API of `starling bgp --api ADDR:PORT`: `GET /peers`, `GET /rib`, `GET /bfd`, and Prometheus
/// text at `GET /metrics` (per-peer message, UPDATE, prefix and state-change counters).
///
/// `/rib` takes `peer=ADDR`, `prefix=P` and `limit=N` (default 1000 routes per peer) so that a full
/// table is never dumped by accident.
struct StatusAPI: Sendable {
    let speaker: Speaker
    let metrics: PrometheusCollectorRegistry

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: StatusErrorMiddleware(paths: "/peers, /rib, /bfd or /metrics"))
        router.get("metrics") { [metrics] _, _ in StatusServer.prometheus(metrics.emitToBuffer()) }
        router.get("peers") { [speaker] _, _ in
            StatusServer.json(await speaker.peerStatus().map(PeerJSON.init))
        }
        router.get("bfd") { [speaker] _, _ in
            StatusServer.json(await speaker.bfdStatus().map(BFDJSON.init))
        }
        router.get("rib") { [speaker] request, _ in
            let query = request.uri.queryParameters
            var peer: IPAddress?
            var prefix: IPPrefix?
            var limit = 1000
            if let p = query["peer"].map(String.init) {
                guard let a = IPAddress(p) else {
                    return StatusServer.error(.badRequest, "peer: '\(p)' is not an IP address")
                }
                peer = a
            }
            if let p = query["prefix"].map(String.init) {
                guard let a = IPPrefix(p) else {
                    return StatusServer.error(.badRequest, "prefix: '\(p)' is not a prefix")
                }
                prefix = a
            }
            if let l = query["limit"] {
                guard let n = Int(l), n >= 0 else {
                    return StatusServer.error(.badRequest, "limit: must be a non-negative integer")
                }
                limit = n
            }
            let ribs = await speaker.routes(peer: peer, prefix: prefix, limit: limit)
            return StatusServer.json(RIBJSON(peers: ribs.map(PeerRoutesJSON.init)))
        }
        return router
    }
}

struct PeerJSON: Encodable {
    var address: String
    var asn: UInt32
    var local_address: String?
    var state: String
    var uptime_seconds: Double?
    var hold_time: UInt16?
    var keepalive_time: UInt16?
    var router_id: String?
    var capabilities: [String]
    var families: [String]
    var prefixes_received: Int
    var prefixes_advertised: Int
    var messages_received: Int
    var messages_sent: Int
    var updates_received: Int
    var updates_sent: Int
    var state_changes: Int
    var established_transitions: Int
    var last_error: String?
    /// The BFD session's state (`Up`, `Down`, `Init`, `AdminDown`); absent without BFD.
    var bfd: String?

    init(_ s: PeerStatus) {
        address = s.address.description
        asn = s.asn
        local_address = s.localAddress
        state = s.state.rawValue
        uptime_seconds = s.uptimeSeconds
        hold_time = s.holdTime
        keepalive_time = s.keepaliveTime
        router_id = s.peerRouterID?.description
        capabilities = s.capabilities
        families = s.families
        prefixes_received = s.prefixesReceived
        prefixes_advertised = s.prefixesAdvertised
        messages_received = s.messagesReceived
        messages_sent = s.messagesSent
        updates_received = s.updatesReceived
        updates_sent = s.updatesSent
        state_changes = s.stateChanges
        established_transitions = s.establishedTransitions
        last_error = s.lastError
        bfd = s.bfd?.description
    }
}

/// One element of `GET /bfd`.
struct BFDJSON: Encodable {
    var peer: String
    var state: String
    var remote_state: String
    var diagnostic: String
    var local_discriminator: UInt32
    var remote_discriminator: UInt32
    var transmit_interval_ms: Double
    var detection_time_ms: Double
    var packets_received: Int
    var packets_sent: Int
    var packets_discarded: Int
    var up_transitions: Int

    init(_ s: BFDStatus) {
        peer = s.peer.description
        state = s.state.description
        remote_state = s.remoteState.description
        diagnostic = s.diagnostic.description
        local_discriminator = s.localDiscriminator
        remote_discriminator = s.remoteDiscriminator
        transmit_interval_ms = s.transmitIntervalMilliseconds
        detection_time_ms = s.detectionTimeMilliseconds
        packets_received = s.packetsReceived
        packets_sent = s.packetsSent
        packets_discarded = s.packetsDiscarded
        up_transitions = s.upTransitions
    }
}

struct RIBJSON: Encodable {
    var peers: [PeerRoutesJSON]
}

struct PeerRoutesJSON: Encodable {
    var address: String
    var routes: [RouteJSON]
    init(_ r: PeerRoutes) {
        address = r.address.description
        routes = r.routes.map(RouteJSON.init)
    }
}

struct RouteJSON: Encodable {
    var prefix: String
    var next_hop: String?
    var next_hop_link_local: String?
    var origin: String?
    var as_path: [UInt32]
    var as_path_segments: [[String: [UInt32]]]
    var med: UInt32?
    var local_pref: UInt32?
    var atomic_aggregate: Bool
    var communities: [String]
    var large_communities: [String]
    var extended_communities: [String]
    var best: Bool

    init(_ r: RIBRoute) {
        let a = r.attributes
        prefix = r.prefix.description
        switch a.mpReach?.nextHop {
        case .ipv6(let global, let ll):
            next_hop = global.description
            next_hop_link_local = ll?.description
        case .ipv4(let v4):
            next_hop = v4.description
        case .raw, nil:
            next_hop = a.nextHop?.description
        }
        switch a.origin {
        case .igp?: origin = "IGP"
        case .egp?: origin = "EGP"
        case .incomplete?: origin = "INCOMPLETE"
        case let o?: origin = "\(o.rawValue)"
        case nil: origin = nil
        }
        as_path = a.asPath?.segments.flatMap(\.asns) ?? []
        as_path_segments = (a.asPath?.segments ?? []).map { s in
            let name =
                switch s.type {
                case .asSet: "AS_SET"
                case .asSequence: "AS_SEQUENCE"
                case .confedSequence: "AS_CONFED_SEQUENCE"
                case .confedSet: "AS_CONFED_SET"
                default: "\(s.type.rawValue)"
                }
            return [name: s.asns]
        }
        med = a.multiExitDisc
        local_pref = a.localPref
        atomic_aggregate = a.atomicAggregate
        communities = a.communities.map(\.description)
        large_communities = a.largeCommunities.map(\.description)
        extended_communities = a.extendedCommunities.map { String($0.rawValue, radix: 16) }
        best = r.best
    }
}
