/// The BGP decision process (RFC 4271 §9.1.2) over the candidate routes of one prefix.
///
/// It runs only when more than one peer has the prefix: with a single route the route is the best
/// path when it is eligible, and `RIB` decides that inline. Each step removes candidates from
/// consideration, in the RFC's order, on a stack-allocated scratch array.

extension RIBStorage {
    private struct Candidate {
        var alive: Bool
        var localPref: UInt32
        var asPathLength: Int
        var origin: UInt8
        var med: UInt32
        var neighborAS: UInt32
        var external: Bool
        var routerID: UInt32
        var addressFamily: UInt8
        var addressHigh: UInt64
        var addressLow: UInt64
        var peer: UInt32
    }

    /// Moves the best eligible route of `list` to index 0. Returns false when no route is eligible
    /// (then the order is unspecified and the prefix has no best path).
    func selectBest(_ list: UnsafeMutableBufferPointer<RouteSlot>) -> Bool {
        let n = list.count
        return withUnsafeTemporaryAllocation(of: Candidate.self, capacity: n) { c -> Bool in
            var anyEligible = false
            for i in 0..<n {
                let r = list[i]
                let d = attrs.decision(r.attrID)
                let info = peers[Int(r.peer)].info
                let (family, high, low) = Self.addressKey(info.address)
                // RFC 4271 §5.1.5: LOCAL_PREF received from an external peer MUST be ignored; the
                // degree of preference of such a route is the default, 100, as for a missing one.
                let lp = info.internalPeer ? (d.localPref ?? 100) : 100
                c.initializeElement(
                    at: i,
                    to: Candidate(
                        alive: r.isEligible, localPref: lp, asPathLength: d.asPathLength, origin: d.origin,
                        med: d.med,
                        neighborAS: d.neighborAS != 0 ? d.neighborAS : info.internalPeer ? info.localAS : info.peerAS,
                        external: !info.internalPeer, routerID: info.routerID.rawValue, addressFamily: family,
                        addressHigh: high, addressLow: low, peer: r.peer))
                anyEligible = anyEligible || r.isEligible
            }
            defer { c.baseAddress!.deinitialize(count: n) }
            // RFC 4271 §9.1.2: a route whose AS_PATH contains our AS is excluded from Phase 2.
            guard anyEligible else { return false }

            // RFC 4271 §9.1.2.1 / §9.1.2.2 (a)-(b): highest degree of preference (LOCAL_PREF), then the
            // shortest AS_PATH, then (c) the lowest ORIGIN. These three are a lexicographic order.
            var top: (UInt32, Int, UInt8)? = nil
            for i in 0..<n where c[i].alive {
                let k = (UInt32.max - c[i].localPref, c[i].asPathLength, c[i].origin)
                if top == nil || k < top! { top = k }
            }
            for i in 0..<n where c[i].alive {
                if (UInt32.max - c[i].localPref, c[i].asPathLength, c[i].origin) != top! { c[i].alive = false }
            }
            // RFC 4271 §9.1.2.2 (c): remove routes with a higher MED than another route from the same
            // neighbouring AS; MEDs of routes from different neighbouring ASes are not compared. The
            // route with the lowest MED of each AS is never removed, so removing in place is safe.
            for i in 0..<n where c[i].alive {
                for j in 0..<n where j != i && c[j].alive {
                    if c[j].neighborAS == c[i].neighborAS && c[j].med < c[i].med {
                        c[i].alive = false
                        break
                    }
                }
            }
            // RFC 4271 §9.1.2.2 (d): if any route was learned from an external peer, remove the
            // internal ones. (e) interior cost to the NEXT_HOP does not apply: no IGP here.
            var anyExternal = false
            for i in 0..<n where c[i].alive && c[i].external { anyExternal = true }
            if anyExternal {
                for i in 0..<n where !c[i].external { c[i].alive = false }
            }
            // RFC 4271 §9.1.2.2 (f): lowest BGP Identifier, then (g) lowest peer address; last, the
            // lowest peer slot so that the result never depends on arrival order.
            var best = -1
            for i in 0..<n where c[i].alive {
                if best < 0
                    || (c[i].routerID, c[i].addressFamily, c[i].addressHigh, c[i].addressLow, c[i].peer)
                        < (
                            c[best].routerID, c[best].addressFamily, c[best].addressHigh, c[best].addressLow,
                            c[best].peer
                        )
                {
                    best = i
                }
            }
            if best != 0 { list.swapAt(0, best) }
            return true
        }
    }

    /// A sortable form of a peer address: IPv4 before IPv6, then numerically.
    private static func addressKey(_ a: IPAddress) -> (UInt8, UInt64, UInt64) {
        switch a {
        case .v4(let v): (4, 0, UInt64(v.rawValue))
        case .v6(let v): (6, v.high, v.low)
        }
    }
}
