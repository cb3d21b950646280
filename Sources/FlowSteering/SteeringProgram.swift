import BGPSpeaker
import CBPF
import Foundation
import StarlingModel

/// The SE's tc steering program (`bpf/steer.bpf.c`, carried in the binary by the BPFObject build plugin),
/// loaded through libbpf and attached to the ingress side of the data interface (clsact, direct action;
/// libbpf attaches through rtnetlink). Owns the program and its maps for as long as it lives; `detach()`
/// removes the filter. Map layouts match the C structs one for one (host byte order for integers, network
/// order for addresses and ports, as the kernel hands them to the program).
public final class SteeringProgram: @unchecked Sendable {
    /// Positions in the member list the program knows (`MAX_MEMBERS`).
    public static let maxMembers = ScaleoutGroup.maxMembers
    /// Bucket table entries per VIP slot (`BUCKETS`).
    public static let buckets = 256
    /// VIP:port entries and bucket slots (`MAX_VIPS`).
    public static let maxVIPs = 64

    /// The program's counters (`enum stat` in the C source), in order.
    public enum Counter: Int, CaseIterable, Sendable {
        case vipPackets, local, chainForward, chainEnd, newFlowForward, flowForward, hopLimit, goneOwner, heartbeats
        case returnToPrimary, returnRelayed

        /// The name in `/status` and the runtime API.
        public var name: String {
            switch self {
            case .vipPackets: "vip_packets"
            case .local: "delivered_here"
            case .chainForward: "forwarded_not_held_here"
            case .chainEnd: "not_held_by_any_member"
            case .newFlowForward: "forwarded_new_flow"
            case .flowForward: "forwarded_pinned_flow"
            case .hopLimit: "dropped_hop_limit"
            case .goneOwner: "owner_left"
            case .heartbeats: "member_heartbeats"
            case .returnToPrimary: "replies_sent_to_primary"
            case .returnRelayed: "replies_relayed_for_secondaries"
            }
        }
    }

    /// How a VIP:port is steered.
    public enum Mode: UInt32, Sendable {
        /// Deliver SYNs and held connections here; send the rest along the member list.
        case chain = 1
        /// Native primary: spread new flows by the bucket table, pin them in the flow table.
        case primary = 2
    }

    private let object: OpaquePointer
    private let ifindex: Int32
    private let programFD: Int32
    private let returnProgramFD: Int32
    private let settingsFD: Int32
    private let membersFD: Int32
    private let vipsFD: Int32
    private let bucketsFD: Int32
    private let flowsFD: Int32
    private let peerMACsFD: Int32
    private let statsFD: Int32
    private let forwardedFD: Int32
    private let cpus: Int
    private var attached = false

    /// Loads the program (flow table of `flowTableSize` entries) and attaches it to `interfaceIndex`'s
    /// ingress, replacing an earlier Starling filter there (a restarted SE).
    public init(interfaceIndex: Int32, flowTableSize: Int) throws(SteeringError) {
        guard let bytes = Data(base64Encoded: steerObjectBase64) else {
            throw SteeringError("the built-in BPF object is not valid base64")
        }
        var openOptions = bpf_object_open_opts()
        openOptions.sz = MemoryLayout<bpf_object_open_opts>.size
        let opened: OpaquePointer? = "starling_steer".withCString { name in
            openOptions.object_name = name
            return bytes.withUnsafeBytes { raw in
                bpf_object__open_mem(raw.baseAddress, raw.count, &openOptions)
            }
        }
        guard let object = opened, libbpf_get_error(UnsafeRawPointer(object)) == 0 else {
            throw SteeringError("cannot open the BPF object: \(Self.errno())")
        }
        self.object = object
        func map(_ name: String) throws(SteeringError) -> OpaquePointer {
            guard let m = bpf_object__find_map_by_name(object, name) else {
                throw SteeringError("the BPF object has no map \(name)")
            }
            return m
        }
        do throws(SteeringError) {
            let flows = try map("flows")
            bpf_map__set_max_entries(flows, UInt32(max(1024, flowTableSize)))
            let loaded = bpf_object__load(object)
            guard loaded == 0 else {
                throw SteeringError(
                    "the kernel refused the steering program (\(String(cString: strerror(-loaded)))): needs root and a kernel with BPF"
                )
            }
            guard let program = bpf_object__find_program_by_name(object, "starling_steer") else {
                throw SteeringError("the BPF object has no program starling_steer")
            }
            programFD = bpf_program__fd(program)
            guard let returnProgram = bpf_object__find_program_by_name(object, "starling_return") else {
                throw SteeringError("the BPF object has no program starling_return")
            }
            returnProgramFD = bpf_program__fd(returnProgram)
            settingsFD = bpf_map__fd(try map("settings"))
            membersFD = bpf_map__fd(try map("members"))
            vipsFD = bpf_map__fd(try map("vips"))
            bucketsFD = bpf_map__fd(try map("buckets"))
            flowsFD = bpf_map__fd(flows)
            peerMACsFD = bpf_map__fd(try map("peer_macs"))
            statsFD = bpf_map__fd(try map("stats"))
            forwardedFD = bpf_map__fd(try map("forwarded"))
        } catch {
            bpf_object__close(object)
            throw error
        }
        cpus = max(1, Int(libbpf_num_possible_cpus()))
        ifindex = interfaceIndex
        var hook = starling_tc_ingress_hook(interfaceIndex)
        let created = bpf_tc_hook_create(&hook)
        guard created == 0 || created == -EEXIST else {
            bpf_object__close(object)
            throw SteeringError("cannot add the clsact qdisc: \(String(cString: strerror(-created)))")
        }
        var options = starling_tc_opts(programFD)
        options.flags = UInt32(BPF_TC_F_REPLACE.rawValue)
        let result = bpf_tc_attach(&hook, &options)
        guard result == 0 else {
            bpf_object__close(object)
            throw SteeringError("cannot attach the steering program: \(String(cString: strerror(-result)))")
        }
        // Egress: replies of native VIPs to the primary (only acts when the settings ask for it).
        var egress = starling_tc_egress_hook(interfaceIndex)
        var egressOptions = starling_tc_opts(returnProgramFD)
        egressOptions.flags = UInt32(BPF_TC_F_REPLACE.rawValue)
        let egressResult = bpf_tc_attach(&egress, &egressOptions)
        guard egressResult == 0 else {
            var ingressOptions = starling_tc_opts(0)
            _ = bpf_tc_detach(&hook, &ingressOptions)
            bpf_object__close(object)
            throw SteeringError(
                "cannot attach the egress program: \(String(cString: strerror(-egressResult)))")
        }
        attached = true
    }

    deinit {
        detach()
        bpf_object__close(object)
    }

    /// Removes the filter from the interface (the maps go with the object).
    public func detach() {
        guard attached else { return }
        attached = false
        var hook = starling_tc_ingress_hook(ifindex)
        var options = starling_tc_opts(0)
        _ = bpf_tc_detach(&hook, &options)
        var egress = starling_tc_egress_hook(ifindex)
        var egressOptions = starling_tc_opts(0)
        _ = bpf_tc_detach(&egress, &egressOptions)
    }

    /// Forgets the filter without removing it (a successor process's program replaced it).
    public func release() { attached = false }

    // MARK: - Writing the maps

    /// Sets the data interface, this SE's position and the heartbeat port.
    public func setSettings(selfPosition: Int, heartbeatPort: Int, returnViaPrimary: Bool) throws(SteeringError) {
        var bytes = [UInt8]()
        bytes += le32(UInt32(bitPattern: ifindex))
        bytes += le32(UInt32(selfPosition))
        bytes += le32(UInt32(heartbeatPort))
        bytes += le32(returnViaPrimary ? 1 : 0)
        try update(settingsFD, key: le32(0), value: bytes, "settings")
    }

    /// Sets member `position` live at `address`, or not live (skipped) when nil.
    public func setMember(_ position: Int, address: IPAddress?) throws(SteeringError) {
        var bytes = [UInt8]()
        switch address {
        case nil: bytes = [UInt8](repeating: 0, count: 20)
        case .v4(let a): bytes = le32(2) + Self.addressBytes(.v4(a))
        case .v6(let a): bytes = le32(10) + Self.addressBytes(.v6(a))
        }
        try update(membersFD, key: le32(UInt32(position)), value: bytes, "members")
    }

    /// Steers `vip`:`port` in `mode` (bucket table `slot` for a primary).
    /// Steers `vip`:`port` in `mode`; `slot` is its bucket table (primary), `members` the positions that
    /// serve it (the only ones its packets are forwarded to), `primary` a native VIP's primary.
    public func setVIP(
        _ vip: IPAddress, port: Int, mode: Mode, slot: Int, members: Set<Int>, primary: Int?
    ) throws(SteeringError) {
        let mask = members.reduce(UInt32(0)) { $1 < Self.maxMembers ? $0 | 1 << UInt32($1) : $0 }
        try update(
            vipsFD, key: Self.vipKey(vip, port: port),
            value: le32(mode.rawValue) + le32(UInt32(slot)) + le32(mask) + le32(primary.map(UInt32.init) ?? .max),
            "vips")
    }

    /// Stops steering `vip`:`port`.
    public func removeVIP(_ vip: IPAddress, port: Int) {
        let key = Self.vipKey(vip, port: port)
        _ = key.withUnsafeBytes { bpf_map_delete_elem(vipsFD, $0.baseAddress) }
    }

    /// Writes bucket table `slot`: one member position per bucket.
    public func setBuckets(slot: Int, _ owners: [Int]) throws(SteeringError) {
        precondition(owners.count == Self.buckets)
        for (index, owner) in owners.enumerated() {
            try update(
                bucketsFD, key: le32(UInt32(slot * Self.buckets + index)), value: le32(UInt32(owner)), "buckets")
        }
    }

    // MARK: - Reading the maps

    /// Each counter summed over the CPUs.
    public func counters() -> [Counter: UInt64] {
        var out: [Counter: UInt64] = [:]
        for counter in Counter.allCases { out[counter] = perCPUSum(statsFD, index: counter.rawValue) }
        return out
    }

    /// Packets sent to each member position, summed over the CPUs.
    public func forwardedPerMember() -> [Int: UInt64] {
        var out: [Int: UInt64] = [:]
        for position in 0..<Self.maxMembers {
            let n = perCPUSum(forwardedFD, index: position)
            if n > 0 { out[position] = n }
        }
        return out
    }

    /// The flow table's entries per owning member position (a walk over the table: two system calls per
    /// entry, so callers keep the result a while).
    public func flowsPerMember() -> [Int: Int] {
        var out: [Int: Int] = [:]
        var value = [UInt8](repeating: 0, count: 8)
        for key in keys(flowsFD, keySize: 40) {
            let found = key.withUnsafeBytes { k in
                value.withUnsafeMutableBytes { bpf_map_lookup_elem(flowsFD, k.baseAddress, $0.baseAddress) }
            }
            guard found == 0 else { continue }
            out[Int(value.withUnsafeBytes { $0.load(as: UInt32.self) }), default: 0] += 1
        }
        return out
    }

    /// Member MACs the program learned from heartbeats: position → "aa:bb:cc:dd:ee:ff".
    public func learnedMACs() -> [Int: String] {
        var out: [Int: String] = [:]
        var value = [UInt8](repeating: 0, count: 4)
        for key in keys(peerMACsFD, keySize: 8) {
            let found = key.withUnsafeBytes { k in
                value.withUnsafeMutableBytes { bpf_map_lookup_elem(peerMACsFD, k.baseAddress, $0.baseAddress) }
            }
            guard found == 0 else { continue }
            let mac = key.prefix(6).map { String(format: "%02x", $0) }.joined(separator: ":")
            out[Int(value.withUnsafeBytes { $0.load(as: UInt32.self) })] = mac
        }
        return out
    }

    // MARK: - Helpers

    static func addressBytes(_ address: IPAddress) -> [UInt8] {
        switch address {
        case .v4(let a):
            [
                UInt8(a.rawValue >> 24), UInt8(a.rawValue >> 16 & 0xFF), UInt8(a.rawValue >> 8 & 0xFF),
                UInt8(a.rawValue & 0xFF),
            ] + [UInt8](repeating: 0, count: 12)
        case .v6(let a): a.bytes
        }
    }

    static func vipKey(_ vip: IPAddress, port: Int) -> [UInt8] {
        let family: UInt8 = if case .v4 = vip { 2 } else { 10 }
        return addressBytes(vip) + [UInt8(port >> 8 & 0xFF), UInt8(port & 0xFF), family, 0]
    }

    private func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    private func update(_ fd: Int32, key: [UInt8], value: [UInt8], _ map: String) throws(SteeringError) {
        let result = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in bpf_map_update_elem(fd, k.baseAddress, v.baseAddress, UInt64(BPF_ANY)) }
        }
        guard result == 0 else { throw SteeringError("cannot update BPF map \(map): \(Self.errno())") }
    }

    private func perCPUSum(_ fd: Int32, index: Int) -> UInt64 {
        var key = UInt32(index)
        var values = [UInt64](repeating: 0, count: cpus)
        let found = values.withUnsafeMutableBytes { bpf_map_lookup_elem(fd, &key, $0.baseAddress) }
        return found == 0 ? values.reduce(0, &+) : 0
    }

    private func keys(_ fd: Int32, keySize: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var next = [UInt8](repeating: 0, count: keySize)
        var previous: [UInt8]? = nil
        while true {
            let result: Int32
            if let p = previous {
                result = p.withUnsafeBytes { k in
                    next.withUnsafeMutableBytes { bpf_map_get_next_key(fd, k.baseAddress, $0.baseAddress) }
                }
            } else {
                result = next.withUnsafeMutableBytes { bpf_map_get_next_key(fd, nil, $0.baseAddress) }
            }
            guard result == 0 else { break }
            out.append(next)
            previous = next
        }
        return out
    }

    private static func errno() -> String { String(cString: strerror(Glibc.errno)) }
}

/// The steering program could not be loaded, attached or configured.
public struct SteeringError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
