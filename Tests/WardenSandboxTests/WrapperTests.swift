// warden as a wrapper: exit statuses, signal forwarding, timeouts that leave nothing
// behind, stdin, refusing bad input or missing protections, and --explain.

import Foundation
import Glibc
import Testing

/// pid → (ppid, cmdline with NULs as spaces, SigCgt mask) for every process we can see.
func processTable() -> [pid_t: (ppid: pid_t, cmdline: String, caught: UInt64)] {
    var table: [pid_t: (ppid: pid_t, cmdline: String, caught: UInt64)] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(entry),
              let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8) else { continue }
        var ppid: pid_t = 0
        var caught: UInt64 = 0
        for line in status.split(separator: "\n") {
            if line.hasPrefix("PPid:") { ppid = pid_t(line.dropFirst(5).trimmingCharacters(in: .whitespaces)) ?? 0 }
            if line.hasPrefix("SigCgt:") { caught = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0 }
        }
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))) ?? Data()
        let cmdline = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        table[pid] = (ppid, cmdline, caught)
    }
    return table
}

func descendants(of root: pid_t) -> [pid_t] {
    let table = processTable()
    return table.keys.filter { pid in
        var p = pid
        for _ in 0..<64 {
            guard let entry = table[p] else { return false }
            if entry.ppid == root { return true }
            p = entry.ppid
        }
        return false
    }
}

@Suite struct WrapperTests {
    @Test(arguments: Identity.all)
    func exitStatusAndSignalDeath(_ id: Identity) {
        let fx = Fixture(id)
        let seven = fx.run(profile: "code", ["sh", "-c", "exit 7"])
        #expect(seven.status == 7, "\(seven)")
        let term = fx.run(profile: "code", ["sh", "-c", "kill -TERM $$"])
        #expect(term.status == 143, "\(term)")
        let segv = fx.run(profile: "code", ["sh", "-c", "kill -SEGV $$"])
        #expect(segv.status == 139, "\(segv)")
    }

    @Test(arguments: Identity.all)
    func stdinPassesThrough(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.run(profile: "code", ["cat"], stdin: .data("line one\nline two\n"))
        #expect(o.status == 0 && o.stdout == "line one\nline two\n", "\(o)")
    }

    @Test(arguments: Identity.all, [SIGTERM, SIGINT])
    func signalsAreForwarded(_ id: Identity, _ sig: Int32) {
        let fx = Fixture(id)
        let child = fx.start(profile: fx.profile("code"), [fx.probe, "trap", "30"])
        // Wait until the sandboxed probe has installed its handler (SigCgt has the bit), so a
        // slow machine cannot turn this into a race.
        let deadline = Date().addingTimeInterval(15)
        var ready = false
        while Date() < deadline && !ready {
            let table = processTable()
            ready = descendants(of: child.pid).contains { pid in
                guard let e = table[pid] else { return false }
                return e.cmdline.contains("warden-probe trap") && e.caught & (1 << UInt64(sig - 1)) != 0
            }
            if !ready { usleep(20_000) }
        }
        #expect(ready, "probe never installed its handler")
        usleep(300_000)
        child.signal(sig)
        let o = child.wait()
        let name = sig == SIGTERM ? "SIGTERM" : "SIGINT"
        #expect(o.stdout.contains("got \(name)") && o.status == 42, "\(o)")
        #expect(o.elapsed < 20, "\(o)")
    }

    /// At a normal exit init kills and reaps everything else in the sandbox before it reports
    /// (warden then finishes the view and the audit row while the namespaces are torn down):
    /// nothing the agent started outlives warden, a daemon included.
    @Test(arguments: Identity.all)
    func nothingOutlivesANormalExit(_ id: Identity) {
        let fx = Fixture(id)
        let token = String(format: "60.%04d", Int.random(in: 1000...9999))
        let late = fx.path("Sources/late-\(token).txt")
        let o = fx.run(profile: fx.profile("code"), ["sh", "-c",
            "\(fx.probe) daemonize \(late) 1; \(fx.probe) spawn-tree 3 \(token) & sleep 0.3; echo done > Sources/early.txt"])
        #expect(o.status == 0 && o.stdout.contains("ok"), "the tree never started: \(o)")
        #expect(fx.read("Sources/early.txt") == "done\n", "\(o)")
        let leftovers = processTable().filter { $0.value.cmdline.contains(token) }
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
        // The daemon would write its file a second after it started.
        usleep(1_500_000)
        #expect(!fx.exists("Sources/late-\(token).txt"), "the daemon outlived the run")
        #expect(processTable().filter { $0.value.cmdline.contains(token) }.isEmpty)
    }

    @Test(arguments: Identity.all)
    func timeoutKillsTheWholeTree(_ id: Identity) {
        let fx = Fixture(id)
        let token = String(format: "60.%04d", Int.random(in: 1000...9999))
        let command = "\(fx.probe) daemonize \(fx.path("Sources/daemon.txt")) 3; \(fx.probe) spawn-tree 3 \(token)"
        let start = Date()
        let o = fx.run(profile: fx.profile("code"), ["sh", "-c", command], options: ["--timeout", "1s"])
        #expect(o.status == 124, "\(o)")
        #expect(o.elapsed < 10, "\(o)")
        #expect(o.stdout.contains("ok"), "the tree never started: \(o)")
        let leftovers = processTable().filter { $0.value.cmdline.contains(token) }
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
        // The daemonized grandchild would write its file 3 s after starting.
        let wait = 4.0 - Date().timeIntervalSince(start)
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        #expect(!fx.exists("Sources/daemon.txt"), "a daemonized grandchild survived the timeout")
        // Control: unsandboxed, the daemonized grandchild does write its file.
        expectOK(fx.control("daemonize", fx.path("Sources/control.txt"), "0.2"))
        let end = Date().addingTimeInterval(5)
        while !fx.exists("Sources/control.txt") && Date() < end { usleep(50_000) }
        #expect(fx.exists("Sources/control.txt"))
    }

    @Test(arguments: Identity.all)
    func badPolicyInputRunsNothing(_ id: Identity) {
        let fx = Fixture(id)
        let bad = fx.base + "/bad.yaml"
        try! "role: bad\nextends: code\nlimits: { processes: lots }\n".write(toFile: bad, atomically: false, encoding: .utf8)
        chmod(bad, 0o644)
        let o = fx.run(profile: bad, ["sh", "-c", "touch Sources/marker"])
        #expect(o.status == 65, "\(o)")
        let located = o.stderr.range(of: #"bad\.yaml:[0-9]+:[0-9]+: error:"#, options: .regularExpression) != nil
        #expect(located, "\(o)")
        #expect(!fx.exists("Sources/marker"))
        let unknown = fx.run(profile: fx.base + "/missing.yaml", ["sh", "-c", "touch Sources/marker"])
        #expect(unknown.status == 65, "\(unknown)")
        #expect(!fx.exists("Sources/marker"))
    }

    @Test(arguments: Identity.all)
    func refusesWhenAProtectionIsMissing(_ id: Identity) {
        let fx = Fixture(id)
        for feature in ["landlock-scope", "namespaces", "cgroup"] {
            let o = fx.run(profile: "code", ["sh", "-c", "touch Sources/marker"], env: ["WARDEN_PRETEND_MISSING": feature])
            // cgroup limits fall back to rlimits for unprivileged callers, where a missing
            // cgroup is not a refusal.
            if feature == "cgroup" && id != .root { continue }
            #expect(o.status == 69 && o.stderr.contains(feature), "\(feature): \(o)")
            #expect(!fx.exists("Sources/marker"), "\(feature)")
        }
        let o = fx.run(profile: "code", ["sh", "-c", "touch Sources/marker"],
                       options: ["--allow-degraded", "landlock-scope"], env: ["WARDEN_PRETEND_MISSING": "landlock-scope"])
        #expect(o.status == 0 && o.stderr.contains("warden: running without landlock-scope"), "\(o)")
        #expect(fx.exists("Sources/marker"))
    }

    /// An opt-down must really remove the layer it names: the warning on stderr and
    /// --explain describe what the agent ran under.
    @Test(arguments: Identity.all)
    func degradedMeansOff(_ id: Identity) {
        let fx = Fixture(id)
        let status = ["sh", "-c", "grep '^Seccomp:' /proc/self/status; cat Tests/main_tests.swift >/dev/null; echo x >> Tests/main_tests.swift && echo wrote"]
        let full = fx.run(profile: "code", status)
        #expect(full.stdout.contains("Seccomp:\t2") && !full.stdout.contains("wrote"), "\(full)")
        let noSeccomp = fx.run(profile: "code", status, options: ["--allow-degraded", "seccomp"],
                               env: ["WARDEN_PRETEND_MISSING": "seccomp"])
        #expect(noSeccomp.stdout.contains("Seccomp:\t0") && !noSeccomp.stdout.contains("wrote"), "\(noSeccomp)")
        // The supervisor refuses writes outside the zones on its own; with Landlock gone it is
        // the only check left, so both are opted down to see the write go through.
        let supervisedOnly = fx.run(profile: "code", status, options: ["--allow-degraded", "landlock"],
                                    env: ["WARDEN_PRETEND_MISSING": "landlock"])
        #expect(!supervisedOnly.stdout.contains("wrote") && supervisedOnly.stderr.contains("1 operation denied (1 write)"),
                "\(supervisedOnly)")
        let noLandlock = fx.run(profile: "code", status,
                                options: ["--allow-degraded", "landlock", "--allow-degraded", "supervisor"],
                                env: ["WARDEN_PRETEND_MISSING": "landlock,supervisor"])
        #expect(noLandlock.stdout.contains("Seccomp:\t2") && noLandlock.stdout.contains("wrote"), "\(noLandlock)")
        #expect(noLandlock.stderr.contains("running without landlock"), "\(noLandlock)")
    }

    /// --audit in the workspace is refused (64, nothing runs) except under .warden/; outside
    /// it, and under .warden/, a new store is made and the run goes ahead. (A new store at the
    /// workspace's root once failed the launch with "bind mount: ENOENT": the view's snapshot
    /// had no file there to bind it over.)
    @Test(arguments: Identity.all)
    func anAuditStoreInTheWorkspaceMustBeUnderWarden(_ id: Identity) {
        let fx = Fixture(id)
        for inside in ["audit.db", "Sources/audit.db", fx.ws + "/new/audit.db"] {
            let o = fx.run(profile: "code", ["sh", "-c", "touch Sources/ran"], options: ["--audit", inside])
            #expect(o.status == 64 && o.stderr.contains("only under \(fx.ws)/.warden/") && !fx.exists("Sources/ran"), "\(o)")
            #expect(!fx.exists("audit.db") && !fx.exists("Sources/audit.db") && !fx.exists("new"))
        }
        // Outside the workspace, somewhere the identity may write.
        let store = fx.base + "/store"
        mkdir(store, 0o755)
        if id == .nobody { chown(store, Identity.nobodyID, Identity.nobodyID) }
        for allowed in [".warden/mine.db", store + "/outside.db", "../store/outside2.db"] {
            let o = fx.run(profile: "code", ["sh", "-c", "echo ran"], options: ["--audit", allowed])
            #expect(o.status == 0 && o.stdout == "ran\n", "\(allowed): \(o)")
        }
        #expect(fx.exists(".warden/mine.db") && FileManager.default.fileExists(atPath: store + "/outside.db")
                    && FileManager.default.fileExists(atPath: store + "/outside2.db"))
    }

    @Test(arguments: Identity.all)
    func explainRunsNothing(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.run(profile: "code", ["sh", "-c", "touch Sources/marker"], options: ["--explain"])
        #expect(o.status == 0, "\(o)")
        #expect(o.stdout.contains("landlock") && o.stdout.contains("seccomp"), "\(o)")
        #expect(!fx.exists("Sources/marker"))
    }
}
