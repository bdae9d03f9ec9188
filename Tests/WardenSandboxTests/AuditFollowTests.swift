// `warden audit --follow --json` as a user runs it: a follower started on a store prints
// the denials of runs that happen afterwards as JSON lines, promptly, and stops on a signal.

import Foundation
import Glibc
import Testing

@Suite struct AuditFollowTests {
    @Test(arguments: Identity.all)
    func followPrintsNewDenialsAsJSONLinesAndStopsOnSignal(_ id: Identity) throws {
        let fx = Fixture(id)
        fx.prepareAuditDir()
        expectErr(fx.audited("code", "keyctl"), "keyctl", "EPERM")  // the store exists, with one row
        let follower = spawn(id.prefix + [fx.warden, "audit", "--audit", fx.auditDB, "--follow", "--json"],
                             env: fx.environment(), cwd: fx.ws, timeout: 120)
        func lines(_ text: String) -> [[String: Any]] {
            text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        // Like tail -f, it starts with the recent backlog.
        try #require(follower.waitForOutput(seconds: 10) { lines($0).count == 1 }, "no backlog: \(follower.stdoutSoFar)")

        let started = Date()
        expectErr(fx.audited("code", "write", "Tests/evil.swift", "x"), "open", "EACCES")
        expectErr(fx.audited("code", "exec", "/usr/bin/passwd"), "execve", "EACCES")
        let arrived = follower.waitForOutput(seconds: 10) { lines($0).count >= 3 }
        let latency = Date().timeIntervalSince(started)
        #expect(arrived, "follower printed: \(follower.stdoutSoFar)")
        #expect(latency < 10, "\(latency)s")

        follower.signal(SIGTERM)
        let o = follower.wait()
        #expect(!o.timedOut && o.signal == SIGTERM, "\(o)")
        // Every line is a whole JSON object: nothing half-written when the signal came.
        let all = o.stdout.split(separator: "\n")
        #expect(lines(o.stdout).count == all.count && all.count == 3, "\(o.stdout)")
        let rows = lines(o.stdout)
        #expect(rows.map { $0["kind"] as? String } == ["syscall", "write", "exec"], "\(rows)")
        #expect(rows.map { $0["run"] as? Int } == [1, 2, 3], "\(rows)")
        #expect((rows.last?["suggestion"] as? String)?.hasPrefix("add \"/usr/bin/passwd\" to tools") == true, "\(rows)")
    }
}
