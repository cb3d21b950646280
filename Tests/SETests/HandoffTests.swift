import BGPSpeaker
import Foundation
import NIOCore
import NIOPosix
import XCTest

@testable import SE

/// The handoff protocol over a real Unix socket, without root: the same SE gets the state and the release
/// with the BFD sessions, another SE is refused with the reason, garbage ends the link with an error, and
/// with nobody listening a successor finds no predecessor.
final class HandoffTests: XCTestCase {
    func testTakeoverRefusalGarbageAndNobody() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let path = NSTemporaryDirectory() + "handoff-test-\(getpid()).sock"
        let (outcomes, outcome) = AsyncStream.makeStream(of: String.self)
        let bfd = try JSONDecoder().decode(
            BFDSession.Handoff.self,
            from: Data(
                #"""
                {"localDiscriminator": 7, "remoteDiscriminator": 9, "desiredMinTxMicroseconds": 100000,
                 "requiredMinRxMicroseconds": 100000, "detectMultiplier": 3, "remoteMinRxMicroseconds": 100000,
                 "remoteDesiredMinTxMicroseconds": 100000, "remoteDetectMultiplier": 3, "remoteDemand": false}
                """#.utf8))
        let listener = try await HandoffListener.bind(path: path, group: group) { link in
            Task {
                do {
                    _ = try await link.answerTakeover(identity: "se-a", releaseTimeout: .seconds(5)) {
                        HandoffMessage(op: .state, health: ["vs-1": ["10.0.0.1:80"]])
                    }
                    try await link.send(HandoffMessage(op: .released, bfd: [IPAddress("10.0.0.9")!: bfd]))
                    outcome.yield("released")
                } catch {
                    outcome.yield("\(error)")
                }
                await link.close()
            }
        }
        var results = outcomes.makeAsyncIterator()

        // The same SE: the state, then the release with the BFD sessions.
        let link = try await XCTUnwrapAsync(await HandoffLink.connect(path: path, group: group))
        let state = try await link.requestTakeover(identity: "se-a")
        XCTAssertEqual(state.health, ["vs-1": ["10.0.0.1:80"]])
        try await link.send(HandoffMessage(op: .release))
        let released = try await link.expect(.released, timeout: .seconds(5))
        XCTAssertEqual(released.bfdSessions, [IPAddress("10.0.0.9")!: bfd])
        await link.close()
        let first = await results.next()
        XCTAssertEqual(first, "released")

        // Another SE: refused, with the reason on both sides.
        let other = try await XCTUnwrapAsync(await HandoffLink.connect(path: path, group: group))
        do {
            _ = try await other.requestTakeover(identity: "se-b")
            XCTFail("another SE took over")
        } catch {
            XCTAssertTrue(
                "\(error)".contains("refused: this socket belongs to another SE (se-a), not se-b"), "\(error)")
        }
        await other.close()
        let second = await results.next() ?? ""
        XCTAssertTrue(second.contains("takeover refused"), second)

        // Garbage: the predecessor's side ends with an error naming it.
        let raw = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: path).get()
        try await raw.writeAndFlush(raw.allocator.buffer(string: "not a message\n"))
        let third = await results.next() ?? ""
        XCTAssertTrue(third.contains("unreadable handoff message"), third)
        try? await raw.close()

        // Nobody listening: no predecessor.
        try await listener.close()
        let none = await HandoffLink.connect(path: path, group: group)
        XCTAssertNil(none)
        unlink(path)
        try await group.shutdownGracefully()
    }

    private func XCTUnwrapAsync<T>(_ value: T?, file: StaticString = #filePath, line: UInt = #line) async throws -> T {
        try XCTUnwrap(value, file: file, line: line)
    }
}
