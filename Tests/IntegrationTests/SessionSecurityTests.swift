import Foundation
import Lab
import XCTest

/// TCP-MD5 (RFC 2385) and GTSM (RFC 5082) between `starling bgp` and BIRD 2: the session comes up when
/// both sides agree, and never when they do not, with Starling saying why in `/peers` `last_error`.
final class SessionSecurityTests: XCTestCase {
    static let starlingASN: UInt32 = 65001
    static let peerASN: UInt32 = 65000
    /// Starling retries a connection every 5 s (`connect_retry` default) and a connect times out after 5 s:
    /// two attempts fit in this wait, time enough for a session that could come up to do so.
    static let refusalWait = 12.0

    func testMD5RightPassword() throws {
        try scenario("md5-right", bird: .init(password: "s3cret-Key"), starling: .init(password: "s3cret-Key")) {
            starling, bird, starlingAddress, peerAddress in
            _ = try bird.waitEstablished(starlingAddress, timeout: 30)
            _ = try starling.waitEstablished(peerAddress, timeout: 10)
            try bird.waitForRoute(Prefixes.initial(.ipv4)[0], from: starlingAddress)
        }
    }

    func testMD5WrongPassword() throws {
        try scenario("md5-wrong", bird: .init(password: "s3cret-Key"), starling: .init(password: "other-key")) {
            starling, bird, starlingAddress, peerAddress in
            let status = try Wait.value("starling says TCP-MD5", timeout: Self.refusalWait) {
                let p = try starling.peer(peerAddress)
                return p.lastError?.contains("TCP-MD5") == true ? p : nil
            }
            XCTAssertNotEqual(status.state, "Established")
            XCTAssertFalse(try bird.session(starlingAddress).isEstablished, "BIRD took a wrongly signed session")
        }
    }

    func testMD5MissingOnOneSide() throws {
        try scenario("md5-missing", bird: .init(password: "s3cret-Key"), starling: .init()) {
            starling, bird, starlingAddress, peerAddress in
            try Wait.holds("no session without the password", for: Self.refusalWait, interval: 0.5) {
                try starling.peer(peerAddress).state != "Established"
                    && !(try bird.session(starlingAddress).isEstablished)
            }
        }
    }

    func testGTSMBothSides() throws {
        try scenario("gtsm-on", bird: .init(ttlSecurity: true), starling: .init(ttlSecurity: true)) {
            starling, bird, starlingAddress, peerAddress in
            _ = try bird.waitEstablished(starlingAddress, timeout: 30)
            _ = try starling.waitEstablished(peerAddress, timeout: 10)
        }
    }

    /// Starling passive: BIRD connects with TTL 255 and checks our SYN-ACK, which leaves from the listener.
    func testGTSMInbound() throws {
        try scenario(
            "gtsm-inbound", bird: .init(ttlSecurity: true, passive: false),
            starling: .init(ttlSecurity: true, passive: true)
        ) { starling, bird, starlingAddress, peerAddress in
            _ = try bird.waitEstablished(starlingAddress, timeout: 30)
            _ = try starling.waitEstablished(peerAddress, timeout: 10)
        }
    }

    /// Starling passive with TCP-MD5: the key on the listener signs the handshake.
    func testMD5Inbound() throws {
        try scenario(
            "md5-inbound", bird: .init(password: "s3cret-Key", passive: false),
            starling: .init(password: "s3cret-Key", passive: true)
        ) { starling, bird, starlingAddress, peerAddress in
            _ = try bird.waitEstablished(starlingAddress, timeout: 30)
            _ = try starling.waitEstablished(peerAddress, timeout: 10)
        }
    }

    /// BIRD without GTSM answers a directly connected eBGP peer with TTL 1: Starling, requiring 255, never
    /// sees those segments.
    func testGTSMPeerSendsLowTTL() throws {
        try scenario("gtsm-mismatch", bird: .init(), starling: .init(ttlSecurity: true)) {
            starling, bird, starlingAddress, peerAddress in
            try Wait.holds("no session with TTL 1 segments", for: Self.refusalWait, interval: 0.5) {
                try starling.peer(peerAddress).state != "Established"
                    && !(try bird.session(starlingAddress).isEstablished)
            }
        }
    }

    struct Side {
        var password: String? = nil
        var ttlSecurity = false
        var passive: Bool? = nil
    }

    private func scenario(
        _ name: String, bird birdSide: Side, starling starlingSide: Side,
        _ body: (StarlingBGP, BIRD, String, String) throws -> Void
    ) throws {
        try withLab("security-\(name)", requires: BIRD.requiredPrograms + ["curl"]) { lab in
            let binary = try starlingBinary()
            let pair = try Topology.pair(lab: lab, left: "starling", right: "bird")
            let starlingAddress = pair.leftEnd.ipv4
            let peerAddress = pair.rightEnd.ipv4
            let bird = BIRD(
                lab: lab, name: "bird", namespace: pair.right,
                spec: SpeakerSpec(
                    asn: Self.peerASN, routerID: pair.rightEnd.ipv4,
                    neighbors: [
                        NeighborSpec(
                            address: starlingAddress, asn: Self.starlingASN, localAddress: peerAddress,
                            passive: birdSide.passive ?? true,
                            password: birdSide.password, ttlSecurity: birdSide.ttlSecurity)
                    ], export: .none))
            try bird.start()
            let starling = StarlingBGP(
                lab: lab, name: "starling", namespace: pair.left,
                config: StarlingConfig(
                    asn: Self.starlingASN, routerID: pair.leftEnd.ipv4,
                    peers: [
                        StarlingPeerConfig(
                            address: peerAddress, asn: Self.peerASN, localAddress: starlingAddress, holdTime: 30,
                            passive: starlingSide.passive ?? false, password: starlingSide.password,
                            ttlSecurity: starlingSide.ttlSecurity)
                    ], announce: [Prefixes.initial(.ipv4)[0]]),
                binary: binary)
            try starling.start()
            try body(starling, bird, starlingAddress, peerAddress)
        }
    }
}
