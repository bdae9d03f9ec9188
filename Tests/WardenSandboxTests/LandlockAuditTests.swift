// Landlock's own denial records, end to end: a real agent reads a file outside its read
// set, the kernel refuses it and logs it (Landlock ABI 7 with kernel audit on), and the
// runner records it. Kernel audit is a system-wide switch, off on this machine: the root
// case turns it on for its own duration and restores the previous state, and the suite is
// serialized so that the cases never overlap in changing it.

import Foundation
import Glibc
import Testing
import WardenSandbox

/// Kernel audit as the tests need it: on for the duration of a body, then as it was.
enum AuditSwitch {
    /// Root, audit readable, and not in panic-on-loss mode (where a flood of denials in a
    /// concurrent test could halt the machine): the only place the tests may turn it on.
    static var canEnable: Bool {
        guard getuid() == 0, case let .success(s) = KernelAudit.status() else { return false }
        return s.failure != 2 && s.enabled != 2
    }

    static func withEnabled<T>(_ body: () throws -> T) rethrows -> T {
        guard case let .success(before) = KernelAudit.status() else { return try body() }
        if before.enabled == 0 { precondition(KernelAudit.setEnabled(1) == 0, "cannot enable kernel audit") }
        defer { if before.enabled == 0 { _ = KernelAudit.setEnabled(0) } }
        return try body()
    }
}

extension Fixture {
    func explainLine(_ profile: String) -> String {
        let o = spawn(identity.prefix + [warden, "run", "--profile", profile, "--workspace", ws, "--explain", "--", probe],
                      env: environment(), cwd: ws).wait()
        return o.stdout.split(separator: "\n").first { $0.contains("audit sources:") }.map(String.init) ?? o.description
    }
}

@Suite(.serialized) struct LandlockAuditTests {
    /// Root: exactly one `read` row for the refused read, with the read set's rule; no row for
    /// an allowed read; a write the supervisor refused is not recorded a second time.
    @Test(.enabled(if: AuditSwitch.canEnable, "needs root and a kernel audit that may be switched on"))
    func aRefusedReadIsOneReadRow() throws {
        let fx = Fixture(.root)
        let profile = fx.profile("code")
        try AuditSwitch.withEnabled {
            #expect(fx.explainLine(profile).contains("landlock audit log: active"), "\(fx.explainLine(profile))")
            let read = fx.run(profile: profile, [fx.probe, "read", "/etc/shadow"], options: ["--audit", fx.auditDB])
            expectErr(read, "open", "EACCES")
            #expect(read.stderr.contains("1 operation denied (1 read)"), "\(read.stderr)")
            expectOK(fx.run(profile: profile, [fx.probe, "read", "Tests/main_tests.swift"], options: ["--audit", fx.auditDB]))
            let write = fx.run(profile: profile, [fx.probe, "write", "Tests/evil.swift", "x"], options: ["--audit", fx.auditDB])
            expectErr(write, "open", "EACCES")

            let rows = fx.auditRows()
            let reads = rows.filter { $0["kind"] as? String == "read" }
            #expect(reads.count == 1, "\(rows)")
            let r = try #require(reads.first)
            #expect(r["target"] as? String == "/etc/shadow")
            #expect(r["decision"] as? String == "denied")
            // The read set's last entry: the probe profile's own `read:` line when it has one.
            let rule = r["rule"] as? String ?? ""
            #expect(rule.hasSuffix(" read") && rule.contains(".yaml:"), "\(r)")
            #expect((r["message"] as? String)?.contains("fs.read_file") == true, "\(r)")
            #expect(rows.filter { $0["kind"] as? String == "write" }.count == 1, "\(rows)")
            #expect(rows.count == 2, "\(rows)")
        }
    }

    /// A standby's agent gets the Landlock audit log or not when the standby is made. Switching
    /// kernel audit on ends a standby made while it was off (a fresh one, made under the new
    /// state, takes its place), so the run it serves records its refused read like a cold run.
    @Test(.enabled(if: AuditSwitch.canEnable, "needs root and a kernel audit that may be switched on"))
    func aStandbyFollowsKernelAuditSwitches() throws {
        guard case let .success(before) = KernelAudit.status() else { return }
        defer { _ = KernelAudit.setEnabled(before.enabled) }
        #expect(KernelAudit.setEnabled(0) == 0)
        let fx = Fixture(.root)
        let profile = fx.profile("code")
        let env = StandbyTests.cache(fx)
        let made = StandbyTests.standby(fx, profile, ["--idle", "60s", "--audit", fx.auditDB], env: env)
        defer { _ = StandbyTests.standby(fx, profile, ["--idle", "60s", "--audit", fx.auditDB, "--stop"], env: env) }
        #expect(made.status == 0, "\(made)")
        let first = try #require(StandbyTests.standbyPID(fx))
        #expect(KernelAudit.setEnabled(1) == 0)
        let end = Date().addingTimeInterval(15)
        while (kill(first, 0) == 0 || StandbyTests.socket(env, waiting: 0) == nil) && Date() < end { usleep(50_000) }
        #expect(kill(first, 0) != 0, "the standby made with audit off still waits")
        let child = fx.start(profile: profile, ["sh", "-c", "echo run=$WARDEN_RUN; \(fx.probe) read /etc/shadow"],
                             options: ["--audit", fx.auditDB], env: env)
        let read = child.wait()
        #expect(StandbyTests.runnerPID(read) != nil && StandbyTests.runnerPID(read) != child.pid, "served by the fresh standby: \(read)")
        #expect(read.stderr.contains("1 operation denied (1 read)"), "\(read)")
    }

    /// Unprivileged: the source is inactive and says why, even with kernel audit on, and the
    /// run behaves exactly as without it.
    @Test func unprivilegedRunnersHaveNoLandlockLogAndRunNormally() throws {
        let id: Identity = getuid() == 0 ? .nobody : .current
        let fx = Fixture(id)
        fx.prepareAuditDir()
        let profile = fx.profile("code")
        let body = {
            let line = fx.explainLine(profile)
            #expect(line.contains("audit sources: supervisor (seccomp user notification); landlock audit log: inactive (needs root"),
                    "\(line)")
            let read = fx.run(profile: profile, [fx.probe, "read", "/etc/shadow"], options: ["--audit", fx.auditDB])
            expectErr(read, "open", "EACCES")
            let write = fx.run(profile: profile, [fx.probe, "write", "Tests/evil.swift", "x"], options: ["--audit", fx.auditDB])
            expectErr(write, "open", "EACCES")
            let rows = fx.auditRows()
            #expect(rows.map { $0["kind"] as? String } == ["write"], "\(rows)")
        }
        if AuditSwitch.canEnable { AuditSwitch.withEnabled(body) } else { body() }
    }

    /// Root with kernel audit off (this machine's default): inactive, named in --explain.
    @Test(.enabled(if: getuid() == 0, "needs root to read the kernel audit status"))
    func rootWithAuditOffSaysSo() throws {
        guard case let .success(status) = KernelAudit.status(), status.enabled == 0 else { return }
        let fx = Fixture(.root)
        let line = fx.explainLine(fx.profile("code"))
        #expect(line.contains("landlock audit log: inactive (kernel audit is disabled"), "\(line)")
        let read = fx.run(profile: fx.profile("code"), [fx.probe, "read", "/etc/shadow"], options: ["--audit", fx.auditDB])
        expectErr(read, "open", "EACCES")
        #expect(fx.auditRows().isEmpty)
    }
}
