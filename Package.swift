// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "kubetrail",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kubetrail", targets: ["kubetrail"]),
        .executable(name: "kubetrail-bench", targets: ["kubetrail-bench"]),
        .executable(name: "kubetrail-agent", targets: ["kubetrail-agent"]),
        .library(name: "KubetrailCore", targets: ["KubetrailCore"]),
        .library(name: "KubetrailTables", targets: ["KubetrailTables"]),
        .library(name: "KubetrailStore", targets: ["KubetrailStore"]),
        .library(name: "KubetrailImport", targets: ["KubetrailImport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLibpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "COpenSSL", providers: [.apt(["libssl-dev"])]),
        .target(name: "KubetrailCore", dependencies: ["CZlib"]),
        // libcurl for the CLI's `--server` commands, alert sinks and benchmarks; not the agent's.
        .target(name: "KubetrailCurl", dependencies: ["KubetrailCore", "CCurl"]),
        // The agent links Core and OpenSSL only: no SwiftNIO, no SQLite, no swift-crypto, no libcurl.
        .target(name: "KubetrailAgent", dependencies: ["KubetrailCore", "COpenSSL"]),
        .target(name: "KubetrailTables", dependencies: [
            "KubetrailCore",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "KubetrailStore", dependencies: [
            "KubetrailTables", "CLibpq",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        .target(name: "KubetrailImport", dependencies: ["KubetrailStore"]),
        // The Kubernetes API side: kubeconfig as client-go resolves it.
        .target(name: "KubetrailKube", dependencies: [
            "KubetrailCore", "CCurl",
            .product(name: "Yams", package: "Yams"),
        ]),
        // Kubernetes API data into the tables: what the aggregator's pollers and `collect` share.
        // A small Parquet writer (no Swift library exists): Thrift compact footer, dictionary
        // and PLAIN pages, statistics, zstd or gzip.
        .target(name: "KubetrailParquet", dependencies: ["KubetrailCore", "CZstd"]),
        // The tamper-evident audit trail: signed digests of the chain the store keeps, and the
        // verifier; the Ed25519 keys exports share.
        .target(name: "KubetrailIntegrity", dependencies: [
            "KubetrailStore",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "KubetrailExport", dependencies: [
            "KubetrailStore", "KubetrailParquet", "KubetrailIntegrity", "KubetrailCurl",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "KubetrailCollect", dependencies: ["KubetrailKube", "KubetrailStore", "KubetrailImport"]),
        // Detections over the audit table: Sigma rules read and compiled.
        .target(name: "KubetrailDetect", dependencies: ["KubetrailStore", .product(name: "Yams", package: "Yams")]),
        .target(name: "KubetrailAggregator", dependencies: [
            "KubetrailStore", "KubetrailCollect", "KubetrailIntegrity", "KubetrailExport", "KubetrailDetect", "KubetrailCurl",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .executableTarget(name: "kubetrail", dependencies: [
            "KubetrailImport", "KubetrailAggregator", "KubetrailKube", "KubetrailExport", "KubetrailParquet", "KubetrailIntegrity", "KubetrailDetect",
            "KubetrailCurl",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The node agent: Core and the agent library only (no SwiftNIO, no SQLite, no Foundation).
        // Swift runtime linked statically to keep its resident memory small; no swift-argument-parser,
        // which would bring Foundation along (the agent parses its flags itself).
        .executableTarget(name: "kubetrail-agent", dependencies: ["KubetrailAgent"], linkerSettings: [.unsafeFlags(["-static-stdlib"])]),
        .executableTarget(name: "kubetrail-bench", dependencies: [
            "KubetrailImport", "KubetrailAggregator", "KubetrailDetect", "KubetrailCurl",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "KubetrailCoreTests", dependencies: ["KubetrailCore", "KubetrailCurl", "TestSupport"], exclude: ["WireCorpus"]),
        .testTarget(name: "KubetrailTablesTests", dependencies: [
            "KubetrailTables", "TestSupport",
            .product(name: "Yams", package: "Yams"),
        ]),
        .testTarget(name: "KubetrailIntegrityTests", dependencies: ["KubetrailIntegrity", "KubetrailImport", "TestSupport"]),
        .testTarget(name: "KubetrailParquetTests", dependencies: ["KubetrailParquet", "TestSupport"]),
        .testTarget(name: "KubetrailDetectTests", dependencies: ["KubetrailDetect", "KubetrailTables", "TestSupport"]),
        .testTarget(name: "KubetrailStoreTests", dependencies: ["KubetrailStore", "TestSupport"]),
        .testTarget(name: "KubetrailCLITests", dependencies: ["KubetrailImport", "KubetrailExport", "TestSupport"]),
        .testTarget(name: "KubetrailAgentTests", dependencies: ["KubetrailAgent", "TestSupport"]),
        .testTarget(name: "KubetrailKubeTests", dependencies: ["KubetrailKube", "KubetrailCollect", "TestSupport"]),
        .testTarget(name: "KubetrailAggregatorTests", dependencies: [
            "KubetrailAggregator", "KubetrailExport", "TestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    ]
)
