// `gate.git_commits: true` on a real repository made with `git init`.

import Foundation
import Testing
@testable import WardenGate

let gitInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/git")
    || FileManager.default.isExecutableFile(atPath: "/usr/local/bin/git")

@discardableResult
func git(_ args: [String], in dir: String) -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["git", "-C", dir, "-c", "user.name=tester", "-c", "user.email=t@example.com"] + args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    do { try p.run() } catch { return (-1, "\(error)") }
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}

@Suite(.enabled(if: gitInstalled, "git is not installed: the git_commits tests need the git executable"))
struct GitCommitTests {
    func repository() -> GateFixture {
        let fx = GateFixture()
        put(fx.workspace + "/Sources/gone.swift", "to delete\n")
        git(["init", "-q"], in: fx.workspace)
        git(["add", "-A"], in: fx.workspace)
        git(["commit", "-q", "-m", "initial"], in: fx.workspace)
        return fx
    }

    @Test func eachGateCommitIsAGitCommitOfExactlyItsPaths() throws {
        let fx = repository()
        let gate = try fx.gate()
        // A change the user made and staged is a hand edit: its own gate commit and git
        // commit, by human, before the agent's.
        put(fx.workspace + "/Tests/t.swift", "staged by the user\n")
        git(["add", "Tests/t.swift"], in: fx.workspace)
        fx.agentWrites("Sources/main.swift", "main v1\n")
        fx.agentWrites("Sources/new file.swift", "new\n")
        let changeset = try fx.scan()
        let entries = changeset.entries + [.init("Sources/gone.swift", .delete)]
        let result = try gate.submit(Changeset(base: 0, entries: entries), validator: validator(), run: "7",
                                     task: "fix the build", reporting: GateReporting(gitCommits: true))
        #expect(result.warnings.isEmpty, "\(result.warnings)")
        #expect(result.handEdits == 1 && result.seq == 2)

        let head = git(["log", "-1", "--format=%an <%ae>|%cn|%s|%b"], in: fx.workspace).out
        #expect(head.hasPrefix("code <code@warden.local>|code|warden: code run 7 (gate commit 2)|fix the build"), "\(head)")
        let files = git(["show", "--name-status", "--format=", "HEAD"], in: fx.workspace).out
        #expect(files == "D\tSources/gone.swift\nM\tSources/main.swift\nA\tSources/new file.swift\n", "\(files)")
        let human = git(["log", "-1", "--skip=1", "--format=%an|%s", "--name-status"], in: fx.workspace).out
        #expect(human.contains("human|warden: human (gate commit 1)") && human.contains("M\tTests/t.swift"), "\(human)")
        let status = git(["status", "--porcelain"], in: fx.workspace).out
        #expect(!status.contains("Sources/"), "the gate's paths are committed: \(status)")
    }

    @Test func aGitFailureIsAWarningAndTheGateCommitStands() throws {
        let fx = repository()
        let gate = try fx.gate()
        put(fx.workspace + "/.git/index.lock", "")
        fx.agentWrites("Sources/main.swift", "main v1\n")
        let result = try gate.submit(try fx.scan(), validator: validator(), run: "8", reporting: GateReporting(gitCommits: true))
        #expect(result.seq == 1 && fx.read("Sources/main.swift") == "main v1\n")
        #expect(result.warnings.count == 1 && result.warnings[0].contains("the gate commit stands"), "\(result.warnings)")
        #expect(git(["log", "--format=%s"], in: fx.workspace).out == "initial\n")
    }

    @Test func withoutTheSettingNoGitCommitIsMade() throws {
        let fx = repository()
        fx.agentWrites("Sources/main.swift", "main v1\n")
        let ok = wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper], cwd: fx.workspace)
        #expect(ok.status == 0, "\(ok)")
        #expect(git(["log", "--format=%s"], in: fx.workspace).out == "initial\n")

        // Through the CLI with the policy on (the policy file is a hand edit, committed first).
        put(fx.workspace + "/policies/gate.yaml", "gate: { git_commits: true }\n")
        fx.resetUpper()
        fx.agentWrites("Sources/main.swift", "main v2\n")
        let on = wardenCLI(["gate", "apply", "--profile", "code", "--from", fx.upper, "--run", "9"], cwd: fx.workspace)
        #expect(on.status == 0, "\(on)")
        #expect(git(["log", "--format=%s"], in: fx.workspace).out
                == "warden: code run 9 (gate commit 3)\nwarden: human (gate commit 2)\ninitial\n")
    }
}
