// Edits made by hand in the workspace: found by the manifest scan before every commit and
// recorded as a commit by `human`, so an agent's stale change to the same file is a conflict.

import CFileOps
import Foundation
import Glibc
import Testing
@testable import WardenGate

@Suite struct HumanEditTests {
    @Test func whatTheGateFirstSeesIsNotAnEdit() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        #expect(try gate.scanHumanEdits().isEmpty)
        #expect(try gate.recordHumanEdits() == nil)
        #expect(try gate.version() == 0)
    }

    @Test func editsCreationsAndDeletionsAreFoundAndRecorded() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        put(fx.workspace + "/Sources/main.swift", "edited by hand\n")
        put(fx.workspace + "/docs/notes.md", "new\n")
        symlink("../Sources/main.swift", fx.workspace + "/docs/link")
        unlink(fx.workspace + "/Tests/t.swift")
        // The gate's own places are not the workspace's content.
        put(fx.workspace + "/.git/config", "[core]\n")
        put(fx.workspace + "/.warden/tasks/1.md", "task\n")
        let edits = try gate.scanHumanEdits()
        #expect(edits.since == 0)
        #expect(edits.changes.map { "\($0.action) \($0.path)" }
                == ["write Sources/main.swift", "delete Tests/t.swift", "write docs/link", "write docs/notes.md"], "\(edits)")
        #expect(edits.changes[0].hash == sha256(Data("edited by hand\n".utf8)))
        #expect(edits.changes[2].hash == sha256(Data("../Sources/main.swift".utf8)))

        #expect(try gate.recordHumanEdits() == 1)
        let c = try #require(try gate.store.commit(1))
        #expect(c.role == "human" && c.base == 0 && c.changes.count == 4)
        #expect(try gate.scanHumanEdits().isEmpty)
        #expect(try gate.recordHumanEdits() == nil)
    }

    @Test func theGatesOwnCommitsAreNotHandEdits() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        fx.agentWrites("Sources/new.swift", "new\n")
        fx.agentWrites("Sources/main.swift", "main v1\n")
        fx.agentWrites("Sources/tree/deep/a.swift", "a\n")
        symlink("main.swift", fx.upper + "/Sources/alias")
        try gate.commit(try fx.scan(), validator: validator(), run: "r1")
        #expect(try gate.scanHumanEdits().isEmpty)

        // A deletion and an opaque directory replacing a tree.
        fx.resetUpper()
        mkdirs(fx.upper + "/Sources/tree")
        #expect(setxattr(fx.upper + "/Sources/tree", "user.overlay.opaque", "y", 1, 0) == 0)
        fx.agentWrites("Sources/tree/only.swift", "only\n")
        let changeset = try fx.scan(base: 1)
        var entries = changeset.entries
        entries.append(.init("Sources/new.swift", .delete))
        try gate.commit(Changeset(base: 1, entries: entries), validator: validator(), run: "r2")
        #expect(fx.read("Sources/tree/only.swift") == "only\n" && fx.read("Sources/tree/deep/a.swift") == nil)
        #expect(try gate.scanHumanEdits().isEmpty)
        #expect(try gate.version() == 2)
    }

    @Test func aSnapshotByHardLinksIsNoEditButANewInodeIs() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        // A view's lower layer made of hard links changes every file's ctime, nothing else.
        mkdirs(fx.base + "/snap/Sources")
        #expect(link(fx.workspace + "/Sources/main.swift", fx.base + "/snap/Sources/main.swift") == 0)
        #expect(try gate.scanHumanEdits().isEmpty)

        // Same bytes, same mtime, but another file: replaced, so a change.
        var st = stat()
        stat(fx.workspace + "/Tests/t.swift", &st)
        put(fx.workspace + "/Tests/t.swift.new", "test v0\n")
        var times = [st.st_atim, st.st_mtim]
        #expect(utimensat(AT_FDCWD, fx.workspace + "/Tests/t.swift.new", &times, 0) == 0)
        #expect(rename(fx.workspace + "/Tests/t.swift.new", fx.workspace + "/Tests/t.swift") == 0)
        #expect(try gate.scanHumanEdits().changes.map(\.path) == ["Tests/t.swift"])

        chmod(fx.workspace + "/Sources/main.swift", 0o600)
        #expect(try gate.scanHumanEdits().changes.map(\.path) == ["Sources/main.swift", "Tests/t.swift"])
    }

    @Test func aHumanEditRacingAnAgentIsAConflictNotAnOverwrite() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        let base = try gate.version()
        // The agent works on version 0 ...
        fx.agentWrites("Sources/main.swift", "agent's main\n")
        // ... while someone edits the same file in the workspace.
        put(fx.workspace + "/Sources/main.swift", "human's main\n")
        do {
            try gate.commit(try fx.scan(base: base), validator: validator(), run: "run-7")
            Issue.record("the agent's stale change overwrote a hand edit")
        } catch let r as GateRejection {
            #expect(r.findings.map(\.rule) == [.conflict], "\(r)")
            #expect(r.findings[0].path == "Sources/main.swift")
            #expect(r.findings[0].message.contains("by commit 1 (role human, "), "\(r)")
        }
        #expect(fx.read("Sources/main.swift") == "human's main\n")
        let human = try #require(try gate.store.commit(1))
        #expect(human.role == "human" && human.changes.map(\.path) == ["Sources/main.swift"])

        // A change that does not touch the edited file still lands on the same base.
        fx.resetUpper()
        fx.agentWrites("Sources/other.swift", "other\n")
        #expect(try gate.commit(try fx.scan(base: base), validator: validator(), run: "run-8") == 2)
        #expect(fx.read("Sources/other.swift") == "other\n" && fx.read("Sources/main.swift") == "human's main\n")
    }

    @Test func statusSaysWhatIsPending() throws {
        let fx = GateFixture()
        _ = try fx.gate()
        put(fx.workspace + "/Sources/main.swift", "by hand\n")
        put(fx.workspace + "/README.md", "hello\n")
        let status = wardenCLI(["gate", "status"], cwd: fx.workspace)
        #expect(status.status == 0 && status.out.contains("2 paths edited by hand since version 0; the next commit records them"),
                "\(status)")
        #expect(status.out.contains("write     README.md"), "\(status)")
        let json = wardenCLI(["gate", "status", "--json"], cwd: fx.workspace)
        #expect(json.out.contains("\"hand_edits\":[{\"path\":\"README.md\",\"action\":\"write\"},"), "\(json)")
    }
}
