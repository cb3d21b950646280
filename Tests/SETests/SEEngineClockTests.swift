import BGPSpeaker
import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import StarlingModel
import TestSupport
import XCTest

@testable import SE

/// A `Clock` the test moves by hand: sleepers wake only when `advance` passes their deadline.
final class ManualClock: Clock, Sendable {
    typealias Duration = Swift.Duration

    /// A point on the manual clock: the time since its start.
    struct Instant: InstantProtocol {
        typealias Duration = Swift.Duration
        var offset: Duration
        func advanced(by duration: Duration) -> Self { Self(offset: offset + duration) }
        func duration(to other: Self) -> Duration { other.offset - offset }
        static func < (a: Self, b: Self) -> Bool { a.offset < b.offset }
    }

    private struct Sleeper {
        var id: Int
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var cancelled: Set<Int> = []
        var nextID = 0
        /// Sleeps begun so far (those that returned at once included), counted once each is waiting (or
        /// done), so that a test that saw the count also sees the sleeper in `sleeping`.
        var sleepsStarted = 0
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = NIOLockedValueBox(State())

    var now: Instant { state.withLockedValue { $0.now } }
    var minimumResolution: Duration { .zero }

    /// How many sleeps are waiting now.
    var sleeping: Int { state.withLockedValue { $0.sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLockedValue { st -> Int in
            st.nextID += 1
            return st.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLockedValue { st -> Result<Void, any Error>? in
                    st.sleepsStarted += 1
                    if st.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= st.now { return .success(()) }
                    st.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                wakeWatchers()
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLockedValue { st -> Sleeper? in
                guard let i = st.sleepers.firstIndex(where: { $0.id == id }) else {
                    st.cancelled.insert(id)
                    return nil
                }
                return st.sleepers.remove(at: i)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock on and wakes the sleepers whose deadline has come.
    func advance(by duration: Duration) {
        let due = state.withLockedValue { st -> [Sleeper] in
            st.now = st.now.advanced(by: duration)
            let now = st.now
            let due = st.sleepers.filter { $0.deadline <= now }
            st.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for s in due { s.continuation.resume() }
    }

    /// Returns once `count` sleeps have begun since the clock was made.
    func waitForSleeps(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLockedValue { st -> Bool in
                if st.sleepsStarted >= count { return true }
                st.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func wakeWatchers() {
        let ready = state.withLockedValue { st -> [CheckedContinuation<Void, Never>] in
            let started = st.sleepsStarted
            let ready = st.watchers.filter { $0.count <= started }.map(\.continuation)
            st.watchers.removeAll { $0.count <= started }
            return ready
        }
        for c in ready { c.resume() }
    }
}

/// Records the VIP sets the engine asks for instead of calling netlink.
final class RecordingPlumbing: VIPPlumbingSeam {
    let interfaceName = "test0"
    private let calls = NIOLockedValueBox<[Set<IPAddress>]>([])

    /// The set of the last call (empty before any).
    var plumbed: Set<IPAddress> { calls.withLockedValue { $0.last ?? [] } }

    func plumb(_ vips: Set<IPAddress>) throws { calls.withLockedValue { $0.append(vips) } }
}

/// `SEEngine`'s timing (VIP retirement after `drainTimeout`, the drain's GRACEFUL_SHUTDOWN and withdraw
/// waits) driven by a manual clock: no root, no sleeping.
final class SEEngineClockTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() async throws {
        try await group.shutdownGracefully()
    }

    private let vip = IPAddress("127.0.0.2")!

    /// An HTTP virtual service on `vip` with one server and no monitor (so the server counts as up).
    private func service(uuid: String = "virtualservice-1") -> ResolvedVirtualService {
        ResolvedVirtualService(
            virtualservice: VirtualService(
                name: "web", services: [.init(port: reservedPort())], uuid: uuid, enable_rhi: true),
            vsvip: VsVip(name: "v", vip: [.init(vip_id: "0", ip_address: IpAddr(addr: "\(vip)", type: .v4))]),
            pool: Pool(
                name: "p", servers: [.init(ip: IpAddr(addr: "127.0.0.1", type: .v4))],
                default_server_port: reservedPort(), lb_algorithm: .roundRobin),
            health_monitors: [], application_profile: ApplicationProfile(name: "prof", type: .http),
            ssl_key_and_certificates: [])
    }

    private func engine(
        clock: ManualClock, plumbing: RecordingPlumbing, drainTimeout: Duration = .seconds(30)
    ) -> (SEEngine, DataPlane) {
        let logger = Logger(label: "test")
        let dataPlane = DataPlane(group: group, sourceAddresses: [], logger: logger)
        let options = SEEngine.Options(
            vipInterface: plumbing.interfaceName, drainTimeout: drainTimeout, withdrawGrace: .seconds(2),
            gracefulShutdownTime: .seconds(5))
        let engine = SEEngine(
            options: options, dataPlane: dataPlane, eventLoop: group.next(), logger: logger, steering: nil,
            clock: EngineClock(clock), plumbing: plumbing)
        return (engine, dataPlane)
    }

    func testARemovedServiceKeepsItsVIPForTheDrainTimeoutOnly() async throws {
        let clock = ManualClock()
        let plumbing = RecordingPlumbing()
        let (engine, dataPlane) = engine(clock: clock, plumbing: plumbing)
        await engine.apply(version: 1, services: [service()], vrf: nil)
        XCTAssertEqual(plumbing.plumbed, [vip])

        clock.advance(by: .seconds(10))
        await engine.apply(version: 2, services: [], vrf: nil)
        XCTAssertEqual(plumbing.plumbed, [vip], "the VIP stays while the removed service's connections finish")

        clock.advance(by: .seconds(30) - .milliseconds(1))
        await engine.tick()
        XCTAssertEqual(plumbing.plumbed, [vip], "1 ms before the drain timeout")

        clock.advance(by: .milliseconds(1))
        await engine.tick()
        XCTAssertEqual(plumbing.plumbed, [], "removed once the drain timeout is over")
        await engine.shutdown()
        _ = dataPlane
    }

    func testAVIPThatComesBackIsNotRetired() async throws {
        let clock = ManualClock()
        let plumbing = RecordingPlumbing()
        let (engine, _) = engine(clock: clock, plumbing: plumbing)
        await engine.apply(version: 1, services: [service()], vrf: nil)
        await engine.apply(version: 2, services: [], vrf: nil)
        clock.advance(by: .seconds(20))
        await engine.apply(version: 3, services: [service(uuid: "virtualservice-2")], vrf: nil)
        clock.advance(by: .seconds(20))
        await engine.tick()
        XCTAssertEqual(plumbing.plumbed, [vip], "past the first removal's deadline, but in use again")
        await engine.apply(version: 4, services: [], vrf: nil)
        clock.advance(by: .seconds(29))
        await engine.tick()
        XCTAssertEqual(plumbing.plumbed, [vip], "the second removal has a deadline of its own")
        clock.advance(by: .seconds(1))
        await engine.tick()
        XCTAssertEqual(plumbing.plumbed, [])
        await engine.shutdown()
    }

    func testDrainWaitsGracefulShutdownTimeThenWithdrawGraceOnTheClock() async throws {
        let clock = ManualClock()
        let plumbing = RecordingPlumbing()
        let (engine, _) = engine(clock: clock, plumbing: plumbing)
        await engine.apply(version: 1, services: [service()], vrf: nil)
        let before = await engine.status(seUUID: "se-1")
        XCTAssertFalse(before.draining)
        XCTAssertEqual(before.virtual_services.first?.advertise_reason, "VIP is loopback-only (127.0.0.0/8 or ::1)")

        let drain = Task { await engine.drain() }
        // GRACEFUL_SHUTDOWN (RFC 8326): the VIPs stay advertised for gracefulShutdownTime.
        await clock.waitForSleeps(1)
        var status = await engine.status(seUUID: "se-1")
        XCTAssertTrue(status.draining)
        XCTAssertEqual(status.virtual_services.first?.advertise_reason, "VIP is loopback-only (127.0.0.0/8 or ::1)")
        clock.advance(by: .seconds(5) - .milliseconds(1))
        XCTAssertEqual(clock.sleeping, 1, "still in the GRACEFUL_SHUTDOWN wait 1 ms before its end")

        // Withdrawn, and the VIPs stay plumbed for withdrawGrace.
        clock.advance(by: .milliseconds(1))
        await clock.waitForSleeps(2)
        status = await engine.status(seUUID: "se-1")
        XCTAssertEqual(status.virtual_services.first?.advertise_reason, "SE is draining")
        XCTAssertEqual(plumbing.plumbed, [vip])
        clock.advance(by: .seconds(2) - .milliseconds(1))
        XCTAssertEqual(clock.sleeping, 1, "still in the withdraw grace 1 ms before its end")

        // Listeners closed, connections (none) drained, VIPs removed.
        clock.advance(by: .milliseconds(1))
        await drain.value
        XCTAssertEqual(plumbing.plumbed, [])
        XCTAssertEqual(clock.sleeping, 0)
        await engine.shutdown()
    }

    /// A refresh that runs while `apply` is still opening a new service's listeners (a monitor's verdict, the
    /// periodic tick: the actor takes them between `apply`'s awaits) does not advertise its VIP: a SYN there
    /// would find no socket. The data plane's loop is held busy so that `apply` stays inside the bind.
    func testNoAdvertisementBeforeTheListenersAreOpen() async throws {
        let dataPlaneGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let logger = Logger(label: "test")
        let dataPlane = DataPlane(group: dataPlaneGroup, sourceAddresses: [], logger: logger)
        let engine = SEEngine(
            options: SEEngine.Options(vipInterface: "test0"), dataPlane: dataPlane, eventLoop: group.next(),
            logger: logger, steering: nil, clock: EngineClock(ManualClock()), plumbing: RecordingPlumbing())
        let release = DispatchSemaphore(value: 0)
        dataPlaneGroup.next().execute { release.wait() }
        let services = [service()]
        let applying = Task { await engine.apply(version: 1, services: services, vrf: nil) }
        // The service exists in the data plane (its server counts as up: no monitor) but its listener waits
        // for the held loop.
        XCTAssertTrue(waitUntil { dataPlane.status().first?.serversUp == 1 })
        await engine.refresh()
        let during = await engine.status(seUUID: "se-1")
        XCTAssertEqual(during.virtual_services.first?.advertise_reason, "listeners not open yet")
        release.signal()
        await applying.value
        let after = await engine.status(seUUID: "se-1")
        XCTAssertEqual(after.virtual_services.first?.advertise_reason, "VIP is loopback-only (127.0.0.0/8 or ::1)")
        await engine.shutdown()
        try await dataPlaneGroup.shutdownGracefully()
    }

    func testTheDaemonsInitialiserTakesTheContinuousClockByDefault() async {
        let engine = SEEngine(
            options: SEEngine.Options(vipInterface: nil),
            dataPlane: DataPlane(group: group, sourceAddresses: [], logger: Logger(label: "test")),
            eventLoop: group.next(), logger: Logger(label: "test"))
        let version = await engine.version
        XCTAssertEqual(version, 0)
        await engine.shutdown()
    }
}
