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
    public init(withdrawnRoutes: [IPv4Prefix] = [], attributes: PathAttributes = PathAttributes(), nlri: [IPv4Prefix] = []) {
        self.withdrawnRoutes = withdrawnRoutes
        self.attributes = attributes
        self.nlri = nlri
    }
}
