import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// TCP-MD5 signatures (RFC 2385, `TCP_MD5SIG`) and GTSM (RFC 5082, `IP_MINTTL` / `IPV6_MINHOPCOUNT`) on
/// BGP sockets: socket options NIO has no names for, set through `SocketOptionProvider` on the channel's
/// event loop (where NIO applies them at once, so an option set in a `channelInitializer` is in place
/// before the connect).
///
/// The kernel does the work: with a key for the peer's address, segments without a valid signature are
/// dropped before they reach the socket (a wrong password is a session that never comes up, seen only as
/// connection attempts timing out); with a minimum TTL of 255, segments from farther than one hop are.
enum SessionSecurity {
    /// RFC 2385 keys are at most 80 octets (Linux `TCP_MD5SIG_MAXKEYLEN`).
    static let maximumKeyLength = 80

    /// Installs the MD5 key for segments to and from `peer`, or removes it (`key` nil). Set on a
    /// listener, it covers the connections the listener accepts from that address.
    static func setMD5Key(_ key: String?, peer: IPAddress, on channel: any Channel) -> EventLoopFuture<Void> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        var signature = tcp_md5sig()
        do {
            let address = try SocketAddress(ipAddress: peer.description, port: 0)
            address.withSockAddr { sockaddr, length in
                withUnsafeMutableBytes(of: &signature.tcpm_addr) { storage in
                    storage.copyMemory(from: UnsafeRawBufferPointer(start: sockaddr, count: length))
                }
            }
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        let bytes = Array((key ?? "").utf8.prefix(maximumKeyLength))
        signature.tcpm_keylen = UInt16(bytes.count)
        withUnsafeMutableBytes(of: &signature.tcpm_key) { $0.copyBytes(from: bytes) }
        return provider.unsafeSetSocketOption(
            level: NIOBSDSocket.OptionLevel(rawValue: CInt(IPPROTO_TCP)),
            name: NIOBSDSocket.Option(rawValue: TCP_MD5SIG), value: signature)
    }

    /// GTSM for a directly connected peer: we send with TTL / Hop Limit 255 and the kernel drops
    /// segments that arrive with less (RFC 5082 §3: "the TTL ... MUST be set to 255"; the receiver
    /// discards what arrives below 255 minus the expected hops, here 0).
    static func setTTLSecurity(peer: IPAddress, on channel: any Channel) -> EventLoopFuture<Void> {
        let ipv6 = SpeakerCore.family(of: peer) == .inet6
        return setOutgoingTTL255(ipv6: ipv6, on: channel).flatMap {
            setOption(ipv6 ? IPV6_MINHOPCOUNT : IP_MINTTL, ipv6: ipv6, value: 255, on: channel)
        }
    }

    /// Segments leave with TTL / Hop Limit 255. On a listener it covers the SYN-ACK of the handshake, which
    /// a peer checking GTSM would otherwise drop.
    static func setOutgoingTTL255(ipv6: Bool, on channel: any Channel) -> EventLoopFuture<Void> {
        setOption(ipv6 ? IPV6_UNICAST_HOPS : IP_TTL, ipv6: ipv6, value: 255, on: channel)
    }

    private static func setOption(_ name: CInt, ipv6: Bool, value: CInt, on channel: any Channel)
        -> EventLoopFuture<Void>
    {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        return provider.unsafeSetSocketOption(
            level: NIOBSDSocket.OptionLevel(rawValue: CInt(ipv6 ? IPPROTO_IPV6 : IPPROTO_IP)),
            name: NIOBSDSocket.Option(rawValue: name), value: value)
    }
}
