/// UPDATE message (RFC 4271 §4.3).
///
/// ```
/// +-----------------------------------------------------+
/// |   Withdrawn Routes Length (2 octets)                |
/// +-----------------------------------------------------+
/// |   Withdrawn Routes (variable)                       |
/// +-----------------------------------------------------+
/// |   Total Path Attribute Length (2 octets)            |
/// +-----------------------------------------------------+
/// |   Path Attributes (variable)                        |
/// +-----------------------------------------------------+
/// |   Network Layer Reachability Information (variable) |
/// +-----------------------------------------------------+
/// ```
/// IPv6 reachability travels in `attributes.mpReach` / `attributes.mpUnreach` (RFC 4760).
public struct UpdateMessage: Sendable, Hashable {
    public var withdrawnRoutes: [IPv4Prefix]
    public var attributes: PathAttributes
    public var nlri: [IPv4Prefix]
    public init(
        withdrawnRoutes: [IPv4Prefix] = [], attributes: PathAttributes = PathAttributes(), nlri: [IPv4Prefix] = []
    ) {
        self.withdrawnRoutes = withdrawnRoutes
        self.attributes = attributes
        self.nlri = nlri
    }
}

/// The result of decoding one UPDATE under RFC 7606: the message to apply plus the errors that did
/// not reset the session. When `treatAsWithdraw` is set, `update` already has every announced prefix
/// (NLRI and MP_REACH_NLRI) moved to the withdrawn side, so callers simply apply it.
public struct DecodedUpdate: Sendable, Hashable {
    public var update: UpdateMessage
    public var treatAsWithdraw: Bool
    /// Errors handled by attribute discard or treat-as-withdraw, for logs and counters.
    public var errors: [BGPError]
    public init(update: UpdateMessage, treatAsWithdraw: Bool = false, errors: [BGPError] = []) {
        self.update = update
        self.treatAsWithdraw = treatAsWithdraw
        self.errors = errors
    }
}
