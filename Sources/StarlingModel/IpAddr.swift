/// Shared object model: the Avi-shaped API objects that the controller stores and serves and that SEs
/// receive in their desired state (DESIGN §3.3). Field names follow Avi's JSON exactly.

import IPAddresses

/// Avi `IpAddr`: `{"addr": "192.0.2.10", "type": "V4"}`.
public struct IpAddr: Codable, Sendable, Hashable {
    public enum AddrType: String, Codable, Sendable, Hashable {
        case v4 = "V4"
        case v6 = "V6"
        case dns = "DNS"
    }
    public var addr: String
    public var type: AddrType
    public init(addr: String, type: AddrType) {
        self.addr = addr
        self.type = type
    }

    /// `address` in its canonical text with its type, `V4` or `V6`.
    public init(_ address: IPAddress) {
        self.init(addr: address.description, type: address.isIPv6 ? .v6 : .v4)
    }

    /// `text` as an address (canonical text, `V4` or `V6`), else as a name (`DNS`).
    public init(addressOrName text: String) {
        if let address = IPAddress(text) { self.init(address) } else { self.init(addr: text, type: .dns) }
    }
}

/// A validation failure that names the field at fault (API errors become HTTP 400 with this text).
public struct ModelError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "\(field): \(message)" }
}
