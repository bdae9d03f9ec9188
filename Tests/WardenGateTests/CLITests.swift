// `warden gate` from the command line: exit statuses and output a script relies on.

import Foundation
import Glibc
import Testing

@Suite struct GateCLITests {
    @Test func applyRejectsWholeAndCommitsWhole() throws {
        let fx = GateFixture()
        fx.agentWrites("Sources/main.swift", "main v1\n")
        fx.agentWrites("Tests/t.swift", "not yours\n")
        let refused = wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper, "--json"], cwd: fx.workspace)
        #expect(refused.status == 73, "\(refused)")
        #expect(refused.out.contains("\"path\":\"Tests/t.swift\",\"rule\":\"zone\""), "\(refused)")
        #expect(refused.err.contains("Tests/t.swift: zone:"), "\(refused)")
        #expect(fx.read("Sources/main.swift") == "main v0\n" && fx.read("Tests/t.swift") == "test v0\n")

        try FileManager.default.removeItem(atPath: fx.upper + "/Tests")
        let ok = wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper, "--run", "r1", "--json"], cwd: fx.workspace)
        #expect(ok.status == 0 && ok.out.contains("\"committed\":1"), "\(ok)")
        #expect(fx.read("Sources/main.swift") == "main v1\n")
        let log = wardenCLI(["gate", "log", "--json"], cwd: fx.workspace)
        #expect(log.status == 0 && log.out.contains("\"seq\":1,\"role\":\"code\",\"run\":\"r1\""), "\(log)")
        let stale = wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper, "--base", "0"], cwd: fx.workspace)
        #expect(stale.status == 73 && stale.err.contains("conflict: changed since version 0 by commit 1"), "\(stale)")
    }
}
