/// The path attributes of one UPDATE (RFC 4271 §5 and extensions), decoded into typed fields.
///
/// Two routes with equal `PathAttributes` (ignoring `mpReach`/`mpUnreach` NLRI) share one interned
/// attribute set in the RIB, so this type is `Hashable` and holds no per-prefix data except the MP NLRI.
public struct PathAttributes: Sendable, Hashable {
    /// ORIGIN (type 1).
    public var origin: Origin?
    /// AS_PATH (type 2), already reconciled with AS4_PATH (RFC 6793 §4.2.3) and holding 4-octet ASNs.
    public var asPath: ASPath?
    /// NEXT_HOP (type 3).
    public var nextHop: IPv4Address?
    /// MULTI_EXIT_DISC (type 4).
    public var multiExitDisc: UInt32?
    /// LOCAL_PREF (type 5).
    public var localPref: UInt32?
    /// ATOMIC_AGGREGATE (type 6).
    public var atomicAggregate: Bool
    /// AGGREGATOR (type 7), with a 4-octet ASN (reconciled with AS4_AGGREGATOR).
    public var aggregator: Aggregator?
    /// COMMUNITIES (type 8, RFC 1997).
    public var communities: [Community]
    /// EXTENDED_COMMUNITIES (type 16, RFC 4360).
    public var extendedCommunities: [ExtendedCommunity]
    /// LARGE_COMMUNITY (type 32, RFC 8092).
    public var largeCommunities: [LargeCommunity]
    /// MP_REACH_NLRI (type 14, RFC 4760).
    public var mpReach: MPReach?
    /// MP_UNREACH_NLRI (type 15, RFC 4760).
    public var mpUnreach: MPUnreach?
    /// Attributes we do not interpret (unknown optional transitive / non-transitive), kept as received.
    /// On re-advertisement, transitive ones are passed on with the Partial bit set (RFC 4271 §5).
    public var unknown: [RawAttribute]

    public init(
        origin: Origin? = nil, asPath: ASPath? = nil, nextHop: IPv4Address? = nil, multiExitDisc: UInt32? = nil,
        localPref: UInt32? = nil, atomicAggregate: Bool = false, aggregator: Aggregator? = nil,
        communities: [Community] = [], extendedCommunities: [ExtendedCommunity] = [],
        largeCommunities: [LargeCommunity] = [], mpReach: MPReach? = nil, mpUnreach: MPUnreach? = nil,
        unknown: [RawAttribute] = []
    ) {
        self.origin = origin
        self.asPath = asPath
        self.nextHop = nextHop
        self.multiExitDisc = multiExitDisc
        self.localPref = localPref
        self.atomicAggregate = atomicAggregate
        self.aggregator = aggregator
        self.communities = communities
        self.extendedCommunities = extendedCommunities
        self.largeCommunities = largeCommunities
        self.mpReach = mpReach
        self.mpUnreach = mpUnreach
        self.unknown = unknown
    }
}

/// Path attribute type code (IANA "BGP Path Attributes").
public struct AttributeType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let origin = Self(rawValue: 1)
    public static let asPath = Self(rawValue: 2)
    public static let nextHop = Self(rawValue: 3)
    public static let multiExitDisc = Self(rawValue: 4)
    public static let localPref = Self(rawValue: 5)
    public static let atomicAggregate = Self(rawValue: 6)
    public static let aggregator = Self(rawValue: 7)
    public static let communities = Self(rawValue: 8)
    public static let mpReachNLRI = Self(rawValue: 14)
    public static let mpUnreachNLRI = Self(rawValue: 15)
    public static let extendedCommunities = Self(rawValue: 16)
    public static let as4Path = Self(rawValue: 17)
    public static let as4Aggregator = Self(rawValue: 18)
    public static let largeCommunity = Self(rawValue: 32)
    public var description: String { "attribute-\(rawValue)" }
}

/// Attribute flags octet (RFC 4271 §4.3).
public struct AttributeFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let optional = Self(rawValue: 0x80)
    public static let transitive = Self(rawValue: 0x40)
    public static let partial = Self(rawValue: 0x20)
    public static let extendedLength = Self(rawValue: 0x10)
}

/// An attribute kept as received.
public struct RawAttribute: Sendable, Hashable {
    public var flags: AttributeFlags
    public var type: AttributeType
    public var value: [UInt8]
    public init(flags: AttributeFlags, type: AttributeType, value: [UInt8]) {
        self.flags = flags
        self.type = type
        self.value = value
    }
}

/// ORIGIN value (RFC 4271 §5.1.1).
public struct Origin: RawRepresentable, Sendable, Hashable, Comparable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let igp = Self(rawValue: 0)
    public static let egp = Self(rawValue: 1)
    public static let incomplete = Self(rawValue: 2)
    public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
}

/// AS_PATH (RFC 4271 §4.3, RFC 5065 confederation segments), holding 4-octet ASNs.
public struct ASPath: Sendable, Hashable {
    public struct SegmentType: RawRepresentable, Sendable, Hashable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let asSet = Self(rawValue: 1)
        public static let asSequence = Self(rawValue: 2)
        public static let confedSequence = Self(rawValue: 3)
        public static let confedSet = Self(rawValue: 4)
    }
    public struct Segment: Sendable, Hashable {
        public var type: SegmentType
        public var asns: [UInt32]
        public init(type: SegmentType, asns: [UInt32]) {
            self.type = type
            self.asns = asns
        }
    }
    public var segments: [Segment]
    public init(segments: [Segment] = []) { self.segments = segments }

    /// RFC 4271 §9.1.2.2 (a): an AS_SET counts 1, each AS in a sequence counts 1; confederation
    /// segments count 0 (RFC 5065 §5.3).
    public var pathLength: Int {
        segments.reduce(0) { n, s in
            switch s.type {
            case .asSequence: n + s.asns.count
            case .asSet: n + 1
            default: n
            }
        }
    }
    /// The neighbouring AS: the first AS of the first AS_SEQUENCE segment, if the path starts with one.
    public var firstAS: UInt32? {
        guard let s = segments.first, s.type == .asSequence else { return nil }
        return s.asns.first
    }
}

/// AGGREGATOR (RFC 4271 §5.1.7).
public struct Aggregator: Sendable, Hashable {
    public var asn: UInt32
    public var address: IPv4Address
    public init(asn: UInt32, address: IPv4Address) {
        self.asn = asn
        self.address = address
    }
}

/// A standard community (RFC 1997): high 16 bits ASN, low 16 bits value.
public struct Community: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(asn: UInt16, value: UInt16) { self.rawValue = UInt32(asn) << 16 | UInt32(value) }
    public static let noExport = Self(rawValue: 0xFFFF_FF01)
    public static let noAdvertise = Self(rawValue: 0xFFFF_FF02)
    public static let noExportSubconfed = Self(rawValue: 0xFFFF_FF03)
    /// GRACEFUL_SHUTDOWN (RFC 8326 §3): the path is about to go away; receivers lower its preference.
    public static let gracefulShutdown = Self(rawValue: 0xFFFF_0000)
    public var description: String { "\(rawValue >> 16):\(rawValue & 0xFFFF)" }
}

/// An extended community (RFC 4360): 8 octets, first one or two are type/subtype.
public struct ExtendedCommunity: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
}

/// A large community (RFC 8092): three 4-octet values.
public struct LargeCommunity: Sendable, Hashable, CustomStringConvertible {
    public var globalAdministrator: UInt32
    public var localData1: UInt32
    public var localData2: UInt32
    public init(_ global: UInt32, _ local1: UInt32, _ local2: UInt32) {
        self.globalAdministrator = global
        self.localData1 = local1
        self.localData2 = local2
    }
    public var description: String { "\(globalAdministrator):\(localData1):\(localData2)" }
}

/// MP_REACH_NLRI (RFC 4760 §3). For IPv6 the next hop is a global address and optionally a
/// link-local one (RFC 2545 §3).
public struct MPReach: Sendable, Hashable {
    public enum NextHop: Sendable, Hashable {
        case ipv4(IPv4Address)
        case ipv6(global: IPv6Address, linkLocal: IPv6Address?)
        /// A next hop of a length we do not interpret, kept verbatim.
        case raw([UInt8])
    }
    public var family: AddressFamily
    public var nextHop: NextHop
    public var nlri: [IPPrefix]
    public init(family: AddressFamily, nextHop: NextHop, nlri: [IPPrefix]) {
        self.family = family
        self.nextHop = nextHop
        self.nlri = nlri
    }
}

/// MP_UNREACH_NLRI (RFC 4760 §4). An empty `withdrawn` list for a family is its End-of-RIB (RFC 4724 §2).
public struct MPUnreach: Sendable, Hashable {
    public var family: AddressFamily
    public var withdrawn: [IPPrefix]
    public init(family: AddressFamily, withdrawn: [IPPrefix]) {
        self.family = family
        self.withdrawn = withdrawn
    }
}
