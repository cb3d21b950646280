import Foundation
import Lab
import XCTest

/// The anycast case of DESIGN §1 and §5: three `starling bgp` speakers on one segment announce the same
/// /32 to a BIRD router with `merge paths on`; the router's kernel route spreads over the three; a crashed
/// speaker's path disappears at once (its TCP session closes) or at the latest when the hold timer expires.
final class StarlingECMPTests: XCTestCase {
    func testThreeSpeakersECMPAndCrash() throws {
        try withLab("starling-ecmp", requires: BIRD.requiredPrograms + ["curl"]) { lab in
            let binary = try starlingBinary()
            let segment = try Topology.segment(lab: lab, speakers: 3)
            let routerAddress = segment.routerEnd.ipv4
            let addresses = segment.speakerEnds.map(\.ipv4)
            let holdTime = 9
            let router = BIRD(
                lab: lab, name: "router", namespace: segment.router,
                spec: SpeakerSpec(
                    asn: 65000, routerID: routerAddress,
                    neighbors: addresses.map {
                        NeighborSpec(address: $0, asn: 65001, localAddress: routerAddress, passive: true)
                    }, export: .none, kernelECMP: true))
            try router.start()
            var speakers: [StarlingBGP] = []
            for (index, ns) in segment.speakers.enumerated() {
                let speaker = StarlingBGP(
                    lab: lab, name: "starling\(index + 1)", namespace: ns,
                    config: StarlingConfig(
                        asn: 65001, routerID: addresses[index],
                        peers: [
                            StarlingPeerConfig(
                                address: routerAddress, asn: 65000, localAddress: addresses[index],
                                holdTime: holdTime, passive: false)
                        ], announce: [Prefixes.vip]),
                    binary: binary)
                try speaker.start()
                speakers.append(speaker)
            }
            for address in addresses { try router.waitEstablished(address) }
            let hops = try Wait.value("router kernel route \(Prefixes.vip) has 3 next hops", timeout: 20) {
                let hops = try KernelRoute.nextHops(of: Prefixes.vip, in: segment.router)
                return hops.count == 3 ? hops : nil
            }
            XCTAssertEqual(Set(hops), Set(addresses), "ECMP next hops are the three speakers")
            print("IntegrationTests: \(try segment.router.routes(Prefixes.vip))")

            let crashed = Date()
            speakers[1].crash()
            try Wait.until("router kernel route has 2 next hops after SIGKILL", timeout: Double(holdTime) + 3) {
                Set(try KernelRoute.nextHops(of: Prefixes.vip, in: segment.router)) == [addresses[0], addresses[2]]
            }
            print(
                "IntegrationTests: ECMP path of the crashed speaker gone after "
                    + String(format: "%.3f", Date().timeIntervalSince(crashed)) + " s")
            for index in [0, 2] {
                XCTAssertEqual(try speakers[index].peer(routerAddress).state, "Established")
            }
        }
    }
}
