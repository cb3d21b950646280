import NIOCore

// ROUTE-REFRESH codec (RFC 2918 §3, RFC 7313 §3.2): AFI (2 octets), Message Subtype (1), SAFI (1).
//
// ```
//  0       7      15      23      31
// +-------+-------+-------+-------+
// |      AFI      | Subtype| SAFI |
// +-------+-------+-------+-------+
// ```
extension RouteRefreshMessage {
    /// The length of every ROUTE-REFRESH message, header included (RFC 2918 §3).
    public static let length = 23

    /// Subtype 0: a normal route refresh request (RFC 2918; RFC 7313 §3.2).
    public static let normalRequest: UInt8 = 0
    /// Subtype 1: Beginning of Route Refresh, BoRR (RFC 7313 §3.2).
    public static let beginningOfRouteRefresh: UInt8 = 1
    /// Subtype 2: End of Route Refresh, EoRR (RFC 7313 §3.2).
    public static let endOfRouteRefresh: UInt8 = 2

    /// False for subtypes other than 0, 1 and 2. RFC 7313 §5: "When the BGP speaker receives a
    /// ROUTE-REFRESH message with a 'Message Subtype' field other than 0, 1, or 2, it MUST ignore the
    /// received ROUTE-REFRESH message." Decoding keeps such messages; the session ignores them.
    public var hasKnownSubtype: Bool { subtype <= Self.endOfRouteRefresh }

    /// Decodes a ROUTE-REFRESH body (after the header), which must be exactly four octets.
    public init(from buffer: inout ByteBuffer, context: WireContext) throws(BGPError) {
        guard buffer.readableBytes == 4, let afi = buffer.readInteger(as: UInt16.self),
            let subtype = buffer.readInteger(as: UInt8.self), let safi = buffer.readInteger(as: UInt8.self)
        else {
            throw Self.invalidLength(BGPFrame(type: .routeRefresh, body: buffer))
        }
        self.init(family: AddressFamily(afi: AFI(rawValue: afi), safi: SAFI(rawValue: safi)), subtype: subtype)
    }

    /// Writes the ROUTE-REFRESH body (after the header).
    public func write(to buffer: inout ByteBuffer, context: WireContext) {
        buffer.writeInteger(family.afi.rawValue)
        buffer.writeInteger(subtype)
        buffer.writeInteger(family.safi.rawValue)
    }

    /// RFC 7313 §5: "If the length, excluding the fixed-size message header, of the received
    /// ROUTE-REFRESH message with Message Subtype 1 and 2 is not 4, then the BGP speaker MUST send a
    /// NOTIFICATION message with the Error Code of 'ROUTE-REFRESH Message Error' and the subcode of
    /// 'Invalid Message Length'. The Data field of the NOTIFICATION message MUST contain the complete
    /// ROUTE-REFRESH message." We apply the same rule to every subtype, since a message of the wrong
    /// length has no trustworthy subtype. The data is cut at 4075 octets so that the NOTIFICATION still
    /// fits in 4096 when extended messages were not negotiated.
    static func invalidLength(_ frame: BGPFrame) -> BGPError {
        BGPError(
            code: .routeRefreshMessageError, subcode: NotificationSubcode.RouteRefresh.invalidMessageLength,
            data: Array(frame.messageBytes.prefix(BGPFrame.maxNonExtendedLength - NotificationMessage.minimumLength)),
            reason: "ROUTE-REFRESH length \(frame.length) is not 23")
    }
}
