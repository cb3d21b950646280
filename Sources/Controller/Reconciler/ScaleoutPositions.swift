import StarlingModel

/// The scale-out positions of the SEs in each SE group (issue 15): which SEs steer packets to each other,
/// and at which of the 16 positions the SEs' steering program has (pinned flows and forwarding targets name
/// positions). Pure: the reconciler reads the current rows, calls ``assign(current:ses:)`` and stores the
/// result.
///
/// - An SE keeps its position while it stays in its group with a data address; a new SE takes the lowest
///   free position of its group (new SEs in name order); an SE that leaves frees its position.
/// - A group holds at most ``ScaleoutGroup/maxMembers`` SEs: the ones beyond it get no position (and no
///   steering) until one frees.
enum ScaleoutPositions {
    struct Assignment: Hashable, Sendable {
        var group: String
        var position: Int
    }

    /// `current`: the stored positions by SE uuid; `ses`: the SEs that can be members (they have a data
    /// address), with their group. Returns the positions by SE uuid.
    static func assign(
        current: [String: Assignment], ses: [(uuid: String, name: String, group: String)]
    ) -> [String: Assignment] {
        var out: [String: Assignment] = [:]
        var taken: [String: Set<Int>] = [:]
        for se in ses {
            guard let kept = current[se.uuid], kept.group == se.group,
                (0..<ScaleoutGroup.maxMembers).contains(kept.position),
                taken[se.group, default: []].insert(kept.position).inserted
            else { continue }
            out[se.uuid] = kept
        }
        for se in ses.sorted(by: { ($0.name, $0.uuid) < ($1.name, $1.uuid) }) where out[se.uuid] == nil {
            let used = taken[se.group, default: []]
            guard let free = (0..<ScaleoutGroup.maxMembers).first(where: { !used.contains($0) }) else { continue }
            taken[se.group, default: []].insert(free)
            out[se.uuid] = Assignment(group: se.group, position: free)
        }
        return out
    }

    /// Each group's member list from the positions, and its epoch: the stored one, one more when the list
    /// differs from the stored list.
    static func groups(
        positions: [String: Assignment], names: [String: String], addresses: [String: String],
        stored: [String: (epoch: Int, members: [ScaleoutGroup.Member])]
    ) -> [String: ScaleoutGroup] {
        var members: [String: [ScaleoutGroup.Member]] = [:]
        for (se, a) in positions {
            guard let address = addresses[se] else { continue }
            members[a.group, default: []].append(
                ScaleoutGroup.Member(
                    position: a.position, se_uuid: se, se_name: names[se] ?? se, data_address: address))
        }
        var out: [String: ScaleoutGroup] = [:]
        for (group, list) in members {
            let sorted = list.sorted { $0.position < $1.position }
            let before = stored[group]
            let epoch = before.map { $0.members == sorted ? $0.epoch : $0.epoch + 1 } ?? 1
            out[group] = ScaleoutGroup(se_group_uuid: group, epoch: epoch, members: sorted)
        }
        return out
    }
}
