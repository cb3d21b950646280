/// The flow-steering part of an SE's status (issue 15): the scale-out members on the data segment as this SE
/// sees them through heartbeats, the epoch (changes of the live set), each steered VIP's mode and native
/// primary, and what the SE's tc program did with packets (delivered here or forwarded to another SE, and why).
public struct SteeringStatus: Sendable, Codable, Hashable {
    public struct Member: Sendable, Codable, Hashable {
        public var address: String
        public var position: Int
        public var this: Bool
        public var live: Bool
        /// Shutting down: no new flows, still serving the connections it holds.
        public var leaving: Bool
        public var last_heard_ms: Int?
        public var mac: String?
        public var free: Int?
        public var packets_forwarded_to: Int
        public var pinned_flows: Int

        public init(
            address: String, position: Int, this: Bool, live: Bool, leaving: Bool = false, last_heard_ms: Int?,
            mac: String?, free: Int?,
            packets_forwarded_to: Int, pinned_flows: Int
        ) {
            self.address = address
            self.position = position
            self.this = this
            self.live = live
            self.leaving = leaving
            self.last_heard_ms = last_heard_ms
            self.mac = mac
            self.free = free
            self.packets_forwarded_to = packets_forwarded_to
            self.pinned_flows = pinned_flows
        }

    }

    public struct VIP: Sendable, Codable, Hashable {
        public var vip: String
        /// The virtual service it belongs to.
        public var vs_uuid: String
        public var ports: [Int]
        public var mode: String
        public var primary: String?
        public var secondaries: [String]
        public var primary_here: Bool

        public init(
            vip: String, vs_uuid: String = "", ports: [Int], mode: String, primary: String?, secondaries: [String],
            primary_here: Bool
        ) {
            self.vip = vip
            self.vs_uuid = vs_uuid
            self.ports = ports
            self.mode = mode
            self.primary = primary
            self.secondaries = secondaries
            self.primary_here = primary_here
        }

    }

    public var interface: String
    /// Where native VIPs' replies go from a secondary: `direct` to the client, or `via_primary`.
    public var native_return: String
    public var epoch: Int
    public var members: [Member]
    public var vips: [VIP]
    /// Packets by what the SE's steering program did with them.
    public var counters: [String: Int]
    public var error: String?
    /// Where the member list comes from: `controller` (the SE group's scale-out positions) or
    /// `--scaleout-members`.
    public var members_from: String?
    /// The controller's epoch of the member list (it moves on whenever the controller adds or removes a
    /// member); nil when the list comes from the command line.
    public var group_epoch: Int?

    public init(
        interface: String, native_return: String = "direct", epoch: Int, members: [Member], vips: [VIP],
        counters: [String: Int], error: String?
    ) {
        self.interface = interface
        self.native_return = native_return
        self.epoch = epoch
        self.members = members
        self.vips = vips
        self.counters = counters
        self.error = error
    }
}
