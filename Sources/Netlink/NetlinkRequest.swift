import CNetlink
import Glibc

/// One rtnetlink request under construction: a libnl `nl_msg` with a fixed header and
/// attributes. Freed when the request is released.
final class NetlinkRequest {
    let message: OpaquePointer
    /// Names the request in errors, e.g. `"add address 192.0.2.1/32 dev 1"`.
    let operation: String

    init(operation: String, type: Int32, flags: Int32) throws {
        guard let message = nlmsg_alloc_simple(type, flags) else {
            throw NetlinkError(operation: operation, errno: ENOMEM)
        }
        self.message = message
        self.operation = operation
    }

    deinit {
        nlmsg_free(message)
    }

    /// Appends the family header (`ifaddrmsg`, `rtmsg`, `ifinfomsg`).
    func append<Header: BitwiseCopyable>(header: Header) throws {
        var header = header
        try check(nlmsg_append(message, &header, MemoryLayout<Header>.size, Int32(NLMSG_ALIGNTO)))
    }

    func put(_ type: Int32, bytes: [UInt8]) throws {
        try check(bytes.withUnsafeBytes { nla_put(message, type, Int32($0.count), $0.baseAddress) })
    }

    func put(_ type: Int32, u8 value: UInt8) throws {
        try check(nla_put_u8(message, type, value))
    }

    func put(_ type: Int32, u32 value: UInt32) throws {
        try check(nla_put_u32(message, type, value))
    }

    func put(_ type: Int32, string value: String) throws {
        try check(nla_put_string(message, type, value))
    }

    /// Starts a nested attribute; close it with `endNest`.
    func beginNest(_ type: Int32) throws -> UnsafeMutablePointer<nlattr> {
        guard let nest = nla_nest_start(message, type) else {
            throw NetlinkError(operation: operation, errno: EMSGSIZE)
        }
        return nest
    }

    func endNest(_ nest: UnsafeMutablePointer<nlattr>) throws {
        try check(nla_nest_end(message, nest))
    }

    /// Reserves `size` bytes in the payload (aligned) and returns where they start.
    func reserve(_ size: Int) throws -> UnsafeMutableRawPointer {
        guard let start = nlmsg_reserve(message, size, Int32(NLMSG_ALIGNTO)) else {
            throw NetlinkError(operation: operation, errno: EMSGSIZE)
        }
        return start
    }

    /// The whole message as built: `nlmsghdr` (length, type, flags; the sequence number, port ID and
    /// `NLM_F_REQUEST | NLM_F_ACK` are filled in when it is sent), the family header and the attributes.
    var bytes: [UInt8] {
        let header = nlmsg_hdr(message)!
        return Array(UnsafeRawBufferPointer(start: header, count: Int(header.pointee.nlmsg_len)))
    }

    /// The current end of the message (for back-patching lengths of nested structures).
    var tail: UnsafeMutableRawPointer { nlmsg_tail(nlmsg_hdr(message))! }

    private func check(_ code: Int32) throws {
        if code < 0 { throw NetlinkError.libnl(operation: operation, code: code) }
    }
}

/// Calls `body` with the libnl object (`rtnl_link`, `rtnl_route`) that libnl-route parses
/// out of `message`, or returns nil if libnl does not know the message type.
func withParsedObject<T>(of message: OpaquePointer, _ body: (OpaquePointer) -> T?) -> T? {
    var object: OpaquePointer?
    _ = withUnsafeMutablePointer(to: &object) { slot in
        nl_msg_parse(
            message,
            { parsed, context in
                guard let parsed, let context else { return }
                let slot = context.assumingMemoryBound(to: OpaquePointer?.self)
                if let previous = slot.pointee { nl_object_put(previous) }
                nl_object_get(parsed)
                slot.pointee = parsed
            }, slot)
    }
    guard let object else { return nil }
    defer { nl_object_put(object) }
    return body(object)
}

/// The attributes of a raw rtnetlink message after its fixed header, indexed by type.
struct AttributeTable {
    private var slots: [UnsafeMutablePointer<nlattr>?]

    /// Parses `header` (an `nlmsghdr`) whose fixed family header is `headerSize` bytes.
    init?(header: UnsafeMutablePointer<nlmsghdr>, headerSize: Int, maximumType: Int32) {
        slots = Array(repeating: nil, count: Int(maximumType) + 1)
        let code = slots.withUnsafeMutableBufferPointer {
            nlmsg_parse(header, Int32(headerSize), $0.baseAddress, maximumType, nil)
        }
        if code < 0 { return nil }
    }

    subscript(_ type: Int32) -> UnsafeMutablePointer<nlattr>? {
        type >= 0 && Int(type) < slots.count ? slots[Int(type)] : nil
    }

    func bytes(_ type: Int32) -> [UInt8]? {
        guard let attribute = self[type], let data = nla_data(attribute) else { return nil }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(nla_len(attribute))))
    }

    func u8(_ type: Int32) -> UInt8? {
        guard let attribute = self[type], nla_len(attribute) >= 1 else { return nil }
        return nla_get_u8(attribute)
    }

    func u32(_ type: Int32) -> UInt32? {
        guard let attribute = self[type], nla_len(attribute) >= 4 else { return nil }
        return nla_get_u32(attribute)
    }

    func string(_ type: Int32) -> String? {
        guard let bytes = bytes(type) else { return nil }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}
