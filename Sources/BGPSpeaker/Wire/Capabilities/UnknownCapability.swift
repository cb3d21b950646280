import NIOCore

// Capabilities we do not interpret (ADD-PATH, Long-Lived GR, FQDN, BGP Role, ...), kept verbatim.
// RFC 5492 §3: "If a BGP speaker receives from its peer a capability that it does not itself support or
// recognize, it MUST ignore that capability." Ignoring means no error; we keep the bytes for the status
// API and for round trips.
extension Capability {
    static func decodeUnknown(code: CapabilityCode, _ value: ByteBuffer) -> Capability {
        .unknown(code: code, value: Array(value.readableBytesView))
    }

    /// Writes the value verbatim; only the first 255 octets fit the 1-octet Capability Length.
    static func writeUnknown(_ value: [UInt8], to buffer: inout ByteBuffer) {
        buffer.writeBytes(value.prefix(255))
    }
}
