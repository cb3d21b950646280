/// Packs prefixes into UPDATEs that fill the negotiated message size (DESIGN §6: "group prefixes by
/// attribute set and pack UPDATEs to the negotiated maximum size").
///
/// RFC 7606 §5.1: "An UPDATE message MUST NOT contain more than one of the following: non-empty
/// Withdrawn Routes field, non-empty Network Layer Reachability Information field, MP_REACH_NLRI
/// attribute, and MP_UNREACH_NLRI attribute." So each message carries exactly one of the four:
/// IPv4 withdrawals, IPv6 withdrawals, one group's IPv4 announcements, or one group's IPv6
/// announcements -- and each is filled to the limit. Withdrawals come first.
struct UpdatePacker {
    let context: WireContext

    /// Header (19) + Withdrawn Routes Length (2) + Total Path Attribute Length (2).
    static let fixedOverhead = 23

    func pack(
        withdrawn: [IPPrefix], announced: [(attributes: PathAttributes, prefixes: [IPPrefix])]
    ) -> [UpdateMessage] {
        let limit = context.maxMessageSize - Self.fixedOverhead
        var messages: [UpdateMessage] = []

        let (withdrawn4, withdrawn6) = Self.split(withdrawn)
        Self.chunk(withdrawn4, budget: limit, size: { NLRI.encodedSize(length: $0.length) }) {
            messages.append(UpdateMessage(withdrawnRoutes: $0))
        }
        // MP_UNREACH_NLRI: extended header (4) + AFI/SAFI (3) + withdrawn routes.
        Self.chunk(withdrawn6, budget: limit - 4 - 3, size: NLRI.encodedSize) {
            messages.append(
                UpdateMessage(attributes: PathAttributes(mpUnreach: MPUnreach(family: .ipv6Unicast, withdrawn: $0))))
        }

        for group in announced {
            let (announce4, announce6) = Self.split(group.prefixes)
            if !announce4.isEmpty {
                var attributes = group.attributes
                attributes.mpReach = nil
                attributes.mpUnreach = nil
                let budget = limit - attributes.encodedLength(context: context)
                Self.chunk(announce4, budget: budget, size: { NLRI.encodedSize(length: $0.length) }) {
                    messages.append(UpdateMessage(attributes: attributes, nlri: $0))
                }
            }
            // IPv6 needs the group's MP_REACH_NLRI template for its next hop; without one the
            // prefixes cannot be announced and are left out.
            if !announce6.isEmpty, let template = group.attributes.mpReach, template.family.afi == .ipv6 {
                var attributes = group.attributes
                // RFC 4760 §3: an UPDATE whose only NLRI is in MP_REACH_NLRI "SHOULD NOT carry the
                // NEXT_HOP attribute".
                attributes.nextHop = nil
                attributes.mpUnreach = nil
                attributes.mpReach = MPReach(family: template.family, nextHop: template.nextHop, nlri: [])
                // The empty MP_REACH_NLRI is measured with a 1-octet length; a full one needs 2.
                let budget = limit - attributes.encodedLength(context: context) - 1
                Self.chunk(announce6, budget: budget, size: NLRI.encodedSize) {
                    var a = attributes
                    a.mpReach!.nlri = $0
                    messages.append(UpdateMessage(attributes: a))
                }
            }
        }
        return messages
    }

    private static func split(_ prefixes: [IPPrefix]) -> ([IPv4Prefix], [IPPrefix]) {
        var v4: [IPv4Prefix] = []
        var v6: [IPPrefix] = []
        for prefix in prefixes {
            switch prefix {
            case .v4(let p): v4.append(p)
            case .v6: v6.append(prefix)
            }
        }
        return (v4, v6)
    }

    /// Cuts `items` into consecutive runs whose encoded sizes sum to at most `budget`. A budget too
    /// small for the largest possible prefix (attributes that fill the message) emits nothing.
    private static func chunk<T>(
        _ items: [T], budget: Int, size: (T) -> Int, emit: ([T]) -> Void
    ) {
        guard !items.isEmpty, budget >= 17 else { return }
        var start = 0
        var used = 0
        for (i, item) in items.enumerated() {
            let s = size(item)
            if used + s > budget {
                emit(Array(items[start..<i]))
                start = i
                used = 0
            }
            used += s
        }
        emit(Array(items[start...]))
    }
}
