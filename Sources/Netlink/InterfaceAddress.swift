import CNetlink
import Glibc
import IPAddresses

/// An address assigned to an interface, as `RTM_NEWADDR` describes it.
public struct InterfaceAddress: Hashable, Sendable, CustomStringConvertible {
    /// The index of the interface that holds the address.
    public var interfaceIndex: Int32
    /// `.ipv4` or `.ipv6`.
    public var family: IPFamily
    /// The local address (`IFA_LOCAL`, else `IFA_ADDRESS`).
    public var address: IPAddress
    /// The prefix length of the attached subnet.
    public var prefixLength: UInt8
    /// The IPv4 label (`IFA_LABEL`, e.g. `lo` or `lo:starling`); IPv6 addresses have none.
    public var label: String?
    /// `IFA_F_*` flags (`IFA_FLAGS`, which carries all 32 bits).
    public var flags: AddressFlags
    /// The address scope (`host` for 127.0.0.1 and ::1, `universe` for most others).
    public var scope: AddressScope
    /// Who added the address (`IFA_PROTO`, Linux 6.3 and later); `.unspecified` when unset.
    public var `protocol`: AddressProtocol

    public init(
        interfaceIndex: Int32, family: IPFamily, address: IPAddress, prefixLength: UInt8,
        label: String? = nil, flags: AddressFlags = [], scope: AddressScope = .universe,
        protocol: AddressProtocol = .unspecified
    ) {
        self.interfaceIndex = interfaceIndex
        self.family = family
        self.address = address
        self.prefixLength = prefixLength
        self.label = label
        self.flags = flags
        self.scope = scope
        self.protocol = `protocol`
    }

    /// The address and prefix length alone, as desired state is written.
    public var spec: InterfaceAddressSpec {
        InterfaceAddressSpec(address: address, prefixLength: prefixLength)!
    }

    public var description: String {
        "\(address)/\(prefixLength) dev \(interfaceIndex)" + (label.map { " label \($0)" } ?? "")
            + (self.protocol == .unspecified ? "" : " proto \(self.protocol.rawValue)")
    }
}

/// An address and prefix length, e.g. `192.0.2.10/32` or `2001:db8::10/128`: what the SE
/// wants on an interface. The address is kept canonical so specs compare as users expect.
public struct InterfaceAddressSpec: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address (host bits kept: `192.0.2.10/24` is the address 192.0.2.10 on a /24).
    public let ipAddress: IPAddress
    /// The prefix length.
    public let prefixLength: UInt8

    /// Parses `"address/length"`, or a bare address meaning /32 or /128.
    public init?(_ text: String) {
        guard let (address, length) = IPAddress.parseWithPrefixLength(text) else { return nil }
        self.ipAddress = address
        self.prefixLength = length
    }

    /// An address with its prefix length; nil if the length exceeds the family's (32 or 128).
    public init?(address: IPAddress, prefixLength: UInt8) {
        guard prefixLength <= address.maximumPrefixLength else { return nil }
        self.ipAddress = address
        self.prefixLength = prefixLength
    }

    /// An address given as text with its prefix length; nil if either is invalid.
    public init?(address: String, prefixLength: UInt8) {
        guard let parsed = IPAddress(address) else { return nil }
        self.init(address: parsed, prefixLength: prefixLength)
    }

    /// `.ipv4` or `.ipv6`.
    public var family: IPFamily { IPFamily(of: ipAddress) }
    /// Network-order address bytes (4 or 16).
    public var bytes: [UInt8] { ipAddress.bytes }
    /// The address in canonical text.
    public var address: String { ipAddress.description }

    public var description: String { "\(address)/\(prefixLength)" }

    /// IPv4 before IPv6, then by address, then by length.
    public static func < (l: Self, r: Self) -> Bool {
        (l.ipAddress, l.prefixLength) < (r.ipAddress, r.prefixLength)
    }
}

/// Address flags (`IFA_F_*` from `<linux/if_addr.h>`).
public struct AddressFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let secondary = AddressFlags(rawValue: 0x01)
    /// Skip duplicate address detection: an IPv6 address is usable at once (not `tentative`).
    public static let noDAD = AddressFlags(rawValue: 0x02)
    public static let optimistic = AddressFlags(rawValue: 0x04)
    public static let dadFailed = AddressFlags(rawValue: 0x08)
    public static let homeAddress = AddressFlags(rawValue: 0x10)
    public static let deprecated = AddressFlags(rawValue: 0x20)
    public static let tentative = AddressFlags(rawValue: 0x40)
    public static let permanent = AddressFlags(rawValue: 0x80)
    public static let manageTemporaryAddress = AddressFlags(rawValue: 0x100)
    /// Do not add the prefix route for the address's subnet.
    public static let noPrefixRoute = AddressFlags(rawValue: 0x200)
    public static let multicastAutoJoin = AddressFlags(rawValue: 0x400)
    public static let stablePrivacy = AddressFlags(rawValue: 0x800)
}

/// Address scope (`RT_SCOPE_*`). Open struct: unknown values are kept.
public struct AddressScope: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let universe = AddressScope(rawValue: 0)
    public static let site = AddressScope(rawValue: 200)
    public static let link = AddressScope(rawValue: 253)
    public static let host = AddressScope(rawValue: 254)
}

/// The address protocol (`IFA_PROTO`, Linux 6.3+): who put an address there. The kernel
/// stores and reports it but never interprets values above `kernelLinkLocal`.
/// Open struct: any `UInt8` round-trips.
public struct AddressProtocol: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `IFAPROT_UNSPEC`: no protocol recorded (also what older kernels report).
    public static let unspecified = AddressProtocol(rawValue: 0)
    /// `IFAPROT_KERNEL_LO`: the kernel's loopback addresses.
    public static let kernelLoopback = AddressProtocol(rawValue: 1)
    /// `IFAPROT_KERNEL_RA`: added by the kernel from a router advertisement.
    public static let kernelRouterAdvertisement = AddressProtocol(rawValue: 2)
    /// `IFAPROT_KERNEL_LL`: the kernel's IPv6 link-local addresses.
    public static let kernelLinkLocal = AddressProtocol(rawValue: 3)
    /// Addresses Starling owns; the same number as ``RouteProtocol/starling``.
    public static let starling = AddressProtocol(rawValue: RouteProtocol.starling.rawValue)
}

// MARK: - Decoding

/// Attribute numbers of `ifaddrmsg` messages (`IFA_*`), as Int32 for libnl calls.
enum AddressAttribute {
    static let address = Int32(IFA_ADDRESS)
    static let local = Int32(IFA_LOCAL)
    static let label = Int32(IFA_LABEL)
    static let flags = Int32(IFA_FLAGS)
    static let proto = Int32(STARLING_IFA_PROTO)
    static let cacheInfo = Int32(IFA_CACHEINFO)
}

extension InterfaceAddress {
    /// Decodes an `RTM_NEWADDR` / `RTM_DELADDR` message. Done by hand rather than through
    /// libnl-route's `rtnl_addr`, which (as of libnl 3.7) does not know `IFA_PROTO`.
    init?(message: OpaquePointer) {
        guard let header = nlmsg_hdr(message) else { return nil }
        let type = Int(header.pointee.nlmsg_type)
        guard type == Int(RTM_NEWADDR) || type == Int(RTM_DELADDR),
            let data = nlmsg_data(header),
            Int(nlmsg_datalen(header)) >= MemoryLayout<ifaddrmsg>.size,
            let table = AttributeTable(
                header: header, headerSize: MemoryLayout<ifaddrmsg>.size, maximumType: AddressAttribute.proto)
        else { return nil }
        let fixed = data.loadUnaligned(as: ifaddrmsg.self)
        let family = IPFamily(rawValue: fixed.ifa_family)
        guard let bytes = table.bytes(AddressAttribute.local) ?? table.bytes(AddressAttribute.address),
            let address = IPAddress(family: family, bytes: bytes)
        else { return nil }
        self.init(
            interfaceIndex: Int32(bitPattern: fixed.ifa_index),
            family: family,
            address: address,
            prefixLength: fixed.ifa_prefixlen,
            label: table.string(AddressAttribute.label),
            flags: AddressFlags(rawValue: table.u32(AddressAttribute.flags) ?? UInt32(fixed.ifa_flags)),
            scope: AddressScope(rawValue: fixed.ifa_scope),
            protocol: AddressProtocol(rawValue: table.u8(AddressAttribute.proto) ?? 0)
        )
    }
}

// MARK: - Operations

extension NetlinkSocket {
    /// Every address of `family` (`.unspecified`: IPv4 and IPv6) on every interface.
    public func addresses(family: IPFamily = .unspecified) throws -> [InterfaceAddress] {
        var header = ifaddrmsg()
        header.ifa_family = family.rawValue
        return try dump("list \(family) addresses", type: Int32(RTM_GETADDR), header: header) {
            InterfaceAddress(message: $0)
        }.filter { family == .unspecified || $0.family == family }
    }

    /// Every address on interface `index`.
    public func addresses(interface index: Int32, family: IPFamily = .unspecified) throws -> [InterfaceAddress] {
        try addresses(family: family).filter { $0.interfaceIndex == index }
    }

    /// Adds `address/prefixLength` to interface `interface`, tagged for `owner` if given
    /// (see ``AddressOwner``). Idempotent: an address that is already there (`EEXIST`) is
    /// success and returns false; returns true when the address was added.
    @discardableResult
    public func addAddress(
        _ address: String, prefixLength: UInt8, interface: Int32, owner: AddressOwner? = nil,
        flags: AddressFlags = []
    ) throws -> Bool {
        guard let spec = InterfaceAddressSpec(address: address, prefixLength: prefixLength) else {
            throw NetlinkError.invalid(
                operation: "add address \(address)/\(prefixLength) dev \(interface)", "not an IP address/prefix")
        }
        return try addAddress(spec, interface: interface, owner: owner, flags: flags)
    }

    /// Adds `spec` to interface `interface`; see ``addAddress(_:prefixLength:interface:owner:flags:)``.
    ///
    /// `validFor` (seconds) gives the address a lifetime: the kernel removes it that long after the last add,
    /// and an add of an address already there renews it (and returns true). An address held on behalf of a
    /// process that may die without cleaning up (a native VIP answering ARP) goes with it this way.
    @discardableResult
    public func addAddress(
        _ spec: InterfaceAddressSpec, interface: Int32, owner: AddressOwner? = nil, flags: AddressFlags = [],
        validFor: UInt32? = nil
    ) throws -> Bool {
        let operation = "add address \(spec) dev \(interface)"
        var label: String?
        if let owner, owner.tagging == .label, spec.family == .ipv4 {
            guard let link = try link(index: interface) else {
                throw NetlinkError(operation: operation, errno: ENODEV)
            }
            label = owner.label(forInterface: link.name)
        }
        let request = try Self.addAddressRequest(
            spec, interface: interface, label: label,
            protocol: owner?.tagging == .addressProtocol ? owner?.protocol : nil, flags: flags, validFor: validFor)
        do {
            try perform(request)
            return true
        } catch let error as NetlinkError where error.errno == EEXIST {
            return false
        }
    }

    /// Removes `address/prefixLength` from interface `interface`. Idempotent: an address
    /// that is not there (`EADDRNOTAVAIL`, `ENOENT`) is success and returns false.
    @discardableResult
    public func deleteAddress(_ address: String, prefixLength: UInt8, interface: Int32) throws -> Bool {
        guard let spec = InterfaceAddressSpec(address: address, prefixLength: prefixLength) else {
            throw NetlinkError.invalid(
                operation: "delete address \(address)/\(prefixLength) dev \(interface)", "not an IP address/prefix")
        }
        return try deleteAddress(spec, interface: interface)
    }

    /// Removes `spec` from interface `interface`; see ``deleteAddress(_:prefixLength:interface:)``.
    @discardableResult
    public func deleteAddress(_ spec: InterfaceAddressSpec, interface: Int32) throws -> Bool {
        let request = try Self.deleteAddressRequest(spec, interface: interface)
        do {
            try perform(request)
            return true
        } catch let error as NetlinkError where error.errno == EADDRNOTAVAIL || error.errno == ENOENT {
            return false
        }
    }

    /// The `RTM_NEWADDR` request of ``addAddress(_:interface:owner:flags:validFor:)``: `label` (IPv4 only) and
    /// `protocol` are the owner's tag. No socket needed: tests compare its bytes with golden vectors.
    static func addAddressRequest(
        _ spec: InterfaceAddressSpec, interface: Int32, label: String?, protocol: AddressProtocol?,
        flags: AddressFlags, validFor: UInt32?
    ) throws -> NetlinkRequest {
        let request = try NetlinkRequest(
            operation: "add address \(spec) dev \(interface)", type: Int32(RTM_NEWADDR),
            flags: NLM_F_CREATE | (validFor == nil ? NLM_F_EXCL : NLM_F_REPLACE))
        var header = ifaddrmsg()
        header.ifa_family = spec.family.rawValue
        header.ifa_prefixlen = spec.prefixLength
        header.ifa_flags = UInt8(truncatingIfNeeded: flags.rawValue)
        header.ifa_scope = AddressScope.universe.rawValue
        header.ifa_index = UInt32(bitPattern: interface)
        try request.append(header: header)
        try request.put(AddressAttribute.local, bytes: spec.bytes)
        try request.put(AddressAttribute.address, bytes: spec.bytes)
        if flags.rawValue > 0xFF { try request.put(AddressAttribute.flags, u32: flags.rawValue) }
        if let label { try request.put(AddressAttribute.label, string: label) }
        if let validFor {
            var info = ifa_cacheinfo()
            info.ifa_prefered = validFor
            info.ifa_valid = validFor
            try request.put(AddressAttribute.cacheInfo, bytes: withUnsafeBytes(of: info, Array.init))
        }
        if let `protocol` { try request.put(AddressAttribute.proto, u8: `protocol`.rawValue) }
        return request
    }

    /// The `RTM_DELADDR` request of ``deleteAddress(_:interface:)``.
    static func deleteAddressRequest(_ spec: InterfaceAddressSpec, interface: Int32) throws -> NetlinkRequest {
        let request = try NetlinkRequest(
            operation: "delete address \(spec) dev \(interface)", type: Int32(RTM_DELADDR), flags: 0)
        var header = ifaddrmsg()
        header.ifa_family = spec.family.rawValue
        header.ifa_prefixlen = spec.prefixLength
        header.ifa_index = UInt32(bitPattern: interface)
        try request.append(header: header)
        try request.put(AddressAttribute.local, bytes: spec.bytes)
        try request.put(AddressAttribute.address, bytes: spec.bytes)
        return request
    }
}
