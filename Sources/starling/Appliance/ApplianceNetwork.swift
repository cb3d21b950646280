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
        for (i, interface) in plan.interfaces.enumerated() {
            let field = "interfaces[\(i)]"
            guard let link = links[interface.mac] else { continue }
            var name = link.name
            if let wanted = interface.name, wanted != link.name {
                if let other = try netlink("list links", { try socket.link(named: wanted) }), other.index != link.index
                {
                    throw ConfigError(
                        field: "\(field).name",
                        message: "\(wanted) is already the name of another interface (\(other.macAddress ?? "no MAC"))")
                }
                if link.isUp {
                    try netlink("set \(link.name) down", { try socket.setLink(link.index, up: false) })
                }
                try netlink("rename \(link.name) to \(wanted)", { try socket.setLinkName(link.index, name: wanted) })
                let (index, old) = (link.index, link.name)
                record("rename \(wanted) back to \(old)") { [socket] in
                    try socket.setLink(index, up: false)
                    try socket.setLinkName(index, name: old)
                }
                report("\(interface.mac): renamed \(link.name) to \(wanted)")
                name = wanted
            }
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
            try netlink("route \(route.destination) via \(route.gateway)") { try socket.replaceRoute(kernelRoute) }
            record("delete route \(route.destination)") { [socket] in _ = try socket.deleteRoute(kernelRoute) }
            report("route \(route.destination) via \(route.gateway)")
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
