import CNetlink
import Glibc

/// A failed netlink operation: what was attempted, the errno the kernel (or the C library)
/// reported, and a readable message that includes the kernel's extended-ACK text when it
/// sent one (for example "Nexthop device is not up").
public struct NetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What Starling tried to do, e.g. `"add route 192.0.2.0/24 table 254"`.
    public var operation: String
    /// The positive errno value, e.g. `ENODEV`.
    public var errno: Int32
    /// `strerror(errno)`, followed by the kernel's extended-ACK message if any.
    public var message: String

    /// Creates an error from its parts.
    public init(operation: String, errno: Int32, message: String) {
        self.operation = operation
        self.errno = errno
        self.message = message
    }

    /// Creates an error whose message is `strerror(errno)` plus an optional detail.
    public init(operation: String, errno: Int32, detail: String? = nil) {
        var text = String(cString: strerror(errno))
        if let detail, !detail.isEmpty { text += ": " + detail }
        self.init(operation: operation, errno: errno, message: text)
    }

    /// `"<operation>: <message> (errno N)"`.
    public var description: String { "\(operation): \(message) (errno \(errno))" }
}

extension NetlinkError {
    /// An error for a libnl return code when the kernel did not report an errno itself
    /// (allocation failures, sequence mismatches, truncated messages ...).
    static func libnl(operation: String, code: Int32) -> NetlinkError {
        let positive = code < 0 ? -code : code
        let mapped: Int32
        switch positive {
        case NLE_NOMEM: mapped = ENOMEM
        case NLE_INVAL, NLE_RANGE, NLE_MISSING_ATTR: mapped = EINVAL
        case NLE_AGAIN: mapped = EAGAIN
        case NLE_BAD_SOCK: mapped = EBADF
        case NLE_MSGSIZE: mapped = EMSGSIZE
        case NLE_DUMP_INTR: mapped = EINTR
        case NLE_EXIST: mapped = EEXIST
        case NLE_NODEV: mapped = ENODEV
        case NLE_OBJ_NOTFOUND: mapped = ENOENT
        case NLE_PERM, NLE_NOACCESS: mapped = EPERM
        case NLE_AF_NOSUPPORT: mapped = EAFNOSUPPORT
        case NLE_OPNOTSUPP: mapped = EOPNOTSUPP
        case NLE_BUSY: mapped = EBUSY
        default: mapped = EIO
        }
        return NetlinkError(
            operation: operation,
            errno: mapped,
            message: String(cString: nl_geterror(positive))
        )
    }

    /// An error for a failed system call, reading the thread's current errno.
    static func system(operation: String) -> NetlinkError {
        NetlinkError(operation: operation, errno: Glibc.errno)
    }

    /// An invalid argument detected before anything was sent to the kernel.
    static func invalid(operation: String, _ detail: String) -> NetlinkError {
        NetlinkError(operation: operation, errno: EINVAL, detail: detail)
    }
}
