import BGPSpeaker
import Foundation
import Logging
import NIOCore
import NIOPosix
import Netlink
import StarlingModel

/// Packet steering between the SEs of a scale-out group on one L2 segment (issue 15): the tc program
/// (``SteeringProgram``), SE-to-SE heartbeats over the data segment (UDP, every `interval`), the live member
/// list they give (``Membership``), and for native VIPs the primary's duties: the VIP on the data interface
/// (so that it, and only it, answers ARP), gratuitous ARP when it takes a VIP over, and the bucket table
/// that spreads new flows weighted by the members' free capacity.
///
/// One owner of this state (an actor); the SE engine hands it the VIPs to steer with ``apply(_:)``.
public actor FlowSteering {
    public struct Configuration: Sendable {
        /// The data interface (where the router and the other SEs are).
        public var interface: String
        /// This SE's address on it (`--data-address`).
        public var selfAddress: IPAddress
        /// Every SE of the group by position, this one included (the lowest live position is the native
        /// primary when neither the controller nor a holder decides). A position stays with an SE while it is
        /// a member: pinned flows and forwarding targets name positions.
        public var members: [Int: IPAddress]
        /// UDP port of the heartbeats.
        public var heartbeatPort: Int
        /// Heartbeat interval; a member is gone after `deadAfter` intervals without one.
        public var interval: Duration
        public var deadAfter: Int
        /// Entries in the primary's flow table (LRU: the least recently used flow goes when full).
        public var flowTableSize: Int
        /// Native VIPs' replies go from a secondary through the primary (Avi's OpenStack mode, for networks
        /// that drop a VIP sourced from another port's MAC) rather than straight to the client. Every SE of
        /// the group must be set alike.
        public var returnViaPrimary: Bool

        public init(
            interface: String, selfAddress: IPAddress, members: [Int: IPAddress], heartbeatPort: Int = 7740,
            interval: Duration = .milliseconds(100), deadAfter: Int = 3, flowTableSize: Int = 131_072,
            returnViaPrimary: Bool = false
        ) {
            self.returnViaPrimary = returnViaPrimary
            self.interface = interface
            self.selfAddress = selfAddress
            self.members = members
            self.heartbeatPort = heartbeatPort
            self.interval = interval
            self.deadAfter = deadAfter
            self.flowTableSize = flowTableSize
        }

        /// Members in list order: positions 0, 1, 2, ... (`--scaleout-members A,B,C`).
        public static func positions(_ list: [IPAddress]) -> [Int: IPAddress] {
            Dictionary(uniqueKeysWithValues: list.enumerated().map { ($0.offset, $0.element) })
        }

        /// This SE's position among the members.
        public var selfPosition: Int? { members.first { $0.value == selfAddress }?.key }

        /// Checks what can be checked before touching the kernel.
        public func validate() throws(SteeringError) {
            try Self.validate(members: members, selfAddress: selfAddress)
            guard (1...65535).contains(heartbeatPort) else { throw SteeringError("heartbeat port out of 1-65535") }
            guard deadAfter >= 2 else { throw SteeringError("dead-after must be at least 2 heartbeats") }
        }

        static func validate(members: [Int: IPAddress], selfAddress: IPAddress) throws(SteeringError) {
            if let bad = members.keys.first(where: { !(0..<SteeringProgram.maxMembers).contains($0) }) {
                throw SteeringError("scale-out position \(bad) out of 0-\(SteeringProgram.maxMembers - 1)")
            }
            guard Set(members.values).count == members.count else { throw SteeringError("scale-out members repeat") }
            guard members.values.contains(selfAddress) else {
                throw SteeringError(
                    "the scale-out members must include this SE's data address \(selfAddress)")
            }
        }
    }

    /// A VIP with its ports, and whether it scales out natively (L2, one primary) or by ECMP.
    public struct Service: Sendable, Hashable {
        public var vip: IPAddress
        public var ports: [Int]
        public var native: Bool
        /// The virtual service's uuid (shown with the VIP in the status).
        public var serviceID: String
        /// Native: the member the controller picked as primary (followed while it is live and staying).
        public var preferredPrimary: IPAddress?
        public init(
            vip: IPAddress, ports: [Int], native: Bool, serviceID: String = "", preferredPrimary: IPAddress? = nil
        ) {
            self.vip = vip
            self.ports = ports
            self.native = native
            self.serviceID = serviceID
            self.preferredPrimary = preferredPrimary
        }
    }

    private var configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let freeCapacity: @Sendable () -> Int
    private var program: SteeringProgram?
    private var channel: (any Channel)?
    private var membership: Membership
    private var services: [Service] = []
    private var slots: [IPAddress: Int] = [:]
    /// Native VIPs this SE holds as primary (on the data interface, answering ARP).
    private var holding: Set<IPAddress> = []
    private var bucketTables: [IPAddress: [Int]] = [:]
    private var steered: Set<String> = []
    private var ticker: Task<Void, Never>?
    private var startedAt = ContinuousClock.now
    private var interfaceIndex: Int32 = 0
    private var interfaceMAC: [UInt8] = []
    private var lastError: String?
    private var heldRefreshedAt = ContinuousClock.now
    /// When each held VIP was last announced (gratuitous ARP / unsolicited NA).
    private var announcedAt: [IPAddress: ContinuousClock.Instant] = [:]
    /// Held VIPs to announce again once `reannounceAfter` has passed since the last announcement.
    private var reannounce: Set<IPAddress> = []
    static let reannounceAfter = Duration.seconds(1)
    /// Flows pinned per member, from a walk over the flow table; once it holds 10,000 flows or more, at most
    /// every ``flowCountRefresh`` (a full table is 131k entries: too many system calls for every status
    /// request).
    private var flowCounts: [Int: Int] = [:]
    private var flowCountsAt = ContinuousClock.now - .seconds(3600)
    static let flowCountRefresh = Duration.seconds(5)

    /// `freeCapacity`: connections this SE can still take (sent in heartbeats; weights native buckets).
    public init(
        configuration: Configuration, group: any EventLoopGroup, logger: Logger,
        freeCapacity: @escaping @Sendable () -> Int
    ) throws(SteeringError) {
        try configuration.validate()
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.freeCapacity = freeCapacity
        self.membership = Membership(
            members: configuration.members,
            selfPosition: configuration.selfPosition!,
            deadAfter: configuration.interval * configuration.deadAfter)
    }

    /// Loads and attaches the program, sets the ARP rules native scale-out needs on the data interface
    /// (`arp_ignore=1`: answer only for addresses on it, so VIPs on `lo` stay silent; `arp_announce=2`),
    /// binds the heartbeat socket and starts the heartbeat loop. Returns after one dead interval of
    /// listening, so that the members are known before this SE takes traffic.
    public func start() async throws {
        let socket = try NetlinkSocket()
        guard let link = try socket.link(named: configuration.interface) else {
            throw SteeringError("data interface \(configuration.interface) does not exist")
        }
        interfaceIndex = link.index
        interfaceMAC = (link.macAddress ?? "").split(separator: ":").compactMap { UInt8($0, radix: 16) }
        try Self.sysctl("net/ipv4/conf/\(configuration.interface)/arp_ignore", "1")
        try Self.sysctl("net/ipv4/conf/\(configuration.interface)/arp_announce", "2")
        let program = try SteeringProgram(interfaceIndex: link.index, flowTableSize: configuration.flowTableSize)
        try program.setSettings(
            selfPosition: membership.selfPosition, heartbeatPort: configuration.heartbeatPort,
            returnViaPrimary: configuration.returnViaPrimary)
        for position in 0..<SteeringProgram.maxMembers { try program.setMember(position, address: nil) }
        self.program = program
        let handler = HeartbeatHandler(steering: self)
        channel = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in channel.pipeline.addHandler(handler) }
            .bind(host: "\(configuration.selfAddress)", port: configuration.heartbeatPort).get()
        startedAt = .now
        let interval = configuration.interval
        ticker = Task { [weak self] in
            while !Task.isCancelled {
                await self?.tick()
                try? await Task.sleep(for: interval)
            }
        }
        logger.info(
            "flow steering on",
            metadata: [
                "se.interface": "\(configuration.interface)",
                "se.members": "\(Self.describe(configuration.members))",
            ])
        try await Task.sleep(for: configuration.interval * configuration.deadAfter)
    }

    /// Stops heartbeats and removes the program from the interface; gives up the native VIPs held.
    public func stop() async {
        ticker?.cancel()
        ticker = nil
        try? await channel?.close()
        channel = nil
        program?.detach()
        program = nil
        holding = []
        syncHeldVIPs()
    }

    /// Hitless restart: a successor process has attached its own program (replacing this one's filter) and
    /// heart-beats from now on. Stops this process's heartbeats and leaves the filter and the native VIPs
    /// on the interface: they are the successor's.
    public func handOff() async {
        ticker?.cancel()
        ticker = nil
        try? await channel?.close()
        channel = nil
        program?.release()
        program = nil
    }

    /// Shutting down (SIGTERM): tells the members at once that this SE takes no new flows and gives up its
    /// native VIPs (another member takes them over and announces them); keeps serving, and being forwarded,
    /// the connections it holds until ``stop()``.
    public func leave() {
        guard !membership.selfLeaving else { return }
        membership.selfLeaving = true
        logger.notice("flow steering: leaving the scale-out group, serving the connections held here")
        tick()
    }

    /// A new member list from the controller (SEs joined or left the group). This SE keeps its position: a
    /// list that moves it throws, and the caller starts steering anew.
    public func setMembers(_ members: [Int: IPAddress]) throws(SteeringError) {
        guard members != configuration.members else { return }
        try Configuration.validate(members: members, selfAddress: configuration.selfAddress)
        guard members[membership.selfPosition] == configuration.selfAddress else {
            throw SteeringError("this SE's scale-out position moved from \(membership.selfPosition)")
        }
        logger.notice(
            "scale-out members set",
            metadata: [
                "se.members": "\(Self.describe(members))", "se.before": "\(Self.describe(configuration.members))",
            ])
        configuration.members = members
        membership.setMembers(members)
        _ = membership.evaluate(at: .now)
        reconcile(force: true)
    }

    /// `0=A,1=B,...`
    static func describe(_ members: [Int: IPAddress]) -> String {
        members.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// The VIPs to steer now (level-triggered: everything else stops being steered).
    public func apply(_ services: [Service]) {
        self.services = services
        membership.selfServes = Set(services.map(\.vip.description))
        var nextSlots: [IPAddress: Int] = [:]
        for service in services where service.native {
            if let slot = slots[service.vip] {
                nextSlots[service.vip] = slot
            }
        }
        var free = Set(0..<SteeringProgram.maxVIPs).subtracting(nextSlots.values)
        for service in services where service.native && nextSlots[service.vip] == nil {
            guard let slot = free.min() else { break }
            free.remove(slot)
            nextSlots[service.vip] = slot
        }
        slots = nextSlots
        bucketTables = bucketTables.filter { slots[$0.key] != nil }
        // `reconcile` gives up the held VIPs no longer served here: off the interface at once, so that this SE
        // stops answering ARP for them while the new primary announces them. (Without a program it does
        // nothing: the filter below is then what drops them.)
        reconcile(force: true)
        holding = holding.filter { slots[$0] != nil }
        announcedAt = announcedAt.filter { holding.contains($0.key) }
    }

    // MARK: - Heartbeats

    func received(_ text: String, from address: IPAddress) {
        guard let heartbeat = Membership.Heartbeat(decoding: text) else {
            logger.debug("heartbeat ignored: not one", metadata: ["se.from": "\(address)"])
            return
        }
        guard membership.heard(from: address, heartbeat, at: .now) else {
            logger.debug("heartbeat ignored: not a member", metadata: ["se.from": "\(address)"])
            return
        }
    }

    private func tick() {
        guard let channel, program != nil else { return }
        let heartbeat = Membership.Heartbeat(
            free: max(0, freeCapacity()), primaryOf: Set(holding.map(\.description)),
            serves: membership.selfServes, leaving: membership.selfLeaving)
        let text = heartbeat.encoded
        for (position, address) in configuration.members where position != membership.selfPosition {
            guard let target = try? SocketAddress(ipAddress: "\(address)", port: configuration.heartbeatPort) else {
                continue
            }
            var buffer = channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: buffer), promise: nil)
        }
        let changed = membership.evaluate(at: .now)
        if changed {
            logger.notice(
                "scale-out members changed",
                metadata: [
                    "se.epoch": "\(membership.epoch)",
                    "se.live": "\(membership.live.sorted().compactMap { configuration.members[$0]?.description })",
                ])
        }
        reconcile(force: changed)
    }

    // MARK: - Programming the kernel

    /// Brings the program's maps, the held VIPs and the bucket tables in line with the members and services.
    private func reconcile(force: Bool) {
        guard let program else { return }
        do {
            if force {
                for position in 0..<SteeringProgram.maxMembers {
                    let address = configuration.members[position]
                    try program.setMember(position, address: membership.live.contains(position) ? address : nil)
                }
            }
            // Native primaries: after the first dead interval (the members are known by then).
            let warm = ContinuousClock.now - startedAt >= configuration.interval * configuration.deadAfter
            var nextHolding: Set<IPAddress> = []
            var primaries: [IPAddress: Int] = [:]
            for service in services where service.native && slots[service.vip] != nil && warm {
                let primary = membership.primary(
                    of: service.vip.description, selfClaims: holding.contains(service.vip),
                    preferred: preferredPosition(service))
                primaries[service.vip] = primary
                if primary == membership.selfPosition { nextHolding.insert(service.vip) }
            }
            let gained = nextHolding.subtracting(holding)
            let lost = holding.subtracting(nextHolding)
            holding = nextHolding
            if !gained.isEmpty || !lost.isEmpty || (!holding.isEmpty && .now - heldRefreshedAt >= Self.heldVIPRefresh) {
                syncHeldVIPs()
            }
            for vip in lost {
                logger.notice("native VIP given up: another SE is its primary now", metadata: ["se.vip": "\(vip)"])
            }
            for vip in gained {
                logger.notice("native VIP taken over: this SE is its primary", metadata: ["se.vip": "\(vip)"])
                announce(vip)
                // Once more a little later: the old primary may have announced it a moment after this SE took
                // over (its announcement was under way when it gave the VIP up).
                reannounce.insert(vip)
            }
            // Announced again when the members change, and after another member claimed a VIP held here (two
            // SEs took it at once, or one was late to hear of the other): the router keeps whichever MAC it
            // heard last, which must be the primary's. At most every `reannounceAfter`; a claim seen meanwhile
            // waits for its turn.
            let now = ContinuousClock.now
            for vip in holding.subtracting(gained) {
                let contested = membership.live.contains { position in
                    position != membership.selfPosition
                        && membership.heartbeat(of: position)?.primaryOf.contains(vip.description) == true
                }
                if force || contested { reannounce.insert(vip) }
                if reannounce.contains(vip), now - (announcedAt[vip] ?? startedAt) >= Self.reannounceAfter {
                    logger.info("native VIP announced again", metadata: ["se.vip": "\(vip)"])
                    announce(vip)
                }
            }
            reannounce.formIntersection(holding)
            // Bucket tables for the VIPs held, weighted by free capacity (coarse steps, so that small changes
            // in load do not move buckets).
            var weights: [Int: Int] = [membership.selfPosition: Self.weight(freeCapacity())]
            for position in membership.live where position != membership.selfPosition {
                weights[position] = Self.weight(membership.heartbeat(of: position)?.free ?? 0)
            }
            for vip in holding {
                guard let slot = slots[vip] else { continue }
                let table = Membership.buckets(
                    count: SteeringProgram.buckets, live: membership.staying(for: vip.description),
                    members: configuration.members,
                    weights: weights)
                if bucketTables[vip] != table || force {
                    try program.setBuckets(slot: slot, table)
                    bucketTables[vip] = table
                }
            }
            // VIP:port entries: primary or chain, and the members that serve the VIP (the only ones its
            // packets go to). Keyed by all of it, so that a change rewrites the entry.
            var wanted: [String: SteeredEntry] = [:]
            for service in services {
                let mode: SteeringProgram.Mode = holding.contains(service.vip) ? .primary : .chain
                let serving = membership.serving(service.vip.description)
                for port in service.ports {
                    let entry = SteeredEntry(
                        vip: service.vip, port: port, mode: mode, slot: slots[service.vip] ?? 0, members: serving,
                        primary: primaries[service.vip])
                    wanted[entry.key] = entry
                }
            }
            for key in steered.subtracting(wanted.keys) {
                let parts = key.split(separator: "|")
                if let vip = IPAddress(parts[0]), let port = Int(parts[1]),
                    !wanted.values.contains(where: { $0.vip == vip && $0.port == port })
                {
                    program.removeVIP(vip, port: port)
                }
            }
            for (key, e) in wanted where force || !steered.contains(key) {
                try program.setVIP(
                    e.vip, port: e.port, mode: e.mode, slot: e.slot, members: e.members, primary: e.primary)
            }
            steered = Set(wanted.keys)
            lastError = nil
        } catch {
            if lastError != error.description { logger.error("flow steering: \(error)") }
            lastError = error.description
        }
    }

    private func preferredPosition(_ service: Service) -> Int? {
        service.preferredPrimary.flatMap { membership.position(of: $0) }
    }

    private struct SteeredEntry {
        var vip: IPAddress
        var port: Int
        var mode: SteeringProgram.Mode
        var slot: Int
        var members: Set<Int>
        var primary: Int?
        var key: String { "\(vip)|\(port)|\(mode.rawValue)|\(members.sorted())|\(primary ?? -1)" }
    }

    private static func weight(_ free: Int) -> Int { max(1, (free + 99) / 100) }

    /// Lifetime (seconds) of a native VIP on the data interface, renewed every ``heldVIPRefresh``: if this
    /// process dies, the kernel removes the VIP within it, so that this SE stops answering ARP for a VIP it
    /// can no longer serve (the new primary has announced it by then).
    static let heldVIPLifetime: UInt32 = 3
    static let heldVIPRefresh = Duration.seconds(1)

    /// Puts the held native VIPs on the data interface (and only them: Starling-tagged addresses).
    private func syncHeldVIPs() {
        do {
            let socket = try NetlinkSocket()
            let desired = Set(
                holding.compactMap { InterfaceAddressSpec(address: $0, prefixLength: $0.maximumPrefixLength) })
            // No duplicate address detection: the old primary may hold an IPv6 VIP a moment longer (its
            // lifetime), and a VIP that fails DAD would never answer neighbour solicitations.
            try socket.syncAddresses(
                desired: desired, interface: interfaceIndex, owner: .starling, flags: .noDAD,
                validFor: Self.heldVIPLifetime)
            heldRefreshedAt = .now
        } catch {
            logger.error("native VIPs on \(configuration.interface) not set: \(error)")
            lastError = "native VIPs on \(configuration.interface): \(error)"
        }
    }

    /// Gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6) for a VIP just taken over, three
    /// times 100 ms apart, so that the router and the switches move it to this SE's MAC at once.
    private func announce(_ vip: IPAddress) {
        guard interfaceMAC.count == 6 else { return }
        announcedAt[vip] = .now
        reannounce.remove(vip)
        let index = interfaceIndex
        let mac = interfaceMAC
        let logger = logger
        Task.detached { [weak self] in
            for attempt in 0..<3 {
                if attempt > 0 { try? await Task.sleep(for: .milliseconds(100)) }
                // A VIP given up meanwhile is the new primary's to announce: stop, or the router would follow
                // this SE's MAC back.
                guard let self, await self.holds(vip) else { return }
                do {
                    switch vip {
                    case .v4(let address): try GratuitousARP.send(address: address, mac: mac, interfaceIndex: index)
                    case .v6(let address): try UnsolicitedNA.send(target: address, mac: mac, interfaceIndex: index)
                    }
                } catch {
                    logger.warning("announcement of \(vip) not sent: \(error)")
                    return
                }
            }
        }
    }

    private func holds(_ vip: IPAddress) -> Bool { holding.contains(vip) }

    private static func sysctl(_ name: String, _ value: String) throws(SteeringError) {
        do {
            try value.write(toFile: "/proc/sys/\(name)", atomically: false, encoding: .utf8)
        } catch {
            throw SteeringError("cannot set \(name.replacingOccurrences(of: "/", with: ".")) = \(value): \(error)")
        }
    }

    // MARK: - Status

    /// What `/status` and `starling ctl` show: members, roles, epoch, flows and forwarded packets by reason.
    public func status() -> SteeringStatus {
        let now = ContinuousClock.now
        let counters = program?.counters() ?? [:]
        let forwarded = program?.forwardedPerMember() ?? [:]
        if flowCounts.values.reduce(0, +) < 10_000 || now - flowCountsAt >= Self.flowCountRefresh {
            flowCounts = holding.isEmpty ? [:] : (program?.flowsPerMember() ?? [:])
            flowCountsAt = now
        }
        let flows = flowCounts
        let macs = program?.learnedMACs() ?? [:]
        let members = configuration.members.sorted { $0.key < $1.key }.map { position, address in
            SteeringStatus.Member(
                address: address.description, position: position, this: position == membership.selfPosition,
                live: membership.live.contains(position), leaving: membership.isLeaving(position),
                last_heard_ms: membership.lastHeard(position).map { Int((now - $0) / .milliseconds(1)) },
                mac: macs[position], free: membership.heartbeat(of: position)?.free,
                packets_forwarded_to: Int(forwarded[position] ?? 0), pinned_flows: flows[position] ?? 0)
        }
        var vips: [SteeringStatus.VIP] = []
        for service in services {
            let primaryPosition =
                service.native
                ? membership.primary(
                    of: service.vip.description, selfClaims: holding.contains(service.vip),
                    preferred: preferredPosition(service)) : nil
            vips.append(
                SteeringStatus.VIP(
                    vip: service.vip.description, vs_uuid: service.serviceID, ports: service.ports,
                    mode: service.native ? "native" : "ecmp",
                    primary: primaryPosition.flatMap { configuration.members[$0]?.description },
                    secondaries: primaryPosition.map { p in
                        membership.staying(for: service.vip.description).sorted().filter { $0 != p }.compactMap {
                            configuration.members[$0]?.description
                        }
                    } ?? [],
                    primary_here: holding.contains(service.vip)))
        }
        return SteeringStatus(
            interface: configuration.interface,
            native_return: configuration.returnViaPrimary ? "via_primary" : "direct",
            epoch: membership.epoch, members: members, vips: vips,
            counters: Dictionary(uniqueKeysWithValues: counters.map { ($0.key.name, Int($0.value)) }),
            error: lastError)
    }
}

/// Hands heartbeat datagrams to the actor.
private final class HeartbeatHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let steering: FlowSteering
    init(steering: FlowSteering) { self.steering = steering }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard envelope.data.readableBytes <= 4096, let ip = envelope.remoteAddress.ipAddress,
            let address = IPAddress(ip)
        else { return }
        let text = String(buffer: envelope.data)
        let steering = steering
        Task { await steering.received(text, from: address) }
    }
}
