import XCTest

@testable import BGPSpeaker

#if canImport(Glibc)
    import Glibc
#endif

/// Ingest throughput and memory of the RIB for one peer sending 1M IPv4 prefixes. Skipped unless
/// `STARLING_RIB_BENCH=1`. In a debug build the figures are only a sanity check; the release figures
/// come from `Benchmarks/RIBBench/run.sh`.
final class RIBBenchmarkTests: XCTestCase {
    static func residentKiB() -> (rss: Int, peak: Int) {
        let fd = open("/proc/self/status", O_RDONLY)
        guard fd >= 0 else { return (0, 0) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 8192)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return (0, 0) }
        var rss = 0
        var peak = 0
        for line in String(decoding: bytes[..<n], as: UTF8.self).split(separator: "\n") {
            let fields = line.split(omittingEmptySubsequences: true) { $0 == " " || $0 == "\t" }
            guard fields.count >= 2, let kib = Int(fields[1]) else { continue }
            if fields[0] == "VmRSS:" { rss = kib }
            if fields[0] == "VmHWM:" { peak = kib }
        }
        return (rss, peak)
    }

    static func prefix(_ i: Int) -> IPv4Prefix {
        IPv4Prefix(address: IPv4Address(rawValue: UInt32(0x0100_0000 + i * 256)), length: 24)
    }

    static func attributes(_ i: Int) -> PathAttributes {
        PathAttributes(
            origin: .igp,
            asPath: ASPath(segments: [
                ASPath.Segment(type: .asSequence, asns: [65001, UInt32(64512 + i % 400), UInt32(100_000 + i)])
            ]),
            nextHop: IPv4Address(198, 18, 0, 1), multiExitDisc: 0,
            communities: [Community(asn: 65001, value: UInt16(i % 100)), Community(asn: 65001, value: 1000)])
    }

    func ingest(name: String, messages: [UpdateMessage], expectedSets: Int) {
        var messages = messages
        let before = Self.residentKiB()
        var rib = RIB()
        let peer = PeerID(1)
        rib.setPeerInfo(
            peer,
            RIBPeerInfo(
                peerAS: 65001, routerID: IPv4Address(10, 0, 0, 1), address: .v4(IPv4Address(198, 18, 0, 1)),
                localAS: 65000))
        let clock = ContinuousClock()
        var changed = 0
        let start = clock.now
        for i in messages.indices {
            // Dropped once applied, as the speaker drops a decoded UPDATE.
            let m = messages[i]
            messages[i] = UpdateMessage()
            changed += rib.apply(m, from: peer).bestPathsChanged
        }
        let elapsed = clock.now - start
        let after = Self.residentKiB()
        print(
            "RIB bench \(name): 1M prefixes in \(elapsed) (\(elapsed / 1_000_000) per prefix);"
                + " RSS \(before.rss / 1024) -> \(after.rss / 1024) MiB, peak \(after.peak / 1024) MiB")
        XCTAssertEqual(changed, 1_000_000)
        XCTAssertEqual(rib.prefixCount(of: peer), 1_000_000)
        XCTAssertEqual(rib.locRIBCount, 1_000_000)
        XCTAssertEqual(rib.attributeSetCount, expectedSets)
        XCTAssertEqual(rib.bestRoute(for: .v4(Self.prefix(123_456)))?.peer, peer)
        XCTAssertEqual(rib.removePeer(peer).bestPathsChanged, 1_000_000)
        XCTAssertEqual(rib.attributeSetCount, 0)
    }

    /// 1000 UPDATEs of 1000 prefixes sharing one attribute set.
    func testIngestMillionPrefixesThroughput() throws {
        guard let flag = getenv("STARLING_RIB_BENCH"), String(cString: flag) == "1" else {
            throw XCTSkip("set STARLING_RIB_BENCH=1 to run")
        }
        let a = Self.attributes(0)
        let messages = (0..<1000).map { m in
            UpdateMessage(attributes: a, nlri: (0..<1000).map { Self.prefix(m * 1000 + $0) })
        }
        ingest(name: "packed", messages: messages, expectedSets: 1)
    }

    /// 250,000 UPDATEs of 4 prefixes, each with its own attribute set.
    func testIngestMillionPrefixesRealisticMix() throws {
        guard let flag = getenv("STARLING_RIB_BENCH"), String(cString: flag) == "1" else {
            throw XCTSkip("set STARLING_RIB_BENCH=1 to run")
        }
        let messages = (0..<250_000).map { m in
            UpdateMessage(attributes: Self.attributes(m), nlri: (0..<4).map { Self.prefix(m * 4 + $0) })
        }
        ingest(name: "mixed", messages: messages, expectedSets: 250_000)
    }
}
