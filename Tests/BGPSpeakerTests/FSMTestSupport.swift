import NIOCore
import XCTest

@testable import BGPSpeaker

/// A BGPSessionFSM driven by a manual clock: no sleeps, time moves only when a test says so.
struct FSMHarness {
    var fsm: BGPSessionFSM
    var now: NIODeadline = .uptimeNanoseconds(1_000_000_000_000)

    init(_ configuration: PeerConfiguration) {
        fsm = BGPSessionFSM(configuration: configuration)
    }

    var state: SessionState { fsm.state }

    @discardableResult
    mutating func handle(_ event: FSMEvent) -> [FSMAction] {
        fsm.handle(event, now: now)
    }

    /// Moves the clock forward and fires whatever timers are due.
    @discardableResult
    mutating func advance(_ amount: TimeAmount) -> [FSMAction] {
        now = now + amount
        return fsm.handle(.timersExpired, now: now)
    }

    /// Moves the clock to the FSM's next deadline (asserting there is one) and fires the timers.
    @discardableResult
    mutating func advanceToNextDeadline(file: StaticString = #filePath, line: UInt = #line) -> [FSMAction] {
        guard let d = fsm.nextDeadline else {
            XCTFail("no timer running", file: file, line: line)
            return []
        }
        now = max(now, d)
        return fsm.handle(.timersExpired, now: now)
    }

    /// Seconds from now to the next deadline.
    var secondsToNextDeadline: Int64? {
        fsm.nextDeadline.map { ($0 - now).nanoseconds / 1_000_000_000 }
    }

    /// ManualStart, outbound connection up, OPEN and KEEPALIVE from the peer: Established on -1.
    @discardableResult
    mutating func establishOutbound(
        peerOpen: OpenMessage = FSMFixtures.peerOpen(), file: StaticString = #filePath, line: UInt = #line
    ) -> ConnectionID {
        let id = ConnectionID(-1)
        handle(.manualStart)
        handle(.tcpCRAcked(id))
        handle(.message(id, .open(peerOpen)))
        let actions = handle(.message(id, .keepalive))
        XCTAssertEqual(state, .established, file: file, line: line)
        XCTAssertTrue(actions.contains { if case .established = $0 { true } else { false } }, file: file, line: line)
        return id
    }
}

enum FSMFixtures {
    static let localID = IPv4Address(192, 0, 2, 1)
    static let peerID = IPv4Address(192, 0, 2, 2)

    static func config(
        localAS: UInt32 = 65001, routerID: IPv4Address = localID, peerAS: UInt32 = 65002, holdTime: UInt16 = 90,
        passive: Bool = false, delayOpen: Bool = false, delayOpenTime: TimeAmount = .seconds(0),
        families: Set<AddressFamily> = [.ipv4Unicast, .ipv6Unicast], extendedMessages: Bool = true,
        gracefulRestart: GracefulRestartCapability? = nil, enhancedRouteRefresh: Bool = false
    ) -> PeerConfiguration {
        try! PeerConfiguration(
            localAS: localAS, routerID: routerID, peerAS: peerAS, holdTime: holdTime, passive: passive,
            delayOpen: delayOpen, delayOpenTime: delayOpenTime, families: families,
            gracefulRestart: gracefulRestart, extendedMessages: extendedMessages,
            enhancedRouteRefresh: enhancedRouteRefresh)
    }

    /// An OPEN as a typical modern router sends it.
    static func peerOpen(
        asn: UInt32 = 65002, holdTime: UInt16 = 90, id: IPv4Address = peerID,
        families: [AddressFamily] = [.ipv4Unicast, .ipv6Unicast], fourOctet: Bool = true, extended: Bool = false,
        version: UInt8 = 4
    ) -> OpenMessage {
        var caps: [Capability] = families.map { .multiprotocol($0) }
        caps.append(.routeRefresh)
        if fourOctet { caps.append(.fourOctetAS(asn)) }
        if extended { caps.append(.extendedMessage) }
        let myAS = asn > 65535 ? asTrans : UInt16(asn)
        return OpenMessage(
            version: version, myAutonomousSystem: myAS, holdTime: holdTime, bgpIdentifier: id, capabilities: caps)
    }

    static func notification(_ code: NotificationCode, _ subcode: UInt8, _ data: [UInt8] = []) -> BGPMessage {
        .notification(NotificationMessage(code: code, subcode: subcode, data: data))
    }

    static let update = UpdateMessage(nlri: [IPv4Prefix("192.0.2.10/32")!])
}

extension Array where Element == FSMAction {
    /// The messages sent on `id`, in order.
    func sent(on id: ConnectionID) -> [BGPMessage] {
        compactMap { if case .send(id, let m) = $0 { m } else { nil } }
    }
    var closed: [ConnectionID] { compactMap { if case .close(let id) = $0 { id } else { nil } } }
    var connects: [ConnectionID] { compactMap { if case .connect(let id) = $0 { id } else { nil } } }
    var sessionDowns: [String] { compactMap { if case .sessionDown(let r) = $0 { r } else { nil } } }
    var stateChange: (from: SessionState, to: SessionState)? {
        for case .stateChanged(let from, let to) in self { return (from, to) }
        return nil
    }
}
