import NIOCore

/// A BGP message (RFC 4271 §4). Framing and the per-type codecs live beside each message type.
public enum BGPMessage: Sendable, Hashable {
    case open(OpenMessage)
    case update(UpdateMessage)
    case notification(NotificationMessage)
    case keepalive
    case routeRefresh(RouteRefreshMessage)

    public var type: MessageType {
        switch self {
        case .open: .open
        case .update: .update
        case .notification: .notification
        case .keepalive: .keepalive
        case .routeRefresh: .routeRefresh
        }
    }
}

extension BGPMessage {
    /// Decodes a frame of type UPDATE as `decode(_:context:warnings:)` does (same length rules, same
    /// errors), returning the `DecodedUpdate` without wrapping it in a `BGPMessage`.
    public static func decodeUpdate(_ frame: BGPFrame, context: WireContext) throws(BGPError) -> DecodedUpdate {
        let length = frame.length
        // RFC 8654 §4 / RFC 4271 §6.1: see `decode(_:context:warnings:)`.
        guard length <= context.maxMessageSize else {
            throw MessageHeaderError.badMessageLength(
                length, "\(frame.type) length \(length) exceeds \(context.maxMessageSize)")
        }
        // RFC 4271 §6.1: an UPDATE shorter than 23 octets is Bad Message Length.
        guard length >= 23 else {
            throw MessageHeaderError.badMessageLength(length, "UPDATE length \(length) below 23")
        }
        var body = frame.body
        return try UpdateMessage.decode(body: &body, context: context)
    }

    /// Decodes one framed message under the negotiated `context`.
    ///
    /// Applies the RFC 4271 §6.1 length rules that need the type (OPEN ≥ 29, UPDATE ≥ 23, KEEPALIVE = 19,
    /// NOTIFICATION ≥ 21), the 4096-octet limit unless extended messages were negotiated (RFC 8654),
    /// and RFC 7313 §5 for ROUTE-REFRESH (exactly 23), then the per-type codec. Errors that reset the
    /// session are thrown; UPDATE errors handled by attribute discard or treat-as-withdraw (RFC 7606)
    /// are appended to `warnings`, and the returned UPDATE already reflects them.
    public static func decode(
        _ frame: BGPFrame, context: WireContext, warnings: inout [BGPError]
    ) throws(BGPError) -> BGPMessage {
        let length = frame.length
        // RFC 8654 §4: OPEN and KEEPALIVE are never longer than 4096 octets; other messages may be up to
        // 65535 once both sides advertised the Extended Message capability. Without it, RFC 4271 §6.1:
        // a Length "greater than 4096" is Bad Message Length.
        let limit: Int =
            switch frame.type {
            case .open, .keepalive: BGPFrame.maxNonExtendedLength
            default: context.maxMessageSize
            }
        guard length <= limit else {
            throw MessageHeaderError.badMessageLength(
                length, "\(frame.type) length \(length) exceeds \(limit)")
        }
        var body = frame.body
        switch frame.type {
        case .open:
            // RFC 4271 §6.1: "the Length field of an OPEN message is less than the minimum length of the
            // OPEN message" (29) is Bad Message Length.
            guard length >= OpenMessage.minimumLength else {
                throw MessageHeaderError.badMessageLength(length, "OPEN length \(length) below 29")
            }
            return .open(try OpenMessage(from: &body, context: context))
        case .update:
            let decoded = try decodeUpdate(frame, context: context)
            warnings.append(contentsOf: decoded.errors)
            return .update(decoded.update)
        case .notification:
            // RFC 4271 §6.1: a NOTIFICATION shorter than 21 octets is Bad Message Length.
            guard length >= NotificationMessage.minimumLength else {
                throw MessageHeaderError.badMessageLength(length, "NOTIFICATION length \(length) below 21")
            }
            return .notification(try NotificationMessage(from: &body, context: context))
        case .keepalive:
            try decodeKeepalive(frame)
            return .keepalive
        case .routeRefresh:
            // RFC 7313 §5: a ROUTE-REFRESH whose length excluding the header is not 4 is a ROUTE-REFRESH
            // Message Error / Invalid Message Length carrying the complete message.
            guard length == RouteRefreshMessage.length else {
                throw RouteRefreshMessage.invalidLength(frame)
            }
            return .routeRefresh(try RouteRefreshMessage(from: &body, context: context))
        default:
            // RFC 4271 §6.1: "If the Type field of the message header is not recognized, then the Error
            // Subcode MUST be set to Bad Message Type. The Data field MUST contain the erroneous Type field."
            throw MessageHeaderError.badMessageType(frame.type)
        }
    }

    /// Writes the whole message: marker, back-patched Length, Type, body.
    ///
    /// The caller keeps the message within `context.maxMessageSize` (`UpdateMessage.pack` does for UPDATEs).
    public func write(to buffer: inout ByteBuffer, context: WireContext) {
        BGPFrame.write(type: type, to: &buffer) { body in
            switch self {
            case .open(let open): open.write(to: &body, context: context)
            case .update(let update): update.write(body: &body, context: context)
            case .notification(let notification): notification.write(to: &body, context: context)
            case .keepalive: break
            case .routeRefresh(let refresh): refresh.write(to: &body, context: context)
            }
        }
    }

    /// The whole message as a new buffer.
    public func encoded(context: WireContext) -> ByteBuffer {
        var buffer = ByteBuffer()
        write(to: &buffer, context: context)
        return buffer
    }
}
