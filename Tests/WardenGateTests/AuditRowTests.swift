// The gate's rows in the workspace audit store, read back through `warden audit --kind gate`.

import Foundation
import Testing
@testable import WardenGate

@Suite struct GateAuditRowTests {
    @Test func rejectionsAndCommitsAreAuditRows() throws {
        let fx = GateFixture()
        fx.agentWrites("Sources/main.swift", "main v1\n")
        fx.agentWrites("Tests/t.swift", "not yours\n")
        fx.agentWrites(".git/config", "[core]\n")
        let refused = wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper, "--run", "42"], cwd: fx.workspace)
        #expect(refused.status == 73, "\(refused)")

        let denied = wardenCLI(["audit", "--kind", "gate", "--decision", "denied", "--json"], cwd: fx.workspace)
        #expect(denied.status == 0, "\(denied)")
        let rows = denied.out.split(separator: "\n").map(String.init)
        let zone = rows.first { $0.contains("\"target\":\"Tests/t.swift\"") }
        #expect(zone?.contains("\"rule\":\"zone\"") == true && zone?.contains("\"run\":42") == true
                && zone?.contains("\"role\":\"code\"") == true, "\(rows)")
        #expect(zone?.contains("add \\\"Tests/**\\\" to write in profiles/code.yaml:") == true, "\(rows)")
        #expect(rows.contains { $0.contains("\"target\":\".git/config\"") && $0.contains("\"rule\":\"reserved\"") }, "\(rows)")
        #expect(!rows.contains { $0.contains("\"target\":\"Sources/main.swift\"") }, "an accepted path is no denial: \(rows)")
        #expect(fx.read("Sources/main.swift") == "main v0\n")

        // Accepted: one allowed row per path, and hand edits found first under role human.
        try FileManager.default.removeItem(atPath: fx.upper + "/Tests")
        try FileManager.default.removeItem(atPath: fx.upper + "/.git")
        put(fx.workspace + "/README.md", "by hand\n")
        let ok = wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper, "--run", "43"], cwd: fx.workspace)
        #expect(ok.status == 0 && ok.err.contains("hand edits recorded first as commit 1"), "\(ok)")
        let allowed = wardenCLI(["audit", "--kind", "gate", "--decision", "allowed"], cwd: fx.workspace)
        #expect(allowed.out.contains("run 43 code GATE ALLOWED Sources/main.swift — write in commit 2 (base 0)"), "\(allowed)")
        #expect(allowed.out.contains("run 0 human GATE ALLOWED README.md — write in commit 1 (base 0)"), "\(allowed)")
    }
}
