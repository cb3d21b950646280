import BGPSpeaker
import XCTest

@testable import FlowSteering

/// The frames a new native primary sends (RFC 5227 ARP announcement, RFC 4861 unsolicited NA), byte by byte.
final class AnnouncementTests: XCTestCase {
    let mac: [UInt8] = [0x02, 0x00, 0x5E, 0x10, 0x20, 0x30]

    func testGratuitousARPFrame() {
        let frame = GratuitousARP.frame(address: IPv4Address("198.18.1.100")!, mac: mac)
        XCTAssertEqual(frame.count, 42)
        XCTAssertEqual(Array(frame[0..<6]), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "broadcast")
        XCTAssertEqual(Array(frame[6..<12]), mac)
        XCTAssertEqual(Array(frame[12..<14]), [0x08, 0x06], "ARP")
        XCTAssertEqual(Array(frame[14..<22]), [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], "Ethernet/IPv4 request")
        XCTAssertEqual(Array(frame[22..<28]), mac, "sender MAC")
        XCTAssertEqual(Array(frame[28..<32]), [198, 18, 1, 100], "sender IP: the VIP")
        XCTAssertEqual(Array(frame[32..<38]), [0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(frame[38..<42]), [198, 18, 1, 100], "target IP: the VIP too")
    }

    func testUnsolicitedNeighbourAdvertisement() {
        let target = IPv6Address("2001:db8:ffff:1::100")!
        let message = UnsolicitedNA.message(target: target, mac: mac)
        XCTAssertEqual(message.count, 32)
        XCTAssertEqual(Array(message[0..<2]), [136, 0], "Neighbor Advertisement")
        XCTAssertEqual(message[4], 0x20, "Override set, Router and Solicited clear")
        XCTAssertEqual(Array(message[8..<24]), target.bytes)
        XCTAssertEqual(Array(message[24..<26]), [2, 1], "Target Link-Layer Address, 8 bytes")
        XCTAssertEqual(Array(message[26..<32]), mac)
    }
}
