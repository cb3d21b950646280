import Glibc

/// A port the kernel just handed out on 127.0.0.1 for `type` (bind to port 0, read it back, close): free at
/// this moment, so two tests never pick the same one as random picks could.
func freePort(_ type: __socket_type = SOCK_STREAM) -> Int {
    let fd = socket(AF_INET, Int32(type.rawValue), 0)
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

/// Two different free UDP ports (two BFD services on one host).
func freeUDPPortPair() -> (a: Int, b: Int) {
    let a = freePort(SOCK_DGRAM)
    var b = freePort(SOCK_DGRAM)
    while b == a { b = freePort(SOCK_DGRAM) }
    return (a, b)
}
