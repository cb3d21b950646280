import Glibc

/// How Starling marks the addresses it adds, so that a restarted SE finds its own leftovers
/// and never removes an address somebody else configured.
///
/// Two tags exist:
/// - ``Tagging/addressProtocol``: the `IFA_PROTO` attribute (Linux 6.3 and later, IPv4 and
///   IPv6). libnl 3.7's `rtnl_addr` does not know it, so Starling writes and reads it in raw
///   attributes. It leaves the address's label and `ip addr` output untouched. This is the
///   default whenever the running kernel is 6.3 or newer.
/// - ``Tagging/label``: the IPv4 label `<interface>:<suffix>` (`lo:starling`), cut to the
///   kernel's 15 bytes. Works on any kernel but only for IPv4: IPv6 addresses have no label,
///   so on kernels older than 6.3 owned IPv6 addresses cannot be told apart and
///   ``NetlinkSocket/syncAddresses(desired:interface:owner:)`` never removes IPv6 extras.
public struct AddressOwner: Hashable, Sendable {
    /// Which tag marks an owned address.
    public enum Tagging: Hashable, Sendable {
        /// `IFA_PROTO` = ``AddressOwner/protocol`` (Linux ≥ 6.3).
        case addressProtocol
        /// IPv4 label `<interface>:<labelSuffix>`.
        case label

        /// `.addressProtocol` when the running kernel is 6.3 or newer, else `.label`.
        public static var preferred: Tagging {
            KernelVersion.running >= KernelVersion(major: 6, minor: 3) ? .addressProtocol : .label
        }
    }

    /// The `IFA_PROTO` value written and matched with `.addressProtocol` tagging.
    public var `protocol`: AddressProtocol
    /// The label suffix written and matched with `.label` tagging (IPv4 only).
    public var labelSuffix: String
    /// Which tag this owner writes and recognises.
    public var tagging: Tagging

    public init(protocol: AddressProtocol, labelSuffix: String, tagging: Tagging = .preferred) {
        self.protocol = `protocol`
        self.labelSuffix = labelSuffix
        self.tagging = tagging
    }

    /// Starling's own tag: protocol ``AddressProtocol/starling``, label suffix `starling`.
    public static var starling: AddressOwner { AddressOwner(protocol: .starling, labelSuffix: "starling") }

    /// The IPv4 label for an address on interface `name`: `name:suffix`, at most 15 bytes.
    public func label(forInterface name: String) -> String {
        let full = Array("\(name):\(labelSuffix)".utf8)
        return String(decoding: full.prefix(15), as: UTF8.self)
    }

    /// Whether `address` (on the interface called `interfaceName`) carries this owner's tag.
    public func owns(_ address: InterfaceAddress, interfaceName: String) -> Bool {
        switch tagging {
        case .addressProtocol:
            return address.protocol == self.protocol
        case .label:
            return address.family == .ipv4 && address.label == label(forInterface: interfaceName)
        }
    }
}

/// A kernel release as `major.minor`, read from `uname(2)`.
public struct KernelVersion: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses the start of a release string such as `6.18.44-generic`.
    public init?(release: String) {
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else { return nil }
        self.init(major: numbers[0], minor: numbers[1])
    }

    /// The running kernel (0.0 if `uname` fails).
    public static let running: KernelVersion = {
        var names = utsname()
        guard uname(&names) == 0 else { return KernelVersion(major: 0, minor: 0) }
        let release = withUnsafeBytes(of: &names.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return KernelVersion(release: release) ?? KernelVersion(major: 0, minor: 0)
    }()

    public static func < (l: Self, r: Self) -> Bool { (l.major, l.minor) < (r.major, r.minor) }
    public var description: String { "\(major).\(minor)" }
}

extension NetlinkSocket {
    /// Makes interface `interface` carry every address in `desired`, tagged for `owner`,
    /// and removes addresses that are not desired **only if they carry `owner`'s tag**;
    /// addresses configured by anybody else are left alone. Level-triggered: call it with
    /// the full desired set whenever it may have changed, and after a restart.
    ///
    /// An address that is already present untagged counts as present (it is not retagged,
    /// and so is never removed later either).
    ///
    /// `flags` go with each address added (`noDAD` for an address another host may hold a moment longer).
    /// `validFor` (seconds): the addresses get that lifetime, and the call renews it on the tagged ones (see
    /// ``addAddress(_:interface:owner:flags:validFor:)``); call again well within it.
    ///
    /// - Returns: the specs added and the specs removed, each sorted.
    @discardableResult
    public func syncAddresses(
        desired: Set<InterfaceAddressSpec>, interface: Int32, owner: AddressOwner, flags: AddressFlags = [],
        validFor: UInt32? = nil
    ) throws -> (added: [InterfaceAddressSpec], removed: [InterfaceAddressSpec]) {
        guard let link = try link(index: interface) else {
            throw NetlinkError(operation: "sync addresses dev \(interface)", errno: ENODEV)
        }
        let current = try addresses(interface: interface)
        let present = Set(current.map(\.spec))
        var added: [InterfaceAddressSpec] = []
        let owned = Set(current.filter { owner.owns($0, interfaceName: link.name) }.map(\.spec))
        for spec in desired.sorted() where !present.contains(spec) || (validFor != nil && owned.contains(spec)) {
            if try addAddress(spec, interface: interface, owner: owner, flags: flags, validFor: validFor),
                !present.contains(spec)
            {
                added.append(spec)
            }
        }
        var removed: [InterfaceAddressSpec] = []
        for address in current where !desired.contains(address.spec) {
            guard owner.owns(address, interfaceName: link.name) else { continue }
            if try deleteAddress(address.spec, interface: interface) { removed.append(address.spec) }
        }
        return (added, removed.sorted())
    }
}
