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

    init(eventLoop: any EventLoop, logger: Logger) {
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// The speaker configuration for a profile, or nil when there is nothing to peer with.
    static func configuration(
        profile: BgpProfile?, bfdProfile: BfdProfile? = nil, dataAddress: IPAddress?
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
        return try BGPProfileMapping.speakerConfiguration(
            profile, bfdProfile: bfdProfile, dataAddress: dataAddress, routerID: routerID)
    }

    /// Brings the speaker to `next` (nil: no speaker). Unchanged configuration: nothing happens;
    /// changed: the speaker applies the difference without resetting unchanged sessions.
    func configure(_ next: SpeakerConfiguration?) async throws {
        guard next != configuration else { return }
        switch (speaker, next) {
        case (nil, nil):
            break
        case (nil, let next?):
            let s = Speaker(configuration: next, eventLoop: eventLoop, logger: logger)
            try await s.start()
            speaker = s
            lastRoutes = [:]
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

    /// Hands the full desired set to the speaker, which sends only the difference.
    func advertise(_ routes: [IPPrefix: OriginatedRoute]) async {
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
