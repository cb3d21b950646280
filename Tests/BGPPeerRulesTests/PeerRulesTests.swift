import BGPPeerRules
import IPAddresses
import XCTest

final class PeerRulesTests: XCTestCase {
    private func violation(_ body: () throws(PeerRules.Violation) -> Void) -> PeerRules.Violation? {
        do {
            try body()
            return nil
        } catch {
            return error
        }
    }

    func testASNumbers() {
        XCTAssertEqual(
            violation { () throws(PeerRules.Violation) in try PeerRules.checkAS(0, field: .peerAS) }?.field, .peerAS)
        XCTAssertEqual(
            violation { () throws(PeerRules.Violation) in try PeerRules.checkAS(23456, field: .localAS) }?.reason,
            "23456 is AS_TRANS (RFC 6793), not a usable AS")
        for ok: UInt32 in [1, 23455, 23457, 65535, 4_294_967_295] {
            XCTAssertNil(violation { () throws(PeerRules.Violation) in try PeerRules.checkAS(ok, field: .localAS) })
        }
    }

    func testHoldTimeAndKeepalive() {
        for bad in [-1, 1, 2, 65536] {
            XCTAssertEqual(
                violation { () throws(PeerRules.Violation) in try PeerRules.checkHoldTime(bad) }?.field, .holdTime)
        }
        for ok in [0, 3, 65535] {
            XCTAssertNil(violation { () throws(PeerRules.Violation) in try PeerRules.checkHoldTime(ok) })
        }
        XCTAssertNotNil(
            violation { () throws(PeerRules.Violation) in try PeerRules.checkKeepaliveInterval(21846, holdTime: nil) })
        XCTAssertNotNil(
            violation { () throws(PeerRules.Violation) in try PeerRules.checkKeepaliveInterval(90, holdTime: 90) })
        XCTAssertNil(
            violation { () throws(PeerRules.Violation) in try PeerRules.checkKeepaliveInterval(30, holdTime: 90) })
    }

    func testAddresses() {
        XCTAssertEqual(
            violation { () throws(PeerRules.Violation) in try PeerRules.checkRouterID(IPv4Address(rawValue: 0)) }?
                .field,
            .routerID)
        XCTAssertNotNil(
            violation { () throws(PeerRules.Violation) in
                try PeerRules.checkSessionAddress(IPAddress("fe80::1")!, field: .peerAddress)
            })
        XCTAssertNotNil(
            violation { () throws(PeerRules.Violation) in
                try PeerRules.checkSessionAddress(IPAddress("0.0.0.0")!, field: .peerAddress)
            })
        XCTAssertNil(violation { () throws(PeerRules.Violation) in try PeerRules.checkListenAddress(IPAddress("::")!) })
        XCTAssertNotNil(
            violation { () throws(PeerRules.Violation) in try PeerRules.checkListenAddress(IPAddress("fe80::2")!) })
        XCTAssertEqual(
            violation { () throws(PeerRules.Violation) in
                try PeerRules.checkLocalAddress(IPAddress("2001:db8::1")!, peer: IPAddress("192.0.2.1")!)
            }?.reason, "address family differs from the peer address")
    }
}
