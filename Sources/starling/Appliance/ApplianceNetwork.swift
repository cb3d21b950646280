import Foundation
import Netlink

/// Applies an ``AppliancePlan``'s links, addresses and routes through rtnetlink, all or nothing: when a step
/// fails, the steps already taken are undone in reverse order before the error is thrown.
struct ApplianceNetwork {
    let socket: NetlinkSocket
    /// Called with one line per change (the console and journal show them).
    let report: (String) -> Void

    /// Link kinds that copy the MAC of another link, so never the NIC a MAC names.
    static let stackedKinds: Set<String> = ["bridge", "bond", "team", "vlan", "macvlan", "macvtap", "ipvlan"]

    /// What was done, as undo actions (most recent last).
    private(set) var undo: [(description: String, action: () throws -> Void)] = []

    init(socket: NetlinkSocket, report: @escaping (String) -> Void) {
        self.socket = socket
        self.report = report
    }

    /// Waits up to `timeout` for every interface of `plan` to appear (NICs are probed by udev while the
    /// appliance unit starts), then configures them. Throws a ``ConfigError`` naming the interface at fault.
    mutating func apply(_ plan: AppliancePlan, timeout: Duration) throws(ConfigError) {
        do {
            try applyAll(plan, timeout: timeout)
        } catch {
            rollBack()
            throw error
        }
    }

    private mutating func applyAll(_ plan: AppliancePlan, timeout: Duration) throws(ConfigError) {
        let links = try waitForLinks(plan, timeout: timeout)
        if let lo = try netlink("list links", { try socket.link(named: "lo") }), !lo.isUp {
            try netlink("set lo up", { try socket.setLink(lo.index, up: true) })
        }
        try rename(plan, links)
        for interface in plan.interfaces {
            guard let link = links[interface.mac] else { continue }
            let name = interface.name ?? link.name
            if let mtu = interface.mtu, mtu != link.mtu {
                try netlink("set \(name) mtu \(mtu)", { try socket.setLinkMTU(link.index, mtu: mtu) })
                let (index, old) = (link.index, link.mtu)
                record("restore mtu \(old) on \(name)") { [socket] in try socket.setLinkMTU(index, mtu: old) }
            }
            try netlink("set \(name) up", { try socket.setLink(link.index, up: true) })
            if !link.isUp {
                let index = link.index
                record("set \(name) down") { [socket] in try socket.setLink(index, up: false) }
            }
            for address in interface.addresses {
                let added = try netlink("add \(address) to \(name)") {
                    try socket.addAddress(address, interface: link.index, owner: nil)
                }
                if added {
                    let index = link.index
                    record("remove \(address) from \(name)") { [socket] in
                        _ = try socket.deleteAddress(address, interface: index)
                    }
                }
                report("\(name) (\(interface.mac)): \(address)\(added ? "" : " (already there)")")
            }
        }
        for route in plan.routes {
            let kernelRoute = Route(
                destination: route.destination, nextHops: [NextHop(gateway: route.gateway)], protocol: .static)
            // A route this replaces (same destination, main table, metric 0) comes back on undo.
            let previous = try netlink("list routes") {
                try socket.routes(table: .main, family: route.destination.family)
                    .first { $0.destination == route.destination && $0.metric == 0 }
            }
            try netlink("route \(route.destination) via \(route.gateway)") { try socket.replaceRoute(kernelRoute) }
            if let previous {
                record("restore route \(previous)") { [socket] in try socket.replaceRoute(previous) }
            } else {
                record("delete route \(route.destination)") { [socket] in _ = try socket.deleteRoute(kernelRoute) }
            }
            report("route \(route.destination) via \(route.gateway)")
        }
    }

    /// Renames the plan's links. Every link that changes name goes down and takes a temporary name first,
    /// so the plan may swap names (MAC A eth0→eth1, MAC B eth1→eth0); a wanted name held by a link the plan
    /// does not rename is an error. Undo restores the old names and up states the same way.
    private mutating func rename(_ plan: AppliancePlan, _ links: [String: Link]) throws(ConfigError) {
        var renames: [(link: Link, wanted: String, field: String)] = []
        for (i, interface) in plan.interfaces.enumerated() {
            guard let link = links[interface.mac], let wanted = interface.name, wanted != link.name else { continue }
            renames.append((link, wanted, "interfaces[\(i)].name"))
        }
        guard !renames.isEmpty else { return }
        let moving = Set(renames.map(\.link.index))
        for r in renames {
            if let other = try netlink("list links", { try socket.link(named: r.wanted) }),
                other.index != r.link.index, !moving.contains(other.index)
            {
                throw ConfigError(
                    field: r.field,
                    message: "\(r.wanted) is already the name of another interface (\(other.macAddress ?? "no MAC"))")
            }
        }
        let batch = renames.map { (index: $0.link.index, old: $0.link.name, wasUp: $0.link.isUp) }
        record("rename \(renames.map { "\($0.wanted) back to \($0.link.name)" }.joined(separator: ", "))") {
            [socket] in
            for link in batch { try socket.setLink(link.index, up: false) }
            for link in batch { try socket.setLinkName(link.index, name: "stl\(link.index)") }
            for link in batch { try socket.setLinkName(link.index, name: link.old) }
            for link in batch where link.wasUp { try socket.setLink(link.index, up: true) }
        }
        for r in renames where r.link.isUp {
            try netlink("set \(r.link.name) down", { try socket.setLink(r.link.index, up: false) })
        }
        for r in renames {
            try netlink("rename \(r.link.name)") { try socket.setLinkName(r.link.index, name: "stl\(r.link.index)") }
        }
        for r in renames {
            try netlink("rename \(r.link.name) to \(r.wanted)") {
                try socket.setLinkName(r.link.index, name: r.wanted)
            }
            report("\(r.link.macAddress ?? "?"): renamed \(r.link.name) to \(r.wanted)")
        }
    }

    /// Links by MAC for every interface of `plan`; waits for missing ones until `timeout`.
    private func waitForLinks(_ plan: AppliancePlan, timeout: Duration) throws(ConfigError) -> [String: Link] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let links = try netlink("list links") { try socket.links() }
            var byMAC: [String: Link] = [:]
            var missing: [String] = []
            for interface in plan.interfaces {
                // Not the virtual links that take their MAC from a member (bridge, bond, VLAN ...).
                let matches = links.filter {
                    $0.macAddress == interface.mac && !Self.stackedKinds.contains($0.kind ?? "")
                }
                if matches.count > 1 {
                    throw ConfigError(
                        field: "interfaces",
                        message:
                            "\(interface.mac) is the MAC of several interfaces (\(matches.map(\.name).joined(separator: ", ")))"
                    )
                }
                if let link = matches.first { byMAC[interface.mac] = link } else { missing.append(interface.mac) }
            }
            if missing.isEmpty { return byMAC }
            if clock.now >= deadline {
                let seen = links.compactMap { link in link.macAddress.map { "\(link.name) \($0)" } }
                    .filter { !$0.hasSuffix("00:00:00:00:00:00") }
                throw ConfigError(
                    field: "interfaces",
                    message:
                        "no interface with MAC \(missing.joined(separator: ", ")) after \(timeout) (present: \(seen.joined(separator: "; ")))"
                )
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    private mutating func record(_ description: String, _ action: @escaping () throws -> Void) {
        undo.append((description, action))
    }

    /// Undoes every recorded step, most recent first; failures are reported, not thrown.
    mutating func rollBack() {
        for step in undo.reversed() {
            do {
                try step.action()
                report("undo: \(step.description)")
            } catch {
                report("undo failed: \(step.description): \(error)")
            }
        }
        undo.removeAll()
    }

    private func netlink<T>(_ what: String, _ body: () throws -> T) throws(ConfigError) -> T {
        do {
            return try body()
        } catch {
            throw ConfigError(field: "", message: "\(what): \(error)")
        }
    }
}
