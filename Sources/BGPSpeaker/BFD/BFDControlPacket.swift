import NIOCore

// BFD Control packet (RFC 5880 §4.1), the mandatory section only: this speaker runs BFD without
// authentication, so a packet with the A bit set is refused (RFC 5880 §6.8.6).
//
// ```
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       My Discriminator                        |
// |                      Your Discriminator                       |
// |                    Desired Min TX Interval                    |
// |                   Required Min RX Interval                    |
// |                 Required Min Echo RX Interval                 |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ```

/// The session states of RFC 5880 §4.1 (Sta field), with the names the RFC and the status API use.
public enum BFDState: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case adminDown = 0
    case down = 1
    case initializing = 2
    case up = 3

    public var description: String {
        switch self {
        case .adminDown: "AdminDown"
        case .down: "Down"
        case .initializing: "Init"
        case .up: "Up"
        }
    }
}

/// Diagnostic codes (RFC 5880 §4.1): why the local system last left Up.
public enum BFDDiagnostic: UInt8, Sendable, Hashable, CustomStringConvertible {
    case none = 0
    case controlDetectionTimeExpired = 1
    case echoFunctionFailed = 2
    case neighborSignaledSessionDown = 3
    case forwardingPlaneReset = 4
    case pathDown = 5
    case concatenatedPathDown = 6
    case administrativelyDown = 7
    case reverseConcatenatedPathDown = 8

    public var description: String {
        switch self {
        case .none: "no diagnostic"
        case .controlDetectionTimeExpired: "control detection time expired"
        case .echoFunctionFailed: "echo function failed"
        case .neighborSignaledSessionDown: "neighbor signaled session down"
        case .forwardingPlaneReset: "forwarding plane reset"
        case .pathDown: "path down"
        case .concatenatedPathDown: "concatenated path down"
        case .administrativelyDown: "administratively down"
        case .reverseConcatenatedPathDown: "reverse concatenated path down"
        }
    }
}

/// One BFD Control packet. Intervals are in microseconds, as on the wire.
public struct BFDControlPacket: Sendable, Hashable {
    /// RFC 5880 §4.1: "This document defines protocol version 1."
    public static let version: UInt8 = 1
    /// The length of a packet without an Authentication Section.
    public static let length = 24

    /// Diag: why the sender last left Up. Unknown codes are kept as received (the field is informative).
    public var diagnostic: UInt8
    public var state: BFDState
    /// P: the sender asks for verification of a parameter change (a Poll Sequence).
    public var poll: Bool
    /// F: the answer to a Poll.
    public var final: Bool
    /// C: the sender's BFD does not share fate with its control plane. We run in the control plane: 0.
    public var controlPlaneIndependent: Bool
    /// D: the sender wishes to run Demand mode.
    public var demand: Bool
    public var detectMultiplier: UInt8
    public var myDiscriminator: UInt32
    public var yourDiscriminator: UInt32
    public var desiredMinTxInterval: UInt32
    public var requiredMinRxInterval: UInt32
    public var requiredMinEchoRxInterval: UInt32

    public init(
        diagnostic: BFDDiagnostic = .none, state: BFDState, poll: Bool = false, final: Bool = false,
        controlPlaneIndependent: Bool = false, demand: Bool = false, detectMultiplier: UInt8,
        myDiscriminator: UInt32, yourDiscriminator: UInt32, desiredMinTxInterval: UInt32,
        requiredMinRxInterval: UInt32, requiredMinEchoRxInterval: UInt32 = 0
    ) {
        self.diagnostic = diagnostic.rawValue
        self.state = state
        self.poll = poll
        self.final = final
        self.controlPlaneIndependent = controlPlaneIndependent
        self.demand = demand
        self.detectMultiplier = detectMultiplier
        self.myDiscriminator = myDiscriminator
        self.yourDiscriminator = yourDiscriminator
        self.desiredMinTxInterval = desiredMinTxInterval
        self.requiredMinRxInterval = requiredMinRxInterval
        self.requiredMinEchoRxInterval = requiredMinEchoRxInterval
    }

    /// Decodes one datagram and applies the checks of RFC 5880 §6.8.6 that need no session: every
    /// refusal names the rule, for the log. The discriminator lookup is the receiver's.
    public init(datagram buffer: ByteBuffer) throws(BFDPacketError) {
        var buffer = buffer
        let received = buffer.readableBytes
        guard received >= Self.length, let first = buffer.readInteger(as: UInt8.self),
            let flags = buffer.readInteger(as: UInt8.self), let mult = buffer.readInteger(as: UInt8.self),
            let length = buffer.readInteger(as: UInt8.self), let mine = buffer.readInteger(as: UInt32.self),
            let yours = buffer.readInteger(as: UInt32.self), let tx = buffer.readInteger(as: UInt32.self),
            let rx = buffer.readInteger(as: UInt32.self), let echo = buffer.readInteger(as: UInt32.self)
        else {
            throw BFDPacketError("datagram of \(received) octets is shorter than a Control packet (24)")
        }
        // "If the version number is not correct (1), the packet MUST be discarded."
        guard first >> 5 == Self.version else { throw BFDPacketError("version \(first >> 5), not 1") }
        let authenticated = flags & 0x04 != 0
        // "If the Length field is less than the minimum correct value (24 if the A bit is clear, or 26
        // if the A bit is set), the packet MUST be discarded."
        guard Int(length) >= (authenticated ? 26 : 24) else {
            throw BFDPacketError("Length field \(length) below the minimum")
        }
        // "If the Length field is greater than the payload of the encapsulating protocol, the packet
        // MUST be discarded."
        guard Int(length) <= received else {
            throw BFDPacketError("Length field \(length) exceeds the \(received) octets received")
        }
        // "If the Detect Mult field is zero, the packet MUST be discarded."
        guard mult != 0 else { throw BFDPacketError("Detect Mult is zero") }
        // "If the Multipoint (M) bit is nonzero, the packet MUST be discarded."
        guard flags & 0x01 == 0 else { throw BFDPacketError("Multipoint bit set") }
        // "If the My Discriminator field is zero, the packet MUST be discarded."
        guard mine != 0 else { throw BFDPacketError("My Discriminator is zero") }
        let state = BFDState(rawValue: flags >> 6)!
        // "If the Your Discriminator field is zero and the State field is not Down or AdminDown, the
        // packet MUST be discarded."
        guard yours != 0 || state == .down || state == .adminDown else {
            throw BFDPacketError("Your Discriminator is zero in state \(state)")
        }
        // "If the A bit is set and no authentication is in use (bfd.AuthType is zero), the packet MUST
        // be discarded."
        guard !authenticated else {
            throw BFDPacketError("Authentication bit set, but no authentication is configured")
        }
        let poll = flags & 0x20 != 0
        let final = flags & 0x10 != 0
        // RFC 5880 §4.1: "A system MUST NOT set both the Poll and Final bits"; a packet that does is
        // not one we can answer consistently.
        guard !(poll && final) else { throw BFDPacketError("both Poll and Final bits set") }
        self.diagnostic = first & 0x1F
        self.state = state
        self.poll = poll
        self.final = final
        self.controlPlaneIndependent = flags & 0x08 != 0
        self.demand = flags & 0x02 != 0
        self.detectMultiplier = mult
        self.myDiscriminator = mine
        self.yourDiscriminator = yours
        self.desiredMinTxInterval = tx
        self.requiredMinRxInterval = rx
        self.requiredMinEchoRxInterval = echo
    }

    /// Writes the 24-octet packet.
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.version << 5 | (diagnostic & 0x1F))
        var flags = state.rawValue << 6
        if poll { flags |= 0x20 }
        if final { flags |= 0x10 }
        if controlPlaneIndependent { flags |= 0x08 }
        if demand { flags |= 0x02 }
        buffer.writeInteger(flags)
        buffer.writeInteger(detectMultiplier)
        buffer.writeInteger(UInt8(Self.length))
        buffer.writeInteger(myDiscriminator)
        buffer.writeInteger(yourDiscriminator)
        buffer.writeInteger(desiredMinTxInterval)
        buffer.writeInteger(requiredMinRxInterval)
        buffer.writeInteger(requiredMinEchoRxInterval)
    }
}

/// A received datagram that is not a usable BFD Control packet, with the RFC 5880 §6.8.6 rule it broke.
public struct BFDPacketError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
