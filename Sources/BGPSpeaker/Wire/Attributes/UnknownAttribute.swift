import NIOCore

/// Attributes this speaker does not interpret (RFC 4271 §5, §6.3), kept as `RawAttribute`.
///
/// - An unrecognized well-known attribute (Optional bit 0) resets the session with "Unrecognized
///   Well-known Attribute" (RFC 4271 §6.3; RFC 7606 leaves this unchanged).
/// - "Unrecognized non-transitive optional attributes MUST be quietly ignored and not passed along
///   to other BGP peers." (RFC 4271 §5) -- they are dropped at decode.
/// - "If a path with an unrecognized transitive optional attribute is accepted and passed to other BGP
///   peers, then the unrecognized transitive optional attribute of that path MUST be passed, along
///   with the path, to other BGP peers with the Partial bit in the Attribute Flags octet set to 1."
///   (RFC 4271 §5) -- kept, and written back with Partial set.
extension RawAttribute {
    /// Writes the attribute; a transitive optional one gets the Partial bit (RFC 4271 §5). The
    /// Extended Length bit follows the value's length, not the stored flags.
    func writeAttribute(to buffer: inout ByteBuffer) {
        var flags = self.flags.subtracting(.extendedLength)
        if flags.contains(.optional) && flags.contains(.transitive) { flags.insert(.partial) }
        buffer.writePathAttribute(flags: flags, type: type) { $0.writeBytes(self.value) }
    }
}
