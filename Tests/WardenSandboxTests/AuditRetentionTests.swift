// `warden audit --prune` against real runners: a run whose runner is alive is never pruned,
// the same run is once its runner has been killed, and a store the user cannot write is
// refused with 77.

import Foundation
import Glibc
import Testing

extension Fixture {
    func auditCLI(_ args: [String], as who: Identity? = nil) -> Outcome {
        spawn((who ?? identity).prefix + [warden, "audit", "--audit", auditDB] + args, env: environment(), cwd: ws,
              timeout: 60).wait()
    }

    func prune(olderThan: String) -> [String: Any] {
        let o = auditCLI(["--prune", "--older-than", olderThan, "--json"])
        #expect(o.status == 0, "\(o)")
        return (try? JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any]) ?? [:]
    }
}

@Suite struct AuditRetentionTests {
    @Test(arguments: Identity.all)
    func aRunningRunIsKeptUntilItsRunnerIsGone(_ id: Identity) throws {
        let fx = Fixture(id)
        fx.prepareAuditDir()
        let profile = fx.profile("code")
        expectErr(fx.run(profile: profile, [fx.probe, "keyctl"], options: ["--audit", fx.auditDB]), "keyctl", "EPERM")
        // An argument no other test uses, so no other runner on the machine looks like this one's.
        let runner = fx.start(profile: profile, [fx.probe, "sleep", "41.25"], options: ["--audit", fx.auditDB], timeout: 60)
        var rows: [[String: Any]] = []
        for _ in 0..<200 where rows.count < 2 {
            usleep(25_000)
            rows = fx.auditCLI(["--runs", "--json"]).stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        try #require(rows.count == 2, "the second run never started: \(rows)")
        let live = rows.compactMap { $0["run"] as? Int }.max()!
        usleep(1_200_000)  // both runs now began more than a second ago

        let first = fx.prune(olderThan: "1s")
        #expect(first["removed_runs"] as? [Int] == [live - 1], "\(first)")
        #expect(first["removed_events"] as? Int == 1, "\(first)")
        #expect(first["kept_unfinished"] as? [Int] == [live], "\(first)")
        #expect(fx.auditRows().isEmpty)

        runner.signal(SIGKILL)
        _ = runner.wait()
        // The runner's sandbox init (a fork of it, with its command line) dies from the
        // runner's death a moment later; until then the run may still look owned.
        var second = fx.prune(olderThan: "1s")
        for _ in 0..<40 where (second["removed_runs"] as? [Int])?.isEmpty != false {
            usleep(50_000)
            second = fx.prune(olderThan: "1s")
        }
        #expect(second["removed_runs"] as? [Int] == [live], "\(second)")
        #expect(second["abandoned_runs"] as? [Int] == [live], "\(second)")
        #expect(fx.auditCLI(["--runs", "--json"]).stdout.isEmpty)
    }

    @Test(.enabled(if: getuid() == 0, "needs root to own a store nobody cannot write"))
    func pruningAStoreThisUserCannotWriteIs77() {
        let fx = Fixture(.root)
        expectErr(fx.run(profile: fx.profile("code"), [fx.probe, "keyctl"], options: ["--audit", fx.auditDB]), "keyctl", "EPERM")
        let o = fx.auditCLI(["--prune", "--older-than", "0s"], as: .nobody)
        #expect(o.status == 77, "\(o)")
        #expect(o.stderr.contains("cannot prune"), "\(o)")
        #expect(fx.auditCLI(["--runs", "--json"]).stdout.split(separator: "\n").count == 1)
    }
}
