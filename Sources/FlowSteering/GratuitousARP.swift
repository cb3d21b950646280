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
