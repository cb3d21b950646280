/// NOTIFICATION message (RFC 4271 §4.5).
///
/// ```
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Error code    | Error subcode |   Data (variable)             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
public struct NotificationMessage: Sendable, Hashable {
    public var code: NotificationCode
    public var subcode: UInt8
    public var data: [UInt8]
    public init(code: NotificationCode, subcode: UInt8, data: [UInt8] = []) {
        self.code = code
        self.subcode = subcode
        self.data = data
    }
    /// The NOTIFICATION an error maps to.
    public init(_ error: BGPError) {
        self.init(code: error.code, subcode: error.subcode, data: error.data)
    }
}
