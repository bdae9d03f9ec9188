// `gate revert`: the inverse of a commit, applied as a new commit through the same validated,
// crash-safe path, and refused whole when a later commit changed any of its paths.

import Foundation
import Glibc
import Testing
@testable import WardenGate

@Suite struct RevertTests {
    /// Commits what `prepare` puts in a fresh upper directory, as role code.
    func commit(_ fx: GateFixture, _ gate: Gate, run: String = "r", _ prepare: () -> Void) throws -> Int64 {
        fx.resetUpper()
        prepare()
        return try gate.commit(try fx.scan(base: try gate.version()), validator: validator("code", ["Sources/**", "docs/**"]), run: run)
    }

    @Test func aWriteANewFileADeleteAndALinkComeBack() throws {
        let fx = GateFixture()
        put(fx.workspace + "/Sources/old.swift", "old\n")
        chmod(fx.workspace + "/Sources/old.swift", 0o640)
        symlink("main.swift", fx.workspace + "/Sources/link")
        let gate = try fx.gate()
        let before = fx.snapshot()
        let seq = try commit(fx, gate) {
            fx.agentWrites("Sources/main.swift", "main v1\n")          // a write
            fx.agentWrites("Sources/created.swift", "created\n")       // a new file
            mkdirs(fx.upper + "/Sources")
            mknod(fx.upper + "/Sources/old.swift", S_IFCHR | 0o600, 0)  // a delete (whiteout, root only)
            symlink("created.swift", fx.upper + "/Sources/link")        // a link replaced
            symlink("main.swift", fx.upper + "/Sources/newlink")        // a new link
        }
        #expect(fx.read("Sources/main.swift") == "main v1\n" && fx.read("Sources/created.swift") == "created\n")

        let undo = try gate.revert(seq, validator: .human(), run: "")
        #expect(undo == seq + 1)
        #expect(fx.snapshot() == before, "\(fx.snapshot())")
        var st = stat()
        #expect(lstat(fx.workspace + "/Sources/old.swift", &st) == 0 && st.st_mode & 0o777 == 0o640)
        let c = try #require(try gate.store.commit(undo))
        #expect(c.role == "human" && c.base == seq && c.task == "revert of commit \(seq)")
        #expect(try gate.scanHumanEdits().isEmpty)

        // The revert is a commit like any other: it can be reverted in turn.
        try gate.revert(undo, validator: .human(), run: "")
        #expect(fx.read("Sources/main.swift") == "main v1\n" && fx.read("Sources/created.swift") == "created\n")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: fx.workspace + "/Sources/link")) == "created.swift")
    }

    @Test func aDeletedTreeComesBackWhole() throws {
        let fx = GateFixture()
        put(fx.workspace + "/docs/a/one.md", "one\n")
        put(fx.workspace + "/docs/a/b/two.md", "two\n")
        let gate = try fx.gate()
        let before = fx.snapshot()
        let seq = try gate.commit(Changeset(base: 0, entries: [.init("docs/a", .delete)]),
                                  validator: validator("code", ["docs/**"]), run: "r")
        #expect(fx.read("docs/a/one.md") == nil)
        try gate.revert(seq, validator: .human(), run: "")
        #expect(fx.snapshot() == before)
    }

    @Test func aSupersededCommitIsRefusedAndNothingChanges() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        let first = try commit(fx, gate, run: "run-1") { fx.agentWrites("Sources/main.swift", "main v1\n") }
        let second = try commit(fx, gate, run: "run-2") {
            fx.agentWrites("Sources/main.swift", "main v2\n")
            fx.agentWrites("Sources/more.swift", "more\n")
        }
        let before = fx.snapshot()
        do {
            try gate.revert(first, validator: .human(), run: "")
            Issue.record("reverting a superseded commit went through")
        } catch let r as GateRejection {
            #expect(r.findings.map(\.path) == ["Sources/main.swift"] && r.findings[0].rule == .conflict, "\(r)")
            #expect(r.findings[0].message.contains("by commit \(second) (role code, run run-2"), "\(r)")
        }
        #expect(fx.snapshot() == before)
        #expect(try gate.version() == second)

        // The latest one reverts cleanly.
        try gate.revert(second, validator: .human(), run: "")
        #expect(fx.read("Sources/main.swift") == "main v1\n" && fx.read("Sources/more.swift") == nil)
    }

    @Test func aHandEditSinceIsAConflictAndHandEditsCannotBeReverted() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        let seq = try commit(fx, gate) { fx.agentWrites("Sources/main.swift", "main v1\n") }
        put(fx.workspace + "/Sources/main.swift", "by hand\n")
        #expect(throws: GateRejection.self) { try gate.revert(seq, validator: .human(), run: "") }
        #expect(fx.read("Sources/main.swift") == "by hand\n")
        let human = seq + 1
        #expect(try gate.store.commit(human)?.role == "human")
        #expect(throws: RevertRefusal.self) { try gate.revert(human, validator: .human(), run: "") }
        #expect(throws: RevertRefusal.self) { try gate.revert(99, validator: .human(), run: "") }
    }

    @Test func aRevertAsARoleStaysInItsZones() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        let seq = try gate.commit(Changeset(base: 0, entries: [.init("Tests/t.swift", .delete)]),
                                  validator: validator("test", ["Tests/**"]), run: "r")
        do {
            try gate.revert(seq, validator: validator("code"), run: "")
            Issue.record("code restored a file in Tests/")
        } catch let r as GateRejection {
            #expect(r.findings.map(\.rule) == [.zone], "\(r)")
        }
        #expect(fx.read("Tests/t.swift") == nil)
        try gate.revert(seq, validator: validator("test", ["Tests/**"]), run: "")
        #expect(fx.read("Tests/t.swift") == "test v0\n")
    }

    @Test func cliRevert() throws {
        let fx = GateFixture()
        fx.agentWrites("Sources/main.swift", "main v1\n")
        #expect(wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper], cwd: fx.workspace).status == 0)
        let undo = wardenCLI(["gate", "revert", "1"], cwd: fx.workspace)
        #expect(undo.status == 0 && undo.out.contains("committed version 2"), "\(undo)")
        #expect(fx.read("Sources/main.swift") == "main v0\n")
        let stale = wardenCLI(["gate", "revert", "1", "--as", "code"], cwd: fx.workspace)
        #expect(stale.status == 73 && stale.err.contains("Sources/main.swift: conflict: changed since version 1 by commit 2 (role human"),
                "\(stale)")
        let none = wardenCLI(["gate", "revert", "42"], cwd: fx.workspace)
        #expect(none.status == 73 && none.err.contains("no commit 42"), "\(none)")
    }
}
