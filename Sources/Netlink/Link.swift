import CNetlink
import Glibc

/// A network interface as `RTM_NEWLINK` describes it.
public struct Link: Hashable, Sendable, CustomStringConvertible {
    /// The interface index (`ifindex`), the key every other rtnetlink object refers to.
    public var index: Int32
    /// The interface name, e.g. `lo`, `eth0`.
    public var name: String
    /// Interface flags (`IFF_*`).
    public var flags: LinkFlags
    /// Maximum transmission unit in bytes.
    public var mtu: UInt32
    /// The link-layer address as lowercase colon-separated hex, nil when the link has none.
    public var macAddress: String?
    /// The link kind (`IFLA_INFO_KIND`: `veth`, `bridge`, `dummy` ...), nil for hardware links.
    public var kind: String?

    /// Whether the administrator set the link up (`IFF_UP`).
    public var isUp: Bool { flags.contains(.up) }
    /// Whether the link is operational (`IFF_RUNNING`).
    public var isRunning: Bool { flags.contains(.running) }

    public init(
        index: Int32, name: String, flags: LinkFlags, mtu: UInt32, macAddress: String? = nil,
        kind: String? = nil
    ) {
        self.index = index
        self.name = name
        self.flags = flags
        self.mtu = mtu
        self.macAddress = macAddress
        self.kind = kind
    }

    public var description: String {
        "\(index): \(name) <\(flags)> mtu \(mtu)" + (macAddress.map { " link \($0)" } ?? "")
    }
}

/// Interface flags (`IFF_*` from `<linux/if.h>`).
public struct LinkFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let up = LinkFlags(rawValue: 0x1)
    public static let broadcast = LinkFlags(rawValue: 0x2)
    public static let loopback = LinkFlags(rawValue: 0x8)
    public static let pointToPoint = LinkFlags(rawValue: 0x10)
    public static let running = LinkFlags(rawValue: 0x40)
    public static let noARP = LinkFlags(rawValue: 0x80)
    public static let promiscuous = LinkFlags(rawValue: 0x100)
    public static let multicast = LinkFlags(rawValue: 0x1000)
    /// `IFF_LOWER_UP`: the driver reports carrier.
    public static let lowerUp = LinkFlags(rawValue: 0x10000)

    public var description: String {
        let names: [(LinkFlags, String)] = [
            (.loopback, "LOOPBACK"), (.broadcast, "BROADCAST"), (.pointToPoint, "POINTOPOINT"),
            (.multicast, "MULTICAST"), (.noARP, "NOARP"), (.promiscuous, "PROMISC"), (.up, "UP"),
            (.running, "RUNNING"), (.lowerUp, "LOWER_UP"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: ",")
    }
}

extension Link {
    /// Converts a libnl-route `rtnl_link` object.
    init?(linkObject object: OpaquePointer) {
        guard String(cString: nl_object_get_type(object)) == "route/link" else { return nil }
        index = rtnl_link_get_ifindex(object)
        name = rtnl_link_get_name(object).map { String(cString: $0) } ?? ""
        flags = LinkFlags(rawValue: rtnl_link_get_flags(object))
        mtu = rtnl_link_get_mtu(object)
        macAddress = nil
        if let address = rtnl_link_get_addr(object), nl_addr_get_len(address) > 0,
            let data = nl_addr_get_binary_addr(address)
        {
            macAddress = formatHardwareAddress(
                UnsafeRawBufferPointer(start: data, count: Int(nl_addr_get_len(address))))
        }
        kind = rtnl_link_get_type(object).map { String(cString: $0) }
    }

    /// Decodes an `RTM_NEWLINK` / `RTM_DELLINK` message.
    init?(message: OpaquePointer) {
        guard let link = withParsedObject(of: message, { Link(linkObject: $0) }) else { return nil }
        self = link
    }
}

extension NetlinkSocket {
    /// Every link in the socket's namespace, in index order.
    public func links() throws -> [Link] {
        var header = ifinfomsg()
        header.ifi_family = UInt8(AF_UNSPEC)
        return try dump("list links", type: Int32(RTM_GETLINK), header: header) { Link(message: $0) }
            .sorted { $0.index < $1.index }
    }

    /// The link called `name`, or nil if there is none.
    public func link(named name: String) throws -> Link? {
        try links().first { $0.name == name }
    }

    /// The link with index `index`, or nil if there is none.
    public func link(index: Int32) throws -> Link? {
        try links().first { $0.index == index }
    }

    /// Sets a link administratively up or down (`ip link set dev X up|down`).
    public func setLink(_ index: Int32, up: Bool) throws {
        try perform(Self.setLinkRequest(index, up: up))
    }

    /// The `RTM_NEWLINK` request of ``setLink(_:up:)`` (no socket needed: tests compare its bytes).
    static func setLinkRequest(_ index: Int32, up: Bool) throws -> NetlinkRequest {
        let request = try NetlinkRequest(
            operation: "set link \(index) \(up ? "up" : "down")", type: Int32(RTM_NEWLINK), flags: 0)
        var header = ifinfomsg()
        header.ifi_family = UInt8(AF_UNSPEC)
        header.ifi_index = index
        header.ifi_flags = up ? LinkFlags.up.rawValue : 0
        header.ifi_change = LinkFlags.up.rawValue
        try request.append(header: header)
        return request
    }
}

extension NetlinkSocket {
    /// Renames link `index` to `name` (`ip link set dev X name NAME`). The kernel refuses to rename a link
    /// that is up (`EBUSY`): set it down first. Names are at most 15 bytes.
    public func setLinkName(_ index: Int32, name: String) throws {
        let operation = "rename link \(index) to \(name)"
        guard !name.isEmpty, name.utf8.count < 16, !name.contains("/"), !name.contains(" ") else {
            throw NetlinkError.invalid(operation: operation, "not an interface name (1-15 bytes, no '/' or space)")
        }
        try perform(Self.renameLinkRequest(index, name: name, operation: operation))
    }

    /// Sets the MTU of link `index` (`ip link set dev X mtu N`).
    public func setLinkMTU(_ index: Int32, mtu: UInt32) throws {
        try perform(Self.linkMTURequest(index, mtu: mtu))
    }

    /// The `RTM_NEWLINK` request of ``setLinkName(_:name:)`` (name already checked).
    static func renameLinkRequest(_ index: Int32, name: String, operation: String) throws -> NetlinkRequest {
        let request = try linkChange(index, operation: operation)
        try request.put(Int32(IFLA_IFNAME), string: name)
        return request
    }

    /// The `RTM_NEWLINK` request of ``setLinkMTU(_:mtu:)``.
    static func linkMTURequest(_ index: Int32, mtu: UInt32) throws -> NetlinkRequest {
        let request = try linkChange(index, operation: "set link \(index) mtu \(mtu)")
        try request.put(Int32(IFLA_MTU), u32: mtu)
        return request
    }

    /// An `RTM_NEWLINK` request changing link `index`, its attributes still to be added.
    private static func linkChange(_ index: Int32, operation: String) throws -> NetlinkRequest {
        let request = try NetlinkRequest(operation: operation, type: Int32(RTM_NEWLINK), flags: 0)
        var header = ifinfomsg()
        header.ifi_family = UInt8(AF_UNSPEC)
        header.ifi_index = index
        try request.append(header: header)
        return request
    }
}
