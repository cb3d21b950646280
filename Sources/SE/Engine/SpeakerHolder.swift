import BGPSpeaker
import Logging
import NIOCore
import StarlingModel

/// The SE's embedded BGP speaker, created, reconfigured and stopped as the `global` vrfcontext's
/// `bgp_profile` comes, changes and goes. Owned by ``SEEngine`` (one owner, STYLE "One owner per piece of mutable state").
actor SpeakerHolder {
    private let eventLoop: any EventLoop
    private let logger: Logger
    private var speaker: Speaker?
    private var configuration: SpeakerConfiguration?
    private var lastRoutes: [IPPrefix: OriginatedRoute] = [:]
    /// The routes to advertise, kept while there is no speaker so that a new one starts with them.
    private var wantedRoutes: [IPPrefix: OriginatedRoute] = [:]
    /// A successor process waiting for its predecessor to hand the sessions off: nothing starts yet.
    private var held: Bool
    /// The next speaker created takes over from a predecessor (RFC 4724 Restart State).
    private var restarted: Bool
    /// The predecessor's Up BFD sessions, for the next speaker created.
    private var resumingBFD: [IPAddress: BFDSession.Handoff] = [:]

    /// - Parameter successor: this process takes over from another: the speaker starts only at `release()`,
    ///   and then as a restarting speaker.
    init(eventLoop: any EventLoop, logger: Logger, successor: Bool = false) {
        self.eventLoop = eventLoop
        self.logger = logger
        self.held = successor
        self.restarted = successor
    }

    /// The speaker configuration for a profile, or nil when there is nothing to peer with. With
    /// `restartTime` > 0 the speaker advertises Graceful Restart (RFC 4724) with that restart time.
    static func configuration(
        profile: BgpProfile?, bfdProfile: BfdProfile? = nil, dataAddress: IPAddress?, restartTime: Int = 0
    ) throws(ModelError) -> SpeakerConfiguration? {
        guard let profile, !(profile.peers ?? []).isEmpty else { return nil }
        guard let dataAddress else {
            throw ModelError(field: "--data-address", message: "is required to peer with the bgp_profile's routers")
        }
        let routerID: IPv4Address =
            switch dataAddress {
            case .v4(let a): a
            // An IPv6-only SE still needs a 32-bit BGP identifier (RFC 6286): take the low 32 bits.
            case .v6(let a): IPv4Address(rawValue: UInt32(truncatingIfNeeded: a.low))
            }
        var configuration = try BGPProfileMapping.speakerConfiguration(
            profile, bfdProfile: bfdProfile, dataAddress: dataAddress, routerID: routerID)
        if restartTime > 0 {
            configuration.gracefulRestart = GracefulRestartSettings(
                restartTime: UInt16(min(restartTime, Int(GracefulRestartSettings.maximumRestartTime))))
        }
        return configuration
    }

    /// Brings the speaker to `next` (nil: no speaker). Unchanged configuration: nothing happens;
    /// changed: the speaker applies the difference without resetting unchanged sessions.
    func configure(_ next: SpeakerConfiguration?) async throws {
        guard next != configuration else { return }
        if held {
            configuration = next
            return
        }
        switch (speaker, next) {
        case (nil, nil):
            break
        case (nil, let next?):
            let s = Speaker(
                configuration: next, eventLoop: eventLoop, logger: logger, restarted: restarted,
                resumingBFD: resumingBFD)
            restarted = false
            resumingBFD = [:]
            // The routes first: a session that comes up sends them before its End-of-RIB, which a
            // Graceful Restart helper takes as the end of our restart (stale routes not in it go).
            await s.setAdvertisements(wantedRoutes)
            lastRoutes = wantedRoutes
            try await s.start()
            speaker = s
            logger.notice("BGP speaker started", metadata: ["bgp.peers": "\(next.peers.count)"])
        case (let s?, nil):
            await s.shutdown()
            speaker = nil
            lastRoutes = [:]
            logger.notice("BGP speaker stopped: no bgp_profile peers")
        case (let s?, let next?):
            try await s.reconfigure(next)
            logger.notice("BGP speaker reconfigured", metadata: ["bgp.peers": "\(next.peers.count)"])
        }
        configuration = next
    }

    /// The predecessor has handed its sessions off: the speaker starts now, as a restarting speaker
    /// going on with the predecessor's BFD sessions.
    func release(bfd: [IPAddress: BFDSession.Handoff]) async throws {
        guard held else { return }
        held = false
        resumingBFD = bfd
        let wanted = configuration
        configuration = nil
        try await configure(wanted)
    }

    /// Leaves the sessions to a successor process (`Speaker.handOff()`): nothing is withdrawn. Returns
    /// the Up BFD sessions for it.
    func handOff() async -> [IPAddress: BFDSession.Handoff] {
        let bfd = await speaker?.handOff() ?? [:]
        speaker = nil
        configuration = nil
        lastRoutes = [:]
        held = true
        return bfd
    }

    /// Hands the full desired set to the speaker, which sends only the difference.
    func advertise(_ routes: [IPPrefix: OriginatedRoute]) async {
        wantedRoutes = routes
        guard let speaker, routes != lastRoutes else { return }
        lastRoutes = routes
        await speaker.setAdvertisements(routes)
    }

    var advertisedPrefixes: Set<IPPrefix> { Set(lastRoutes.keys) }

    func peerStatus() async -> [PeerStatus] {
        await speaker?.peerStatus() ?? []
    }

    /// Withdraws everything and closes the sessions (Cease after the withdrawals are flushed).
    func shutdown() async {
        await speaker?.shutdown()
        speaker = nil
        configuration = nil
        lastRoutes = [:]
    }
}
