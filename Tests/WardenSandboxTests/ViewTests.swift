// Private views: what an agent writes stays in its own upper layer until the gate accepts it
// at exit, what it reads is the version it started from, and a hostile agent's changeset is
// refused whole with nothing applied and nothing lost.

import Foundation
import Glibc
import Testing

extension Fixture {
    /// `warden ARGS --workspace WS` as this fixture's identity, outside any sandbox.
    func warden(_ args: [String]) -> Outcome {
        spawn(identity.prefix + [warden] + args + ["--workspace", ws], env: environment(), cwd: ws).wait()
    }

    /// The view directories runs left (kept); `.trash` holds discarded ones on their way out.
    func keptViews() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: ws + "/.warden/views")) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The first upper layer holding `rel` while its run is still going.
    func upperHolding(_ rel: String) -> String? {
        for _ in 0..<1000 {
            for run in keptViews() where access(ws + "/.warden/views/\(run)/upper/\(rel)", F_OK) == 0 {
                return ws + "/.warden/views/\(run)/upper/\(rel)"
            }
            usleep(10_000)
        }
        return nil
    }
}

@Suite struct ViewTests {
    @Test(arguments: Identity.all)
    func writesWaitInTheViewUntilTheGateAppliesThem(_ id: Identity) {
        let fx = Fixture(id)
        let agent = fx.start(profile: "code", ["sh", "-c", "echo v1 > Sources/main.swift && echo new > Sources/new.swift && sleep 1"])
        // The write has happened (it is in the run's upper layer)...
        #expect(fx.upperHolding("Sources/new.swift") != nil)
        // ...and the workspace does not have it yet.
        #expect(fx.read("Sources/main.swift") == "print(\"main\")\n" && !fx.exists("Sources/new.swift"))
        let o = agent.wait()
        #expect(o.status == 0 && o.stderr.contains("committed 2 paths (and 1 directory) as workspace version 1"), "\(o)")
        #expect(fx.read("Sources/main.swift") == "v1\n" && fx.read("Sources/new.swift") == "new\n")
        #expect(fx.keptViews().isEmpty, "a committed view is removed")
        let log = fx.warden(["gate", "log", "--json"])
        #expect(log.stdout.contains("\"seq\":1,\"role\":\"code\""), "\(log)")
        // Control: Landlock still holds inside the view.
        let denied = fx.run(profile: "code", ["sh", "-c", "echo x > Tests/main_tests.swift"])
        #expect(denied.status != 0 && fx.read("Tests/main_tests.swift") == "// tests\n", "\(denied)")
    }

    /// overlayfs splits its mount options on commas and its lower layers on colons: a
    /// workspace whose name holds both (and the backslash that escapes them) still gets its view.
    @Test(arguments: Identity.all)
    func aWorkspaceNameWithOverlaySeparatorsStillGetsItsView(_ id: Identity) {
        let fx = Fixture(id, name: "w,s:1\\x")
        let o = fx.run(profile: "code", ["sh", "-c", "echo v2 > Sources/main.swift"])
        #expect(o.status == 0 && o.stderr.contains("as workspace version 1"), "\(o)")
        #expect(fx.read("Sources/main.swift") == "v2\n")
    }

    /// Each run discards its view into the trash, and the runs after it empty the trash once
    /// their agent has started (a run whose agent ends first waits for that at exit once more
    /// than 8 views pile up): a loop of quick runs keeps the trash bounded. Fails if the
    /// housekeeping never starts; the wait itself is rarely needed in a debug build, whose
    /// runs are slow enough for the housekeeping to finish on its own.
    @Test(arguments: Identity.all)
    func quickRunsDoNotPileUpDiscardedViews(_ id: Identity) {
        let fx = Fixture(id)
        for _ in 0..<14 {
            let o = fx.run(profile: "code", ["true"])
            #expect(o.status == 0, "\(o)")
        }
        let trash = (try? FileManager.default.contentsOfDirectory(atPath: fx.path(".warden/views/.trash"))) ?? []
        #expect(trash.count <= 9, "\(trash.count) views in the trash")
        #expect(fx.keptViews().isEmpty)
    }

    /// An agent's reads do not change when another agent commits during its run.
    @Test(arguments: Identity.all)
    func readsStayAtTheBaseVersion(_ id: Identity) {
        let fx = Fixture(id)
        // The agent signals through its upper layer (visible on the host); the host answers
        // through .warden/tasks, which every view binds in live.
        let reader = fx.start(profile: "code", ["sh", "-c",
            "cat Sources/main.swift; touch Sources/ready; while [ ! -e .warden/tasks/go ]; do sleep 0.05; done; cat Sources/main.swift; ls Sources"])
        #expect(fx.upperHolding("Sources/ready") != nil)
        let writer = fx.run(profile: "code", ["sh", "-c", "echo v2 > Sources/main.swift && echo added > Sources/added.swift"])
        #expect(writer.status == 0 && fx.read("Sources/main.swift") == "v2\n", "\(writer)")
        fx.write(".warden/tasks/go", "")
        let o = reader.wait()
        #expect(o.status == 0, "\(o)")
        #expect(o.stdout == "print(\"main\")\nprint(\"main\")\nmain.swift\nready\n", "the reader saw another agent's commit: \(o)")
        // Its own (disjoint) change still lands on top of the other's.
        #expect(fx.exists("Sources/ready") && fx.read("Sources/main.swift") == "v2\n")
    }

    /// Two agents change the same file from the same base: the second to finish is refused
    /// (exit 73), its view kept, the first agent's change intact.
    @Test(arguments: Identity.all)
    func aStaleChangeIsAConflictNotAnOverwrite(_ id: Identity) {
        let fx = Fixture(id)
        let slow = fx.start(profile: "code", ["sh", "-c",
            "echo slow > Sources/main.swift; touch Sources/ready; while [ ! -e .warden/tasks/go ]; do sleep 0.05; done"])
        #expect(fx.upperHolding("Sources/ready") != nil)
        let fast = fx.run(profile: "code", ["sh", "-c", "echo fast > Sources/main.swift"])
        #expect(fast.status == 0, "\(fast)")
        fx.write(".warden/tasks/go", "")
        let o = slow.wait()
        #expect(o.status == 73, "\(o)")
        #expect(o.stderr.contains("Sources/main.swift: conflict: changed since version 0 by commit 1"), "\(o)")
        #expect(fx.read("Sources/main.swift") == "fast\n")
        let views = fx.keptViews()
        #expect(views.count == 1, "\(views)")
        let changes = fx.warden(["changes", views.first ?? "?", "--json"])
        #expect(changes.status == 0 && changes.stdout.contains("{\"path\":\"Sources/main.swift\",\"action\":\"write\""), "\(changes)")
    }

    /// What a hostile agent can make inside its write zone but the gate refuses: each is
    /// produced for real by the kernel in the agent's view, and the whole changeset goes.
    @Test(arguments: Identity.all)
    func aHostileChangesetIsRefusedWhole(_ id: Identity) {
        let fx = Fixture(id)
        let p = fx.probe
        let o = fx.run(profile: fx.profile("code"), ["sh", "-c", """
            echo fine > Sources/fine.swift
            ln -s /etc/passwd Sources/escape
            ln -s ../../outside Sources/dotdot
            ln Sources/main.swift Sources/hardlink
            echo s > Sources/setuid && chmod 4755 Sources/setuid
            \(p) mkfifo Sources/fifo
            exit 0
            """])
        #expect(o.status == 73, "\(o)")
        // A FIFO never gets that far: Landlock grants no zone the right to make one.
        #expect(o.stdout.contains("err mknod EACCES"), "\(o)")
        for expected in ["Sources/escape: type:", "Sources/dotdot: type:", "Sources/hardlink: type:",
                         "Sources/setuid: type:"] {
            #expect(o.stderr.contains(expected), "missing \(expected): \(o)")
        }
        #expect(!fx.exists("Sources/fine.swift"), "nothing of a refused changeset is applied")
        #expect(fx.read("Sources/main.swift") == "print(\"main\")\n")
        #expect(fx.keptViews().count == 1, "the refused view is kept")
        let log = fx.warden(["gate", "log"])
        #expect(log.stdout.isEmpty, "\(log)")
    }

    /// A role whose own zones cover everything still cannot change another role's ownership
    /// zone (workspace policy): Landlock lets the write into the view, the gate refuses it,
    /// and the refusal is an audit row of kind gate.
    @Test(arguments: Identity.all)
    func anotherRolesOwnershipZoneIsRefusedAtTheGate(_ id: Identity) {
        let fx = Fixture(id)
        fx.write("policies/workspace.yaml", "ownership: { \"Tests/**\": test }\n")
        let all = fx.profile("code", extra: "write: [\"**\"]\n")
        let o = fx.run(profile: all, ["sh", "-c", "echo mine > Tests/main_tests.swift && echo ok > Sources/ok.swift"])
        #expect(o.status == 73 && o.stderr.contains("Tests/main_tests.swift: ownership:"), "\(o)")
        #expect(fx.read("Tests/main_tests.swift") == "// tests\n" && !fx.exists("Sources/ok.swift"))
        let audit = fx.warden(["audit", "--kind", "gate", "--json"])
        #expect(audit.stdout.contains("\"decision\":\"denied\"") && audit.stdout.contains("Tests/main_tests.swift"), "\(audit)")
        // Control: the owner's own change goes through.
        let owner = fx.run(profile: "test", ["sh", "-c", "echo theirs > Tests/main_tests.swift"])
        #expect(owner.status == 0 && fx.read("Tests/main_tests.swift") == "theirs\n", "\(owner)")
    }

    /// `.git` is bound in read-only and the gate's own directories are hidden: an agent whose
    /// zones cover everything still cannot reach them.
    @Test(arguments: Identity.all)
    func gitAndTheGatesDirectoriesAreOutOfReach(_ id: Identity) {
        let fx = Fixture(id)
        fx.write(".git/config", "[core]\n")
        // Prepares a snapshot, so that .warden/gate/snapshots has something to reach for.
        #expect(fx.run(profile: "code", ["true"]).status == 0)
        let all = fx.profile("code", extra: "write: [\"**\"]\n")
        let o = fx.run(profile: all, ["sh", "-c", """
            if echo hacked > .git/config; then echo "git written"; else echo "git refused"; fi
            ls -A .warden/gate | wc -l; ls -A .warden/views | wc -l
            if echo x > .warden/gate/snapshots/0/Sources/main.swift; then echo "snap written"; else echo "snap refused"; fi
            """])
        #expect(o.stdout.contains("git refused") && o.stdout.contains("snap refused"), "\(o)")
        #expect(o.stdout.contains("0\n0\n"), "the gate's directories are visible: \(o)")
        #expect(fx.read(".git/config") == "[core]\n")
        #expect(fx.read("Sources/main.swift") == "print(\"main\")\n")
    }

    /// Snapshots nothing needs go by the time `warden run` exits (now done after the status
    /// is settled, off a served run's path): a committed run's base is patched into the next
    /// snapshot, a kept view's stays, and of the free ones the newest stays as the spare.
    @Test(arguments: Identity.all)
    func staleSnapshotsGoByTheRunsExit(_ id: Identity) {
        let fx = Fixture(id)
        func versions() -> Set<String> {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: fx.path(".warden/gate/snapshots"))) ?? []
            return Set(names.filter { Int($0) != nil })
        }
        let kept = fx.run(profile: "code", ["sh", "-c", "echo kept > Sources/kept.swift"], options: ["--commit", "never"])
        #expect(kept.status == 0 && versions() == ["0"], "\(kept) \(versions())")
        let first = fx.run(profile: "code", ["sh", "-c", "echo one > Sources/one.swift"])
        #expect(first.status == 0 && versions() == ["0", "1"], "the kept view's base stays: \(first) \(versions())")
        let views = (try? FileManager.default.contentsOfDirectory(atPath: fx.path(".warden/views"))) ?? []
        for view in views where !view.hasPrefix(".") { try? FileManager.default.removeItem(atPath: fx.path(".warden/views/" + view)) }
        let second = fx.run(profile: "code", ["sh", "-c", "echo two > Sources/two.swift"])
        #expect(second.status == 0 && versions() == ["0", "2"], "\(second) \(versions())")
    }

    /// A process the agent leaves behind, writing through a held descriptor, is gone with the
    /// sandbox before the changeset is read: what was committed is what the view held.
    @Test(arguments: Identity.all)
    func aLeftoverWriterIsStoppedBeforeCapture(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.run(profile: "code", ["sh", "-c",
            "(exec 3>>Sources/log; while :; do echo x >&3; done) & sleep 0.3; exit 0"], options: ["--keep"])
        #expect(o.status == 0, "\(o)")
        let views = fx.keptViews()
        #expect(views.count == 1, "\(views)")
        let upper = fx.ws + "/.warden/views/\(views.first ?? "?")/upper/Sources/log"
        let before = (try? FileManager.default.attributesOfItem(atPath: upper)[.size] as? Int) ?? nil
        usleep(300_000)
        let after = (try? FileManager.default.attributesOfItem(atPath: upper)[.size] as? Int) ?? nil
        #expect(before != nil && before == after, "the view is still being written: \(String(describing: before)) → \(String(describing: after))")
        #expect(fx.size("Sources/log") == before, "committed \(String(describing: fx.size("Sources/log"))) bytes, view holds \(String(describing: before))")
    }

    /// A failed agent's changes are kept, not applied; --no-view writes directly and the
    /// audit records that the user chose it.
    @Test(arguments: Identity.all)
    func failedAgentsAreKeptAndNoViewIsOnRecord(_ id: Identity) {
        let fx = Fixture(id)
        let failed = fx.run(profile: "code", ["sh", "-c", "echo half > Sources/half.swift; exit 3"])
        #expect(failed.status == 3 && failed.stderr.contains("not submitted (the agent exited with 3)"), "\(failed)")
        #expect(!fx.exists("Sources/half.swift") && fx.keptViews().count == 1)
        // Submitted by hand afterwards, it goes through the gate like any other.
        let applied = fx.warden(["gate", "apply", "--view", fx.keptViews().first ?? "?"])
        #expect(applied.status == 0 && fx.read("Sources/half.swift") == "half\n" && fx.keptViews().isEmpty, "\(applied)")
        let direct = fx.run(profile: "code", ["sh", "-c", "echo direct > Sources/direct.swift; exit 3"], options: ["--no-view"])
        #expect(direct.status == 3 && fx.read("Sources/direct.swift") == "direct\n", "\(direct)")
        let audit = fx.warden(["audit", "--kind", "launch", "--json"])
        #expect(audit.stdout.contains("\"decision\":\"degraded\"") && audit.stdout.contains("--no-view"), "\(audit)")
    }
}
