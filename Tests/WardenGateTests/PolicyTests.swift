// The workspace policy (`policies/*.yaml`) as the gate applies it: ownership zones and limits
// read from real files, through the library and through `warden gate apply`.

import Foundation
import Testing
@testable import WardenGate
import WardenPolicy

@Suite struct GatePolicyTests {
    func loader(_ fx: GateFixture) throws -> PolicyLoader {
        try PolicyLoader(environment: PolicyEnvironment(workspace: fx.workspace,
                                                        searchPath: ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"))
    }

    @Test func ownershipAndLimitsComeFromThePolicyFiles() throws {
        let fx = GateFixture()
        put(fx.workspace + "/policies/team.yaml", """
            ownership: { "Sources/**": code, "Sources/gen/**": orchestrator }
            gate: { max_files: 3, max_file_bytes: 8 }
            """)
        let loader = try loader(fx)
        let validator = GateValidator(profile: try loader.profile(named: "code"), policy: try loader.workspacePolicy())
        #expect(validator.limits.maxEntries == 3 && validator.limits.maxFileBytes == 8)
        #expect(validator.ownership.map(\.owner) == ["code", "orchestrator"])

        fx.agentWrites("Sources/gen/out.swift", "x\n")
        let gate = try fx.gate()
        do {
            _ = try gate.commit(try fx.scan(limits: validator.limits), validator: validator, run: "r")
            Issue.record("a write into another role's zone was committed")
        } catch let rejection as GateRejection {
            #expect(rejection.findings.map(\.path) == ["Sources/gen", "Sources/gen/out.swift"], "\(rejection)")
            #expect(rejection.findings.allSatisfy { $0.rule == .ownership && $0.message == "Sources/gen/** belongs to orchestrator" })
        }

        fx.resetUpper()
        fx.agentWrites("Sources/big.swift", "more than eight bytes\n")
        let scanned = try fx.scan(limits: validator.limits)
        #expect(scanned.scanFindings.map(\.rule) == [.limit], "\(scanned.scanFindings)")

        fx.resetUpper()
        fx.agentWrites("Sources/a.swift", "a\n")
        fx.agentWrites("Sources/b.swift", "b\n")
        #expect(try gate.commit(try fx.scan(limits: validator.limits), validator: validator, run: "r") == 1)
        #expect(fx.read("Sources/a.swift") == "a\n")
    }

    @Test func theDefaultsHoldWithoutAPolicy() throws {
        let fx = GateFixture()
        let loader = try loader(fx)
        let validator = GateValidator(profile: try loader.profile(named: "code"), policy: try loader.workspacePolicy())
        #expect(validator.limits == GateLimits())
        #expect(validator.ownership.isEmpty)
        #expect(validator.zones.map(\.pattern).contains("Sources/**"))
    }

    @Test func cliAppliesThePolicyAndRefusesABadOne() throws {
        let fx = GateFixture()
        put(fx.workspace + "/policies/team.yaml", "ownership: { \"Sources/gen/**\": orchestrator }\n")
        fx.agentWrites("Sources/gen/out.swift", "x\n")
        let refused = wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper], cwd: fx.workspace)
        #expect(refused.status == 73 && refused.err.contains("Sources/gen/out.swift: ownership: Sources/gen/** belongs to orchestrator"),
                "\(refused)")

        put(fx.workspace + "/policies/team.yaml", "ownership: { \"Sources/gen/**\": orchestrator }\ngate: { max_filez: 3 }\n")
        let bad = wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper], cwd: fx.workspace)
        #expect(bad.status == 65 && bad.err.contains("policies/team.yaml:2:9: error: unknown key 'max_filez' in gate"), "\(bad)")
        #expect(bad.err.contains("hint: did you mean 'max_files'?"), "\(bad)")
        #expect(fx.read("Sources/gen/out.swift") == nil)

        let lint = wardenCLI(["policy", "lint"], cwd: fx.workspace)
        #expect(lint.status == 65 && lint.out.contains("team.yaml:2:9: error: unknown key 'max_filez'"), "\(lint)")
    }
}

/// Runs the built `warden` in `cwd`, with `env` added to this process's environment.
func wardenCLI(_ args: [String], cwd: String, env: [String: String] = [:]) -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: builtBinary("warden"))
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    do { try p.run() } catch { return (-1, "", "cannot run warden: \(error)") }
    let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, o, e)
}
