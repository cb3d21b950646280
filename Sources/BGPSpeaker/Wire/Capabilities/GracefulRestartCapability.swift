/// Graceful Restart capability value (RFC 4724 §3).
public struct GracefulRestartCapability: Sendable, Hashable {
    public struct Family: Sendable, Hashable {
        public var family: AddressFamily
        /// "Forwarding State" bit: forwarding state was preserved for this family.
        public var forwardingPreserved: Bool
        public init(family: AddressFamily, forwardingPreserved: Bool) {
            self.family = family
            self.forwardingPreserved = forwardingPreserved
        }
    }
    /// The Restart State flag (R): the sender has restarted.
    public static let restartState: UInt8 = 0x8
    /// The 4 flag bits (R = 0x8, N = 0x4 per RFC 8538).
    public var flags: UInt8
    /// Restart time in seconds (12 bits).
    public var restartTime: UInt16
    public var families: [Family]
    public init(flags: UInt8, restartTime: UInt16, families: [Family]) {
        self.flags = flags
        self.restartTime = restartTime
        self.families = families
    }
}
