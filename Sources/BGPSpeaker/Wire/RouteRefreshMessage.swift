/// ROUTE-REFRESH message (RFC 2918 §3, RFC 7313 §3.2).
///
/// ```
///  0       7      15      23      31
/// +-------+-------+-------+-------+
/// |      AFI      | Subtype| SAFI |
/// +-------+-------+-------+-------+
/// ```
public struct RouteRefreshMessage: Sendable, Hashable {
    public var family: AddressFamily
    /// 0 = normal route refresh, 1 = BoRR, 2 = EoRR (RFC 7313); "Reserved" in RFC 2918.
    public var subtype: UInt8
    public init(family: AddressFamily, subtype: UInt8 = 0) {
        self.family = family
        self.subtype = subtype
    }
}
