import Logging
import Metrics
import NIOCore

/// Everything the speaker keeps for one neighbour: its FSM, its connections, what we sent it and
/// counters. Owned by `SpeakerCore` and touched only on its event loop.
final class PeerSession {
    let id: PeerID
    var settings: PeerSettings
    var fsm: BGPSessionFSM
    var logger: Logger
    /// Open connections by id (one normally; two during collision detection).
    var channels: [ConnectionID: any Channel] = [:]
    /// Local address of each connection, for next-hop-self.
    var localAddresses: [ConnectionID: IPAddress] = [:]
    /// What we advertise to this peer; created when the session reaches Established.
    var adjRIBOut: AdjRIBOut?
    var context: WireContext = .preOpen
    var timer: Scheduled<Void>?
    var timerDeadline: NIODeadline?
    var establishedAt: NIODeadline?
    var establishedLocalAddress: IPAddress?

    var messagesReceived = 0
    var messagesSent = 0
    var updatesReceived = 0
    var updatesSent = 0
    var stateChanges = 0
    var establishedTransitions = 0
    var lastError: String?
    /// The BFD session's state, when the peer has `bfd`.
    var bfdState: BFDState?
    /// The prefix limit's warning was logged; cleared when the count is back under the limit.
    var prefixLimitWarned = false
    /// UPDATEs changed the Adj-RIB-In since `metricPrefixesIn` was last recorded (it is recorded once
    /// per read batch, not per UPDATE).
    var prefixesInGaugeStale = false
    /// The value `metricPrefixesIn` was last recorded with.
    var prefixesInGaugeValue = 0

    let metricMessagesIn: Counter
    let metricMessagesOut: Counter
    let metricUpdatesIn: Counter
    let metricStateChanges: Counter
    let metricPrefixesIn: Gauge
    let metricPrefixesOut: Gauge
    let metricEstablished: Gauge

    init(id: PeerID, settings: PeerSettings, configuration: PeerConfiguration, logger: Logger) {
        self.id = id
        self.settings = settings
        self.fsm = BGPSessionFSM(configuration: configuration)
        var logger = logger
        logger[metadataKey: "bgp.peer"] = "\(settings.address)"
        self.logger = logger
        let dims = [("peer", "\(settings.address)")]
        metricMessagesIn = Counter(label: "starling_bgp_messages_received_total", dimensions: dims)
        metricMessagesOut = Counter(label: "starling_bgp_messages_sent_total", dimensions: dims)
        metricUpdatesIn = Counter(label: "starling_bgp_updates_received_total", dimensions: dims)
        metricStateChanges = Counter(label: "starling_bgp_state_changes_total", dimensions: dims)
        metricPrefixesIn = Gauge(label: "starling_bgp_prefixes_received", dimensions: dims)
        metricPrefixesOut = Gauge(label: "starling_bgp_prefixes_advertised", dimensions: dims)
        metricEstablished = Gauge(label: "starling_bgp_session_established", dimensions: dims)
    }

    /// Next hops we put on our routes for this session (next-hop-self unless configured).
    func nextHops() -> (v4: IPv4Address?, v6: IPv6Address?) {
        var v4 = settings.nextHopV4
        var v6 = settings.nextHopV6
        switch establishedLocalAddress {
        case .v4(let a): if v4 == nil { v4 = a }
        case .v6(let a): if v6 == nil && !a.isLinkLocal { v6 = a }
        case nil: break
        }
        return (v4, v6)
    }
}
