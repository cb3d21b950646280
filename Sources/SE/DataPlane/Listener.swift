import NIOCore
import NIOPosix

/// Opens one listening socket per event loop for a VIP:port (DESIGN §6): `SO_REUSEPORT` lets the
/// kernel spread connections over the loops, and each accepted connection stays on the loop that
/// accepted it, with that loop's balancer and server connections. `SO_REUSEADDR` lets a restarted SE
/// bind at once; `IP_FREEBIND` / `IPV6_FREEBIND` let it bind a VIP before (or without) the address being
/// plumbed on an interface.
enum Listener {
    /// Linux `SO_REUSEPORT` (SOL_SOCKET).
    static let soReusePort = ChannelOptions.Types.SocketOption(
        level: NIOBSDSocket.OptionLevel.socket, name: NIOBSDSocket.Option(rawValue: 15))
    /// Linux `IP_FREEBIND` = 15 at IPPROTO_IP.
    static let ipFreebind = ChannelOptions.Types.SocketOption(
        level: NIOBSDSocket.OptionLevel.ip, name: NIOBSDSocket.Option(rawValue: 15))
    /// Linux `IP_BIND_ADDRESS_NO_PORT` = 24 at IPPROTO_IP (IPv4 and IPv6 sockets).
    static let ipBindAddressNoPort = ChannelOptions.Types.SocketOption(
        level: NIOBSDSocket.OptionLevel.ip, name: NIOBSDSocket.Option(rawValue: 24))
    /// Linux `IPV6_FREEBIND` = 78 at IPPROTO_IPV6.
    static let ipv6Freebind = ChannelOptions.Types.SocketOption(
        level: NIOBSDSocket.OptionLevel.ipv6, name: NIOBSDSocket.Option(rawValue: 78))

    /// Binds `address` on `service`'s loop; accepted connections get the service's pipeline, behind TLS
    /// termination when `tls`.
    static func bind(_ address: SocketAddress, listen: ListenAddress, service: LoopService) -> EventLoopFuture<
        any Channel
    > {
        let freebind: ChannelOptions.Types.SocketOption =
            if case .v6 = address { ipv6Freebind } else { ipFreebind }
        return ServerBootstrap(group: service.loop, childGroup: service.loop)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(soReusePort, value: 1)
            .serverChannelOption(freebind, value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                do {
                    try install(on: channel, tls: listen.tls, http2: listen.http2, service: service)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(to: address)
    }

    /// The pipeline of an accepted connection, by the service's kind and TLS contexts at accept time.
    /// Behind TLS, the HTTP proxy (HTTP/1.1, or HTTP/2 when the client chose it) comes after the handshake.
    static func install(on channel: any Channel, tls: Bool, http2: Bool = false, service: LoopService) throws {
        let ops = channel.pipeline.syncOperations
        if tls {
            guard let terminator = service.tls else { throw ChannelError.inappropriateOperationForState }
            let next: TLSNext = service.kind == .http ? .http(service) : .installed
            try ops.addHandler(TLSAcceptHandler(terminator: terminator, http2: http2, next: next))
            if service.kind == .http { return }
        }
        switch service.kind {
        case .l4:
            // Half-closure is a TCP notion: behind TLS the proxy sees the close_notify as the end.
            if !tls { try channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: true) }
            try ops.addHandler(IdleStateHandler(allTimeout: service.idleTimeout))
            try ops.addHandler(L4ProxyHandler(service: service, isFront: true))
        case .http:
            try ops.addHandler(HTTPFrontHandler(service: service, tls: tls))
        }
    }
}

/// A listening socket of a service: a NIO server channel, or a fast-path listener (``FastL4Listener``).
protocol ServiceListener: Sendable {
    /// Stops accepting and closes the socket (connections already accepted go on).
    func close() async
}

/// A NIO server channel as a ``ServiceListener``.
struct ChannelListener: ServiceListener {
    let channel: any Channel

    func close() async { try? await channel.close() }
}

extension ClientBootstrap {
    /// Outbound connections from `source` (the SE's data address) when there is one. The source port is
    /// left to `connect` (`IP_BIND_ADDRESS_NO_PORT`, as HAProxy does): a `bind` to port 0 reserves a port
    /// for every destination, so all servers together could take only the ephemeral range (~28,000
    /// connections); chosen at `connect`, a port only needs to be free for that server's address.
    func bindingSource(_ source: SocketAddress?) -> ClientBootstrap {
        guard let source else { return self }
        return channelOption(Listener.ipBindAddressNoPort, value: 1).bind(to: source)
    }
}
