import NIOCore
import XCTest

@testable import BGPSpeaker

/// `UpdateMessage.pack`: every message fits, every prefix appears exactly once, messages are full,
/// and each carries one kind of NLRI (RFC 7606 §5.1).
final class PackTests: XCTestCase {
    private func hosts4(_ count: Int, base: UInt32 = 0x0A00_0000) -> [IPPrefix] {
        (0..<UInt32(count)).map { .v4(IPv4Prefix(address: IPv4Address(rawValue: base + $0), length: 32)) }
    }

    private func hosts6(_ count: Int, high: UInt64 = 0x2001_0DB8_0000_0000) -> [IPPrefix] {
        (0..<UInt64(count)).map { .v6(IPv6Prefix(address: IPv6Address(high: high, low: $0 + 1), length: 128)) }
    }

    private var v6Attributes: PathAttributes {
        var a = UpdateVectors.mandatoryAttributes
        a.mpReach = MPReach(
            family: .ipv6Unicast,
            nextHop: .ipv6(global: IPv6Address("2001:db8::1")!, linkLocal: IPv6Address("fe80::1")!), nlri: [])
        return a
    }

    /// Encodes every message with its 19-octet header accounted for, checks the size limit and the
    /// RFC 7606 §5.1 shape, and decodes it back.
    private func encodeAndDecode(
        _ messages: [UpdateMessage], context: WireContext, file: StaticString = #filePath, line: UInt = #line
    ) -> [(size: Int, update: UpdateMessage)] {
        messages.compactMap { message in
            var body = ByteBuffer()
            message.write(body: &body, context: context)
            let size = 19 + body.readableBytes
            XCTAssertLessThanOrEqual(size, context.maxMessageSize, file: file, line: line)
            let carriers = [
                !message.withdrawnRoutes.isEmpty, !message.nlri.isEmpty, message.attributes.mpReach != nil,
                message.attributes.mpUnreach != nil,
            ]
            XCTAssertEqual(carriers.filter { $0 }.count, 1, "RFC 7606 §5.1: one NLRI carrier", file: file, line: line)
            // RFC 7606 §5.1: an MP attribute is the first attribute (flags at 4 + withdrawn, type next).
            if message.attributes.mpReach != nil || message.attributes.mpUnreach != nil {
                let withdrawnLength = Int(body.getInteger(at: body.readerIndex, as: UInt16.self)!)
                let type = body.getInteger(at: body.readerIndex + 2 + withdrawnLength + 2 + 1, as: UInt8.self)
                XCTAssertTrue(type == 14 || type == 15, "MP attribute first", file: file, line: line)
            }
            do {
                let decoded = try UpdateMessage.decode(body: &body, context: context)
                XCTAssertEqual(decoded.errors, [], file: file, line: line)
                XCTAssertEqual(decoded.update, message, "round trip", file: file, line: line)
                return (size, decoded.update)
            } catch {
                XCTFail("packed message does not decode: \(error)", file: file, line: line)
                return nil
            }
        }
    }

    func testTenThousandHostRoutesWithOneAttributeSet() {
        // Attributes ORIGIN (4) + AS_PATH [65001] (9) + NEXT_HOP (7) = 20 octets; 4096 - 23 - 20 = 4053
        // octets of NLRI hold 810 /32s (5 octets each), so 10,000 take 13 = ceil(10000*5/4050) messages.
        let prefixes = hosts4(10_000)
        let messages = UpdateMessage.pack(
            withdrawn: [], announced: [(UpdateVectors.mandatoryAttributes, prefixes)], context: UpdateVectors.ebgp)
        XCTAssertEqual(messages.count, 13)
        XCTAssertEqual(messages.count, Int((10_000.0 * 5 / 4050).rounded(.up)))
        XCTAssertEqual(messages.first?.nlri.count, 810)
        let decoded = encodeAndDecode(messages, context: UpdateVectors.ebgp)
        XCTAssertEqual(decoded.first?.size, 23 + 20 + 810 * 5)  // 4093: one more /32 would not fit
        XCTAssertEqual(decoded.flatMap { $0.update.nlri.map(IPPrefix.v4) }, prefixes)
        XCTAssertTrue(decoded.allSatisfy { $0.update.attributes == UpdateVectors.mandatoryAttributes })
    }

    func testWithdrawalsFillToTheLimit() {
        // 4096 - 23 = 4073 octets hold 814 /32s (4070); the 815th starts a second message.
        XCTAssertEqual(UpdateMessage.pack(withdrawn: hosts4(814), announced: [], context: UpdateVectors.ebgp).count, 1)
        let two = UpdateMessage.pack(withdrawn: hosts4(815), announced: [], context: UpdateVectors.ebgp)
        XCTAssertEqual(two.map(\.withdrawnRoutes.count), [814, 1])
    }

    func testIPv6AnnouncementsUseMPReachFromTheTemplate() {
        // Attributes: MP_REACH header 3 + value 5 + 32 (global + link-local) = 40, ORIGIN 4, AS_PATH 9:
        // 53 octets, +1 for the extended length of a full MP_REACH. 4073 - 54 = 4019 octets hold 236
        // /128s (17 octets each): 1000 take 5 messages, the first 23 + 54 + 4012 = 4089 octets long.
        let prefixes = hosts6(1000)
        let messages = UpdateMessage.pack(
            withdrawn: [], announced: [(v6Attributes, prefixes)], context: UpdateVectors.ebgp)
        XCTAssertEqual(messages.map { $0.attributes.mpReach?.nlri.count ?? 0 }, [236, 236, 236, 236, 56])
        let decoded = encodeAndDecode(messages, context: UpdateVectors.ebgp)
        XCTAssertEqual(decoded.first?.size, 4089)
        XCTAssertEqual(decoded.flatMap { $0.update.attributes.mpReach?.nlri ?? [] }, prefixes)
        for (_, update) in decoded {
            // RFC 4760 §3: no NEXT_HOP when only MP_REACH_NLRI announces.
            XCTAssertNil(update.attributes.nextHop)
            XCTAssertEqual(update.attributes.mpReach?.nextHop, v6Attributes.mpReach?.nextHop)
            XCTAssertEqual(update.attributes.origin, .igp)
        }
    }

    func testMixedWithdrawalsAndGroupsAppearExactlyOnce() {
        let withdrawn4 = (0..<300).map {
            IPPrefix.v4(IPv4Prefix(address: IPv4Address(rawValue: 0xC612_0000 | UInt32($0) << 8), length: 24))
        }
        let withdrawn6 = (0..<300).map {
            IPPrefix.v6(IPv6Prefix(address: IPv6Address(high: 0x2001_0DB8_0001_0000 | UInt64($0), low: 0), length: 64))
        }
        var groupA = v6Attributes
        groupA.nextHop = IPv4Address(192, 0, 2, 1)
        let announcedA = hosts4(1000) + hosts6(500)
        var groupB = UpdateVectors.mandatoryAttributes
        groupB.communities = [.noExport]
        groupB.largeCommunities = [LargeCommunity(65001, 1, 2)]
        let announcedB = hosts4(5, base: 0xC000_0200)
        let messages = UpdateMessage.pack(
            withdrawn: withdrawn6 + withdrawn4, announced: [(groupA, announcedA), (groupB, announcedB)],
            context: UpdateVectors.ebgp)
        let decoded = encodeAndDecode(messages, context: UpdateVectors.ebgp).map(\.update)
        XCTAssertEqual(decoded.count, messages.count)

        // Withdrawals first.
        let firstAnnouncement = decoded.firstIndex { !$0.nlri.isEmpty || $0.attributes.mpReach != nil } ?? decoded.count
        XCTAssertTrue(
            decoded[firstAnnouncement...].allSatisfy { $0.withdrawnRoutes.isEmpty && $0.attributes.mpUnreach == nil })

        XCTAssertEqual(decoded.flatMap { $0.withdrawnRoutes.map(IPPrefix.v4) }, withdrawn4)
        XCTAssertEqual(decoded.flatMap { $0.attributes.mpUnreach?.withdrawn ?? [] }, withdrawn6)
        var expectedA4 = groupA
        expectedA4.mpReach = nil
        XCTAssertEqual(
            decoded.filter { $0.attributes == expectedA4 }.flatMap { $0.nlri.map(IPPrefix.v4) }
                + decoded.flatMap {
                    $0.attributes.mpReach?.nlri ?? []
                },
            announcedA)
        XCTAssertEqual(decoded.filter { $0.attributes == groupB }.flatMap { $0.nlri.map(IPPrefix.v4) }, announcedB)
        // Every prefix once, nothing else.
        let all = decoded.flatMap {
            $0.withdrawnRoutes.map(IPPrefix.v4) + $0.nlri.map(IPPrefix.v4) + ($0.attributes.mpReach?.nlri ?? [])
                + ($0.attributes.mpUnreach?.withdrawn ?? [])
        }
        XCTAssertEqual(all.count, 300 + 300 + 1500 + 5)
        XCTAssertEqual(Set(all).count, all.count)
        XCTAssertEqual(Set(all), Set(withdrawn4 + withdrawn6 + announcedA + announcedB))
    }

    func testExtendedMessagesHoldMore() {
        // RFC 8654: 65535 octets: 10,000 /32s (50,000 octets) fit in one UPDATE.
        let context = WireContext(fourOctetAS: true, extendedMessages: true)
        let messages = UpdateMessage.pack(
            withdrawn: [], announced: [(UpdateVectors.mandatoryAttributes, hosts4(10_000))], context: context)
        XCTAssertEqual(messages.count, 1)
        XCTAssertEqual(encodeAndDecode(messages, context: context).first?.size, 23 + 20 + 50_000)
    }

    func testNothingToSend() {
        XCTAssertEqual(UpdateMessage.pack(withdrawn: [], announced: [], context: UpdateVectors.ebgp), [])
        XCTAssertEqual(
            UpdateMessage.pack(
                withdrawn: [], announced: [(UpdateVectors.mandatoryAttributes, [])], context: UpdateVectors.ebgp),
            [])
    }

    func testIPv6WithoutTemplateIsLeftOut() {
        // No MP_REACH_NLRI template means no next hop for IPv6: only the IPv4 prefix is sent.
        let messages = UpdateMessage.pack(
            withdrawn: [], announced: [(UpdateVectors.mandatoryAttributes, hosts4(1) + hosts6(1))],
            context: UpdateVectors.ebgp)
        XCTAssertEqual(messages.count, 1)
        XCTAssertEqual(messages.first?.nlri.count, 1)
    }

    func testAttributesTooLargeForAMessageAreLeftOut() {
        // 1100 communities = 4400 octets of attributes: no room for any prefix in 4096 octets.
        var attributes = UpdateVectors.mandatoryAttributes
        attributes.communities = (0..<1100).map { Community(rawValue: UInt32($0)) }
        XCTAssertEqual(
            UpdateMessage.pack(withdrawn: [], announced: [(attributes, hosts4(3))], context: UpdateVectors.ebgp), [])
    }
}
