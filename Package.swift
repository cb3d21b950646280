// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "starling",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "starling", targets: ["starling"]),
        .library(name: "BGPSpeaker", targets: ["BGPSpeaker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "BGPSpeaker",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: [
                // The UPDATE ingest path spends ~10% in dynamic exclusivity checks (class fields of the
                // RIB and speaker, ByteBuffer accessors inlined here); debug builds and tests keep them.
                .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
            ]
        ),
        .target(
            name: "StarlingModel",
            dependencies: []
        ),
        .target(
            name: "SE",
            dependencies: ["BGPSpeaker", "StarlingModel"]
        ),
        .target(
            name: "Controller",
            dependencies: ["StarlingModel"],
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "starling",
            dependencies: [
                "BGPSpeaker",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "Lab",
            dependencies: []
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Lab"]
        ),
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-route-3-dev"])]
        ),
        .target(
            name: "Netlink",
            dependencies: [
                "CNetlink",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"]
        ),
        .testTarget(
            name: "NetlinkTests",
            dependencies: ["Netlink"]
        ),
        .testTarget(
            name: "BGPSpeakerTests",
            dependencies: [
                "BGPSpeaker",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SETests",
            dependencies: ["SE", "BGPSpeaker", "StarlingModel"]
        ),
        .testTarget(
            name: "ControllerTests",
            dependencies: ["Controller", "StarlingModel"]
        ),
        .testTarget(
            name: "StarlingTests",
            dependencies: ["starling", "BGPSpeaker"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
