import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A BGP-4 speaker: sessions with every configured peer, a RIB of what they send, and origination of
/// the prefixes it is told to advertise.
///
/// Data flow: sockets (NIOPosix) → `BGPConnectionHandler` (framing with `BGPFrameDecoder.decodeFrame`)
/// → `SpeakerCore`, which decodes each frame with the session's negotiated `WireContext`, feeds the
/// peer's `BGPSessionFSM` (UPDATEs in Established take a fast path straight to the RIB),
/// and executes the actions it returns: writing messages, opening and closing connections, applying
/// UPDATEs to the `RIB`, and sending the `AdjRIBOut` difference when a session comes up or the
/// advertisements change. All of it runs on one event loop, which owns every piece of mutable state
/// (STYLE "One owner per piece of mutable state"); this type is the thread-safe front door that hops onto that loop.
public final class Speaker: Sendable {
    public let eventLoop: any EventLoop
    private let core: NIOLoopBoundBox<SpeakerCore>
    private let logger: Logger
    /// The configuration last applied (for BFD, which runs beside the core on its own thread).
    private let configuration: NIOLockedValueBox<SpeakerConfiguration>
    /// Created when a peer first asks for BFD, stopped when none does any more; `stopped` after shutdown,
    /// so that a reconfiguration racing the shutdown starts nothing new.
    private let bfd = NIOLockedValueBox<(service: BFDService?, stopped: Bool)>((nil, false))
    /// BFD sessions handed off by a predecessor process, taken up when BFD first starts.
    private let resumingBFD: NIOLockedValueBox<[IPAddress: BFDSession.Handoff]>

    /// - Parameters:
    ///   - eventLoop: the loop that owns the speaker; every session's channel runs on it.
    ///   - restarted: this process takes over from one that called `handOff()`; with
    ///     `configuration.gracefulRestart`, the first OPEN to each peer says so (RFC 4724 §4.1).
    ///   - resumingBFD: the Up BFD sessions that `handOff()` returned there, to go on with.
    public init(
        configuration: SpeakerConfiguration, eventLoop: any EventLoop, logger: Logger, restarted: Bool = false,
        resumingBFD: [IPAddress: BFDSession.Handoff] = [:]
    ) {
        self.resumingBFD = NIOLockedValueBox(resumingBFD)
        self.eventLoop = eventLoop
        self.logger = logger
        self.configuration = NIOLockedValueBox(configuration)
        self.core = .makeBoxSendingValue(
            SpeakerCore(configuration: configuration, eventLoop: eventLoop, logger: logger, restarted: restarted),
            eventLoop: eventLoop)
    }

    /// Binds the listeners (BGP and, when a peer has `bfd`, BFD) and starts every peer session.
    public func start() async throws {
        try await eventLoop.flatSubmit { self.core.value.start() }.get()
        await applyBFD(configuration.withLockedValue { $0 })
    }

    /// Starts, changes or stops the BFD sessions the configuration asks for. A BFD state change from Up
    /// to Down reaches the peer's FSM on the speaker's loop (`SpeakerCore.bfdStateChanged`). A BFD
    /// listener that cannot bind is logged and leaves BGP untouched: those BFD sessions stay Down, and
    /// only an Up → Down change ever tears a BGP session down.
    private func applyBFD(_ configuration: SpeakerConfiguration) async {
        let peers = configuration.bfdPeers
        let core = self.core
        let loop = eventLoop
        let logger = self.logger
        let (service, retired) = bfd.withLockedValue { state -> (BFDService?, BFDService?) in
            if state.stopped { return (nil, nil) }
            if peers.isEmpty {
                defer { state.service = nil }
                return (nil, state.service)
            }
            if state.service == nil {
                state.service = BFDService(logger: logger, listenPort: configuration.bfdListenPort) {
                    peer, from, to, diag, remote in
                    loop.execute {
                        core.value.bfdStateChanged(peer: peer, from: from, to: to, diagnostic: diag, remote: remote)
                    }
                }
            }
            return (state.service, nil)
        }
        // No peer wants BFD any more: AdminDown to the old ones, and the thread goes.
        await retired?.shutdown()
        let resuming = resumingBFD.withLockedValue { r in
            defer { r = [:] }
            return service == nil ? [:] : r
        }
        do {
            try await service?.setPeers(peers, resuming: resuming)
        } catch {
            logger.error("BFD not fully started, BGP sessions go on without it: \(error)")
        }
    }

    /// Sets the full set of prefixes to originate (desired state, STYLE "Desired state, level-triggered"); only the difference is sent.
    public func setAdvertisements(_ routes: [IPPrefix: OriginatedRoute]) async {
        try? await eventLoop.submit { self.core.value.setAdvertisements(routes) }.get()
    }

    /// Applies a changed configuration: new peers start, removed peers stop, changed peers restart;
    /// unchanged sessions keep running untouched.
    public func reconfigure(_ configuration: SpeakerConfiguration) async throws {
        self.configuration.withLockedValue { $0 = configuration }
        try await eventLoop.flatSubmit { self.core.value.reconfigure(configuration) }.get()
        await applyBFD(configuration)
    }

    /// Withdraws every advertised prefix, closes every session with Cease / Administrative Shutdown
    /// carrying `communication` (RFC 9003) and closes the listeners. Waits at most `timeout` for the
    /// peers' sockets to drain.
    public func shutdown(timeout: TimeAmount = .seconds(5), communication: String? = "Starling speaker shutting down")
        async
    {
        let done = eventLoop.flatSubmit { self.core.value.shutdown(communication: communication) }
        let timer = eventLoop.scheduleTask(in: timeout) {}
        _ = try? await done.or(timer.futureResult).get()
        timer.cancel()
        // After the Cease: BFD AdminDown tells the peers this is no path failure (RFC 5880 §6.8.16).
        let service = bfd.withLockedValue { state -> BFDService? in
            defer { state = (nil, true) }
            return state.service
        }
        await service?.shutdown()
    }

    /// Leaves the sessions to a successor process (hitless restart) and returns the Up BFD sessions for
    /// it (`init(resumingBFD:)`). BFD stops without AdminDown: a peer may take AdminDown for a failure
    /// (BIRD does), and the successor goes on with the same sessions within their Detection Time. Then
    /// every connection closes with nothing withdrawn and no NOTIFICATION, so peers with Graceful Restart
    /// keep our routes for the restart time (RFC 4724 §4.2). The listeners close. The speaker is finished
    /// afterwards.
    public func handOff(timeout: TimeAmount = .seconds(5)) async -> [IPAddress: BFDSession.Handoff] {
        let service = bfd.withLockedValue { state -> BFDService? in
            defer { state = (nil, true) }
            return state.service
        }
        let sessions = await service?.handOff() ?? [:]
        let done = eventLoop.flatSubmit { self.core.value.handOff() }
        let timer = eventLoop.scheduleTask(in: timeout) {}
        _ = try? await done.or(timer.futureResult).get()
        timer.cancel()
        return sessions
    }

    /// The BFD sessions (empty when no peer has `bfd`).
    public func bfdStatus() async -> [BFDStatus] {
        await bfd.withLockedValue { $0.service }?.status() ?? []
    }

    public func peerStatus() async -> [PeerStatus] {
        (try? await eventLoop.submit { self.core.value.peerStatus() }.get()) ?? []
    }

    /// Received routes, per peer, optionally filtered by peer and prefix, at most `limit` per peer.
    public func routes(peer: IPAddress? = nil, prefix: IPPrefix? = nil, limit: Int = 1000) async -> [PeerRoutes] {
        (try? await eventLoop.submit { self.core.value.routes(peer: peer, prefix: prefix, limit: limit) }.get()) ?? []
    }

    /// Number of prefixes in the Loc-RIB.
    public func locRIBCount() async -> Int {
        (try? await eventLoop.submit { self.core.value.rib.locRIBCount }.get()) ?? 0
    }
}

extension EventLoopFuture {
    /// Succeeds when either future completes first.
    fileprivate func or(_ other: EventLoopFuture<Void>) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        self.whenComplete { _ in promise.succeed() }
        other.whenComplete { _ in promise.succeed() }
        return promise.futureResult
    }
}
