import BGPSpeaker
import Logging
import Netlink

/// Puts the SE's VIPs on its VIP interface (`--vip-interface`, default `lo`) through netlink, as host
/// addresses (/32, /128) tagged as Starling's own, and removes only the tagged ones that are no longer
/// wanted (DESIGN §1: "puts the VIP on a local interface"). A restarted SE therefore cleans up what its
/// previous run left and never touches addresses an operator configured.
///
/// Loopback VIPs (127.0.0.0/8, ::1) are served as they are and never plumbed (DESIGN §3.1).
public struct VIPPlumbing: Sendable {
    public let interfaceName: String
    let logger: Logger

    public init(interfaceName: String, logger: Logger) {
        self.interfaceName = interfaceName
        self.logger = logger
    }

    /// The host address spec for a VIP, or nil when it is loopback (no plumbing).
    public static func spec(for vip: IPAddress) -> InterfaceAddressSpec? {
        guard VIPAdvertiser.hostPrefix(vip) != nil else { return nil }
        return InterfaceAddressSpec(address: vip, prefixLength: vip.maximumPrefixLength)
    }

    /// Makes the interface carry exactly `vips` among Starling's addresses. Level-triggered.
    /// - Throws: `NetlinkError` (with errno and the operation) or a missing interface.
    @discardableResult
    public func sync(_ vips: Set<IPAddress>) throws -> (added: [InterfaceAddressSpec], removed: [InterfaceAddressSpec])
    {
        let socket = try NetlinkSocket()
        guard let link = try socket.link(named: interfaceName) else {
            throw VIPPlumbingError(message: "VIP interface \(interfaceName) does not exist")
        }
        if !link.isUp { try socket.setLink(link.index, up: true) }
        let desired = Set(vips.compactMap(Self.spec(for:)))
        let result = try socket.syncAddresses(desired: desired, interface: link.index, owner: .starling)
        for spec in result.added {
            logger.info("VIP plumbed", metadata: ["se.vip": "\(spec)", "se.interface": "\(interfaceName)"])
        }
        for spec in result.removed {
            logger.info("VIP removed", metadata: ["se.vip": "\(spec)", "se.interface": "\(interfaceName)"])
        }
        return result
    }
}

/// The VIP interface is missing or cannot be changed.
public struct VIPPlumbingError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
