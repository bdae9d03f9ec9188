// swift-tools-version:6.0
import PackageDescription

// Dependencies flow one way: policy model → enforcement → audit/gate → CLI.
let package = Package(
    name: "Warden",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "warden", targets: ["warden"]),
        .executable(name: "warden-core", targets: ["warden-core"]),
        .executable(name: "warden-probe", targets: ["warden-probe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // libseccomp through pkg-config; `apt-get install libseccomp-dev` provides it.
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        // The only code that runs between fork and exec: raw syscalls, no allocation.
        .target(name: "CSandbox"),
        // What a `warden run` decides before it needs any policy: its plain command line, the
        // key of its plan, and the hand-over to a standby waiting for that key. No Foundation:
        // it is all the front binary links.
        .target(name: "WardenFront", dependencies: ["CSandbox"]),
        .target(
            name: "WardenPolicy",
            dependencies: ["WardenFront", "CSeccomp", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "WardenSandbox",
            dependencies: ["WardenPolicy", "CSandbox", "CSeccomp"]
        ),
        // The audit store: SQLite through GRDB (libsqlite3-dev). Knows nothing of policy
        // types, so the launcher and the CLI can both depend on it without a cycle.
        .target(
            name: "WardenAudit",
            dependencies: ["CSQLiteTuning", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // One wrapper for a variadic SQLite call Swift cannot make (see tuning.c).
        .target(name: "CSQLiteTuning", dependencies: [.product(name: "GRDBSQLite", package: "GRDB.swift")]),
        // openat2 and renameat2, which glibc does not wrap and Swift cannot reach via syscall(2).
        .target(name: "CFileOps"),
        // The single-writer gate: changesets, their validation, the version index and the
        // crash-safe apply. Knows write zones from the policy model, nothing of the sandbox;
        // writes its own rows (kind gate) to the audit store, which sits below it.
        .target(
            name: "WardenGate",
            dependencies: ["WardenPolicy", "WardenAudit", "CFileOps", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The front: hands a run to a waiting standby, and otherwise executes warden-core.
        .executableTarget(name: "warden", dependencies: ["WardenFront"]),
        // Everything else: the CLI, the launcher, the standby, the gate, the audit.
        .executableTarget(
            name: "warden-core",
            dependencies: [
                "WardenPolicy", "WardenSandbox", "WardenAudit", "WardenGate",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A C program the escape tests run inside the sandbox: each subcommand tries one
        // attack and reports the errno the kernel returned.
        .executableTarget(name: "warden-probe"),
        // Writes audit events from a separate process, so the store tests can run several
        // writers at once and kill -9 one mid-flood.
        .executableTarget(name: "warden-audit-stress", dependencies: ["WardenAudit"]),
        // Applies changesets in a loop so the gate tests can kill -9 it at any point of a commit.
        .executableTarget(name: "warden-gate-stress", dependencies: ["WardenGate"]),
        .testTarget(name: "WardenPolicyTests", dependencies: ["WardenPolicy"]),
        .testTarget(name: "WardenGateTests", dependencies: ["WardenGate", "WardenPolicy", "WardenAudit", "CFileOps"]),
        .testTarget(name: "WardenSandboxTests", dependencies: ["WardenSandbox", "WardenPolicy"]),
        // GRDB directly too: a few tests tamper with the file the way another tool could.
        .testTarget(
            name: "WardenAuditTests",
            dependencies: ["WardenAudit", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
