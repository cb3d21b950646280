import Controller
import StarlingModel
import XCTest

// MARK: Builders

private func se(
    _ name: String, group: String = "g", _ state: SEState.OperState = .up, load: Double = 0
) -> SEState {
    SEState(uuid: "serviceengine-\(name)", name: name, group: group, operState: state, load: load)
}

private func vs(
    _ name: String, group: String = "g", enabled: Bool = true, desired: Int? = nil
) -> VSRequest {
    VSRequest(uuid: "virtualservice-\(name)", name: name, group: group, enabled: enabled, desiredScaleout: desired)
}

private func id(_ vsOrSE: String) -> String { vsOrSE }
private func V(_ name: String) -> String { "virtualservice-\(name)" }
private func S(_ name: String) -> String { "serviceengine-\(name)" }

/// A policy without the N+M buffer unless a test asks for it, so shapes are easy to read.
private func policy(
    _ algo: SEGroupPolicy.Algorithm = .distributed, min: Int = 1, max: Int = 4, maxSE: Int = 10,
    perSE: Int = 10, ha: SEGroupPolicy.HAMode = .shared, buffer: Int = 0
) -> SEGroupPolicy {
    SEGroupPolicy(
        haMode: ha, bufferSE: buffer, minScaleoutPerVS: min, maxScaleoutPerVS: max, maxSE: maxSE,
        maxVSPerSE: perSE, algo: algo)
}

private func input(
    _ p: SEGroupPolicy, _ ses: [SEState], _ vss: [VSRequest], current: [String: [String]] = [:]
) -> PlacementInput {
    PlacementInput(
        groups: ["g": p], serviceEngines: ses, virtualServices: vss, current: Placement(assignments: current))
}

private extension Array where Element == PlacementDecision {
    func only(_ vs: String, _ kind: PlacementDecision.Kind) -> [PlacementDecision] {
        filter { $0.vs == vs && $0.kind == kind }
    }

    /// The first decision's reason, or a marker that fails any `contains` check.
    var firstReason: String { first?.reason ?? "<no decision>" }
}

/// Names of the SEs a virtual service is on, in assignment order.
private func names(_ p: Placement, _ vsName: String) -> [String] {
    p.serviceEngines(for: V(vsName)).map { String($0.dropFirst("serviceengine-".count)) }
}

/// Number of virtual services per SE name, for shape assertions.
private func shape(_ p: Placement, _ ses: [SEState]) -> [String: Int] {
    var out: [String: Int] = [:]
    for s in ses { out[s.name] = p.virtualServices(on: s.uuid).count }
    return out
}

final class PlacementTests: XCTestCase {

    // MARK: Defaults and validation

    func testDefaultsAreAvis() throws {
        let d = SEGroupPolicy()
        XCTAssertEqual(d.haMode, .shared)
        XCTAssertEqual(d.haMode.rawValue, "HA_MODE_SHARED")
        XCTAssertEqual(d.bufferSE, 1)
        XCTAssertEqual(d.minScaleoutPerVS, 1)
        XCTAssertEqual(d.maxScaleoutPerVS, 4)
        XCTAssertEqual(d.maxSE, 10)
        XCTAssertEqual(d.maxVSPerSE, 10)
        XCTAssertEqual(d.algo, .packed)
        XCTAssertEqual(d.algo.rawValue, "PLACEMENT_ALGO_PACKED")
        try d.validate()
    }

    func testValidationNamesTheField() {
        let cases: [(SEGroupPolicy, String)] = [
            (policy(min: 0), "serviceenginegroup.min_scaleout_per_vs"),
            (policy(max: 65), "serviceenginegroup.max_scaleout_per_vs"),
            (policy(min: 3, max: 2), "serviceenginegroup.min_scaleout_per_vs"),
            (policy(max: 1, ha: .sharedPair), "serviceenginegroup.max_scaleout_per_vs"),
            (policy(maxSE: 1001), "serviceenginegroup.max_se"),
            (policy(perSE: 0), "serviceenginegroup.max_vs_per_se"),
            (policy(buffer: -1), "serviceenginegroup.buffer_se"),
        ]
        for (p, field) in cases {
            XCTAssertThrowsError(try p.validate(), field) { XCTAssertEqual(($0 as? ModelError)?.field, field) }
        }
    }

    // MARK: Initial placement

    func testPlacesEachVirtualServiceOnMinScaleoutSEsWithReason() {
        let ses = [se("a"), se("b"), se("c")]
        let r = PlacementEngine.place(input(policy(min: 2), ses, [vs("web")]))
        XCTAssertEqual(names(r.placement, "web"), ["a", "b"])
        let placed = r.decisions.only(V("web"), .placed)
        XCTAssertEqual(placed.map(\.se), [S("a"), S("b")])
        XCTAssertEqual(placed.map(\.cause), [.initial, .belowMinimum])
        XCTAssertTrue(placed.firstReason.contains("initial placement on SE a"), placed.firstReason)
        XCTAssertTrue(placed[1].reason.contains("min_scaleout_per_vs 2"), placed[1].reason)
    }

    func testDistributedSpreadsOntoLeastLoaded() {
        // Equal VS counts: the lowest reported load wins, then the name.
        let ses = [se("a", load: 50), se("b", load: 10), se("c", load: 10)]
        let r = PlacementEngine.place(input(policy(.distributed), ses, [vs("v1"), vs("v2"), vs("v3"), vs("v4")]))
        XCTAssertEqual(names(r.placement, "v1"), ["b"])
        XCTAssertEqual(names(r.placement, "v2"), ["c"])
        XCTAssertEqual(names(r.placement, "v3"), ["a"])
        XCTAssertEqual(names(r.placement, "v4"), ["b"])
        XCTAssertTrue(r.decisions.only(V("v1"), .placed).firstReason.contains("distributed: least loaded SE"))
    }

    func testPackedFillsTheFullestSEWithRoom() {
        let ses = [se("a", load: 50), se("b", load: 10), se("c")]
        let vss = (1...5).map { vs("v\($0)") }
        let r = PlacementEngine.place(input(policy(.packed, perSE: 2), ses, vss))
        // Empty group: lowest load first (c), fill it, then the next lowest (b), then a.
        XCTAssertEqual(shape(r.placement, ses), ["c": 2, "b": 2, "a": 1])
        XCTAssertEqual(names(r.placement, "v1"), ["c"])
        XCTAssertEqual(names(r.placement, "v2"), ["c"])
        XCTAssertEqual(names(r.placement, "v3"), ["b"])
        XCTAssertTrue(
            r.decisions.only(V("v2"), .placed).firstReason.contains("packed: fullest SE with room (1 of 2 VS)"))
    }

    func testPackedAndDistributedShapesDiffer() {
        let ses = [se("a"), se("b"), se("c"), se("d")]
        let vss = (1...4).map { vs("v\($0)") }
        let packed = PlacementEngine.place(input(policy(.packed), ses, vss)).placement
        let spread = PlacementEngine.place(input(policy(.distributed), ses, vss)).placement
        XCTAssertEqual(shape(packed, ses), ["a": 4, "b": 0, "c": 0, "d": 0])
        XCTAssertEqual(shape(spread, ses), ["a": 1, "b": 1, "c": 1, "d": 1])
    }

    func testPackedFillsExistingSEBeforeAnIdleOne() {
        let ses = [se("a"), se("b", load: 0), se("z", load: 99)]
        let r = PlacementEngine.place(
            input(policy(.packed, perSE: 3), ses, [vs("old"), vs("new")], current: [V("old"): [S("z")]]))
        XCTAssertEqual(names(r.placement, "new"), ["z"], "packed goes to the SE already in use, despite its load")
    }

    func testSharedPairPlacesOnTwoSEs() {
        let ses = [se("a"), se("b"), se("c")]
        let r = PlacementEngine.place(input(policy(min: 1, ha: .sharedPair, buffer: 5), ses, [vs("web")]))
        XCTAssertEqual(names(r.placement, "web"), ["a", "b"], "active/active: two SEs, no buffer held back")
    }

    // MARK: Stability

    func testKeepsHealthyAssignmentsWithoutCause() {
        // Distributed would pick a (idle) for a fresh placement, but web already runs on busy c.
        let ses = [se("a"), se("b"), se("c", load: 99)]
        let cur = [V("web"): [S("c")], V("x"): [S("c")]]
        let r = PlacementEngine.place(input(policy(.distributed), ses, [vs("web"), vs("x")], current: cur))
        XCTAssertEqual(r.placement.assignments, cur)
        let kept = r.decisions.only(V("web"), .kept)
        XCTAssertEqual(kept.map(\.se), [S("c")])
        XCTAssertEqual(kept.first?.cause, .healthy)
        XCTAssertTrue(kept.firstReason.contains("healthy, no cause to move"))
        XCTAssertTrue(r.decisions.allSatisfy { $0.kind == .kept })
    }

    func testAddingAnUnrelatedSEMovesNothing() {
        let ses = [se("b"), se("c"), se("a"), se("x", group: "other")]
        let vss = (1...6).map { vs("v\($0)", desired: $0 % 2 + 1) }
        for algo in SEGroupPolicy.Algorithm.allCases {
            var inp = input(policy(algo), ses, vss)
            inp.groups["other"] = policy()
            let first = PlacementEngine.place(inp)
            inp.current = first.placement
            inp.serviceEngines += [se("aa", load: -5), se("0", load: -100), se("y", group: "other")]
            let second = PlacementEngine.place(inp)
            XCTAssertEqual(second.placement, first.placement, "\(algo)")
            XCTAssertTrue(second.decisions.allSatisfy { $0.kind == .kept }, "\(algo)")
        }
    }

    func testResultIsAFixedPoint() {
        let ses = [se("a"), se("b"), se("c", .draining), se("d", .down)]
        let vss = [vs("w1"), vs("w2", desired: 2), vs("w3", enabled: false)]
        let first = PlacementEngine.place(input(policy(), ses, vss, current: [V("w1"): [S("d")], V("w3"): [S("a")]]))
        let again = PlacementEngine.place(input(policy(), ses, vss, current: first.placement.assignments))
        XCTAssertEqual(again.placement, first.placement)
        XCTAssertTrue(again.decisions.allSatisfy { $0.kind == .kept || $0.kind == .disabled }, "\(again.decisions)")
    }

    // MARK: Failure and drain

    func testSEDownIsReplacedOntoAnotherSEWithReason() {
        let ses = [se("a", .down), se("b"), se("c", load: 5)]
        let r = PlacementEngine.place(
            input(policy(.distributed, min: 2), ses, [vs("web")], current: [V("web"): [S("a"), S("c")]]))
        XCTAssertEqual(names(r.placement, "web"), ["c", "b"])
        let removed = r.decisions.only(V("web"), .removed)
        XCTAssertEqual(removed.map(\.se), [S("a")])
        XCTAssertEqual(removed.first?.cause, .seDown)
        XCTAssertEqual(removed.first?.reason, "SE a is down")
        let placed = r.decisions.only(V("web"), .placed)
        XCTAssertEqual(placed.map(\.se), [S("b")])
        XCTAssertEqual(placed.first?.cause, .replacement)
        XCTAssertTrue(placed.firstReason.hasPrefix("replaces a (down) on SE b"), placed.firstReason)
    }

    func testDrainingSEGetsNothingNewAndLosesItsVirtualServices() {
        let ses = [se("a", .draining), se("b")]
        let r = PlacementEngine.place(
            input(policy(.distributed), ses, [vs("old"), vs("new")], current: [V("old"): [S("a")]]))
        XCTAssertEqual(names(r.placement, "old"), ["b"])
        XCTAssertEqual(names(r.placement, "new"), ["b"])
        XCTAssertEqual(r.decisions.only(V("old"), .removed).first?.cause, .seDraining)
        XCTAssertEqual(r.decisions.only(V("old"), .placed).first?.cause, .replacement)
    }

    func testDeregisteredSEIsReplaced() {
        let r = PlacementEngine.place(input(policy(), [se("b")], [vs("web")], current: [V("web"): [S("gone")]]))
        XCTAssertEqual(names(r.placement, "web"), ["b"])
        XCTAssertEqual(r.decisions.only(V("web"), .removed).first?.cause, .seGone)
    }

    func testNoSEUpLeavesItUnplaced() {
        let r = PlacementEngine.place(input(policy(), [se("a", .down)], [vs("web")], current: [V("web"): [S("a")]]))
        XCTAssertEqual(r.placement.assignments, [:])
        let u = r.decisions.only(V("web"), .unplaced)
        XCTAssertEqual(u.first?.cause, .noSEUp)
        XCTAssertEqual(u.first?.reason, "not placed: no SE is up in SE group g (1 registered)")
    }

    // MARK: Virtual service lifecycle

    func testDisabledVirtualServiceIsPlacedNowhere() {
        let r = PlacementEngine.place(
            input(policy(), [se("a")], [vs("web", enabled: false)], current: [V("web"): [S("a")]]))
        XCTAssertEqual(r.placement.assignments, [:])
        XCTAssertEqual(r.decisions.only(V("web"), .removed).first?.cause, .vsDisabled)
        let d = r.decisions.only(V("web"), .disabled)
        XCTAssertEqual(d.first?.reason, "virtual service is disabled; it is placed on no SE")
    }

    func testDeletedVirtualServiceIsRemoved() {
        let r = PlacementEngine.place(input(policy(), [se("a")], [], current: [V("web"): [S("a")]]))
        XCTAssertEqual(r.placement.assignments, [:])
        XCTAssertEqual(r.decisions.map(\.cause), [.vsDeleted])
        XCTAssertEqual(r.decisions.first?.se, S("a"))
    }

    func testMissingGroupLeavesItUnplaced() {
        let r = PlacementEngine.place(input(policy(), [se("a")], [vs("web", group: "nope")]))
        XCTAssertEqual(r.placement.assignments, [:])
        XCTAssertEqual(r.decisions.only(V("web"), .unplaced).first?.reason, "not placed: SE group nope does not exist")
    }

    func testGroupChangeMovesToTheNewGroup() {
        var inp = input(
            policy(), [se("a"), se("b", group: "h")], [vs("web", group: "h")], current: [V("web"): [S("a")]])
        inp.groups["h"] = policy()
        let r = PlacementEngine.place(inp)
        XCTAssertEqual(names(r.placement, "web"), ["b"])
        XCTAssertEqual(r.decisions.only(V("web"), .removed).first?.cause, .groupChanged)
        XCTAssertEqual(r.decisions.only(V("web"), .placed).first?.cause, .initial)
    }

    // MARK: Capacity

    func testCapacityExhaustionIsReportedWithReason() {
        let ses = [se("a"), se("b")]
        let vss = (1...5).map { vs("v\($0)") }
        let r = PlacementEngine.place(input(policy(.distributed, perSE: 2), ses, vss))
        XCTAssertEqual(shape(r.placement, ses), ["a": 2, "b": 2])
        XCTAssertNil(r.placement.assignments[V("v5")])
        let u = r.decisions.only(V("v5"), .unplaced)
        XCTAssertEqual(u.first?.cause, .noCapacity)
        XCTAssertTrue(u.firstReason.contains("no SE with capacity in SE group g"), u.firstReason)
        XCTAssertTrue(u.firstReason.contains("max_vs_per_se 2"), u.firstReason)
    }

    func testLoweredMaxVSPerSEMovesTheExcess() {
        let ses = [se("a"), se("b")]
        let cur = [V("v1"): [S("a")], V("v2"): [S("a")], V("v3"): [S("a")]]
        let r = PlacementEngine.place(input(policy(perSE: 2), ses, [vs("v1"), vs("v2"), vs("v3")], current: cur))
        XCTAssertEqual(names(r.placement, "v1"), ["a"])
        XCTAssertEqual(names(r.placement, "v2"), ["a"])
        XCTAssertEqual(names(r.placement, "v3"), ["b"])
        let removed = r.decisions.only(V("v3"), .removed)
        XCTAssertEqual(removed.first?.cause, .overCapacity)
        XCTAssertEqual(removed.first?.reason, "SE a carries 3 virtual services, over max_vs_per_se 2")
        XCTAssertEqual(r.decisions.only(V("v3"), .placed).first?.cause, .replacement)
    }

    func testNotEnoughSEsForTheScaleout() {
        let r = PlacementEngine.place(input(policy(min: 3), [se("a"), se("b")], [vs("web")]))
        XCTAssertEqual(names(r.placement, "web"), ["a", "b"])
        let u = r.decisions.only(V("web"), .unplaced)
        XCTAssertEqual(u.first?.cause, .notEnoughSEs)
        XCTAssertEqual(
            u.first?.reason, "on 2 of 3 SE(s): SE group g has 2 SE(s) up and the virtual service is on all of them")
    }

    func testMaxSELimitsHowManySEsAreUsed() {
        let ses = [se("a"), se("b"), se("c")]
        let vss = (1...5).map { vs("v\($0)") }
        let r = PlacementEngine.place(input(policy(.distributed, maxSE: 2, perSE: 2), ses, vss))
        XCTAssertEqual(shape(r.placement, ses), ["a": 2, "b": 2, "c": 0])
        let u = r.decisions.only(V("v5"), .unplaced)
        XCTAssertEqual(u.first?.cause, .noCapacity)
        XCTAssertTrue(u.firstReason.contains("max_se 2"), u.firstReason)
    }

    func testAVirtualServiceWithNoSEIsServedBeforeAnotherGetsItsSecond() {
        // One free slot (b). "big" sorts first and wants a second SE, but "small" has none yet.
        let r = PlacementEngine.place(
            input(
                policy(perSE: 1), [se("a"), se("b")], [vs("big", desired: 2), vs("small")],
                current: [V("big"): [S("a")]]))
        XCTAssertEqual(names(r.placement, "big"), ["a"])
        XCTAssertEqual(names(r.placement, "small"), ["b"])
        XCTAssertEqual(r.decisions.only(V("big"), .unplaced).first?.cause, .noCapacity)
    }

    func testAReplacementGoesBeforeAFirstPlacement() {
        // One free slot (b). "aa" is new and sorts first, but "zz" lost its SE and is re-placed first.
        let r = PlacementEngine.place(
            input(policy(perSE: 1), [se("a", .down), se("b")], [vs("aa"), vs("zz")], current: [V("zz"): [S("a")]]))
        XCTAssertEqual(names(r.placement, "zz"), ["b"])
        XCTAssertNil(r.placement.assignments[V("aa")])
        XCTAssertEqual(r.decisions.only(V("aa"), .unplaced).first?.cause, .noCapacity)
    }

    // MARK: N+M buffer

    func testBufferKeepsOneSEWorthOfSlotsFree() {
        let ses = [se("a"), se("b")]
        let vss = (1...3).map { vs("v\($0)") }
        let r = PlacementEngine.place(input(policy(.packed, perSE: 2, buffer: 1), ses, vss))
        // Capacity 4 slots, 2 reserved: two virtual services fit.
        XCTAssertEqual(shape(r.placement, ses), ["a": 2, "b": 0])
        let u = r.decisions.only(V("v3"), .unplaced)
        XCTAssertEqual(u.first?.cause, .bufferReserved)
        XCTAssertTrue(u.firstReason.contains("buffer_se × max_vs_per_se = 2"), u.firstReason)

        // The buffer is what failover uses.
        let failed = PlacementEngine.place(
            input(
                policy(.packed, perSE: 2, buffer: 1), [se("a", .down), se("b")], vss, current: r.placement.assignments))
        XCTAssertEqual(names(failed.placement, "v1"), ["b"])
        XCTAssertEqual(names(failed.placement, "v2"), ["b"])
        XCTAssertEqual(failed.decisions.only(V("v3"), .unplaced).first?.cause, .bufferReserved)
    }

    func testSingleSEWithDefaultBufferPlacesNothingNewAndSaysSo() {
        let r = PlacementEngine.place(
            PlacementInput(groups: ["g": SEGroupPolicy()], serviceEngines: [se("a")], virtualServices: [vs("web")]))
        XCTAssertEqual(r.placement.assignments, [:])
        XCTAssertEqual(r.decisions.only(V("web"), .unplaced).first?.cause, .bufferReserved)
    }

    // MARK: Scale-out and scale-in

    func testManualScaleoutAddsPerAlgorithm() throws {
        let ses = [se("a"), se("b", load: 1), se("c")]
        let inp = input(policy(.distributed), ses, [vs("web")], current: [V("web"): [S("a")]])
        let out = try PlacementEngine.scaleOut(V("web"), in: inp)
        XCTAssertEqual(out.desiredScaleout, 2)
        XCTAssertEqual(names(out.placement, "web"), ["a", "c"])
        let placed = out.decisions.only(V("web"), .placed)
        XCTAssertEqual(placed.first?.cause, .scaleOut)
        XCTAssertTrue(
            placed.firstReason.hasPrefix("scale-out to 2 SE(s) (manual scale-out to 2) on SE c"), placed.firstReason)
    }

    func testScaleoutBeyondMaxIsRefused() {
        let ses = [se("a"), se("b"), se("c")]
        let inp = input(policy(max: 2), ses, [vs("web", desired: 2)], current: [V("web"): [S("a"), S("b")]])
        XCTAssertThrowsError(try PlacementEngine.scaleOut(V("web"), in: inp)) {
            let e = $0 as? ScaleError
            XCTAssertEqual(e?.status, 400)
            XCTAssertEqual(e?.field, "max_scaleout_per_vs")
            XCTAssertEqual(e?.message, "virtual service web is on 2 SE(s), the maximum of SE group g is 2")
        }
    }

    func testScaleoutWithoutAnEligibleSEIsAConflict() {
        let inp = input(policy(), [se("a"), se("b", .down)], [vs("web")], current: [V("web"): [S("a")]])
        XCTAssertThrowsError(try PlacementEngine.scaleOut(V("web"), in: inp)) {
            let e = $0 as? ScaleError
            XCTAssertEqual(e?.status, 409)
            XCTAssertEqual(
                e?.message,
                "cannot scale out web: on 1 of 2 SE(s): SE group g has 1 SE(s) up and the virtual service is on all of them"
            )
        }
    }

    func testScaleErrorsForUnknownAndDisabled() {
        let inp = input(policy(), [se("a")], [vs("off", enabled: false)])
        XCTAssertThrowsError(try PlacementEngine.scaleOut(V("nope"), in: inp)) {
            XCTAssertEqual(($0 as? ScaleError)?.status, 404)
        }
        XCTAssertThrowsError(try PlacementEngine.scaleIn(V("off"), in: inp)) {
            XCTAssertEqual(($0 as? ScaleError)?.status, 409)
        }
    }

    func testScaleInRemovesTheMostRecentlyAddedSE() throws {
        let ses = [se("a"), se("b"), se("c")]
        let cur = [V("web"): [S("c"), S("a"), S("b")]]
        let inp = input(policy(), ses, [vs("web", desired: 3)], current: cur)
        let r = try PlacementEngine.scaleIn(V("web"), in: inp)
        XCTAssertEqual(r.desiredScaleout, 2)
        XCTAssertEqual(names(r.placement, "web"), ["c", "a"])
        let removed = r.decisions.only(V("web"), .removed)
        XCTAssertEqual(removed.map(\.se), [S("b")])
        XCTAssertEqual(removed.first?.cause, .scaleIn)
        XCTAssertEqual(
            removed.first?.reason, "scale-in to 2 SE(s) (manual scale-out to 2): b is the most recently added")
    }

    func testScaleInBelowMinIsRefused() {
        let inp = input(policy(min: 2), [se("a"), se("b")], [vs("web")], current: [V("web"): [S("a"), S("b")]])
        XCTAssertThrowsError(try PlacementEngine.scaleIn(V("web"), in: inp)) {
            XCTAssertEqual(($0 as? ScaleError)?.status, 400)
            XCTAssertEqual(($0 as? ScaleError)?.field, "min_scaleout_per_vs")
        }
    }

    func testLoweredMaxScaleoutScalesIn() {
        let inp = input(
            policy(max: 1), [se("a"), se("b")], [vs("web", desired: 2)], current: [V("web"): [S("a"), S("b")]])
        let r = PlacementEngine.place(inp)
        XCTAssertEqual(names(r.placement, "web"), ["a"])
        XCTAssertTrue(r.decisions.only(V("web"), .removed).firstReason.contains("capped by max_scaleout_per_vs 1"))
    }

    // MARK: Determinism

    func testSameInputInAnyOrderGivesTheSameOutput() {
        var rng = SplitMix64(seed: 7)
        let ses = (0..<8).map { se("s\($0)", load: Double($0 % 3)) } + [se("d", .down)]
        let vss = (0..<20).map { vs("v\($0)", desired: $0 % 4 == 0 ? 2 : nil) }
        let cur = [V("v1"): [S("d"), S("s3")], V("v2"): [S("s1")]]
        for algo in SEGroupPolicy.Algorithm.allCases {
            let reference = PlacementEngine.place(input(policy(algo, perSE: 3, buffer: 1), ses, vss, current: cur))
            for _ in 0..<20 {
                let r = PlacementEngine.place(
                    input(
                        policy(algo, perSE: 3, buffer: 1), ses.shuffled(using: &rng), vss.shuffled(using: &rng),
                        current: cur))
                XCTAssertEqual(r.placement, reference.placement)
                XCTAssertEqual(r.decisions, reference.decisions)
            }
        }
    }

    // MARK: Property

    /// Random groups, SEs, virtual services and (garbage) current placements; then random churn on the
    /// result. Checks the invariants every result must hold, and that healthy assignments stay put.
    func testRandomInputsKeepTheInvariants() {
        for seed in UInt64(1)...300 {
            var rng = SplitMix64(seed: seed)
            var inp = randomInput(&rng)
            let first = PlacementEngine.place(inp)
            checkInvariants(inp, first, seed: seed)

            // Churn: SE states and loads change, SEs join; configuration stays.
            inp.current = first.placement
            for i in inp.serviceEngines.indices where Int.random(in: 0..<4, using: &rng) == 0 {
                inp.serviceEngines[i].operState = SEState.OperState.allCases.randomElement(using: &rng)!
                inp.serviceEngines[i].load = Double(Int.random(in: 0...100, using: &rng))
            }
            for j in 0..<Int.random(in: 0...2, using: &rng) {
                inp.serviceEngines.append(se("new\(j)", group: ["g", "h"].randomElement(using: &rng)!))
            }
            let second = PlacementEngine.place(inp)
            checkInvariants(inp, second, seed: seed)
            let up = Set(inp.serviceEngines.filter { $0.operState == .up }.map(\.uuid))
            for (v, list) in first.placement.assignments {
                for s in list where up.contains(s) {
                    XCTAssertTrue(
                        second.placement.serviceEngines(for: v).contains(s), "seed \(seed): \(v) moved off healthy \(s)"
                    )
                }
            }
            XCTAssertEqual(PlacementEngine.place(inp).placement, second.placement, "seed \(seed): not deterministic")

            // Manual scale-out / scale-in either yield exactly the asked-for count or a 400/409 with a reason.
            inp.current = second.placement
            for v in inp.virtualServices where v.enabled && inp.groups[v.group] != nil {
                let before = second.placement.serviceEngines(for: v.uuid).count
                for (op, delta) in [(PlacementEngine.scaleOut, 1), (PlacementEngine.scaleIn, -1)] {
                    do {
                        let r = try op(v.uuid, inp)
                        XCTAssertEqual(r.desiredScaleout, before + delta, "seed \(seed)")
                        XCTAssertEqual(r.placement.serviceEngines(for: v.uuid).count, before + delta, "seed \(seed)")
                        var next = inp
                        for i in next.virtualServices.indices where next.virtualServices[i].uuid == v.uuid {
                            next.virtualServices[i].desiredScaleout = r.desiredScaleout
                        }
                        checkInvariants(next, (r.placement, r.decisions), seed: seed)
                    } catch {
                        XCTAssertTrue([400, 409].contains(error.status), "seed \(seed): \(error)")
                        XCTAssertFalse(error.message.isEmpty)
                    }
                }
            }
        }
    }

    private func randomInput(_ rng: inout SplitMix64) -> PlacementInput {
        var groups: [String: SEGroupPolicy] = [:]
        for g in ["g", "h"] {
            let maxScale = Int.random(in: 1...4, using: &rng)
            groups[g] = SEGroupPolicy(
                haMode: SEGroupPolicy.HAMode.allCases.randomElement(using: &rng)!,
                bufferSE: Int.random(in: 0...1, using: &rng),
                minScaleoutPerVS: Int.random(in: 1...maxScale, using: &rng), maxScaleoutPerVS: maxScale,
                maxSE: Int.random(in: 1...6, using: &rng), maxVSPerSE: Int.random(in: 1...5, using: &rng),
                algo: SEGroupPolicy.Algorithm.allCases.randomElement(using: &rng)!)
        }
        let ses = (0..<Int.random(in: 0...7, using: &rng)).map { i in
            se(
                "s\(i)", group: ["g", "h", "h", "g", "lost"].randomElement(using: &rng)!,
                SEState.OperState.allCases.randomElement(using: &rng)!,
                load: Double(Int.random(in: 0...100, using: &rng)))
        }
        let vss = (0..<Int.random(in: 0...14, using: &rng)).map { i in
            vs(
                "v\(i)", group: ["g", "h", "g", "h", "missing"].randomElement(using: &rng)!,
                enabled: Int.random(in: 0..<6, using: &rng) != 0,
                desired: [nil, nil, 1, 2, 3, 9].randomElement(using: &rng)!)
        }
        var cur: [String: [String]] = [:]
        let seIDs = ses.map(\.uuid) + [S("ghost")]
        for v in vss + [vs("deleted")] where Bool.random(using: &rng) {
            cur[v.uuid] = (0..<Int.random(in: 1...4, using: &rng)).map { _ in seIDs.randomElement(using: &rng)! }
        }
        return PlacementInput(
            groups: groups, serviceEngines: ses, virtualServices: vss, current: Placement(assignments: cur))
    }

    private func checkInvariants(
        _ inp: PlacementInput, _ r: (placement: Placement, decisions: [PlacementDecision]), seed: UInt64
    ) {
        let seBy = Dictionary(inp.serviceEngines.map { ($0.uuid, $0) }, uniquingKeysWith: { a, _ in a })
        let vsBy = Dictionary(inp.virtualServices.map { ($0.uuid, $0) }, uniquingKeysWith: { a, _ in a })
        var perSE: [String: Int] = [:]
        for (v, list) in r.placement.assignments {
            guard let req = vsBy[v] else { return XCTFail("seed \(seed): deleted \(v) placed") }
            XCTAssertTrue(req.enabled, "seed \(seed): disabled \(v) placed")
            XCTAssertFalse(list.isEmpty)
            XCTAssertEqual(Set(list).count, list.count, "seed \(seed): duplicate SE for \(v)")
            let p = inp.groups[req.group]!
            XCTAssertLessThanOrEqual(list.count, p.maxScaleoutPerVS, "seed \(seed)")
            for s in list {
                XCTAssertEqual(seBy[s]?.operState, .up, "seed \(seed): \(v) on \(s) that is not up")
                XCTAssertEqual(seBy[s]?.group, req.group, "seed \(seed): \(v) outside its group")
                perSE[s, default: 0] += 1
            }
            // Every assignment is explained.
            for s in list {
                XCTAssertTrue(
                    r.decisions.contains { $0.vs == v && $0.se == s && ($0.kind == .placed || $0.kind == .kept) },
                    "seed \(seed)")
            }
        }
        for (s, n) in perSE {
            XCTAssertLessThanOrEqual(n, inp.groups[seBy[s]!.group]!.maxVSPerSE, "seed \(seed): \(s) over max_vs_per_se")
        }
        // Every enabled virtual service has min(target, eligible) SEs unless capacity says no, and then it
        // carries an unplaced decision whose stated cause holds.
        for v in inp.virtualServices {
            XCTAssertFalse(r.decisions.filter { $0.vs == v.uuid }.isEmpty, "seed \(seed): \(v.name) has no decision")
            guard v.enabled else { continue }
            guard let p = inp.groups[v.group] else {
                XCTAssertEqual(r.decisions.last { $0.vs == v.uuid }?.cause, .noGroup, "seed \(seed)")
                continue
            }
            let have = r.placement.serviceEngines(for: v.uuid)
            var lo = max(p.minScaleoutPerVS, p.haMode == .sharedPair ? 2 : 1)
            lo = min(lo, p.maxScaleoutPerVS)
            let target = min(max(v.desiredScaleout ?? lo, lo), p.maxScaleoutPerVS)
            XCTAssertLessThanOrEqual(have.count, target, "seed \(seed)")
            let up = inp.serviceEngines.filter { $0.group == v.group && $0.operState == .up }
            let unplaced = r.decisions.filter { $0.vs == v.uuid && $0.kind == .unplaced }
            guard have.count < target else {
                XCTAssertEqual(unplaced, [], "seed \(seed): \(v.name) is fully placed")
                continue
            }
            guard let u = r.decisions.last(where: { $0.vs == v.uuid && $0.kind == .unplaced }) else {
                XCTFail("seed \(seed): \(v.name) short without an unplaced decision")
                continue
            }
            let inUse = up.filter { (perSE[$0.uuid] ?? 0) > 0 }.count
            let roomy = up.filter {
                !have.contains($0.uuid) && (perSE[$0.uuid] ?? 0) < p.maxVSPerSE
                    && ((perSE[$0.uuid] ?? 0) > 0 || inUse < p.maxSE)
            }
            switch u.cause {
            case .noSEUp: XCTAssertTrue(up.isEmpty, "seed \(seed)")
            case .notEnoughSEs: XCTAssertEqual(have.count, up.count, "seed \(seed)")
            case .noCapacity:
                XCTAssertTrue(roomy.isEmpty, "seed \(seed): \(v.name) unplaced but \(roomy.map(\.name)) had room")
            case .bufferReserved:
                // Free slots only shrink while the engine fills, so they are still within the buffer now.
                XCTAssertEqual(p.haMode, .shared, "seed \(seed)")
                let idle = up.count - inUse
                let free =
                    up.reduce(0) { $0 + ((perSE[$1.uuid] ?? 0) > 0 ? p.maxVSPerSE - perSE[$1.uuid]! : 0) }
                    + min(idle, max(0, p.maxSE - inUse)) * p.maxVSPerSE
                XCTAssertLessThanOrEqual(free, p.bufferSE * p.maxVSPerSE, "seed \(seed): \(v.name) buffer claim")
            default: XCTFail("seed \(seed): unexpected cause \(u.cause)")
            }
        }
    }
}

/// A small seeded generator so the property test is reproducible (seed in every failure message).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
