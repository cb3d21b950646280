/// Decode and protocol errors that know their consequence (STYLE "Errors carry their consequence"): the NOTIFICATION they map to
/// (RFC 4271 §6) and the RFC 7606 action the session takes.

/// NOTIFICATION error code (RFC 4271 §4.5, IANA "BGP Error Codes").
public struct NotificationCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let messageHeaderError = Self(rawValue: 1)
    public static let openMessageError = Self(rawValue: 2)
    public static let updateMessageError = Self(rawValue: 3)
    public static let holdTimerExpired = Self(rawValue: 4)
    public static let fsmError = Self(rawValue: 5)
    public static let cease = Self(rawValue: 6)
    public static let routeRefreshMessageError = Self(rawValue: 7)
    /// RFC 9687 §3.
    public static let sendHoldTimerExpired = Self(rawValue: 8)
    public var description: String {
        switch self {
        case .messageHeaderError: "Message Header Error"
        case .openMessageError: "OPEN Message Error"
        case .updateMessageError: "UPDATE Message Error"
        case .holdTimerExpired: "Hold Timer Expired"
        case .fsmError: "Finite State Machine Error"
        case .cease: "Cease"
        case .routeRefreshMessageError: "ROUTE-REFRESH Message Error"
        case .sendHoldTimerExpired: "Send Hold Timer Expired"
        default: "error-code-\(rawValue)"
        }
    }
}

/// NOTIFICATION error subcodes (IANA), grouped by error code.
public enum NotificationSubcode {
    /// Message Header Error subcodes (RFC 4271 §6.1).
    public enum Header {
        public static let connectionNotSynchronized: UInt8 = 1
        public static let badMessageLength: UInt8 = 2
        public static let badMessageType: UInt8 = 3
    }
    /// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492, RFC 9072).
    public enum Open {
        public static let unsupportedVersionNumber: UInt8 = 1
        public static let badPeerAS: UInt8 = 2
        public static let badBGPIdentifier: UInt8 = 3
        public static let unsupportedOptionalParameter: UInt8 = 4
        public static let unacceptableHoldTime: UInt8 = 6
        public static let unsupportedCapability: UInt8 = 7
    }
    /// UPDATE Message Error subcodes (RFC 4271 §6.3).
    public enum Update {
        public static let malformedAttributeList: UInt8 = 1
        public static let unrecognizedWellKnownAttribute: UInt8 = 2
        public static let missingWellKnownAttribute: UInt8 = 3
        public static let attributeFlagsError: UInt8 = 4
        public static let attributeLengthError: UInt8 = 5
        public static let invalidOriginAttribute: UInt8 = 6
        public static let invalidNextHopAttribute: UInt8 = 8
        public static let optionalAttributeError: UInt8 = 9
        public static let invalidNetworkField: UInt8 = 10
        public static let malformedASPath: UInt8 = 11
    }
    /// Finite State Machine Error subcodes (RFC 6608).
    public enum FSM {
        public static let unspecified: UInt8 = 0
        public static let unexpectedMessageInOpenSent: UInt8 = 1
        public static let unexpectedMessageInOpenConfirm: UInt8 = 2
        public static let unexpectedMessageInEstablished: UInt8 = 3
    }
    /// Cease subcodes (RFC 4486, RFC 8203, RFC 8538, RFC 9384).
    public enum Cease {
        public static let maximumPrefixesReached: UInt8 = 1
        public static let administrativeShutdown: UInt8 = 2
        public static let peerDeconfigured: UInt8 = 3
        public static let administrativeReset: UInt8 = 4
        public static let connectionRejected: UInt8 = 5
        public static let otherConfigurationChange: UInt8 = 6
        public static let connectionCollisionResolution: UInt8 = 7
        public static let outOfResources: UInt8 = 8
        public static let hardReset: UInt8 = 9
        public static let bfdDown: UInt8 = 10
    }
    /// ROUTE-REFRESH Message Error subcodes (RFC 7313).
    public enum RouteRefresh {
        public static let invalidMessageLength: UInt8 = 1
    }
}

/// A BGP protocol error: what went wrong, the NOTIFICATION it maps to, and what the session does.
public struct BGPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// RFC 7606 §2 error-handling approaches, ordered from mildest to harshest so `max` picks the
    /// one to apply when one UPDATE has several errors (RFC 7606 §3 (h)).
    public enum Action: Int, Sendable, Hashable, Comparable {
        /// Drop the malformed attribute and process the rest of the UPDATE (RFC 7606 §2).
        case attributeDiscard = 0
        /// Treat every NLRI in the UPDATE (including MP_REACH_NLRI) as withdrawn (RFC 7606 §2).
        case treatAsWithdraw = 1
        /// Disable the AFI/SAFI (RFC 4760 §7); we reset the session instead, as RFC 7606 §2 allows.
        case afiSafiDisable = 2
        /// Send NOTIFICATION and close the session (RFC 4271 §6).
        case sessionReset = 3
        public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
    }

    public var code: NotificationCode
    public var subcode: UInt8
    /// The NOTIFICATION Data field the RFC requires for this error.
    public var data: [UInt8]
    public var action: Action
    /// A short human reason for logs and the status API.
    public var reason: String

    public init(
        code: NotificationCode, subcode: UInt8, data: [UInt8] = [], action: Action = .sessionReset,
        reason: String
    ) {
        self.code = code
        self.subcode = subcode
        self.data = data
        self.action = action
        self.reason = reason
    }

    public var description: String {
        "\(reason) (\(code) subcode \(subcode), \(action))"
    }
}
