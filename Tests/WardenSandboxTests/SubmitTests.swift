// `warden submit` from inside a running sandbox: the agent's changes reach the workspace
// while it keeps running, validated and applied from a copy taken while every process of the
// sandbox was stopped; later changesets leave out what was already committed; the control
// channel is hostile input.

import Foundation
import Glibc
import Testing

extension Fixture {
    /// Polls until `rel` in the workspace reads `text` (or gives up after ~10 s).
    func waitFor(_ rel: String, _ text: String) -> Bool {
        for _ in 0..<1000 {
            if read(rel) == text { return true }
            usleep(10_000)
        }
        return false
    }

    /// `warden gate show SEQ --json`'s sha256 for `rel`.
    func committedHash(_ seq: Int, _ rel: String) -> String? {
        let show = warden(["gate", "show", "\(seq)", "--json"])
        let marker = "{\"path\":\"\(rel)\",\"action\":\"write\",\"sha256\":\""
        guard let r = show.stdout.range(of: marker) else { return nil }
        return String(show.stdout[r.upperBound...].prefix(64))
    }
}

func sha256Hex(file: String) -> String {
    String(spawn(["/usr/bin/sha256sum", file], env: ["PATH": "/usr/bin:/bin"], cwd: "/").wait().stdout.prefix(64))
}

/// The byte runs of `data`: (byte, length).
func runs(_ data: Data) -> [(UInt8, Int)] {
    var out: [(UInt8, Int)] = []
    for b in data {
        if let last = out.last, last.0 == b { out[out.count - 1].1 += 1 } else { out.append((b, 1)) }
    }
    return out
}

/// What mmap-writer's file holds at one instant: one pass whole, or the next pass's prefix
/// over the previous pass's rest (the writer was stopped mid-pass: a freeze stops a process
/// wherever it is). A copy read while the writer runs spans several passes instead.
func isOneInstant(_ data: Data) -> Bool {
    let r = runs(data)
    if r.count == 1 { return true }
    guard r.count == 2 else { return false }
    let next = UInt8(ascii: "a") + (r[1].0 - UInt8(ascii: "a") + 1) % 26
    return r[0].0 == next
}

/// One line on the control channel, one reply line back (the shell's way, no warden inside).
let submitLine = "printf 'submit\\n' >&3; read -r reply <&3; echo \"reply: $reply\""

@Suite struct SubmitTests {
    /// Submit mid-run: the workspace has the file while the agent still runs; the exit
    /// changeset then holds only what changed since (a second commit, no conflict with the
    /// agent's own first one).
    @Test(arguments: Identity.all)
    func aMidRunSubmitCommitsAndTheExitCommitsOnlyWhatIsNew(_ id: Identity) {
        let fx = Fixture(id)
        let agent = fx.start(profile: "code", ["sh", "-c", """
            test "$WARDEN_CONTROL_FD" = 3 || exit 9
            echo v1 > Sources/main.swift && echo one > Sources/one.swift
            printf 'submit first step\\n' >&3; read -r reply <&3; echo "reply: $reply"
            while [ ! -e .warden/tasks/go ]; do sleep 0.05; done
            echo two > Sources/two.swift
            echo v2 > Sources/main.swift
            rm Sources/one.swift
            """])
        // The first commit lands while the agent waits.
        #expect(fx.waitFor("Sources/main.swift", "v1\n") && fx.read("Sources/one.swift") == "one\n")
        #expect(!fx.exists("Sources/two.swift"))
        var st: Int32 = 0
        #expect(waitpid(agent.pid, &st, WNOHANG) == 0, "the agent is still running")
        fx.write(".warden/tasks/go", "")
        let o = agent.wait()
        #expect(o.status == 0, "\(o)")
        #expect(o.stdout == "reply: committed 1\n", "\(o)")
        #expect(o.stderr.contains("committed 3 paths as workspace version 2 (base 0)"), "\(o)")
        #expect(fx.read("Sources/main.swift") == "v2\n" && fx.read("Sources/two.swift") == "two\n")
        // one.swift existed only in the view's upper layer: removing it there is a deletion.
        #expect(!fx.exists("Sources/one.swift"))
        let log = fx.warden(["gate", "log", "--json"])
        #expect(log.stdout.contains("\"seq\":2") && log.stdout.contains("\"seq\":1") && !log.stdout.contains("\"seq\":3"), "\(log)")
        #expect(log.stdout.contains("first step"), "the task reached the commit: \(log)")
        let second = fx.warden(["gate", "show", "2", "--json"])
        #expect(second.stdout.contains("\"path\":\"Sources/two.swift\"") && second.stdout.contains("\"path\":\"Sources/main.swift\"")
                && second.stdout.contains("{\"path\":\"Sources/one.swift\",\"action\":\"delete\""), "\(second)")
        #expect(!second.stdout.contains("\"path\":\"Sources\""), "the unchanged directory is not submitted again: \(second)")
        #expect(fx.keptViews().isEmpty)
    }

    /// `warden submit` itself, run inside the sandbox: a run with a view may execute the
    /// runner's own executable (`$WARDEN_EXE`: warden-core, what the front becomes), though
    /// no profile lists it; outside a sandbox it refuses with 64.
    @Test(arguments: Identity.all)
    func theSubmitCommandWorksInsideAndRefusesOutside(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.run(profile: "code", ["sh", "-c", """
            test "$WARDEN_EXE" = "\(Binaries.core)" || exit 9
            "$WARDEN_EXE" submit; echo "rc=$?"
            echo new > Sources/new.swift
            "$WARDEN_EXE" submit add new; echo "rc=$?"
            "$WARDEN_EXE" submit; echo "rc=$?"
            """])
        #expect(o.status == 0, "\(o)")
        #expect(o.stdout == "nothing\nrc=0\ncommitted 1\nrc=0\nnothing\nrc=0\n", "\(o)")
        #expect(fx.read("Sources/new.swift") == "new\n")
        #expect(!o.stderr.contains("as workspace version 2"), "nothing left to commit at exit: \(o)")
        let outside = spawn(id.prefix + [fx.warden, "submit"], env: fx.environment(), cwd: fx.ws).wait()
        #expect(outside.status == 64 && outside.stderr.contains("only inside `warden run`"), "\(outside)")
        // Without a view there is no channel, and warden is not executable inside.
        let noView = fx.run(profile: "code", ["sh", "-c", "echo \"[$WARDEN_EXE]\"; \(fx.warden) submit"], options: ["--no-view"])
        #expect(noView.status == 126 && noView.stdout == "[]\n", "\(noView)")
    }

    /// A submit that conflicts with another agent's commit is refused with the report; the
    /// agent keeps running, and its later, fixed submit goes through.
    @Test(arguments: Identity.all)
    func aConflictingSubmitIsRefusedAndTheAgentRunsOn(_ id: Identity) {
        let fx = Fixture(id)
        let slow = fx.start(profile: "code", ["sh", "-c", """
            echo slow > Sources/main.swift; touch Sources/ready
            while [ ! -e .warden/tasks/go ]; do sleep 0.05; done
            \(submitLine)
            echo still running
            echo fine > Sources/fine.swift
            rm Sources/main.swift
            \(submitLine)
            """])
        #expect(fx.upperHolding("Sources/ready") != nil)
        let fast = fx.run(profile: "code", ["sh", "-c", "echo fast > Sources/main.swift"])
        #expect(fast.status == 0, "\(fast)")
        fx.write(".warden/tasks/go", "")
        let o = slow.wait()
        let lines = o.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(o)")
        #expect(lines.first?.hasPrefix("reply: refused: Sources/main.swift: conflict: changed since version 0 by commit 1") == true, "\(o)")
        #expect(lines.dropFirst().first == "still running", "\(o)")
        // Its deletion of main.swift still conflicts with commit 1: refused again, whole.
        #expect(lines.last?.hasPrefix("reply: refused: Sources/main.swift: conflict") == true, "\(o)")
        #expect(o.status == 73, "the exit changeset is refused too: \(o)")
        #expect(fx.read("Sources/main.swift") == "fast\n" && !fx.exists("Sources/fine.swift"))
        let audit = fx.warden(["audit", "--kind", "gate", "--json"])
        #expect(audit.stdout.contains("\"decision\":\"denied\""), "\(audit)")
    }

    /// Garbage, a 1 MB line, bad UTF-8, a flood of requests nobody reads the replies to, and a
    /// channel closed mid-request: the runner answers what it can, drops the channel when it
    /// must, and the run ends with the agent's own status.
    @Test(arguments: Identity.all)
    func aHostileControlChannelLeavesTheRunnerSound(_ id: Identity) {
        let fx = Fixture(id)
        let p = fx.probe
        let profile = fx.profile("code")
        let o = fx.run(profile: profile, ["sh", "-c", """
            \(p) control-line 1048576
            printf 'garbage\\n' >&3; read -r reply <&3; echo "reply: $reply"
            printf 'submit \\001\\n' >&3; read -r reply <&3; echo "reply: $reply"
            printf '\\377\\n' >&3; read -r reply <&3; echo "reply: $reply"
            \(submitLine)
            \(p) control-spam 2000000 >/dev/null
            exit 7
            """], timeout: 60)
        #expect(o.status == 7, "\(o)")
        let lines = o.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5, "\(o)")
        #expect(lines.first == "ok error: a request is one line of at most 4096 bytes", "\(o)")
        #expect(lines.dropFirst().first?.hasPrefix("reply: error: unknown request") == true, "\(o)")
        #expect(lines.dropFirst(2).first?.hasPrefix("reply: error: the task must be") == true, "\(o)")
        #expect(lines.dropFirst(3).first == "reply: error: the request is not UTF-8", "\(o)")
        #expect(lines.dropFirst(4).first == "reply: nothing", "\(o)")

        let closed = fx.run(profile: "code", ["sh", "-c", "printf 'submit' >&3; exec 3>&-; sleep 0.2; echo x > Sources/x.swift; exit 5"])
        #expect(closed.status == 5 && closed.stderr.contains("not submitted (the agent exited with 5)"), "\(closed)")
        // A request cut short by the close is never answered, so nothing was committed.
        let log = fx.warden(["gate", "log"])
        #expect(log.stdout.isEmpty, "\(log)")
    }

    /// An orphaned background process in its own session (reparented to the sandbox's init),
    /// next to 30 sleeping ones, keeps rewriting a 4 MiB file, alternately
    /// through a shared mmap and pwrite on a held fd, each pass one repeating byte, while
    /// the agent submits again and again: every committed version is the file as it was at
    /// one instant (the copy was taken with every process stopped), and the recorded hash
    /// is the content's. (Without the freeze this fails: the copies span several passes.)
    @Test(arguments: Identity.all)
    func aWriterThroughMmapCannotTearWhatIsCommitted(_ id: Identity) {
        let fx = Fixture(id)
        let p = fx.probe
        let o = fx.run(profile: fx.profile("code"), ["sh", "-c", """
            ( \(p) mmap-writer Sources/blob.bin 4194304 60 > /dev/null & )
            \(p) spawn-tree 30 60 > /dev/null &
            while [ ! -e Sources/blob.bin ]; do sleep 0.01; done
            for i in 1 2 3 4 5 6; do \(submitLine); sleep 0.1; done
            exit 3
            """], timeout: 60)
        // Exit 3: the exit changeset is not submitted, so the workspace holds the last submit
        // (and the writer dies with the sandbox's PID namespace).
        #expect(o.status == 3, "\(o)")
        let replies = o.stdout.split(separator: "\n").map(String.init)
        // `nothing` when the writer happened not to change the file between two submits.
        #expect(replies.count == 6 && replies.allSatisfy { $0.hasPrefix("reply: committed ") || $0 == "reply: nothing" }, "\(o)")
        let last = Int(replies.last { $0.hasPrefix("reply: committed ") }?.split(separator: " ").last ?? "") ?? 0
        #expect(last >= 2, "\(o)")
        // Every version a commit put in place: the workspace's and those later commits replaced.
        var versions: [(String, Data)] = []
        if let data = FileManager.default.contents(atPath: fx.path("Sources/blob.bin")) { versions.append(("workspace", data)) }
        let history = fx.path(".warden/gate/history")
        for seq in (try? FileManager.default.contentsOfDirectory(atPath: history)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: history + "/" + seq)) ?? [] where name.hasPrefix("old-") {
                let file = history + "/" + seq + "/" + name
                if let data = FileManager.default.contents(atPath: file), data.count == 4 << 20 { versions.append((file, data)) }
            }
        }
        #expect(versions.count >= 2, "\(versions.map(\.0))")
        for (name, data) in versions {
            #expect(data.count == 4 << 20 && isOneInstant(data), "\(name) is torn: \(runs(data).prefix(8))")
        }
        #expect(fx.committedHash(last, "Sources/blob.bin") == sha256Hex(file: fx.path("Sources/blob.bin")))
    }
}

extension SubmitTests {
    /// The agent deletes a directory and submits; then makes it again with new content: the
    /// later changeset (an opaque directory and its files) is checked from the agent's own
    /// deletion, so it is no conflict with it.
    @Test(arguments: Identity.all)
    func aTreeDeletedMidRunCanBeMadeAgain(_ id: Identity) {
        let fx = Fixture(id, files: ["Sources/sub/old.swift": "old\n", "Sources/sub/keep.swift": "keep\n"])
        let o = fx.run(profile: "code", ["sh", "-c", """
            rm -r Sources/sub
            \(submitLine)
            mkdir Sources/sub && echo again > Sources/sub/old.swift && echo new > Sources/sub/new.swift
            """])
        #expect(o.status == 0 && o.stdout == "reply: committed 1\n", "\(o)")
        #expect(o.stderr.contains("as workspace version 2"), "\(o)")
        #expect(fx.read("Sources/sub/old.swift") == "again\n" && fx.read("Sources/sub/new.swift") == "new\n")
        #expect(!fx.exists("Sources/sub/keep.swift"))
    }
}

extension SubmitTests {
    /// A process that cannot be stopped (a vfork parent waits in the kernel for its stopped
    /// child): the submit fails closed with an error reply instead of validating a live
    /// tree, the sandbox is continued, and the exit changeset is still committed.
    @Test(arguments: Identity.all)
    func aSandboxThatCannotBeFrozenIsNotSubmitted(_ id: Identity) {
        let fx = Fixture(id)
        let p = fx.probe
        let o = fx.run(profile: fx.profile("code"), ["sh", "-c", """
            echo v1 > Sources/main.swift
            \(p) vfork-wait 8 > /dev/null &
            sleep 0.3
            \(submitLine)
            wait
            echo waited
            """], timeout: 60)
        #expect(o.status == 0, "\(o)")
        #expect(o.stdout.hasPrefix("reply: error: cannot stop the sandbox") && o.stdout.contains("did not stop within 5s"), "\(o)")
        #expect(o.stdout.hasSuffix("waited\n"), "the sandbox runs on: \(o)")
        #expect(o.stderr.contains("as workspace version 1"), "\(o)")
        #expect(fx.read("Sources/main.swift") == "v1\n")
    }
}

extension SubmitTests {
    /// A failed agent's view keeps its record of what it committed mid-run: `warden changes`
    /// and `warden gate apply --view` later see only what is left.
    @Test(arguments: Identity.all)
    func aKeptViewRemembersWhatItCommitted(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.run(profile: "code", ["sh", "-c", """
            echo a > Sources/a.swift
            \(submitLine)
            echo b > Sources/b.swift
            exit 3
            """])
        #expect(o.status == 3 && o.stdout == "reply: committed 1\n", "\(o)")
        #expect(o.stderr.contains("1 path not submitted (the agent exited with 3)"), "\(o)")
        #expect(fx.read("Sources/a.swift") == "a\n" && !fx.exists("Sources/b.swift"))
        let run = fx.keptViews().first ?? "?"
        let changes = fx.warden(["changes", run, "--json"])
        #expect(changes.stdout.contains("Sources/b.swift") && !changes.stdout.contains("Sources/a.swift"), "\(changes)")
        let applied = fx.warden(["gate", "apply", "--view", run])
        #expect(applied.status == 0 && fx.read("Sources/b.swift") == "b\n" && fx.keptViews().isEmpty, "\(applied)")
        let second = fx.warden(["gate", "show", "2", "--json"])
        #expect(second.stdout.contains("Sources/b.swift") && !second.stdout.contains("Sources/a.swift"), "\(second)")
    }
}

extension SubmitTests {
    /// After a mid-run commit, a path the agent changes again is checked from that commit:
    /// another agent's later commit to it is still a conflict.
    @Test(arguments: Identity.all)
    func anotherAgentsLaterCommitStillConflicts(_ id: Identity) {
        let fx = Fixture(id)
        let first = fx.start(profile: "code", ["sh", "-c", """
            echo mine > Sources/main.swift
            \(submitLine)
            while [ ! -e .warden/tasks/go ]; do sleep 0.05; done
            echo mine again > Sources/main.swift
            """])
        #expect(fx.waitFor("Sources/main.swift", "mine\n"))
        let other = fx.run(profile: "code", ["sh", "-c", "echo theirs > Sources/main.swift"])
        #expect(other.status == 0 && fx.read("Sources/main.swift") == "theirs\n", "\(other)")
        fx.write(".warden/tasks/go", "")
        let o = first.wait()
        #expect(o.status == 73, "\(o)")
        #expect(o.stderr.contains("Sources/main.swift: conflict: changed since version 1 by commit 2"), "\(o)")
        #expect(fx.read("Sources/main.swift") == "theirs\n")
    }
}
