import NIOCore

// OPEN codec (RFC 4271 §4.2, §6.2) with the Capabilities optional parameter (RFC 5492 §4) and the
// extended optional parameters length (RFC 9072 §2).
//
// Body after the header, non-extended form:
// ```
// | Version (1) | My AS (2) | Hold Time (2) | BGP Identifier (4) | Opt Parm Len (1) | Optional Parameters |
//   each parameter: | Parm. Type (1) | Parm. Length (1) | Parameter Value (variable) |
// ```
// Extended form (RFC 9072 §2), recognised by a non-zero Opt Parm Len followed by type 255:
// ```
// |Non-Ext OP Len.=255|Non-Ext OP Type=255| Extended Opt. Parm. Length (2) | Optional Parameters |
//   each parameter: | Parm. Type (1) | Parm. Length (2) | Parameter Value (variable) |
// ```
extension OpenMessage {
    /// The shortest OPEN, header included (RFC 4271 §4.2).
    public static let minimumLength = 29
    /// The only BGP version we speak (RFC 4271 §4.2).
    public static let supportedVersion: UInt8 = 4
    /// Optional parameter type of Capabilities (RFC 5492 §4).
    public static let capabilitiesParameterType: UInt8 = 2
    /// RFC 9072 §2: the Non-Ext OP Type value that announces the extended format.
    static let extendedParametersMarker: UInt8 = 255

    /// Decodes an OPEN body (after the header) and checks it under RFC 4271 §6.2.
    ///
    /// Checks that need local configuration (Bad Peer AS against the configured AS, an identifier equal
    /// to ours on an iBGP session, hold time policy, Unsupported Capability) belong to the session.
    public init(from buffer: inout ByteBuffer, context: WireContext) throws(BGPError) {
        let messageLength = BGPFrame.headerLength + buffer.readableBytes
        guard let version = buffer.readInteger(as: UInt8.self) else {
            throw MessageHeaderError.badMessageLength(messageLength, "OPEN length \(messageLength) below 29")
        }
        // RFC 4271 §6.2: "If the version number in the Version field of the received OPEN message is not
        // supported, then the Error Subcode MUST be set to Unsupported Version Number."
        guard version == Self.supportedVersion else { throw OpenMessageError.unsupportedVersion(version) }
        guard let myAS = buffer.readInteger(as: UInt16.self), let holdTime = buffer.readInteger(as: UInt16.self),
            let identifier = buffer.readInteger(as: UInt32.self), let optParmLen = buffer.readInteger(as: UInt8.self)
        else {
            throw MessageHeaderError.badMessageLength(messageLength, "OPEN length \(messageLength) below 29")
        }
        // RFC 7607 §2: "If a BGP speaker receives zero as the peer AS in an OPEN message, it MUST abort
        // the connection and send a NOTIFICATION with Error Code 'OPEN Message Error' and subcode 'Bad
        // Peer AS'."
        guard myAS != 0 else { throw OpenMessageError.badPeerAS("peer AS 0 in My Autonomous System") }
        // RFC 4271 §6.2: "If the Hold Time field of the OPEN message is unacceptable, then the Error
        // Subcode MUST be set to Unacceptable Hold Time. An implementation MUST reject Hold Time values
        // of one or two seconds."
        guard holdTime == 0 || holdTime >= 3 else { throw OpenMessageError.unacceptableHoldTime(holdTime) }
        // RFC 6286 §2.1 makes the identifier "a 4-octet, unsigned, non-zero integer" (no longer a unicast
        // host address), and §2.2: "If the BGP Identifier field of the OPEN message is zero, ... then the Error Subcode
        // is set to 'Bad BGP Identifier'." (Equal to ours on an iBGP session is checked by the session.)
        guard identifier != 0 else { throw OpenMessageError.badBGPIdentifier("BGP Identifier is zero") }

        // RFC 9072 §2: "if the one-octet 'Optional Parameters Length' field ... is non-zero, a BGP
        // speaker MUST use the value of the octet following ... ('Non-Ext OP Type') to determine both the
        // encoding of the Optional Parameters length and the size of the 'Parameter Length' field of
        // individual Optional Parameters. If the value of the 'Non-Ext OP Type' field is 255, then the
        // encoding described above is used."
        let extended =
            optParmLen != 0
            && buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == Self.extendedParametersMarker
        let parametersLength: Int
        if extended {
            buffer.moveReaderIndex(forwardBy: 1)
            guard let length = buffer.readInteger(as: UInt16.self) else {
                throw OpenMessageError.malformed("truncated Extended Opt. Parm. Length")
            }
            parametersLength = Int(length)
        } else {
            parametersLength = Int(optParmLen)
        }
        // The optional parameters must fill the rest of the message exactly (RFC 4271 §4.2: Opt Parm Len
        // is "the total length of the Optional Parameters field in octets").
        guard buffer.readableBytes == parametersLength, var parameters = buffer.readSlice(length: parametersLength)
        else {
            throw OpenMessageError.malformed(
                "optional parameters length \(parametersLength) but \(buffer.readableBytes) octets follow")
        }

        var capabilities: [Capability] = []
        while parameters.readableBytes > 0 {
            guard let type = parameters.readInteger(as: UInt8.self),
                let length = extended
                    ? parameters.readInteger(as: UInt16.self).map(Int.init)
                    : parameters.readInteger(as: UInt8.self).map(Int.init),
                var value = parameters.readSlice(length: length)
            else { throw OpenMessageError.malformed("optional parameter overruns Opt Parm Len") }
            switch type {
            case Self.capabilitiesParameterType:
                // RFC 5492 §4: the parameter value is a list of <Capability Code, Capability Length,
                // Capability Value> triples.
                while value.readableBytes > 0 {
                    capabilities.append(try Capability(from: &value))
                }
            default:
                // RFC 4271 §6.2: "If one of the Optional Parameters in the OPEN message is not recognized,
                // then the Error Subcode MUST be set to Unsupported Optional Parameters."
                throw OpenMessageError.unsupportedOptionalParameter(type)
            }
        }
        self.init(
            version: version, myAutonomousSystem: myAS, holdTime: holdTime,
            bgpIdentifier: IPv4Address(rawValue: identifier), capabilities: capabilities)
        // RFC 7607 §2 (see above) for the AS carried in the 4-octet AS capability (RFC 6793).
        guard asn != 0 else { throw OpenMessageError.badPeerAS("peer AS 0 in the 4-octet AS capability") }
    }

    /// Writes the OPEN body (after the header).
    ///
    /// All capabilities go into one Capabilities parameter, followed by `otherParameters`. The RFC 9072
    /// extended format is used only when the optional parameters do not fit the 255 octets of the
    /// RFC 4271 form.
    public func write(to buffer: inout ByteBuffer, context: WireContext) {
        buffer.writeInteger(version)
        buffer.writeInteger(myAutonomousSystem)
        buffer.writeInteger(holdTime)
        buffer.writeInteger(bgpIdentifier.rawValue)

        var capabilityBytes = ByteBuffer()
        for capability in capabilities { capability.write(to: &capabilityBytes) }
        var parameters: [(type: UInt8, value: ByteBufferView)] = []
        if capabilityBytes.readableBytes > 0 {
            parameters.append((Self.capabilitiesParameterType, capabilityBytes.readableBytesView))
        }
        for parameter in otherParameters {
            parameters.append((parameter.type, ByteBuffer(bytes: parameter.value).readableBytesView))
        }
        let standardLength = parameters.reduce(0) { $0 + 2 + $1.value.count }
        // A first parameter of type 255 would read as the RFC 9072 marker, so it forces the extended form.
        let fitsStandard =
            standardLength <= 255 && parameters.allSatisfy { $0.value.count <= 255 }
            && parameters.first?.type != Self.extendedParametersMarker
        if fitsStandard {
            buffer.writeInteger(UInt8(standardLength))
            for parameter in parameters {
                buffer.writeInteger(parameter.type)
                buffer.writeInteger(UInt8(parameter.value.count))
                buffer.writeBytes(parameter.value)
            }
        } else {
            // RFC 9072 §2: "Non-Ext OP Len." and "Non-Ext OP Type" are both 255, then the 2-octet
            // Extended Opt. Parm. Length, and every parameter has a 2-octet Parm. Length.
            buffer.writeInteger(Self.extendedParametersMarker)
            buffer.writeInteger(Self.extendedParametersMarker)
            let lengthIndex = buffer.writerIndex
            buffer.writeInteger(UInt16(0))
            for parameter in parameters {
                buffer.writeInteger(parameter.type)
                buffer.writeInteger(UInt16(clamping: parameter.value.count))
                buffer.writeBytes(parameter.value)
            }
            buffer.setInteger(UInt16(clamping: buffer.writerIndex - lengthIndex - 2), at: lengthIndex)
        }
    }
}
