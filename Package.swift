// swift-tools-version:6.0
import PackageDescription

// Dependencies flow one way: policy model → enforcement → CLI.
let package = Package(
    name: "Warden",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "warden", targets: ["warden"]),
        .executable(name: "warden-probe", targets: ["warden-probe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
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
        .target(
            name: "WardenPolicy",
            dependencies: ["CSeccomp", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "WardenSandbox",
            dependencies: ["WardenPolicy", "CSandbox", "CSeccomp"]
        ),
        .executableTarget(
            name: "warden",
            dependencies: [
                "WardenPolicy", "WardenSandbox",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A C program the escape tests run inside the sandbox: each subcommand tries one
        // attack and reports the errno the kernel returned.
        .executableTarget(name: "warden-probe"),
        .testTarget(name: "WardenPolicyTests", dependencies: ["WardenPolicy"]),
        .testTarget(name: "WardenSandboxTests", dependencies: ["WardenSandbox", "WardenPolicy"]),
    ],
    swiftLanguageModes: [.v5]
)
