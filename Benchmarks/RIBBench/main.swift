// RIB ingest benchmark, built outside the package in release mode by `Benchmarks/RIBBench/run.sh`
// (compiled into one module with the Wire and RIB sources, so no `import BGPSpeaker`).
//
// Workloads (one peer, 1M IPv4 /24 prefixes):
//   packed: 1000 UPDATEs of 1000 prefixes sharing one attribute set;
//   mixed:  250,000 UPDATEs of 4 prefixes, each with its own attribute set.
// Each UPDATE is dropped once applied, as the speaker drops a decoded message.

#if canImport(Glibc)
import Glibc
#endif

func rssKiB() -> (rss: Int, peak: Int) {
    let fd = open("/proc/self/status", O_RDONLY)
    guard fd >= 0 else { return (0, 0) }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 8192)
    let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return (0, 0) }
    let text = String(decoding: bytes[..<n], as: UTF8.self)
    func field(_ name: String) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
    return (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time of this thread, in seconds (unlike the wall clock, not stretched when other
/// processes take the CPU).
func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func prefix(_ i: Int) -> IPv4Prefix {
    IPv4Prefix(address: IPv4Address(rawValue: UInt32(0x0100_0000 + i * 256)), length: 24)
}

func attributes(_ i: Int) -> PathAttributes {
    PathAttributes(
        origin: .igp,
        asPath: ASPath(segments: [ASPath.Segment(type: .asSequence, asns: [65001, UInt32(64512 + i % 400), UInt32(100_000 + i)])]),
        nextHop: IPv4Address(198, 18, 0, 1), multiExitDisc: 0,
        communities: [Community(asn: 65001, value: UInt16(i % 100)), Community(asn: 65001, value: 1000)])
}

/// The number of UPDATEs of a workload and a function building the m-th (built just before it is
/// applied, so that memory figures show the RIB, not the input).
func workload(_ name: String) -> (count: Int, message: (Int) -> UpdateMessage) {
    switch name {
    case "packed", "packed-reserved":
        let a = attributes(0)
        return (1000, { m in UpdateMessage(attributes: a, nlri: (0..<1000).map { prefix(m * 1000 + $0) }) })
    default:
        return (250_000, { m in UpdateMessage(attributes: attributes(m), nlri: (0..<4).map { prefix(m * 4 + $0) }) })
    }
}

let clock = ContinuousClock()
let names = CommandLine.arguments.count > 1 ? Array(CommandLine.arguments.dropFirst()) : ["packed", "mixed"]
// Each workload runs three times (the machine is shared; the fastest run is the least disturbed).
for name in names.flatMap({ [$0, $0, $0] }) {
    let (count, message) = workload(name)
    let peer = PeerID(1)
    let info = RIBPeerInfo(peerAS: 65001, routerID: IPv4Address(10, 0, 0, 1), address: .v4(IPv4Address(198, 18, 0, 1)), localAS: 65000)
    func newRIB() -> RIB {
        var rib = name.hasSuffix("-reserved") ? RIB(expectedIPv4Prefixes: 1_000_000) : RIB()
        rib.setPeerInfo(peer, info)
        return rib
    }

    // Memory: messages built one at a time (as a speaker decodes them), RSS before and after.
    let before = rssKiB()
    var rib = newRIB()
    for i in 0..<count { rib.apply(message(i), from: peer) }
    let after = rssKiB()
    let sets = rib.attributeSetCount
    rib = RIB()

    // Time: messages built beforehand, CPU time of the apply loop.
    var messages = (0..<count).map(message)
    rib = newRIB()
    var changed = 0
    let cpuStart = cpuSeconds()
    let wallStart = clock.now
    for i in 0..<count {
        let m = messages[i]
        messages[i] = UpdateMessage()
        changed += rib.apply(m, from: peer).bestPathsChanged
    }
    let wall = clock.now - wallStart
    let cpu = cpuSeconds() - cpuStart
    messages = []

    print(
        "\(name): \(rib.prefixCount(of: peer)) prefixes, \(sets) sets, \(changed) changes;"
            + " CPU \(Int(cpu * 1000)) ms (\(Int(cpu * 1e9 / 1e6)) ns/prefix), wall \(wall);"
            + " RSS \(before.rss / 1024) -> \(after.rss / 1024) MiB, peak \(after.peak / 1024) MiB")
    // Withdraw everything with UPDATEs (1000 prefixes each) in a copy, then remove the peer.
    var withdrawing = rib
    let withdrawals = (0..<1000).map { m in UpdateMessage(withdrawnRoutes: (0..<1000).map { prefix(m * 1000 + $0) }) }
    let w0 = cpuSeconds()
    for m in withdrawals { withdrawing.apply(m, from: peer) }
    let w1 = cpuSeconds()
    rib.removePeer(peer)
    let w2 = cpuSeconds()
    print(
        "  withdraw all: CPU \(Int((w1 - w0) * 1000)) ms (locRIB \(withdrawing.locRIBCount)); removePeer: CPU"
            + " \(Int((w2 - w1) * 1000)) ms (locRIB \(rib.locRIBCount), sets \(rib.attributeSetCount))")
    if changed != 1_000_000 { print("UNEXPECTED change count \(changed)") }
}

// A second peer sending the same 1M prefixes (packed, better path): every prefix gets a
// candidate list and a new best path.
do {
    var rib = RIB()
    let first = PeerID(1)
    let second = PeerID(2)
    rib.setPeerInfo(first, RIBPeerInfo(peerAS: 65001, routerID: IPv4Address(10, 0, 0, 1), address: .v4(IPv4Address(198, 18, 0, 1)), localAS: 65000))
    rib.setPeerInfo(second, RIBPeerInfo(peerAS: 65002, routerID: IPv4Address(10, 0, 0, 2), address: .v4(IPv4Address(198, 18, 0, 2)), localAS: 65000))
    let a = attributes(0)
    var b = attributes(1)
    b.asPath = ASPath(segments: [ASPath.Segment(type: .asSequence, asns: [65002])])
    for m in 0..<1000 { rib.apply(UpdateMessage(attributes: a, nlri: (0..<1000).map { prefix(m * 1000 + $0) }), from: first) }
    let before = rssKiB()
    let messages = (0..<1000).map { m in UpdateMessage(attributes: b, nlri: (0..<1000).map { prefix(m * 1000 + $0) }) }
    var changed = 0
    let c0 = cpuSeconds()
    for m in messages { changed += rib.apply(m, from: second).bestPathsChanged }
    let c1 = cpuSeconds()
    let removed = rib.removePeer(second).bestPathsChanged
    let c2 = cpuSeconds()
    print(
        "second peer, same 1M prefixes: CPU \(Int((c1 - c0) * 1000)) ms, \(changed) changes; RSS \(before.rss / 1024) ->"
            + " \(rssKiB().rss / 1024) MiB; removePeer: CPU \(Int((c2 - c1) * 1000)) ms, \(removed) changes")
}
