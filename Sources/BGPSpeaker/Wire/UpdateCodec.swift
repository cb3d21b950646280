import NIOCore

/// The UPDATE body codec (RFC 4271 §4.3, RFC 4760, RFC 6793, RFC 7606) and End-of-RIB (RFC 4724 §2).
///
/// Decoding reads the Withdrawn Routes and NLRI fields straight into `[IPv4Prefix]`, then the path
/// attributes through `UpdateDecoder`, which applies the RFC 7606 error handling. Encoding writes
/// placeholders for the two length fields and back-patches them.
///
/// Files:
/// - `UpdateCodec.swift` (this file): the public entry points `decode`, `write`, `pack`, End-of-RIB.
/// - `UpdateDecoder.swift`: the attribute-list walk, duplicate/flags/missing-attribute rules, the
///   RFC 7606 action table (`AttributeSpec`), RFC 6793 reconciliation and treat-as-withdraw.
/// - `UpdatePacking.swift`: `UpdatePacker`, filling UPDATEs to `WireContext.maxMessageSize`.
/// - `NLRI.swift`: prefix encoding shared by the NLRI fields and the MP attributes (the hot path).
/// - `Attributes/`: one file per attribute (value decode with its RFC 7606 malformation rules, and
///   encode), `AttributeCoding.swift` for the flags/type/length framing, `PathAttributesCodec.swift`
///   for the attribute order on the wire, `UnknownAttribute.swift` for unrecognized attributes.
extension UpdateMessage {
    /// Decodes an UPDATE body (after the 19-octet header) under RFC 4271 §6.3 and RFC 7606.
    ///
    /// Errors handled by "attribute discard" or "treat-as-withdraw" come back in
    /// `DecodedUpdate.errors`; with treat-as-withdraw, `update` holds only withdrawals. Errors that
    /// need "AFI/SAFI disable" or "session reset" are thrown with the NOTIFICATION code, subcode and
    /// data that RFC 4271 §6.3 / RFC 4760 §7 ask for. The whole body is consumed.
    public static func decode(body: inout ByteBuffer, context: WireContext) throws(BGPError) -> DecodedUpdate {
        let total = body.readableBytes
        // RFC 7606 §3 (b) (unchanged from RFC 4271 §6.3): "If the Withdrawn Routes Length or Total
        // Attribute Length is too large (i.e., if Withdrawn Routes Length + Total Attribute Length + 23
        // exceeds the message Length), then the Error Subcode MUST be set to Malformed Attribute List."
        guard let withdrawnLength = body.readInteger(as: UInt16.self), Int(withdrawnLength) + 4 <= total else {
            throw malformedAttributeList("Withdrawn Routes Length exceeds the message (\(total) octets of body)")
        }
        let withdrawnField = body.readSlice(length: Int(withdrawnLength))!
        let attributesLength = Int(body.readInteger(as: UInt16.self)!)
        guard attributesLength <= body.readableBytes else {
            throw malformedAttributeList(
                "Withdrawn Routes Length \(withdrawnLength) + Total Path Attribute Length \(attributesLength) "
                    + "+ 23 exceeds the message length \(total + 19)")
        }
        let attributesField = body.readSlice(length: attributesLength)!
        let nlriField = body.readSlice(length: body.readableBytes)!

        // RFC 7606 §3 (i): "The Withdrawn Routes field MUST be checked for syntactic correctness in
        // the same manner as the NLRI field." RFC 7606 §5.3: an incorrect NLRI or Withdrawn Routes
        // field cannot be parsed, so treat-as-withdraw is impossible (§3 (j)) and the session is
        // reset; RFC 4271 §6.3: "If the field is syntactically incorrect, then the Error Subcode MUST
        // be set to Invalid Network Field."
        let withdrawn: [IPv4Prefix]
        let nlri: [IPv4Prefix]
        do throws(NLRI.Defect) {
            withdrawn = try NLRI.decodeIPv4(withdrawnField)
        } catch {
            throw invalidNetworkField("Withdrawn Routes: \(error.reason)")
        }
        do throws(NLRI.Defect) {
            nlri = try NLRI.decodeIPv4(nlriField)
        } catch {
            throw invalidNetworkField("NLRI: \(error.reason)")
        }

        var decoder = UpdateDecoder(context: context)
        try decoder.decodeAttributes(attributesField)
        return try decoder.finish(withdrawn: withdrawn, nlri: nlri)
    }

    private static func malformedAttributeList(_ reason: String) -> BGPError {
        BGPError(code: .updateMessageError, subcode: NotificationSubcode.Update.malformedAttributeList, reason: reason)
    }

    private static func invalidNetworkField(_ reason: String) -> BGPError {
        BGPError(code: .updateMessageError, subcode: NotificationSubcode.Update.invalidNetworkField, reason: reason)
    }

    /// Writes the UPDATE body (after the 19-octet header).
    ///
    /// Attributes are written as `PathAttributes.write(to:context:)` describes (MP attributes first,
    /// then by type code; Extended Length only for values over 255 octets). The caller keeps the
    /// message within `context.maxMessageSize`; `pack(withdrawn:announced:context:)` does that.
    public func write(body: inout ByteBuffer, context: WireContext) {
        let withdrawnStart = body.writerIndex
        body.writeInteger(UInt16(0))
        for prefix in withdrawnRoutes { NLRI.write(prefix, to: &body) }
        body.setInteger(UInt16(body.writerIndex - withdrawnStart - 2), at: withdrawnStart)

        let attributesStart = body.writerIndex
        body.writeInteger(UInt16(0))
        attributes.write(to: &body, context: context)
        body.setInteger(UInt16(body.writerIndex - attributesStart - 2), at: attributesStart)

        for prefix in nlri { NLRI.write(prefix, to: &body) }
    }

    /// Packs withdrawals and announcements into as few UPDATEs as fit `context.maxMessageSize`.
    ///
    /// IPv4 withdrawals go in the Withdrawn Routes field and IPv6 ones in MP_UNREACH_NLRI; each
    /// group's IPv4 prefixes go in the NLRI field with the group's `nextHop`, and its IPv6 prefixes
    /// in MP_REACH_NLRI built from the group's `mpReach` (next hop template). Withdrawals come first.
    /// Following RFC 7606 §5.1, a message never mixes withdrawals and announcements (see
    /// `UpdatePacker`).
    public static func pack(
        withdrawn: [IPPrefix], announced: [(attributes: PathAttributes, prefixes: [IPPrefix])], context: WireContext
    ) -> [UpdateMessage] {
        UpdatePacker(context: context).pack(withdrawn: withdrawn, announced: announced)
    }

    /// The family whose End-of-RIB marker this UPDATE is, if it is one (RFC 4724 §2): for IPv4
    /// unicast an UPDATE with nothing in it; for other families an UPDATE holding only an empty
    /// MP_UNREACH_NLRI for that family.
    public var endOfRIB: AddressFamily? {
        guard withdrawnRoutes.isEmpty, nlri.isEmpty else { return nil }
        if attributes == PathAttributes() { return .ipv4Unicast }
        guard let unreach = attributes.mpUnreach, unreach.withdrawn.isEmpty else { return nil }
        var rest = attributes
        rest.mpUnreach = nil
        return rest == PathAttributes() ? unreach.family : nil
    }

    /// The End-of-RIB marker for `family` (RFC 4724 §2).
    public static func endOfRIB(_ family: AddressFamily) -> UpdateMessage {
        if family == .ipv4Unicast { return UpdateMessage() }
        return UpdateMessage(attributes: PathAttributes(mpUnreach: MPUnreach(family: family, withdrawn: [])))
    }
}
