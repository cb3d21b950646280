import Glibc

/// A TCP port taken by binding port 0 and held for the whole test: the socket stays bound (with
/// SO_REUSEADDR, never listening), so the kernel hands the port to no one else, while a server that also
/// sets SO_REUSEADDR (Hummingbird does) can bind and listen on it (Linux allows that beside a bound socket
/// that is not listening), and bind it again after a restart. Unlike binding port 0 and closing at once,
/// the port cannot be taken by another test between the pick and the server's bind. Keep it alive until
/// the server is done (`defer { withExtendedLifetime(reservation) {} }`).
///
/// A data-plane listener that sets SO_REUSEPORT as well binds beside it too; a UDP port cannot be held this
/// way (a bound UDP socket would take a share of the datagrams): see ``freeUDPPortPair()``.
public final class PortReservation {
    public let port: Int
    private var descriptors: [Int32] = []

    /// Binds port 0 on `host` (an IPv4 or IPv6 literal), and then the same port on each of `alsoOn`
    /// (a dual-stack server's other wildcard): tries fresh ports until one is free on all of them.
    public init(host: String = "127.0.0.1", alsoOn: [String] = []) {
        for _ in 0..<100 {
            let first = Self.bind(host, port: 0)
            guard let fd = first.fd else { preconditionFailure("bind \(host) port 0: errno \(first.error)") }
            var held = [fd]
            for other in alsoOn {
                guard let more = Self.bind(other, port: first.port).fd else { break }
                held.append(more)
            }
            if held.count == 1 + alsoOn.count {
                port = first.port
                descriptors = held
                return
            }
            for d in held { close(d) }
        }
        preconditionFailure("no port free on \([host] + alsoOn)")
    }

    deinit { for fd in descriptors { close(fd) } }

    private static func bind(_ host: String, port: Int) -> (fd: Int32?, port: Int, error: Int32) {
        let v6 = host.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0, "socket: \(errno)")
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var bound = false
        var chosen = port
        if v6 {
            // IPv6 only, as the speaker's `::` listener, so that it can sit beside an IPv4 one.
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = UInt16(port).bigEndian
            precondition(inet_pton(AF_INET6, host, &address.sin6_addr) == 1, "bad address \(host)")
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    Glibc.bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
                }
            }
            chosen = Int(UInt16(bigEndian: address.sin6_port))
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            precondition(inet_pton(AF_INET, host, &address.sin_addr) == 1, "bad address \(host)")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    Glibc.bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
                }
            }
            chosen = Int(UInt16(bigEndian: address.sin_port))
        }
        guard bound else {
            let error = errno
            close(fd)
            return (nil, 0, error)
        }
        return (fd, chosen, 0)
    }
}

/// A TCP port on `host` held for the rest of the test process (a ``PortReservation`` that is never released),
/// for tests whose servers bind it some time after it is picked.
public func reservedPort(host: String = "127.0.0.1") -> Int {
    let reservation = PortReservation(host: host)
    // Held until the process exits: the port is the test's alone for as long as it might use it.
    _ = Unmanaged.passRetained(reservation)
    return reservation.port
}

/// Two different UDP ports on 127.0.0.1 that were free when picked (bind port 0, read it, close): for the BFD
/// services of two speakers on one host, which bind them at once. Unlike TCP, a UDP port cannot be held
/// beside its user (see ``PortReservation``).
public func freeUDPPortPair() -> (a: Int, b: Int) {
    let a = freeUDPPort()
    var b = freeUDPPort()
    while b == a { b = freeUDPPort() }
    return (a, b)
}

private func freeUDPPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    precondition(fd >= 0, "socket: \(errno)")
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    precondition(bound, "bind to port 0: \(errno)")
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A TCP socket listening on a free port of 127.0.0.1 with `backlog`, and its port; nil when it cannot be
/// made. The caller accepts on it (or, to stand for a silent or overloaded server, never does) and closes it.
public func listeningLoopbackSocket(backlog: Int32) -> (fd: Int32, port: Int)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound, listen(fd, backlog) == 0 else {
        close(fd)
        return nil
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}
