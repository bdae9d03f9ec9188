// `warden standby`: a launch made ahead runs the next matching `warden run` under exactly the
// protections a cold launch applies, only for its own user outside every sandbox, and never
// with a view or plan that went out of date.

import Foundation
import Glibc
import Testing

/// A fixture with a plan cache of its own and a standby waiting for `code` runs in its
/// workspace; the standby is stopped when this goes.
final class Waiting {
    let fx: Fixture
    let env: [String: String]
    /// What `warden standby` said.
    let made: Outcome

    init(_ id: Identity) {
        fx = Fixture(id)
        env = StandbyTests.cache(fx)
        made = StandbyTests.standby(fx, "code", ["--idle", "60s"], env: env)
    }

    deinit { _ = StandbyTests.standby(fx, "code", ["--stop"], env: env) }
}

@Suite struct StandbyTests {
    /// A private plan cache (standbys listen there), owned by the identity.
    static func cache(_ fx: Fixture) -> [String: String] {
        let dir = fx.base + "/cache"
        mkdir(dir, 0o700)
        if fx.identity == .nobody { chown(dir, Identity.nobodyID, Identity.nobodyID) }
        return ["WARDEN_CACHE": dir]
    }

    static func standby(_ fx: Fixture, _ profile: String, _ args: [String] = [], env: [String: String]) -> Outcome {
        let argv = fx.identity.prefix + [fx.warden, "standby", "--profile", profile, "--workspace", fx.ws] + args
        return spawn(argv, env: fx.environment(env), cwd: fx.ws, timeout: 30).wait()
    }

    /// The socket of the one standby in the cache, once it listens (a successor takes a moment).
    static func socket(_ env: [String: String], waiting seconds: Double = 15) -> String? {
        let dir = env["WARDEN_CACHE"]!
        let end = Date().addingTimeInterval(seconds)
        repeat {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            if let name = names.first(where: { $0.hasPrefix("standby-") && $0.hasSuffix(".sock") }) { return dir + "/" + name }
            usleep(20_000)
        } while Date() < end
        return nil
    }

    /// The standby process for the fixture's workspace: its sandbox's child carries the same
    /// command line, so the one whose parent is not a standby too.
    static func standbyPID(_ fx: Fixture) -> pid_t? {
        func commandLine(_ pid: String) -> String {
            (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.replacingOccurrences(of: "\0", with: " ") ?? ""
        }
        func parent(_ pid: String) -> String {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            guard let close = stat.lastIndex(of: ")") else { return "" }
            return String(stat[stat.index(close, offsetBy: 2)...].split(separator: " ")[1])
        }
        let mine = { (pid: String) in commandLine(pid).contains("standby --serve") && commandLine(pid).contains(fx.ws) }
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }
        return pids.first { mine($0) && !mine(parent($0)) }.flatMap { pid_t($0) }
    }

    /// The run id's pid part: the runner's pid, which for a standby is not the client's.
    static func runnerPID(_ o: Outcome) -> pid_t? {
        guard let line = o.stdout.split(separator: "\n").first(where: { $0.hasPrefix("run=") }),
              let dash = line.lastIndex(of: "-") else { return nil }
        return pid_t(line[line.index(after: dash)...])
    }

    @Test(arguments: Identity.all)
    func aClaimedStandbyRunsTheCommandUnderTheSameProtections(_ id: Identity) {
        let waiting = Waiting(id)
        let fx = waiting.fx, env = waiting.env
        #expect(waiting.made.status == 0 && waiting.made.stdout.hasPrefix("standby ready: "), "\(waiting.made)")
        let path = Self.socket(env)
        #expect(path != nil)

        let child = fx.start(profile: "code", ["sh", "-c", "echo run=$WARDEN_RUN; echo out; echo err >&2; echo x > Sources/made; exit 0"], env: env)
        let first = child.wait()
        #expect(first.status == 0 && first.stdout.contains("out\n") && first.stderr.contains("err\n"), "\(first)")
        // Served by the standby: the runner is not the process we started.
        #expect(Self.runnerPID(first) != nil && Self.runnerPID(first) != child.pid, "\(first)")
        #expect(fx.read("Sources/made") == "x\n", "committed through the gate: \(first)")

        // The next run is served by its successor, with the role's limits intact: code may
        // not write Tests/, and the agent's status is warden's.
        _ = Self.socket(env)
        let denied = fx.start(profile: "code", ["sh", "-c", "echo run=$WARDEN_RUN; echo x > Tests/t; exit 7"], env: env)
        let second = denied.wait()
        #expect(second.status == 7 && !fx.exists("Tests/t") && second.stderr.contains("1 operation denied"), "\(second)")
        #expect(Self.runnerPID(second) != nil && Self.runnerPID(second) != denied.pid && Self.runnerPID(second) != Self.runnerPID(first), "\(second)")

        // The audit has the claimant's command, status and denial, like a run of its own.
        let runs = spawn(fx.identity.prefix + [fx.warden, "audit", "--workspace", fx.ws, "--runs", "--limit", "1", "--json"],
                         env: fx.environment(env), cwd: fx.ws).wait()
        #expect(runs.stdout.contains("\"command\":[\"sh\",\"-c\",\"echo run=$WARDEN_RUN; echo x > Tests/t; exit 7\"]")
                    && runs.stdout.contains("\"exit_status\":7") && runs.stdout.contains("\"denied\":{\"write\":1}"), "\(runs)")
    }

    /// The run a standby serves has what a cold run's agent has: its control channel (fd 3)
    /// for `warden submit` mid-run.
    @Test(arguments: Identity.all)
    func aServedRunSubmitsMidRunLikeAnyOther(_ id: Identity) {
        let waiting = Waiting(id)
        let fx = waiting.fx, env = waiting.env
        #expect(waiting.made.status == 0, "\(waiting.made)")
        let script = "echo v1 > Sources/mid.swift; \(submitLine); echo v2 > Sources/mid.swift; echo run=$WARDEN_RUN"
        let child = fx.start(profile: "code", ["sh", "-c", script], env: env)
        let o = child.wait()
        #expect(o.status == 0 && o.stdout.contains("reply: committed ") && Self.runnerPID(o) != child.pid, "\(o)")
        #expect(fx.read("Sources/mid.swift") == "v2\n", "the exit commits what changed after the submit: \(o)")
    }

    /// --count keeps several standbys waiting for the same options. Four runs started
    /// together against three: three are served, each by a standby of its own, and the fourth
    /// finds them all taken and launches itself (or, started late on a loaded machine, gets a
    /// successor); all four succeed. --stop ends all three.
    @Test(arguments: Identity.all)
    func aPoolServesABurstOneRunEach(_ id: Identity) {
        let fx = Fixture(id)
        let env = Self.cache(fx)
        let made = Self.standby(fx, "code", ["--idle", "60s", "--count", "3"], env: env)
        defer { _ = Self.standby(fx, "code", ["--stop"], env: env) }
        #expect(made.status == 0 && made.stdout.components(separatedBy: "standby ready: ").count == 4, "\(made)")
        // Long enough that all four overlap even when starting them is slow.
        let children = (0..<4).map { _ in fx.start(profile: "code", ["sh", "-c", "echo run=$WARDEN_RUN; sleep 3"], env: env) }
        let outcomes = children.map { $0.wait() }
        for o in outcomes { #expect(o.status == 0 && Self.runnerPID(o) != nil, "\(o)") }
        let served = zip(children, outcomes).filter { Self.runnerPID($1) != $0.pid }.map { Self.runnerPID($1) }
        #expect(served.count >= 3 && Set(served).count == served.count, "\(outcomes)")

        // Their successors, once listening, stop together.
        let cache = env["WARDEN_CACHE"]!
        let end = Date().addingTimeInterval(15)
        func sockets() -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).filter { $0.hasSuffix(".sock") }.count
        }
        while sockets() < 3 && Date() < end { usleep(20_000) }
        let stopped = Self.standby(fx, "code", ["--stop"], env: env)
        #expect(stopped.status == 0 && stopped.stdout == "stopped 3 standbys\n" && sockets() == 0, "\(stopped)")
    }

    /// A successor reads its own command line without the argument parser: with every run
    /// option given, it must still make the same key, so that runs with those options keep
    /// being served, one successor after another.
    @Test(arguments: Identity.all)
    func successorsKeepServingRunsWithEveryOption(_ id: Identity) {
        let fx = Fixture(id)
        let env = Self.cache(fx)
        let options = ["--timeout", "90s", "--json", "--commit", "always", "--keep", "--audit", ".warden/custom.db"]
        let made = Self.standby(fx, "code", options + ["--idle", "60s", "--count", "1"], env: env)
        defer { _ = Self.standby(fx, "code", options + ["--stop"], env: env) }
        #expect(made.status == 0, "\(made)")
        var runners: [pid_t] = []
        for _ in 0..<3 {
            _ = Self.socket(env)
            let child = fx.start(profile: "code", ["sh", "-c", "echo run=$WARDEN_RUN"], options: options, env: env)
            let o = child.wait()
            #expect(o.status == 0 && o.stderr.contains("\"status\":0"), "\(o)")
            if let runner = Self.runnerPID(o), runner != child.pid { runners.append(runner) }
        }
        #expect(runners.count == 3 && Set(runners).count == 3, "each run served, by a standby of its own: \(runners)")
    }

    /// `warden standbys` asks each standby what it waits for: both of a pool, with their
    /// options, current until the workspace changes; a socket nobody answers on is listed as
    /// not listening; after --stop there are none. As JSON, one object per line.
    @Test(arguments: Identity.all)
    func standbysListsWhatWaits(_ id: Identity) {
        let fx = Fixture(id)
        let env = Self.cache(fx)
        let made = Self.standby(fx, "code", ["--idle", "60s", "--count", "2", "--timeout", "90s"], env: env)
        #expect(made.status == 0, "\(made)")
        func list(_ args: [String] = []) -> Outcome {
            spawn(fx.identity.prefix + [fx.warden, "standbys"] + args, env: fx.environment(env), cwd: fx.ws).wait()
        }
        let dead = env["WARDEN_CACHE"]! + "/standby-0123456789abcdef.sock"
        FileManager.default.createFile(atPath: dead, contents: nil)
        let lines = list(["--json"])
        let objects = lines.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let live = objects.filter { $0["listening"] as? Bool == true }
        #expect(lines.status == 0 && objects.count == 3 && live.count == 2, "\(lines)")
        #expect(Set(live.compactMap { $0["slot"] as? Int }) == [0, 1], "\(lines)")
        for o in live {
            #expect(o["profile"] as? String == "code" && o["workspace"] as? String == fx.ws && o["current"] as? Bool == true
                        && o["timeout_seconds"] as? Double == 90 && (o["pid"] as? Int).map { kill(pid_t($0), 0) == 0 } == true, "\(o)")
        }
        #expect(objects.contains { $0["socket"] as? String == dead && $0["listening"] as? Bool == false }, "\(lines)")
        fx.write("Sources/added.swift", "// changed\n")
        let text = list()
        #expect(text.status == 0 && text.stdout.components(separatedBy: "stale").count == 3
                    && text.stdout.contains("--profile code --workspace \(fx.ws) --timeout 90s")
                    && text.stdout.contains("\(dead): not listening"), "\(text)")
        let stopped = Self.standby(fx, "code", ["--timeout", "90s", "--stop"], env: env)
        #expect(stopped.stdout == "stopped 2 standbys\n", "\(stopped)")
        unlink(dead)
        let none = list()
        #expect(none.status == 0 && none.stdout.hasPrefix("no standby is waiting"), "\(none)")
    }

    /// --count outside 1-8 is a usage error, and nothing is started.
    @Test func aPoolOfNoneOrTooManyIsRefused() {
        let fx = Fixture(.root)
        let env = Self.cache(fx)
        for count in ["0", "9", "x"] {
            let o = Self.standby(fx, "code", ["--count", count], env: env)
            #expect(o.status == 64 && o.stderr.contains("--count") && Self.socket(env, waiting: 0) == nil, "\(o)")
        }
    }

    /// A served run may outlast the two seconds a standby gives a client to send its
    /// request: that limit ends with the request. (It once applied to the whole run, so that
    /// the standby gave up after two seconds and the claimant ran the command again, cold.)
    @Test(arguments: Identity.all)
    func aServedRunRunsToItsEndHoweverLong(_ id: Identity) {
        let waiting = Waiting(id)
        let fx = waiting.fx, env = waiting.env
        #expect(waiting.made.status == 0, "\(waiting.made)")
        let child = fx.start(profile: "code", ["sh", "-c", "echo run=$WARDEN_RUN; sleep 3; echo done; exit 5"], env: env)
        let o = child.wait()
        let runs = o.stdout.split(separator: "\n").filter { $0.hasPrefix("run=") }
        #expect(o.status == 5 && runs.count == 1 && o.stdout.hasSuffix("\ndone\n") && o.elapsed >= 3, "\(o)")
        #expect(Self.runnerPID(o) != nil && Self.runnerPID(o) != child.pid, "served by the standby: \(o)")
    }

    /// A standby killed while its command runs: the run ends with 70 and a message, and the
    /// command is not launched a second time (before the standby said "accepted" up front,
    /// the claimant took the lost connection for a refusal and ran the command cold again).
    @Test(arguments: Identity.all)
    func aStandbyKilledMidRunDoesNotRunTheCommandTwice(_ id: Identity) {
        let waiting = Waiting(id)
        let fx = waiting.fx, env = waiting.env
        #expect(waiting.made.status == 0, "\(waiting.made)")
        let child = fx.start(profile: "code", ["sh", "-c", "echo ran; sleep 5"], env: env)
        #expect(child.waitForOutput { $0.contains("ran\n") }, "the command did not start")
        guard let standby = Self.standbyPID(fx) else {
            Issue.record("no standby process for \(fx.ws)")
            return
        }
        kill(standby, SIGKILL)
        let o = child.wait()
        #expect(o.status == 70 && o.stdout == "ran\n" && o.stderr.contains("the command was not run again"), "\(o)")
    }

    /// --timeout counts from the command, not from when the standby was made, and still
    /// kills the whole tree.
    @Test(arguments: Identity.all)
    func aServedRunsTimeoutStartsWithItsCommand(_ id: Identity) {
        let fx = Fixture(id)
        let env = Self.cache(fx)
        let made = Self.standby(fx, "code", ["--idle", "60s", "--timeout", "2s"], env: env)
        defer { _ = Self.standby(fx, "code", ["--timeout", "2s", "--stop"], env: env) }
        #expect(made.status == 0, "\(made)")
        sleep(3)
        let inTime = fx.start(profile: "code", ["sh", "-c", "sleep 0.5; echo run=$WARDEN_RUN"], options: ["--timeout", "2s"], env: env)
        let o = inTime.wait()
        #expect(o.status == 0 && Self.runnerPID(o) != nil && Self.runnerPID(o) != inTime.pid, "\(o)")
        _ = Self.socket(env)
        let late = fx.start(profile: "code", ["sh", "-c", "echo run=$WARDEN_RUN; sleep 30"], options: ["--timeout", "2s"], env: env)
        let p = late.wait()
        // Once: not timed out by the standby, then run again cold and timed out by that.
        let runs = p.stdout.split(separator: "\n").filter { $0.hasPrefix("run=") }
        #expect(p.status == 124 && p.elapsed < 15 && runs.count == 1 && Self.runnerPID(p) != late.pid, "\(p)")
    }

    /// A standby's agent already stands in the directory the standby was made from: a run
    /// from another one (here a subdirectory) launches itself, and starts where it was asked.
    @Test(arguments: Identity.all)
    func aRunFromAnotherDirectoryLaunchesItself(_ id: Identity) {
        let waiting = Waiting(id)
        let fx = waiting.fx, env = waiting.env
        #expect(waiting.made.status == 0, "\(waiting.made)")
        let argv = fx.identity.prefix + [fx.warden, "run", "--profile", "code", "--workspace", fx.ws, "--", "sh", "-c", "pwd; echo run=$WARDEN_RUN"]
        let child = spawn(argv, env: fx.environment(env), cwd: fx.path("Sources"))
        let o = child.wait()
        #expect(o.status == 0 && o.stdout.hasPrefix(fx.path("Sources") + "\n") && Self.runnerPID(o) == child.pid, "\(o)")
        // Still there for a run from where it was made.
        let served = fx.start(profile: "code", ["sh", "-c", "echo run=$WARDEN_RUN"], env: env)
        let p = served.wait()
        #expect(p.status == 0 && Self.runnerPID(p) != served.pid, "\(p)")
    }

    /// Only processes outside every sandbox get an answer: the positive control (the probe on
    /// the host) is read and answered; the same probe inside a sandbox gets nothing.
    @Test(arguments: Identity.all)
    func aPeerInsideASandboxIsRefused(_ id: Identity) {
        let waiting = Waiting(id)
        let fx = waiting.fx, env = waiting.env
        #expect(waiting.made.status == 0, "\(waiting.made)")
        guard let path = Self.socket(env) else { Issue.record("no standby socket"); return }
        let control = fx.control("unix-request", path)
        #expect(control.stdout == "reply D\n", "\(control)")
        let inside = fx.run(profile: fx.profile("code"), [fx.probe, "unix-request", path])
        #expect(inside.stdout == "eof\n" || inside.stdout.hasPrefix("err connect"), "\(inside)")
        // Still waiting, unclaimed: a host run uses it.
        let after = fx.run(profile: "code", ["sh", "-c", "echo run=$WARDEN_RUN"], env: env)
        #expect(after.status == 0 && Self.runnerPID(after) != nil, "\(after)")
    }

    /// A standby's view is of the workspace as it was: once a file was added, it declines,
    /// and the run sees the workspace as it is now.
    @Test(arguments: Identity.all)
    func aStandbyWhoseViewIsOutOfDateDeclines(_ id: Identity) {
        let waiting = Waiting(id)
        let fx = waiting.fx, env = waiting.env
        #expect(waiting.made.status == 0, "\(waiting.made)")
        // A new file: the view's lower layer is the snapshot of the version before it.
        fx.write("Sources/added.swift", "print(\"added by hand\")\n")
        let read = fx.run(profile: "code", ["cat", "Sources/added.swift"], env: env)
        #expect(read.status == 0 && read.stdout == "print(\"added by hand\")\n", "\(read)")
    }

    /// --stop ends it, a second --stop finds none, and --idle ends an unclaimed one by itself;
    /// neither leaves its view behind.
    @Test(arguments: Identity.all)
    func standbysEndWhenStoppedOrIdle(_ id: Identity) {
        let fx = Fixture(id)
        let env = Self.cache(fx)
        // Made from a command substitution, which reads its output to EOF: nothing the
        // standby leaves running may hold the caller's pipe.
        let script = "out=$(\(fx.warden) standby --profile code --workspace \(fx.ws) --idle 60s 2>&1); echo \"$out\""
        let made = spawn(fx.identity.prefix + ["/bin/sh", "-c", script], env: fx.environment(env), cwd: fx.ws, timeout: 20).wait()
        #expect(made.status == 0 && !made.timedOut && made.stdout.hasPrefix("standby ready: "), "\(made)")
        let again = Self.standby(fx, "code", ["--idle", "60s"], env: env)
        #expect(again.status == 0 && again.stdout.hasPrefix("standby already waiting"), "\(again)")
        let stopped = Self.standby(fx, "code", ["--stop"], env: env)
        #expect(stopped.status == 0 && stopped.stdout == "stopped\n", "\(stopped)")
        let none = Self.standby(fx, "code", ["--stop"], env: env)
        #expect(none.status == 1 && none.stderr.contains("no standby is waiting"), "\(none)")

        // SIGTERM ends a waiting one as cleanly as --stop.
        #expect(Self.standby(fx, "code", ["--idle", "60s"], env: env).status == 0)
        if let pid = Self.standbyPID(fx) {
            kill(pid, SIGTERM)
            let end = Date().addingTimeInterval(15)
            while kill(pid, 0) == 0 && Date() < end { usleep(20_000) }
            #expect(kill(pid, 0) != 0 && Self.socket(env, waiting: 0) == nil)
        } else {
            Issue.record("no standby process for \(fx.ws)")
        }

        #expect(Self.standby(fx, "code", ["--idle", "1s"], env: env).status == 0)
        let end = Date().addingTimeInterval(15)
        while Self.socket(env, waiting: 0) != nil && Date() < end { usleep(50_000) }
        #expect(Self.socket(env, waiting: 0) == nil)
        usleep(300_000)
        let views = (try? FileManager.default.contentsOfDirectory(atPath: fx.path(".warden/views"))) ?? []
        #expect(views.filter { !$0.hasPrefix(".") }.isEmpty, "\(views)")
    }
}
