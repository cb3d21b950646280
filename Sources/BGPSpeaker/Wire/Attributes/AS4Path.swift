import NIOCore

/// AS4_PATH (type code 17, optional transitive; RFC 6793 §3): the AS path with 4-octet ASNs, sent
/// beside a 2-octet AS_PATH only on sessions where the 4-octet AS capability was not negotiated.
/// Same layout as AS_PATH (see `ASPath.swift`) with 4-octet ASNs; confederation segments are not
/// allowed in it.
enum AS4PathAttribute {
    static let flags = AttributeFlags.optionalTransitive

    /// Result of decoding an AS4_PATH value from an OLD speaker.
    struct Decoded {
        var path: ASPath
        /// Confederation segments were present and have been removed (RFC 6793 §6).
        var removedConfederationSegments: Bool
    }

    static func decode(_ value: ByteBuffer) throws(AttributeDefect) -> Decoded {
        // RFC 6793 §6: a malformed AS4_PATH is detected with the same checks as AS_PATH (RFC 7606
        // §7.2 rules; the caller applies "attribute discard"). RFC 7606 §4: only AS_PATH and
        // ATOMIC_AGGREGATE may be empty, so an empty AS4_PATH is malformed too.
        guard value.readableBytes > 0 else {
            throw AttributeDefect(subcode: NotificationSubcode.Update.malformedASPath, reason: "empty AS4_PATH")
        }
        var path = try ASPath(attributeValue: value, asnSize: 4)
        // RFC 6793 §6: "A NEW BGP speaker that receives these path segment types in the AS4_PATH
        // attribute of an UPDATE message from an OLD BGP speaker MUST discard these path segments,
        // adjust the relevant attribute fields accordingly, and continue processing the UPDATE
        // message."
        let before = path.segments.count
        path.segments.removeAll { $0.type == .confedSequence || $0.type == .confedSet }
        return Decoded(path: path, removedConfederationSegments: path.segments.count != before)
    }

    /// The AS4_PATH to send to an OLD speaker for `path`, or nil when none is sent.
    ///
    /// RFC 6793 §4.2.2: "The NEW BGP speaker MUST also send the AS path information in the AS4_PATH
    /// attribute ..., except for the case where all of the AS path information is composed of
    /// mappable four-octet AS numbers only. In this case, the NEW BGP speaker MUST NOT send the
    /// AS4_PATH attribute." And: "Whenever the AS path information contains the AS_CONFED_SEQUENCE
    /// or AS_CONFED_SET path segment, the NEW BGP speaker MUST exclude such path segments from the
    /// AS4_PATH attribute being constructed."
    static func pathToSend(for path: ASPath) -> ASPath? {
        guard path.hasNonMappableASN else { return nil }
        let as4 = ASPath(segments: path.segments.filter { $0.type == .asSequence || $0.type == .asSet })
        return as4.segments.isEmpty ? nil : as4
    }

    static func write(_ path: ASPath, to buffer: inout ByteBuffer) {
        buffer.writePathAttribute(flags: flags, type: .as4Path) { path.writeValue(to: &$0, asnSize: 4) }
    }

    /// Rebuilds the AS path from a 2-octet AS_PATH and an AS4_PATH (RFC 6793 §4.2.3).
    ///
    /// "In this context, the number of AS numbers" is counted as for route selection
    /// (`ASPath.pathLength`: an AS_SET counts 1, confederation segments 0).
    static func reconstruct(asPath: ASPath, as4Path: ASPath) -> ASPath {
        let count = asPath.pathLength
        let count4 = as4Path.pathLength
        // RFC 6793 §4.2.3: "If the number of AS numbers in the AS_PATH attribute is less than the
        // number of AS numbers in the AS4_PATH attribute, then the AS4_PATH attribute SHALL be
        // ignored, and the AS_PATH attribute SHALL be taken as the AS path information."
        guard count >= count4 else { return asPath }
        // RFC 6793 §4.2.3: "... the AS path information SHALL be constructed by taking as many AS
        // numbers and path segments as necessary from the leading part of the AS_PATH attribute, and
        // then prepending them to the AS4_PATH attribute so that the AS path information has a number
        // of AS numbers identical to that of the AS_PATH attribute. Note that a valid
        // AS_CONFED_SEQUENCE or AS_CONFED_SET path segment SHALL be prepended if it is either the
        // leading path segment or is adjacent to a path segment that is prepended."
        var needed = count - count4
        var leading: [ASPath.Segment] = []
        for segment in asPath.segments {
            switch segment.type {
            case .confedSequence, .confedSet:
                // Every earlier segment was taken whole, so this one leads or is adjacent.
                leading.append(segment)
                continue
            case .asSet where needed >= 1:
                leading.append(segment)
                needed -= 1
                continue
            case .asSequence where needed >= 1:
                let take = min(needed, segment.asns.count)
                leading.append(ASPath.Segment(type: .asSequence, asns: Array(segment.asns.prefix(take))))
                needed -= take
                if take == segment.asns.count { continue }
            default:
                break
            }
            break
        }
        var segments = leading
        for segment in as4Path.segments {
            // Join the seam of two AS_SEQUENCEs so equal paths compare equal however they arrived.
            if let last = segments.last, last.type == .asSequence, segment.type == .asSequence,
                last.asns.count + segment.asns.count <= 255
            {
                segments[segments.count - 1].asns += segment.asns
            } else {
                segments.append(segment)
            }
        }
        return ASPath(segments: segments)
    }
}
