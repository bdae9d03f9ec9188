// A broken workspace policy (which the gate needs when the agent ends) stops the launch
// before the agent runs, with FILE:LINE:COLUMN, rather than after its work is done.

import Foundation
import Glibc
import Testing

@Suite struct ViewPolicyTests {
    @Test(arguments: Identity.all)
    func aBrokenWorkspacePolicyIsRefusedBeforeTheAgentRuns(_ id: Identity) {
        let fx = Fixture(id)
        fx.write("policies/workspace.yaml", "ownership: { \"Sources/**\": code }\ngate:\n  max_files: lots\n")
        let agent = ["sh", "-c", "echo ran > Sources/ran.swift"]
        for attempt in 1...2 {  // the second would hit a plan cache if the first had filled it
            let o = fx.run(profile: "code", agent)
            #expect(o.status == 65 && o.stderr.contains("policies/workspace.yaml:3:"), "attempt \(attempt): \(o)")
            #expect(fx.keptViews().isEmpty && !fx.exists("Sources/ran.swift"), "the agent ran: \(o)")
        }
        // Without a view the gate is not involved, and the run goes ahead.
        let direct = fx.run(profile: "code", agent, options: ["--no-view"])
        #expect(direct.status == 0 && fx.read("Sources/ran.swift") == "ran\n", "\(direct)")
        // Fixed, the same run with a view no longer meets a stale refusal.
        fx.write("policies/workspace.yaml", "ownership:\n  \"Sources/**\": code\n")
        let fixed = fx.run(profile: "code", ["sh", "-c", "echo again > Sources/ran.swift"])
        #expect(fixed.status == 0 && fx.read("Sources/ran.swift") == "again\n", "\(fixed)")
    }
}
