/// What the two speakers negotiated, carried into every encode and decode (STYLE "Wire types are value types").
public struct WireContext: Sendable, Hashable {
    /// RFC 6793: both sides advertised the 4-octet AS capability, so AS_PATH and AGGREGATOR carry 4-octet ASNs.
    public var fourOctetAS: Bool
    /// RFC 8654: both sides advertised extended messages, so messages other than OPEN and KEEPALIVE
    /// may be up to 65535 octets.
    public var extendedMessages: Bool
    /// The session is iBGP (peer AS == local AS); decides LOCAL_PREF handling (RFC 4271 §5.1.5,
    /// RFC 7606 §7.5).
    public var internalPeer: Bool
    /// Address families both sides negotiated (RFC 4760). NLRI for others is an error per RFC 7606 §7.11.
    public var families: Set<AddressFamily>

    public init(
        fourOctetAS: Bool = true, extendedMessages: Bool = false, internalPeer: Bool = false,
        families: Set<AddressFamily> = [.ipv4Unicast, .ipv6Unicast]
    ) {
        self.fourOctetAS = fourOctetAS
        self.extendedMessages = extendedMessages
        self.internalPeer = internalPeer
        self.families = families
    }

    /// The context used before OPEN has been exchanged (RFC 4271 defaults).
    public static let preOpen = WireContext(fourOctetAS: false, extendedMessages: false, families: [.ipv4Unicast])

    /// RFC 4271 §4.1: 4096 octets; RFC 8654: 65535 once extended messages are negotiated.
    public var maxMessageSize: Int { extendedMessages ? 65535 : 4096 }
}
