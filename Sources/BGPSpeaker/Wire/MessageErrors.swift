/// Constructors for the errors the message codecs raise (RFC 4271 §6.1, §6.2, RFC 7313 §5), so every
/// throw site names the NOTIFICATION it maps to. Every one of them resets the session.

/// Message Header Error (RFC 4271 §6.1).
enum MessageHeaderError {
    /// RFC 4271 §6.1: the marker is not all ones.
    static func connectionNotSynchronized() -> BGPError {
        BGPError(
            code: .messageHeaderError, subcode: NotificationSubcode.Header.connectionNotSynchronized,
            reason: "message header marker is not all ones")
    }

    /// RFC 4271 §6.1: "the Data field MUST contain the erroneous Length field."
    static func badMessageLength(_ length: Int, _ reason: String) -> BGPError {
        let field = UInt16(clamping: length)
        return BGPError(
            code: .messageHeaderError, subcode: NotificationSubcode.Header.badMessageLength,
            data: [UInt8(field >> 8), UInt8(field & 0xFF)], reason: reason)
    }

    /// RFC 4271 §6.1: "the Data field MUST contain the erroneous Type field."
    static func badMessageType(_ type: MessageType) -> BGPError {
        BGPError(
            code: .messageHeaderError, subcode: NotificationSubcode.Header.badMessageType, data: [type.rawValue],
            reason: "unknown message type \(type.rawValue)")
    }
}

/// OPEN Message Error (RFC 4271 §6.2): "All errors detected while processing the OPEN message MUST be
/// indicated by sending the NOTIFICATION message with the Error Code OPEN Message Error."
enum OpenMessageError {
    /// Subcode 0 (Unspecific): RFC 4271 §6.2 "If one of the Optional Parameters in the OPEN message is
    /// recognized, but is malformed, then the Error Subcode MUST be set to 0 (Unspecific)."
    static func malformed(_ reason: String) -> BGPError {
        BGPError(code: .openMessageError, subcode: 0, reason: reason)
    }

    static func unsupportedVersion(_ received: UInt8) -> BGPError {
        // RFC 4271 §6.2: the Data field is a 2-octet unsigned integer, the largest locally supported
        // version number less than the version the peer bid, or else the smallest supported one.
        // We support exactly version 4, so it is 4 either way.
        BGPError(
            code: .openMessageError, subcode: NotificationSubcode.Open.unsupportedVersionNumber, data: [0, 4],
            reason: "unsupported BGP version \(received)")
    }

    static func badPeerAS(_ reason: String) -> BGPError {
        BGPError(code: .openMessageError, subcode: NotificationSubcode.Open.badPeerAS, reason: reason)
    }

    static func badBGPIdentifier(_ reason: String) -> BGPError {
        BGPError(code: .openMessageError, subcode: NotificationSubcode.Open.badBGPIdentifier, reason: reason)
    }

    static func unsupportedOptionalParameter(_ type: UInt8) -> BGPError {
        BGPError(
            code: .openMessageError, subcode: NotificationSubcode.Open.unsupportedOptionalParameter,
            reason: "unsupported optional parameter type \(type)")
    }

    static func unacceptableHoldTime(_ holdTime: UInt16) -> BGPError {
        BGPError(
            code: .openMessageError, subcode: NotificationSubcode.Open.unacceptableHoldTime,
            reason: "unacceptable hold time \(holdTime)")
    }

    /// A capability whose value does not have the length or shape its RFC defines. RFC 5492 names no
    /// subcode for this; the Capabilities parameter is recognised but malformed, so RFC 4271 §6.2
    /// subcode 0 (Unspecific) applies.
    static func malformedCapability(_ code: CapabilityCode, _ reason: String) -> BGPError {
        BGPError(code: .openMessageError, subcode: 0, reason: "capability \(code.rawValue): \(reason)")
    }
}
