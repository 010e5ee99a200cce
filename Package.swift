// swift-tools-version:6.0
import PackageDescription

// Layering (see docs/architecture.md): the engine and the sans-I/O cores (SIP, Routing) import
// nothing of the models, the trace store or the CLI; only Telephony drives them in virtual time.
/// The simulation's hot path: dynamic exclusivity checks off in release builds only (debug builds
/// and the tests keep them, and caught a real conflict there), and cross-module optimization (the
/// engine's, SIP's and routing's small functions inlined into the models: 2.2 % fewer
/// instructions a failover call at `--trace calls`). See docs/performance.md.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "pbxsim",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pbxsim", targets: ["pbxsim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibEdit", path: "Sources/CLibEdit", providers: [.apt(["libedit-dev"])]),
        .systemLibrary(name: "CResolv", path: "Sources/CResolv"),
        .target(name: "SimCore", swiftSettings: hotPath),
        .target(name: "SIP", swiftSettings: hotPath),
        .target(name: "Routing", dependencies: ["SIP", "Trace"], swiftSettings: hotPath),
        .target(name: "Trace", swiftSettings: hotPath),
        .target(name: "Telephony", dependencies: ["SimCore", "SIP", "Routing", "Trace"], swiftSettings: hotPath),
        .target(name: "Scenario", dependencies: ["Telephony", "SimCore", "SIP", "Trace", "Routing", .product(name: "Yams", package: "Yams")]),
        .target(name: "Store", dependencies: ["Trace", "CSQLite"]),
        // Live mode: the card's cores on the wall clock over real sockets (C socket API, res_query).
        .target(name: "Live", dependencies: ["Scenario", "Telephony", "Routing", "SIP", "Trace", "SimCore", "CResolv"]),
        .target(name: "Export", dependencies: ["Store", "Trace", "SIP", "SimCore"]),
        .target(name: "PBXSimCLI", dependencies: [
            "Scenario", "Store", "Export", "Telephony", "Routing", "SIP", "Trace", "SimCore", "CLibEdit", "Live",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "pbxsim", dependencies: ["PBXSimCLI"]),
        .executableTarget(name: "pbxsim-bench", dependencies: ["Scenario", "Store", "Telephony", "Trace", "SimCore", "SIP", "CSQLite"], path: "Benchmarks/pbxsim-bench"),
        .testTarget(name: "SimCoreTests", dependencies: ["SimCore"]),
        .testTarget(name: "SIPTests", dependencies: ["SIP"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "SIP", "Trace"]),
        .testTarget(name: "ScenarioTests", dependencies: ["Scenario", "Telephony", "Routing", "SIP", "Trace", "SimCore"]),
        // Starting helper programs (tmux, SIPp, Kamailio, pbxsim) from tests: no inherited pipes.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "EndToEndTests", dependencies: ["Scenario", "Store", "Export", "SimCore", "Trace", "Telephony", "PBXSimCLI", "TestSupport"]),
        .testTarget(name: "LiveTests", dependencies: ["Live", "Scenario", "Trace", "SIP", "Routing", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
