import SE
import XCTest

final class BalancerTests: XCTestCase {
    func entries(_ weights: [Int], eligible: [Bool]? = nil) -> [Balancer.Entry] {
        weights.enumerated().map { i, w in Balancer.Entry(weight: w, eligible: eligible?[i] ?? true) }
    }

    func testWeightedRoundRobinIsSmoothAndProportional() {
        var b = Balancer(algorithm: .roundRobin, entries: entries([5, 1, 1]))
        var order: [Int] = []
        for _ in 0..<7 {
            let i = b.pick()!
            b.release(i)
            order.append(i)
        }
        // nginx's smooth WRR for 5:1:1: a a b a c a a
        XCTAssertEqual(order, [0, 0, 1, 0, 2, 0, 0])

        var counts = [0, 0, 0]
        for _ in 0..<700 {
            let i = b.pick()!
            b.release(i)
            counts[i] += 1
        }
        XCTAssertEqual(counts, [500, 100, 100])
    }

    func testEqualWeightsAlternate() {
        var b = Balancer(algorithm: .roundRobin, entries: entries([1, 1]))
        let picks = (0..<4).map { _ in b.pick()! }
        XCTAssertEqual(picks, [0, 1, 0, 1])
    }

    func testIneligibleAndExcludedServersAreSkipped() {
        var b = Balancer(algorithm: .roundRobin, entries: entries([1, 1, 1], eligible: [true, false, true]))
        for _ in 0..<10 { XCTAssertNotEqual(b.pick(), 1) }
        var tried = ExcludedServers()
        tried.insert(0)
        for _ in 0..<5 { XCTAssertEqual(b.pick(excluding: tried), 2) }
        tried.insert(2)
        XCTAssertNil(b.pick(excluding: tried), "every eligible server was tried")

        var none = Balancer(algorithm: .leastConnections, entries: entries([1], eligible: [false]))
        XCTAssertNil(none.pick())
        XCTAssertEqual(none.eligibleCount, 0)
    }

    func testLeastConnectionsPrefersFewestActiveAndRotatesTies() {
        var b = Balancer(algorithm: .leastConnections, entries: entries([1, 1, 1]))
        // Ties rotate: 0, 1, 2.
        XCTAssertEqual([b.pick()!, b.pick()!, b.pick()!], [0, 1, 2])
        // Everyone has 1; finishing on server 1 makes it the least loaded.
        b.release(1)
        XCTAssertEqual(b.pick(), 1)
        b.release(0)
        b.release(0)  // extra releases never go below zero
        XCTAssertEqual(b.entries[0].active, 0)
        XCTAssertEqual(b.pick(), 0)
    }

    func testLeastConnectionsWeighsByRatio() {
        var b = Balancer(algorithm: .leastConnections, entries: entries([3, 1]))
        var counts = [0, 0]
        for _ in 0..<8 { counts[b.pick()!] += 1 }
        // Server 0 takes three connections for every one of server 1.
        XCTAssertEqual(counts, [6, 2])
    }

    func testExcludedServersBeyond64() {
        var e = ExcludedServers()
        e.insert(3)
        e.insert(70)
        XCTAssertTrue(e.contains(3))
        XCTAssertTrue(e.contains(70))
        XCTAssertFalse(e.contains(4))
        XCTAssertFalse(e.contains(71))
    }
}
