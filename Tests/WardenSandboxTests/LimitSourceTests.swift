// Which line a hit limit points at: the profile key in force, or --timeout when the command
// line's was the shorter wall clock.

import Foundation
import Testing
import WardenPolicy
@testable import WardenSandbox

@Suite struct LimitSourceTests {
    func plan(timeout: Double?) throws -> (LaunchPlan, String) {
        let fx = Fixture(.current)
        let file = fx.base + "/limited.yaml"
        try "role: limited\nextends: code\nlimits:\n  wall: 30m\n  memory: 512MiB\n"
            .write(toFile: file, atomically: false, encoding: .utf8)
        let loader = try PolicyLoader(environment: PolicyEnvironment(workspace: fx.ws, searchPath: "/usr/bin:/bin"))
        let options = LaunchOptions(workspace: fx.ws, command: ["true"], timeout: timeout, allowDegraded: [],
                                    cwd: fx.ws, environment: ["PATH": "/usr/bin:/bin"], runID: "t")
        return (try LaunchPlan.make(profile: try loader.profile(named: file), options: options), file)
    }

    @Test func aProfileLimitNamesItsLine() throws {
        let (p, file) = try plan(timeout: nil)
        #expect(p.limitSource("wall") == LimitSource(key: "wall", current: "30m", at: "\(file):4",
                                                     rule: "\(file):4 limits.wall"))
        #expect(p.limitSource("memory") == LimitSource(key: "memory", current: "512MiB", at: "\(file):5",
                                                       rule: "\(file):5 limits.memory"))
        // Inherited from the built-in base profile.
        let processes = p.limitSource("processes")
        #expect(processes.rule.hasPrefix("profiles/base.yaml:") && processes.rule.hasSuffix(" limits.processes"),
                "\(processes)")
    }

    @Test func aShorterTimeoutFlagIsTheLimitInForce() throws {
        #expect(try plan(timeout: 10).0.limitSource("wall")
                == LimitSource(key: nil, current: "10s", at: "the command line", rule: "--timeout 10s"))
        // A longer --timeout does not lift the profile's wall clock.
        #expect(try plan(timeout: 7_200).0.limitSource("wall").key == "wall")
    }
}
