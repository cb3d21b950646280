import NIOCore

/// Decodes the path attributes of one UPDATE and applies RFC 4271 §6.3 as revised by RFC 7606.
///
/// Errors that do not end the session are collected in `errors`; the strongest action among them
/// wins (RFC 7606 §3 (h)). A "session reset" error is thrown at once (nothing is stronger); an
/// "AFI/SAFI disable" error is thrown after the whole list was read, since a later session-reset
/// error would be stronger. `finish` turns the collected errors into a `DecodedUpdate`.
struct UpdateDecoder {
    let context: WireContext
    var attributes = PathAttributes()
    var errors: [BGPError] = []
    /// Attribute type codes met so far (RFC 7606 §3 (g) duplicates; RFC 7606 §3 (d) missing ones).
    private(set) var seen = AttributeTypeSet()
    /// The attribute list held something other than MP_UNREACH_NLRI (RFC 7606 §5.2).
    private(set) var hasAttributesOtherThanMPUnreach = false
    /// AS4_PATH and AS4_AGGREGATOR from an OLD speaker, reconciled in `finish` (RFC 6793 §4.2.3).
    private var as4Path: ASPath?
    private var as4Aggregator: Aggregator?

    init(context: WireContext) { self.context = context }

    /// Records an error that does not end the session at once.
    private mutating func record(_ error: BGPError) throws(BGPError) {
        if error.action == .sessionReset { throw error }
        errors.append(error)
    }

    // MARK: The attribute list

    /// Reads every attribute in the Path Attributes field (already cut to Total Path Attribute Length).
    mutating func decodeAttributes(_ field: ByteBuffer) throws(BGPError) {
        var buffer = field
        while buffer.readableBytes > 0 {
            let start = buffer.readerIndex
            let remaining = buffer.readableBytes
            let flags = AttributeFlags(rawValue: buffer.getInteger(at: start, as: UInt8.self)!)
            let headerLength = flags.contains(.extendedLength) ? 4 : 3
            // RFC 7606 §4: "fewer than three octets remain (or fewer than four octets, if the
            // Attribute Flags field has the Extended Length bit set) when beginning to parse the
            // attribute ... In either of these cases, an error condition exists and the
            // "treat-as-withdraw" approach MUST be used (unless some other, more severe error is
            // encountered dictating a stronger approach), and the Total Attribute Length MUST be
            // relied upon to enable the beginning of the NLRI field to be located."
            guard remaining >= headerLength else {
                hasAttributesOtherThanMPUnreach = true
                try record(
                    BGPError(
                        code: .updateMessageError, subcode: NotificationSubcode.Update.malformedAttributeList,
                        action: .treatAsWithdraw,
                        reason: "\(remaining) octets left at the end of the path attributes, too few for an attribute"))
                return
            }
            buffer.moveReaderIndex(forwardBy: 1)
            let type = AttributeType(rawValue: buffer.readInteger(as: UInt8.self)!)
            let length =
                flags.contains(.extendedLength)
                ? Int(buffer.readInteger(as: UInt16.self)!) : Int(buffer.readInteger(as: UInt8.self)!)
            if type != .mpUnreachNLRI { hasAttributesOtherThanMPUnreach = true }
            // RFC 7606 §4: "the length of the last encountered path attribute would cause the Total
            // Attribute Length to be exceeded when parsing the enclosed path attributes" -- the same
            // "treat-as-withdraw", except that an MP_REACH_NLRI or MP_UNREACH_NLRI cut short cannot be
            // parsed, and RFC 7606 §3 (j) then leaves "session reset".
            guard buffer.readableBytes >= length else {
                let mp = type == .mpReachNLRI || type == .mpUnreachNLRI
                try record(
                    BGPError(
                        code: .updateMessageError, subcode: NotificationSubcode.Update.attributeLengthError,
                        data: field.getBytes(at: start, length: remaining) ?? [],
                        action: mp ? .sessionReset : .treatAsWithdraw,
                        reason: "\(type) length \(length) runs past the path attributes (\(buffer.readableBytes) left)")
                )
                return
            }
            let value = buffer.readSlice(length: length)!
            let wire = AttributeOnWire(field: field, start: start, length: headerLength + length)
            try decodeAttribute(flags: flags, type: type, value: value, wire: wire)
        }
    }

    /// The attribute's bytes as received, for NOTIFICATION data: RFC 4271 §6.3 asks for "the
    /// erroneous attribute (type, length, and value)", where the type is the two-octet Attribute Type
    /// (flags and type code, RFC 4271 §4.3).
    struct AttributeOnWire {
        var field: ByteBuffer
        var start: Int
        var length: Int
        var bytes: [UInt8] { field.getBytes(at: start, length: length) ?? [] }
    }

    private mutating func decodeAttribute(
        flags: AttributeFlags, type: AttributeType, value: ByteBuffer, wire: AttributeOnWire
    ) throws(BGPError) {
        // RFC 7606 §3 (g): "If the MP_REACH_NLRI attribute or the MP_UNREACH_NLRI [RFC4760]
        // attribute appears more than once in the UPDATE message, then a NOTIFICATION message MUST
        // be sent with the Error Subcode "Malformed Attribute List". If any other attribute (whether
        // recognized or unrecognized) appears more than once in an UPDATE message, then all the
        // occurrences of the attribute other than the first one SHALL be discarded and the UPDATE
        // message will continue to be processed."
        if seen.contains(type) {
            let mp = type == .mpReachNLRI || type == .mpUnreachNLRI
            try record(
                BGPError(
                    code: .updateMessageError, subcode: NotificationSubcode.Update.malformedAttributeList,
                    data: mp ? [] : wire.bytes, action: mp ? .sessionReset : .attributeDiscard,
                    reason: mp ? "\(type) appears more than once" : "repeated \(type) discarded"))
            return
        }
        seen.insert(type)

        guard let spec = AttributeSpec.of(type) else {
            try decodeUnrecognized(flags: flags, type: type, value: value, wire: wire)
            return
        }
        // RFC 6793 §4.1: "A NEW BGP speaker that receives the AS4_PATH attribute or the
        // AS4_AGGREGATOR attribute in an UPDATE message from another NEW BGP speaker MUST discard the
        // path attribute and continue processing the UPDATE message."
        if context.fourOctetAS && (type == .as4Path || type == .as4Aggregator) {
            try record(
                BGPError(
                    code: .updateMessageError, subcode: NotificationSubcode.Update.optionalAttributeError,
                    data: wire.bytes, action: .attributeDiscard,
                    reason: "\(type) from a 4-octet AS peer discarded"))
            return
        }
        // RFC 7606 §7.5: "If the LOCAL_PREF attribute is received from an external neighbor, it SHALL
        // be discarded using the approach of "attribute discard"".
        if type == .localPref && !context.internalPeer {
            try record(
                BGPError(
                    code: .updateMessageError, subcode: NotificationSubcode.Update.malformedAttributeList,
                    data: wire.bytes, action: .attributeDiscard, reason: "LOCAL_PREF from an external peer discarded"))
            return
        }
        // RFC 7606 §3 (c): "If the value of either the Optional or Transitive bits in the Attribute
        // Flags is in conflict with their specified values, then the attribute MUST be treated as
        // malformed and the "treat-as-withdraw" approach used, unless the specification for the
        // attribute mandates different handling for incorrect Attribute Flags."
        // RFC 4271 §4.3: "For well-known attributes and for optional non-transitive attributes, the
        // Partial bit MUST be set to 0." A set Partial bit is an Attribute Flags Error (RFC 4271
        // §6.3) handled as that attribute's other session-reset cases (RFC 7606 §3 (e), (f), §5.3 (c)).
        let ot: AttributeFlags = [.optional, .transitive]
        let flagsAction: BGPError.Action?
        if flags.intersection(ot) != spec.flags {
            flagsAction = spec.flagsAction
        } else if flags.contains(.partial) && spec.flags != .optionalTransitive {
            flagsAction = spec.malformedAction
        } else {
            flagsAction = nil
        }
        if let action = flagsAction {
            try record(
                BGPError(
                    code: .updateMessageError, subcode: NotificationSubcode.Update.attributeFlagsError,
                    data: wire.bytes, action: action,
                    reason: "\(spec.name) flags 0x\(String(flags.rawValue, radix: 16)) conflict with its type"))
            return
        }

        var removedConfederationSegments = false
        do throws(AttributeDefect) {
            let asnSize = context.fourOctetAS ? 4 : 2
            switch type {
            case .origin: attributes.origin = try Origin(attributeValue: value)
            case .asPath: attributes.asPath = try ASPath(attributeValue: value, asnSize: asnSize)
            case .nextHop: attributes.nextHop = try NextHopAttribute.decode(value)
            case .multiExitDisc: attributes.multiExitDisc = try MultiExitDiscAttribute.decode(value)
            case .localPref: attributes.localPref = try LocalPrefAttribute.decode(value)
            case .atomicAggregate:
                try AtomicAggregateAttribute.decode(value)
                attributes.atomicAggregate = true
            case .aggregator: attributes.aggregator = try Aggregator(attributeValue: value, asnSize: asnSize)
            case .communities: attributes.communities = try CommunitiesAttribute.decode(value)
            case .mpReachNLRI: attributes.mpReach = try MPReach(attributeValue: value, context: context)
            case .mpUnreachNLRI: attributes.mpUnreach = try MPUnreach(attributeValue: value, context: context)
            case .extendedCommunities:
                attributes.extendedCommunities = try ExtendedCommunitiesAttribute.decode(value)
            case .as4Path:
                let decoded = try AS4PathAttribute.decode(value)
                as4Path = decoded.path
                removedConfederationSegments = decoded.removedConfederationSegments
            case .as4Aggregator: as4Aggregator = try AS4AggregatorAttribute.decode(value)
            case .largeCommunity: attributes.largeCommunities = try LargeCommunitiesAttribute.decode(value)
            default: break
            }
        } catch {
            let noData =
                error.subcode == NotificationSubcode.Update.malformedASPath
                || error.subcode == NotificationSubcode.Update.invalidNetworkField
            try record(
                BGPError(
                    code: .updateMessageError, subcode: error.subcode, data: noData ? [] : wire.bytes,
                    action: error.action ?? spec.malformedAction, reason: error.reason))
        }
        if removedConfederationSegments {
            try record(
                BGPError(
                    code: .updateMessageError, subcode: NotificationSubcode.Update.optionalAttributeError,
                    data: wire.bytes, action: .attributeDiscard, reason: "confederation segments removed from AS4_PATH")
            )
        }
    }

    private mutating func decodeUnrecognized(
        flags: AttributeFlags, type: AttributeType, value: ByteBuffer, wire: AttributeOnWire
    ) throws(BGPError) {
        // RFC 4271 §6.3: "If any of the well-known mandatory attributes are not recognized, then the
        // Error Subcode MUST be set to Unrecognized Well-known Attribute. The Data field MUST contain
        // the unrecognized attribute (type, length, and value)." RFC 7606 keeps this a session reset.
        guard flags.contains(.optional) else {
            throw BGPError(
                code: .updateMessageError, subcode: NotificationSubcode.Update.unrecognizedWellKnownAttribute,
                data: wire.bytes, action: .sessionReset, reason: "unrecognized well-known \(type)")
        }
        // RFC 4271 §5: "Unrecognized non-transitive optional attributes MUST be quietly ignored and
        // not passed along to other BGP peers." Transitive ones are kept and passed on with Partial.
        if flags.contains(.transitive) {
            attributes.unknown.append(
                RawAttribute(
                    flags: flags.subtracting(.extendedLength), type: type, value: Array(value.readableBytesView)))
        }
    }

    // MARK: After the list

    /// Applies the checks that need the whole UPDATE and returns the result (or throws the error that
    /// resets the session).
    mutating func finish(withdrawn: [IPv4Prefix], nlri: [IPv4Prefix]) throws(BGPError) -> DecodedUpdate {
        if !context.fourOctetAS { reconcileAS4() }
        var update = UpdateMessage(withdrawnRoutes: withdrawn, attributes: attributes, nlri: nlri)
        let announcesIPv4 = !nlri.isEmpty
        let announcesMP = !(attributes.mpReach?.nlri.isEmpty ?? true)
        // RFC 4760 §3: "An UPDATE message that carries no NLRI, other than the one encoded in the
        // MP_REACH_NLRI attribute, SHOULD NOT carry the NEXT_HOP attribute. If such a message
        // contains the NEXT_HOP attribute, the BGP speaker that receives the message SHOULD ignore
        // this attribute."
        if !announcesIPv4 && attributes.mpReach != nil { update.attributes.nextHop = nil }

        // RFC 4271 §5: ORIGIN, AS_PATH and NEXT_HOP are mandatory in an UPDATE that carries NLRI;
        // RFC 4760 §3 drops NEXT_HOP for MP_REACH_NLRI-only UPDATEs. RFC 7606 §3 (d): "If any of the
        // well-known mandatory attributes are not present in an UPDATE message, then
        // "treat-as-withdraw" MUST be used." RFC 4271 §6.3: the Data field "MUST contain the Attribute
        // Type Code of the missing, well-known attribute".
        if announcesIPv4 || announcesMP {
            // Checked one by one, in type-code order: no array per UPDATE.
            try requireMandatory(.origin)
            try requireMandatory(.asPath)
            if announcesIPv4 { try requireMandatory(.nextHop) }
        }

        guard let worst = errors.lazy.map(\.action).max() else { return DecodedUpdate(update: update) }
        // RFC 7606 §5.2: "if an UPDATE message is encountered that does contain path attributes other
        // than MP_UNREACH_NLRI and doesn't encode any reachable NLRI, ... if any path attribute errors
        // are encountered in such an UPDATE message and if any encountered error specifies an
        // error-handling approach other than "attribute discard", then the "session reset" approach
        // MUST be used."
        // (An incorrect MP attribute keeps its own "AFI/SAFI disable" below.)
        if worst == .treatAsWithdraw && !announcesIPv4 && !announcesMP && hasAttributesOtherThanMPUnreach {
            var error = errors.first { $0.action == worst }!
            error.action = .sessionReset
            error.reason += " in an UPDATE without reachable NLRI"
            throw error
        }
        if worst >= .afiSafiDisable { throw errors.first { $0.action == worst }! }
        if worst == .treatAsWithdraw {
            return DecodedUpdate(update: try Self.treatAsWithdraw(update), treatAsWithdraw: true, errors: errors)
        }
        return DecodedUpdate(update: update, errors: errors)
    }

    /// RFC 7606 §3 (d): a missing well-known mandatory attribute means "treat-as-withdraw"; RFC 4271
    /// §6.3: the Data field "MUST contain the Attribute Type Code of the missing, well-known attribute".
    private mutating func requireMandatory(_ type: AttributeType) throws(BGPError) {
        guard !seen.contains(type) else { return }
        try record(
            BGPError(
                code: .updateMessageError, subcode: NotificationSubcode.Update.missingWellKnownAttribute,
                data: [type.rawValue], action: .treatAsWithdraw, reason: "missing well-known \(type)"))
    }

    /// RFC 6793 §4.2.3, on sessions without the 4-octet AS capability.
    private mutating func reconcileAS4() {
        var useAS4Path = as4Path != nil
        if let as4Aggregator, let aggregator = attributes.aggregator {
            // RFC 6793 §4.2.3: "When both of the attributes are received, if the AS number in the
            // AGGREGATOR attribute is not AS_TRANS, then: the AS4_AGGREGATOR attribute and the
            // AS4_PATH attribute SHALL be ignored, the AGGREGATOR attribute SHALL be taken as the
            // information about the aggregating node, and the AS_PATH attribute SHALL be taken as the
            // AS path information. Otherwise, the AGGREGATOR attribute SHALL be ignored, the
            // AS4_AGGREGATOR attribute SHALL be taken as the information about the aggregating node,
            // and the AS path information would need to be constructed, as in all other cases."
            if aggregator.asn != UInt32(asTrans) {
                useAS4Path = false
            } else {
                attributes.aggregator = as4Aggregator
            }
        }
        if useAS4Path, let as4Path, let asPath = attributes.asPath {
            attributes.asPath = AS4PathAttribute.reconstruct(asPath: asPath, as4Path: as4Path)
        }
    }

    /// RFC 7606 §2: "treat-as-withdraw": "the UPDATE message containing the path attribute in
    /// question MUST be treated as though all contained routes had been withdrawn just as if they
    /// had been listed in the WITHDRAWN ROUTES field (or in the MP_UNREACH_NLRI attribute if
    /// appropriate) of the UPDATE message".
    static func treatAsWithdraw(_ update: UpdateMessage) throws(BGPError) -> UpdateMessage {
        var result = UpdateMessage(withdrawnRoutes: update.withdrawnRoutes + update.nlri)
        var unreach = update.attributes.mpUnreach
        if let reach = update.attributes.mpReach, !reach.nlri.isEmpty {
            if reach.family == .ipv4Unicast {
                for case .v4(let p) in reach.nlri { result.withdrawnRoutes.append(p) }
            } else {
                if let u = unreach, u.family != reach.family {
                    guard u.family == .ipv4Unicast else {
                        // Two MP families in one UPDATE that one MP_UNREACH_NLRI cannot hold.
                        throw BGPError(
                            code: .updateMessageError, subcode: NotificationSubcode.Update.malformedAttributeList,
                            reason: "treat-as-withdraw across \(u.family) and \(reach.family) in one UPDATE")
                    }
                    for case .v4(let p) in u.withdrawn { result.withdrawnRoutes.append(p) }
                    unreach = nil
                }
                if unreach == nil { unreach = MPUnreach(family: reach.family, withdrawn: []) }
                unreach!.withdrawn += reach.nlri
            }
        }
        result.attributes.mpUnreach = unreach
        return result
    }
}

/// What RFC 4271 and RFC 7606 say about each recognized attribute.
struct AttributeSpec {
    var name: String
    /// The Optional and Transitive bits the attribute must carry.
    var flags: AttributeFlags
    /// The RFC 7606 action for a malformed value.
    var malformedAction: BGPError.Action
    /// The RFC 7606 action for conflicting Optional/Transitive bits.
    var flagsAction: BGPError.Action

    static func of(_ type: AttributeType) -> AttributeSpec? {
        switch type {
        // RFC 7606 §7.1-§7.5 and §3 (e): "treat-as-withdraw".
        case .origin: Self(name: "ORIGIN", flags: .wellKnown, malformedAction: .treatAsWithdraw)
        case .asPath: Self(name: "AS_PATH", flags: .wellKnown, malformedAction: .treatAsWithdraw)
        case .nextHop: Self(name: "NEXT_HOP", flags: .wellKnown, malformedAction: .treatAsWithdraw)
        case .multiExitDisc:
            Self(name: "MULTI_EXIT_DISC", flags: .optionalNonTransitive, malformedAction: .treatAsWithdraw)
        case .localPref: Self(name: "LOCAL_PREF", flags: .wellKnown, malformedAction: .treatAsWithdraw)
        // RFC 7606 §7.6, §7.7 and §3 (f): "attribute discard".
        case .atomicAggregate: Self(name: "ATOMIC_AGGREGATE", flags: .wellKnown, malformedAction: .attributeDiscard)
        case .aggregator: Self(name: "AGGREGATOR", flags: .optionalTransitive, malformedAction: .attributeDiscard)
        // RFC 7606 §7.8, §7.14; RFC 8092 §6: "treat-as-withdraw".
        case .communities: Self(name: "COMMUNITIES", flags: .optionalTransitive, malformedAction: .treatAsWithdraw)
        case .extendedCommunities:
            Self(name: "EXTENDED_COMMUNITIES", flags: .optionalTransitive, malformedAction: .treatAsWithdraw)
        case .largeCommunity:
            Self(name: "LARGE_COMMUNITY", flags: .optionalTransitive, malformedAction: .treatAsWithdraw)
        // RFC 7606 §5.3 (c), §7.11, §7.12: flags inconsistent with RFC 4760 make the attribute
        // incorrect: "AFI/SAFI disable" or "session reset", never treat-as-withdraw.
        case .mpReachNLRI:
            Self(
                name: "MP_REACH_NLRI", flags: .optionalNonTransitive, malformedAction: .afiSafiDisable,
                flagsAction: .afiSafiDisable)
        case .mpUnreachNLRI:
            Self(
                name: "MP_UNREACH_NLRI", flags: .optionalNonTransitive, malformedAction: .afiSafiDisable,
                flagsAction: .afiSafiDisable)
        // RFC 6793 §6: a malformed AS4_PATH or AS4_AGGREGATOR is discarded.
        case .as4Path: Self(name: "AS4_PATH", flags: .optionalTransitive, malformedAction: .attributeDiscard)
        case .as4Aggregator:
            Self(name: "AS4_AGGREGATOR", flags: .optionalTransitive, malformedAction: .attributeDiscard)
        default: nil
        }
    }

    init(
        name: String, flags: AttributeFlags, malformedAction: BGPError.Action,
        flagsAction: BGPError.Action = .treatAsWithdraw
    ) {
        self.name = name
        self.flags = flags
        self.malformedAction = malformedAction
        self.flagsAction = flagsAction
    }
}

/// A set of attribute type codes as a 256-bit map.
struct AttributeTypeSet {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    func contains(_ type: AttributeType) -> Bool {
        let bit = UInt64(1) << UInt64(type.rawValue & 63)
        switch type.rawValue >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    mutating func insert(_ type: AttributeType) {
        let bit = UInt64(1) << UInt64(type.rawValue & 63)
        switch type.rawValue >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }
}
