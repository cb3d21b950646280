import NIOCore

extension PathAttributes {
    /// Writes every attribute for a peer described by `context`.
    ///
    /// Order: MP_UNREACH_NLRI, then MP_REACH_NLRI, then the rest by type code with unrecognized
    /// attributes in their places. RFC 7606 §5.1: "The MP_REACH_NLRI or MP_UNREACH_NLRI attribute (if
    /// present) SHALL be encoded as the very first path attribute in an UPDATE message." Otherwise
    /// RFC 4271 §5 asks only that a sender MAY order attributes by type code; we always do.
    ///
    /// On a session without the 4-octet AS capability AS_PATH and AGGREGATOR carry 2-octet ASNs and
    /// AS4_PATH / AS4_AGGREGATOR are added when needed (RFC 6793 §4.2.2). LOCAL_PREF is written only
    /// to internal peers (RFC 4271 §5.1.5: "A BGP speaker MUST NOT include this attribute in UPDATE
    /// messages it sends to external peers, except in the case of BGP Confederations").
    func write(to buffer: inout ByteBuffer, context: WireContext) {
        if let mpUnreach { mpUnreach.writeAttribute(to: &buffer) }
        if let mpReach { mpReach.writeAttribute(to: &buffer) }

        // Unrecognized attributes, stable-sorted by type code, are interleaved below.
        let others =
            unknown.isEmpty
            ? []
            : unknown.enumerated().sorted {
                ($0.element.type.rawValue, $0.offset) < ($1.element.type.rawValue, $1.offset)
            }
        var next = 0
        func unknownBefore(_ code: Int, _ buffer: inout ByteBuffer) {
            while next < others.count, Int(others[next].element.type.rawValue) < code {
                let raw = others[next].element
                if raw.type != .mpReachNLRI && raw.type != .mpUnreachNLRI { raw.writeAttribute(to: &buffer) }
                next += 1
            }
        }

        unknownBefore(1, &buffer)
        origin?.writeAttribute(to: &buffer)
        unknownBefore(2, &buffer)
        asPath?.writeAttribute(to: &buffer, fourOctetAS: context.fourOctetAS)
        unknownBefore(3, &buffer)
        if let nextHop { NextHopAttribute.write(nextHop, to: &buffer) }
        unknownBefore(4, &buffer)
        if let multiExitDisc { MultiExitDiscAttribute.write(multiExitDisc, to: &buffer) }
        unknownBefore(5, &buffer)
        if let localPref, context.internalPeer { LocalPrefAttribute.write(localPref, to: &buffer) }
        unknownBefore(6, &buffer)
        if atomicAggregate { AtomicAggregateAttribute.write(to: &buffer) }
        unknownBefore(7, &buffer)
        aggregator?.writeAttribute(to: &buffer, fourOctetAS: context.fourOctetAS)
        unknownBefore(8, &buffer)
        if !communities.isEmpty { CommunitiesAttribute.write(communities, to: &buffer) }
        unknownBefore(16, &buffer)
        if !extendedCommunities.isEmpty { ExtendedCommunitiesAttribute.write(extendedCommunities, to: &buffer) }
        unknownBefore(17, &buffer)
        if !context.fourOctetAS, let asPath, let as4 = AS4PathAttribute.pathToSend(for: asPath) {
            AS4PathAttribute.write(as4, to: &buffer)
        }
        unknownBefore(18, &buffer)
        if !context.fourOctetAS, let aggregator, AS4AggregatorAttribute.needed(for: aggregator) {
            AS4AggregatorAttribute.write(aggregator, to: &buffer)
        }
        unknownBefore(32, &buffer)
        if !largeCommunities.isEmpty { LargeCommunitiesAttribute.write(largeCommunities, to: &buffer) }
        unknownBefore(256, &buffer)
    }

    /// Octets `write(to:context:)` produces.
    func encodedLength(context: WireContext) -> Int {
        var scratch = ByteBufferAllocator().buffer(capacity: 128)
        write(to: &scratch, context: context)
        return scratch.readableBytes
    }
}
