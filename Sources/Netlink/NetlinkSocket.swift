import CNetlink
import Glibc
import Synchronization

/// A connection to the kernel's routing netlink family (`NETLINK_ROUTE`).
///
/// Every call is synchronous: it sends one request and reads the kernel's answer before it
/// returns. Each instance owns one libnl socket and serialises calls on it with a lock, so a
/// `NetlinkSocket` may be shared between threads; use several instances for parallel calls.
///
/// The operations themselves live in extensions: links (`Link.swift`), addresses
/// (`InterfaceAddress.swift`, `AddressOwnership.swift`) and routes (`Route+Socket.swift`).
public final class NetlinkSocket: @unchecked Sendable {
    // @unchecked: `socket` and `failure` are only touched while `lock` is held.
    private let socket: OpaquePointer
    private let lock = Mutex(())
    private let failure = KernelFailure()
    /// The namespace this socket was created in (nil: the creating thread's namespace).
    public let namespace: NetworkNamespace?

    /// Connects to `NETLINK_ROUTE` in the calling thread's network namespace, or in
    /// `namespace` if given (see ``NetworkNamespace`` for how that leaves the caller alone).
    public init(namespace: NetworkNamespace? = nil) throws {
        self.namespace = namespace
        socket = try NamespaceThread.run(in: namespace) { try NetlinkSocket.connect() }
        nl_socket_enable_msg_peek(socket)
        enableExtendedAcknowledgements(fd: nl_socket_get_fd(socket))
        let context = Unmanaged.passUnretained(failure).toOpaque()
        nl_socket_modify_err_cb(socket, NL_CB_CUSTOM, kernelErrorCallback, context)
    }

    deinit {
        nl_socket_free(socket)
    }

    /// Allocates and connects a libnl socket (on the calling thread, hence in its namespace).
    static func connect() throws -> OpaquePointer {
        guard let socket = nl_socket_alloc() else {
            throw NetlinkError(operation: "allocate netlink socket", errno: ENOMEM)
        }
        let code = nl_connect(socket, NETLINK_ROUTE)
        guard code >= 0 else {
            let error = NetlinkError.libnl(operation: "connect NETLINK_ROUTE", code: code)
            nl_socket_free(socket)
            throw error
        }
        return socket
    }

    // MARK: Requests

    /// Sends `request` and waits for the kernel's acknowledgement.
    /// Throws ``NetlinkError`` with the kernel's errno and extended-ACK text on failure.
    func perform(_ request: NetlinkRequest) throws {
        try lock.withLock { _ in
            failure.reset()
            var code = nl_send_auto(socket, request.message)
            if code >= 0 { code = nl_wait_for_ack(socket) }
            if code < 0 { throw error(for: request.operation, code: code) }
        }
    }

    /// Sends a dump request (`type` with `NLM_F_DUMP` and `header` as payload) and decodes
    /// every message of the answer with `decode`, dropping those it returns nil for.
    /// A dump the kernel marks as interrupted (the table changed meanwhile) is retried.
    func dump<Header: BitwiseCopyable, Item>(
        _ operation: String,
        type: Int32,
        header: Header,
        decode: @escaping (OpaquePointer) -> Item?
    ) throws -> [Item] {
        var attempts = 0
        while true {
            attempts += 1
            var items: [Item] = []
            let sink = MessageSink { message in
                if let item = decode(message) { items.append(item) }
            }
            let code: Int32 = try lock.withLock { _ in
                failure.reset()
                var payload = header
                let sent = nl_send_simple(socket, type, NLM_F_DUMP, &payload, MemoryLayout<Header>.size)
                guard sent >= 0 else { throw error(for: operation, code: sent) }
                let shared = nl_socket_get_cb(socket)
                let callbacks = nl_cb_clone(shared)
                nl_cb_put(shared)
                guard let callbacks else { throw NetlinkError(operation: operation, errno: ENOMEM) }
                defer { nl_cb_put(callbacks) }
                let context = Unmanaged.passUnretained(sink).toOpaque()
                nl_cb_set(callbacks, NL_CB_VALID, NL_CB_CUSTOM, validMessageCallback, context)
                let code = nl_recvmsgs(socket, callbacks)
                if code < 0 && !(code == -NLE_DUMP_INTR && attempts < 5) {
                    throw error(for: operation, code: code)
                }
                return code
            }
            withExtendedLifetime(sink) {}
            if code == -NLE_DUMP_INTR { continue }
            return items
        }
    }

    /// The error for a failed libnl call: the kernel's errno if it sent one, else a mapping
    /// of libnl's own code. Call with the lock held.
    private func error(for operation: String, code: Int32) -> NetlinkError {
        if failure.errno != 0 {
            return NetlinkError(operation: operation, errno: failure.errno, detail: failure.detail)
        }
        return NetlinkError.libnl(operation: operation, code: code)
    }
}

/// Asks the kernel for extended ACKs (error text) and for capped ACKs (no echo of the request).
func enableExtendedAcknowledgements(fd: Int32) {
    var one: Int32 = 1
    let size = socklen_t(MemoryLayout<Int32>.size)
    _ = setsockopt(fd, STARLING_SOL_NETLINK, STARLING_NETLINK_EXT_ACK, &one, size)
    _ = setsockopt(fd, STARLING_SOL_NETLINK, STARLING_NETLINK_CAP_ACK, &one, size)
}

/// The errno and extended-ACK text of the last NLMSG_ERROR, recorded by `kernelErrorCallback`.
final class KernelFailure {
    var errno: Int32 = 0
    var detail: String?
    func reset() {
        errno = 0
        detail = nil
    }
}

/// libnl error callback: keeps the kernel's errno (libnl would turn it into its own code)
/// and the extended-ACK message, then stops reading as libnl would.
private let kernelErrorCallback: nl_recvmsg_err_cb_t = { _, error, context in
    if let error, let context {
        let failure = Unmanaged<KernelFailure>.fromOpaque(context).takeUnretainedValue()
        failure.errno = -error.pointee.error
        if let text = starling_nlmsgerr_extack_message(error) {
            failure.detail = String(cString: text)
        }
    }
    return Int32(NL_STOP.rawValue)
}

/// Receives each valid message of a dump.
final class MessageSink {
    let receive: (OpaquePointer) -> Void
    init(_ receive: @escaping (OpaquePointer) -> Void) { self.receive = receive }
}

private let validMessageCallback: nl_recvmsg_msg_cb_t = { message, context in
    if let message, let context {
        Unmanaged<MessageSink>.fromOpaque(context).takeUnretainedValue().receive(message)
    }
    return Int32(NL_OK.rawValue)
}
