import BGPSpeaker
import XCTest

@testable import FlowSteering

/// The pure rules of flow steering: the heartbeat wire form, liveness and the epoch, native primary
/// election, and the weighted bucket table (issue 15).
final class MembershipTests: XCTestCase {
    let members = ["198.18.1.11", "198.18.1.12", "198.18.1.13"].map { IPAddress($0)! }
    var byPosition: [Int: IPAddress] { FlowSteering.Configuration.positions(members) }
    let interval = Duration.milliseconds(100)

    func membership(self position: Int = 0) -> Membership {
        Membership(members: byPosition, selfPosition: position, deadAfter: interval * 3)
    }

    // MARK: - Heartbeats

    func testHeartbeatRoundTrips() {
        let beat = Membership.Heartbeat(
            free: 19_950, primaryOf: ["198.18.1.100", "2001:db8::100"],
            serves: ["198.18.1.100", "2001:db8::100", "192.0.2.7"])
        XCTAssertEqual(
            beat.encoded,
            "STARLING-HB 1 free=19950 primary=198.18.1.100,2001:db8::100 serves=192.0.2.7,198.18.1.100,2001:db8::100\n")
        XCTAssertEqual(Membership.Heartbeat(decoding: beat.encoded), beat)
        let leaving = Membership.Heartbeat(free: 0, primaryOf: [], leaving: true)
        XCTAssertEqual(leaving.encoded, "STARLING-HB 1 free=0 primary= serves= leaving\n")
        XCTAssertEqual(Membership.Heartbeat(decoding: leaving.encoded), leaving)
    }

    func testMalformedHeartbeatsAreRefused() {
        let bad = [
            "", "STARLING-HB", "STARLING-HB 2 free=1 primary= serves=", "HELLO 1 free=1 primary= serves=",
            "STARLING-HB 1 free=-5 primary= serves=", "STARLING-HB 1 free=x primary= serves=",
            "STARLING-HB 1 primary= free=1 serves=", "STARLING-HB 1 free=1 serves= primary=",
            "STARLING-HB 1 free=1 primary= serves= leavin", "STARLING-HB 1 free=1 primary= serves= leaving extra",
            "STARLING-HB 1 free=1 primary=", "STARLING-HB 1 free=1",
            "STARLING-HB 1 free=99999999999999999999999 primary= serves=",
            "STARLING-HB 1 free=1 primary=" + Array(repeating: "198.18.1.1", count: 300).joined(separator: ",")
                + " serves=",
            "STARLING-HB 1 free=1 primary= serves=" + String(repeating: "a", count: 65),
        ]
        for text in bad { XCTAssertNil(Membership.Heartbeat(decoding: text), text) }
    }

    // MARK: - Liveness and epoch

    func testMembersAreLiveWhileHeardAndTheEpochCountsChanges() {
        var m = membership()
        let t0 = ContinuousClock.now
        XCTAssertEqual(m.live, [0], "this SE is always live")
        XCTAssertEqual(m.epoch, 1)
        let beat = Membership.Heartbeat(free: 100, primaryOf: [])
        XCTAssertTrue(m.heard(from: members[1], beat, at: t0))
        XCTAssertTrue(m.heard(from: members[2], beat, at: t0))
        XCTAssertTrue(m.evaluate(at: t0 + .milliseconds(10)))
        XCTAssertEqual(m.live, [0, 1, 2])
        XCTAssertEqual(m.epoch, 2)
        XCTAssertFalse(m.evaluate(at: t0 + .milliseconds(50)), "nothing changed")
        XCTAssertEqual(m.epoch, 2)
        // Member 2 keeps beating; member 1 falls silent: gone after three intervals, not before.
        XCTAssertTrue(m.heard(from: members[2], beat, at: t0 + .milliseconds(250)))
        XCTAssertFalse(m.evaluate(at: t0 + .milliseconds(300)))
        XCTAssertTrue(m.evaluate(at: t0 + .milliseconds(301)))
        XCTAssertEqual(m.live, [0, 2])
        XCTAssertEqual(m.epoch, 3)
        // Back again.
        XCTAssertTrue(m.heard(from: members[1], beat, at: t0 + .milliseconds(320)))
        XCTAssertTrue(m.evaluate(at: t0 + .milliseconds(330)))
        XCTAssertEqual(m.live, [0, 1, 2])
        XCTAssertEqual(m.epoch, 4)
    }

    func testHeartbeatsFromStrangersAndFromItselfAreIgnored() {
        var m = membership()
        let beat = Membership.Heartbeat(free: 1, primaryOf: [])
        XCTAssertFalse(m.heard(from: IPAddress("198.18.1.99")!, beat, at: .now))
        XCTAssertFalse(m.heard(from: members[0], beat, at: .now), "this SE's own address (a spoof or a loop)")
        XCTAssertFalse(m.evaluate(at: .now))
        XCTAssertEqual(m.live, [0])
    }

    // MARK: - Native primary

    func testPrimaryIsTheLowestLiveClaimantElseTheLowestLive() {
        var m = membership(self: 1)
        let t = ContinuousClock.now
        m.selfServes = ["vip", "other"]
        XCTAssertTrue(m.heard(from: members[0], .init(free: 1, primaryOf: [], serves: ["vip", "other"]), at: t))
        XCTAssertTrue(m.heard(from: members[2], .init(free: 1, primaryOf: [], serves: ["vip"]), at: t))
        XCTAssertTrue(m.evaluate(at: t))
        XCTAssertEqual(m.primary(of: "vip", selfClaims: false), 0, "nobody claims: the lowest live position")
        // Member 2 holds it (it took over while 0 was down): 0 coming back does not take it back.
        XCTAssertTrue(m.heard(from: members[2], .init(free: 1, primaryOf: ["vip"], serves: ["vip"]), at: t))
        XCTAssertEqual(m.primary(of: "vip", selfClaims: false), 2)
        // Two claimants (a split healed): the lowest position keeps it, the other gives it up.
        XCTAssertEqual(m.primary(of: "vip", selfClaims: true), 1)
        XCTAssertEqual(m.primary(of: "other", selfClaims: false), 0, "per VIP")
        // Only members that serve a VIP take part in it: member 0 stops serving "other".
        XCTAssertTrue(m.heard(from: members[0], .init(free: 1, primaryOf: [], serves: ["vip"]), at: t))
        XCTAssertEqual(m.serving("other"), [1])
        XCTAssertEqual(m.serving("vip"), [0, 1, 2])
        XCTAssertEqual(m.primary(of: "other", selfClaims: false), 1)
        XCTAssertEqual(m.serving("unknown"), [])
        // The controller's pick wins while it serves, lives and stays; else the heartbeats decide.
        XCTAssertEqual(m.primary(of: "vip", selfClaims: true, preferred: 2), 2)
        XCTAssertEqual(m.primary(of: "other", selfClaims: false, preferred: 2), 1, "2 does not serve other")
        XCTAssertTrue(m.heard(from: members[2], .init(free: 1, primaryOf: [], serves: ["vip"], leaving: true), at: t))
        XCTAssertEqual(m.primary(of: "vip", selfClaims: true, preferred: 2), 1, "2 is leaving")
    }

    func testALeavingMemberIsNeitherPrimaryNorGivenNewFlows() {
        var m = membership(self: 0)
        let t = ContinuousClock.now
        m.selfServes = ["vip"]
        XCTAssertTrue(m.heard(from: members[1], .init(free: 1, primaryOf: [], serves: ["vip"]), at: t))
        XCTAssertTrue(m.heard(from: members[2], .init(free: 1, primaryOf: [], serves: ["vip"], leaving: true), at: t))
        XCTAssertTrue(m.evaluate(at: t))
        XCTAssertEqual(m.live, [0, 1, 2], "a leaving member is still live: its connections are forwarded to it")
        XCTAssertEqual(m.staying(for: "vip"), [0, 1])
        XCTAssertEqual(m.serving("vip"), [0, 1, 2], "still forwarded its connections")
        XCTAssertTrue(m.isLeaving(2))
        // This SE leaves while primary: the next staying member becomes primary, whatever this SE claims.
        m.selfLeaving = true
        XCTAssertEqual(m.staying(for: "vip"), [1])
        XCTAssertEqual(m.primary(of: "vip", selfClaims: true), 1)
        // Everyone leaving: the VIP stays owned to the end.
        XCTAssertTrue(
            m.heard(from: members[1], .init(free: 1, primaryOf: ["vip"], serves: ["vip"], leaving: true), at: t))
        XCTAssertEqual(m.staying(for: "vip"), [0, 1, 2])
        XCTAssertEqual(m.primary(of: "vip", selfClaims: false), 1)
    }

    // MARK: - Buckets

    func testBucketsSpreadByWeightAndOnlyOverLiveMembers() {
        let even = Membership.buckets(count: 256, live: [0, 1, 2], members: byPosition, weights: [:])
        XCTAssertEqual(even.count, 256)
        let counts = Dictionary(grouping: even, by: { $0 }).mapValues(\.count)
        XCTAssertEqual(Set(counts.keys), [0, 1, 2])
        for (position, n) in counts { XCTAssertTrue((50...120).contains(n), "member \(position): \(n) of 256") }
        // Member 0 with twice the free capacity takes about half.
        let weighted = Membership.buckets(
            count: 256, live: [0, 1, 2], members: byPosition, weights: [0: 200, 1: 100, 2: 100])
        let share = weighted.filter { $0 == 0 }.count
        XCTAssertTrue((100...160).contains(share), "weighted share \(share) of 256")
        let two = Membership.buckets(count: 256, live: [0, 2], members: byPosition, weights: [:])
        XCTAssertFalse(two.contains(1), "a member that is not live gets no bucket")
        XCTAssertEqual(
            Membership.buckets(count: 256, live: [0, 1, 2], members: byPosition, weights: [:]), even, "deterministic")
    }

    func testAMemberLeavingOrJoiningMovesOnlyItsOwnBuckets() {
        let all = Membership.buckets(count: 256, live: [0, 1, 2], members: byPosition, weights: [:])
        let without1 = Membership.buckets(count: 256, live: [0, 2], members: byPosition, weights: [:])
        for bucket in 0..<256 where all[bucket] != 1 {
            XCTAssertEqual(without1[bucket], all[bucket], "bucket \(bucket) stays where it was")
        }
        // Read the other way (member 1 joining): it takes buckets, and only those buckets change hands.
        XCTAssertEqual(all.filter { $0 == 1 }.count, zip(all, without1).filter { $0 != $1 }.count)
    }

    // MARK: - Members from the controller

    func testPositionsWithGapsAndAChangedMemberList() {
        let a = IPAddress("198.18.1.11")!
        let c = IPAddress("198.18.1.13")!
        let d = IPAddress("198.18.1.14")!
        // The controller's positions: 1 and 5 (position 0 was freed by an SE that left).
        var m = Membership(members: [1: a, 5: c], selfPosition: 1, deadAfter: interval * 3)
        let t = ContinuousClock.now
        XCTAssertEqual(m.position(of: c), 5)
        XCTAssertTrue(m.heard(from: c, .init(free: 10, primaryOf: [], serves: ["vip"]), at: t))
        XCTAssertTrue(m.evaluate(at: t))
        XCTAssertEqual(m.live, [1, 5])
        m.selfServes = ["vip"]
        XCTAssertEqual(m.primary(of: "vip", selfClaims: false), 1, "the lowest position when nobody claims")
        let table = Membership.buckets(count: 256, live: m.live, members: m.members, weights: [:])
        XCTAssertEqual(Set(table), [1, 5])

        // Position 5 goes to another SE (c left, d joined at its position): what c said no longer counts.
        m.setMembers([1: a, 5: d])
        XCTAssertTrue(m.evaluate(at: t))
        XCTAssertEqual(m.live, [1], "d is not live before its own heartbeat")
        XCTAssertFalse(m.heard(from: c, .init(free: 10, primaryOf: [], serves: ["vip"]), at: t), "c is no member")
        XCTAssertTrue(m.heard(from: d, .init(free: 10, primaryOf: [], serves: ["vip"]), at: t))
        XCTAssertTrue(m.evaluate(at: t))
        XCTAssertEqual(m.live, [1, 5])

        // A member removed stops being live at once, not after the dead interval.
        m.setMembers([1: a])
        XCTAssertTrue(m.evaluate(at: t))
        XCTAssertEqual(m.live, [1])
        XCTAssertEqual(
            Membership.buckets(count: 16, live: [1, 5], members: m.members, weights: [:]),
            Array(repeating: 1, count: 16))
    }

    func testConfigurationChecksPositions() {
        let a = IPAddress("198.18.1.11")!
        func configuration(_ members: [Int: IPAddress]) -> FlowSteering.Configuration {
            FlowSteering.Configuration(interface: "eth1", selfAddress: a, members: members)
        }
        XCTAssertNoThrow(try configuration([0: a, 15: IPAddress("198.18.1.12")!]).validate())
        XCTAssertThrowsError(try configuration([16: a]).validate()) { error in
            XCTAssertTrue("\(error)".contains("position 16 out of 0-15"), "\(error)")
        }
        XCTAssertThrowsError(try configuration([0: a, 1: a]).validate())
        XCTAssertThrowsError(try configuration([0: IPAddress("198.18.1.12")!]).validate())
        XCTAssertEqual(configuration([3: a]).selfPosition, 3)
    }
}
