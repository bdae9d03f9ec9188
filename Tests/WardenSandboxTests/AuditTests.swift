// The supervisor and the audit store, end to end: a real agent attempts each kind of denied
// operation under the real filter, and `warden audit --json` must show exactly the rows it
// caused, with the rule and the fix; allowed operations leave nothing.

import Foundation
import Glibc
import Testing

extension Fixture {
    var auditDB: String { base + "/audit-\(identity.rawValue).db" }

    /// The events of the store (all runs), parsed from `warden audit --json`.
    func auditRows(_ filters: [String] = []) -> [[String: Any]] {
        let o = spawn(identity.prefix + [warden, "audit", "--audit", auditDB, "--json"] + filters,
                      env: environment(), cwd: ws, timeout: 120).wait()
        return o.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// The probe under `role`, recorded in this fixture's audit store.
    func audited(_ role: String, _ args: String..., timeout: Double = 30) -> Outcome {
        run(profile: profile(role), [probe] + args, options: ["--audit", auditDB], timeout: timeout)
    }

    func prepareAuditDir() {
        // nobody must be able to create the store next to the workspace.
        if identity == .nobody { chown(base, Identity.nobodyID, Identity.nobodyID) }
    }
}

@Suite struct AuditTests {
    @Test(arguments: Identity.all)
    func eachDenialIsOneRowWithItsRuleAndFix(_ id: Identity) {
        let fx = Fixture(id)
        fx.prepareAuditDir()

        let write = fx.audited("code", "write", "Tests/evil.swift", "x")
        expectErr(write, "open", "EACCES")
        #expect(!fx.exists("Tests/evil.swift"))
        let exec = fx.audited("code", "exec", "/usr/bin/passwd")
        expectErr(exec, "execve", "EACCES")
        let sys = fx.audited("code", "keyctl")
        expectErr(sys, "keyctl", "EPERM")
        let net = fx.audited("code", "tcp", "127.0.0.1", "80")
        #expect(net.status != 0, "\(net)")

        let rows = fx.auditRows()
        func only(_ kind: String) -> [String: Any]? {
            let r = rows.filter { $0["kind"] as? String == kind && $0["decision"] as? String == "denied" }
            #expect(r.count == 1, "\(kind): \(r)")
            return r.first
        }
        let w = only("write")
        #expect(w?["target"] as? String == fx.path("Tests/evil.swift"))
        #expect((w?["rule"] as? String)?.hasPrefix("profiles/code.yaml:") == true, "\(String(describing: w))")
        #expect((w?["suggestion"] as? String)?.hasPrefix("add \"Tests/**\" to write in profiles/code.yaml:") == true,
                "\(String(describing: w))")
        let e = only("exec")
        #expect(e?["target"] as? String == "/usr/bin/passwd")
        #expect((e?["suggestion"] as? String)?.hasPrefix("add \"/usr/bin/passwd\" to tools in ") == true, "\(String(describing: e))")
        let s = only("syscall")
        #expect((s?["target"] as? String)?.hasPrefix("keyctl(") == true)
        #expect((s?["rule"] as? String)?.contains("@keyring") == true, "\(String(describing: s))")
        #expect((s?["suggestion"] as? String)?.hasPrefix("add \"keyctl\" to syscalls.allow in ") == true, "\(String(describing: s))")
        let n = only("network")
        #expect((n?["suggestion"] as? String)?.hasPrefix("set network: on") == true, "\(String(describing: n))")
        #expect(rows.count == 4, "\(rows)")
    }

    @Test(arguments: Identity.all)
    func allowedOperationsLeaveNoRow(_ id: Identity) {
        let fx = Fixture(id)
        fx.prepareAuditDir()
        expectOK(fx.audited("code", "write", "Sources/fine.swift", "x"))
        expectOK(fx.audited("code", "mkdir", "Sources/sub"))
        expectOK(fx.audited("code", "rename", "Sources/fine.swift", "Sources/sub/moved.swift"))
        expectOK(fx.audited("code", "write", "/tmp/scratch-file", "x"))
        expectOK(fx.audited("code", "read", "Tests/main_tests.swift"))
        // The only rows: the gate's record of each commit these runs made (kind gate, allowed).
        let rows = fx.auditRows()
        #expect(rows.allSatisfy { $0["kind"] as? String == "gate" && $0["decision"] as? String == "allowed" }, "\(rows)")
        #expect(!rows.isEmpty, "the commits are on record")
        #expect(fx.exists("Sources/sub/moved.swift"))
    }

    /// 100k denied calls: every one recorded, and the agent is never stalled for long.
    @Test(arguments: Identity.all)
    func notificationFloodLosesNothing(_ id: Identity) {
        let fx = Fixture(id)
        fx.prepareAuditDir()
        let o = fx.audited("code", "flood", "100000", timeout: 300)
        #expect(o.status == 0 && o.stdout.contains("refused 100000 of 100000"), "\(o)")
        #expect(o.stderr.contains("100000 operations denied (100000 syscall)"), "\(o.stderr)")
        let summary = spawn(id.prefix + [fx.warden, "audit", "--audit", fx.auditDB, "--kind", "syscall",
                                         "--json"], env: fx.environment(), cwd: fx.ws, timeout: 300).wait()
        #expect(summary.stdout.split(separator: "\n").count == 100000)
    }

    /// Bad pointers, paths without a NUL, a path running into an unmapped page: the kernel
    /// answers each, the supervisor survives and records nothing.
    @Test(arguments: Identity.all)
    func hostileArgumentsDoNotBreakTheSupervisor(_ id: Identity) {
        let fx = Fixture(id)
        fx.prepareAuditDir()
        let o = fx.audited("code", "hostile-paths")
        #expect(o.status == 0 && o.stdout.contains("badptr EFAULT longpath ENAMETOOLONG edge E"), "\(o)")
        #expect(fx.auditRows().isEmpty)
        // Still supervising afterwards, in a new run.
        expectErr(fx.audited("code", "keyctl"), "keyctl", "EPERM")
        #expect(fx.auditRows().count == 1)
    }

    /// chmod is not a Landlock right: outside the zones the read-only mounts refuse it, and
    /// the supervisor records it.
    @Test(arguments: Identity.all)
    func chmodOutsideTheZonesIsRefused(_ id: Identity) {
        let fx = Fixture(id)
        fx.prepareAuditDir()
        let before = fx.size("Tests/main_tests.swift")
        let o = fx.audited("code", "chmod", "Tests/main_tests.swift", "4777")
        #expect(o.status != 0, "\(o)")
        var st = stat()
        stat(fx.path("Tests/main_tests.swift"), &st)
        #expect(st.st_mode & 0o7777 != 0o4777)
        #expect(fx.size("Tests/main_tests.swift") == before)
        #expect(fx.auditRows().filter { $0["kind"] as? String == "write" }.count == 1)
    }

    /// Several runs writing one store at once, and a runner killed mid-flood: every row of
    /// the finished runs is there, and the store still opens.
    @Test func concurrentRunsAndAKilledRunner() {
        let fx = Fixture(.current)
        let profile = fx.profile("code")
        let runs = (0..<4).map { _ in
            fx.start(profile: profile, [fx.probe, "flood", "3000"], options: ["--audit", fx.auditDB], timeout: 120)
        }
        let victim = fx.start(profile: profile, [fx.probe, "flood", "100000000"], options: ["--audit", fx.auditDB],
                              timeout: 120)
        for r in runs { let o = r.wait(); #expect(o.status == 0, "\(o)") }
        usleep(300_000)
        victim.signal(SIGKILL)
        _ = victim.wait()
        let rows = fx.auditRows(["--kind", "syscall"])
        let byRun = Dictionary(grouping: rows, by: { $0["run"] as? Int ?? -1 })
        #expect(byRun.values.filter { $0.count == 3000 }.count == 4, "\(byRun.mapValues(\.count))")
        let check = spawn([fx.warden, "audit", "--audit", fx.auditDB, "--summary"],
                          env: fx.environment(), cwd: fx.ws).wait()
        #expect(check.status == 0, "\(check)")
    }

    /// A role whose write zone covers the whole workspace, `.warden/` included, still meets a
    /// read-only audit store: the kernel refuses the write, and every run stays on record.
    @Test(arguments: Identity.all)
    func anAgentCannotRewriteItsOwnRecord(_ id: Identity) {
        let fx = Fixture(id)
        let profile = fx.profile("code", extra: "write: [\"**\"]\n")
        func attempt(_ args: String...) -> Outcome { fx.run(profile: profile, [fx.probe] + args) }
        let store = ".warden/audit.db"
        // Positive controls: the zone does reach .warden/ and the rest of the workspace.
        expectOK(attempt("write", "Sources/fine.swift", "x"))
        expectOK(attempt("write", ".warden/notes", "x"))
        #expect(fx.read(".warden/notes") == "x")

        expectErr(attempt("write", store, "x"), "open", "EROFS")
        expectErr(attempt("truncate", store), "truncate", "EROFS")
        expectErr(attempt("write", store + "-wal", "x"), "open", "EROFS")
        expectErr(attempt("unlink", store + "-shm"), "unlink", "EBUSY")
        expectErr(attempt("rename", store, ".warden/moved"), "rename", "EBUSY")
        #expect(fx.exists(store) && fx.exists(store + "-wal") && fx.exists(store + "-shm"))

        let runs = spawn(fx.identity.prefix + [fx.warden, "audit", "--workspace", fx.ws, "--runs", "--json"],
                         env: fx.environment(), cwd: fx.ws, timeout: 60).wait()
        let lines = runs.stdout.split(separator: "\n")
        #expect(runs.status == 0 && lines.count == 7, "\(runs)")
        #expect(lines.allSatisfy { $0.contains("\"exit_status\":") && !$0.contains("\"exit_status\":null") }, "\(runs)")
    }

    /// A limit the run hit is one `limit` row naming what set it and how to raise it.
    @Test(arguments: Identity.all)
    func aLimitHitIsARowWithItsFix(_ id: Identity) {
        let fx = Fixture(id)
        fx.prepareAuditDir()
        let timedOut = fx.run(profile: fx.profile("code"), [fx.probe, "sleep", "20"], options: ["--audit", fx.auditDB, "--timeout", "1s"])
        #expect(timedOut.status == 124, "\(timedOut)")
        let byTimeout = fx.auditRows(["--kind", "limit"])
        #expect(byTimeout.count == 1, "\(byTimeout)")
        #expect(byTimeout.first?["suggestion"] as? String == "run with a longer --timeout than 1s", "\(byTimeout)")

        let wall = fx.profile("code", extra: "limits: { wall: 1s }\n")
        let hit = fx.run(profile: wall, [fx.probe, "sleep", "20"], options: ["--audit", fx.auditDB])
        #expect(hit.status == 124, "\(hit)")
        let rows = fx.auditRows(["--kind", "limit"])
        #expect(rows.count == 2, "\(rows)")
        let fix = rows.compactMap { $0["suggestion"] as? String }.first { $0.hasPrefix("raise limits.wall") }
        #expect(fix?.contains(" in \(wall):") == true, "\(rows)")
    }
}
