import BGPSpeaker
import CBPF
import Foundation

/// Gratuitous ARP (RFC 5227 §3 "ARP Announcement": an ARP request with sender and target both the
/// address), broadcast on an interface through an AF_PACKET socket.
enum GratuitousARP {
    /// The 42-byte frame announcing that `address` is at `mac`.
    static func frame(address: IPv4Address, mac: [UInt8]) -> [UInt8] {
        precondition(mac.count == 6)
        let ip: [UInt8] = [
            UInt8(address.rawValue >> 24), UInt8(address.rawValue >> 16 & 0xFF), UInt8(address.rawValue >> 8 & 0xFF),
            UInt8(address.rawValue & 0xFF),
        ]
        var f = [UInt8](repeating: 0xFF, count: 6) + mac + [0x08, 0x06]  // Ethernet: broadcast, ARP
        f += [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]  // Ethernet/IPv4, request
        f += mac + ip + [UInt8](repeating: 0, count: 6) + ip
        return f
    }

    static func send(address: IPv4Address, mac: [UInt8], interfaceIndex: Int32) throws(SteeringError) {
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), Int32(UInt16(ETH_P_ARP).bigEndian))
        guard fd >= 0 else { throw SteeringError("AF_PACKET socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var link = sockaddr_ll()
        link.sll_family = UInt16(AF_PACKET)
        link.sll_protocol = UInt16(ETH_P_ARP).bigEndian
        link.sll_ifindex = interfaceIndex
        link.sll_halen = 6
        link.sll_addr = (0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0)
        let bytes = frame(address: address, mac: mac)
        let sent = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &link) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
                }
            }
        }
        guard sent == bytes.count else { throw SteeringError("gratuitous ARP: \(String(cString: strerror(errno)))") }
    }
}

/// Unsolicited neighbour advertisement (RFC 4861 §7.2.6): the IPv6 counterpart of ``GratuitousARP``, an NA
/// with the Override flag and the target link-layer address option, to all nodes (ff02::1) with hop limit
/// 255, through a raw ICMPv6 socket (the kernel fills in the source and the checksum).
enum UnsolicitedNA {
    /// The ICMPv6 message (type 136) announcing that `target` is at `mac`; checksum left 0.
    static func message(target: IPv6Address, mac: [UInt8]) -> [UInt8] {
        precondition(mac.count == 6)
        // Type, code, checksum; flags: Override (not Router, not Solicited); reserved.
        var m: [UInt8] = [136, 0, 0, 0, 0x20, 0, 0, 0]
        m += target.bytes
        m += [2, 1] + mac  // Target Link-Layer Address option, 8 bytes
        return m
    }

    static func send(target: IPv6Address, mac: [UInt8], interfaceIndex: Int32) throws(SteeringError) {
        let fd = socket(AF_INET6, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMPV6))
        guard fd >= 0 else { throw SteeringError("ICMPv6 socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hops: Int32 = 255
        var index = UInt32(bitPattern: interfaceIndex)
        guard setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_HOPS, &hops, socklen_t(MemoryLayout<Int32>.size)) == 0,
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_IF, &index, socklen_t(MemoryLayout<UInt32>.size)) == 0
        else { throw SteeringError("ICMPv6 socket options: \(String(cString: strerror(errno)))") }
        var destination = sockaddr_in6()
        destination.sin6_family = sa_family_t(AF_INET6)
        destination.sin6_scope_id = index
        withUnsafeMutableBytes(of: &destination.sin6_addr) { raw in
            for (i, byte) in ([0xFF, 0x02] + [UInt8](repeating: 0, count: 13) + [0x01]).enumerated() { raw[i] = byte }
        }
        let bytes = message(target: target, mac: mac)
        let sent = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &destination) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        guard sent == bytes.count else {
            throw SteeringError("neighbour advertisement: \(String(cString: strerror(errno)))")
        }
    }
}
