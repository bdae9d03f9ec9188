import ArgumentParser
import CSandbox
import Glibc
import WardenPolicy
import WardenSandbox

/// What a `warden standby` does, with its options read: by the argument parser for a user's
/// command line, by `init?(serveLine:)` for the `standby --serve` lines warden starts itself.
struct StandbySettings {
    var profile: String
    var workspace: String?
    var timeout: Double?
    var allowDegraded: Set<String>
    var json: Bool
    /// Absolute.
    var audit: String?
    var view: ViewOptions
    var idle: Double
    var count: Int
    var slot: Int
    var stop: Bool
    var serve: Bool
    var readyFD: Int32
    var lockFD: Int32
}

extension StandbySettings {
    /// A `standby --serve` line as warden writes it (`startInBackground`, `spawnSuccessor`): the
    /// user's options, already checked by the argument parser, with the serving ones added.
    /// Read by hand, because the parser's reflection took about 10 ms of a successor's
    /// preparation. Nil for any other shape; the argument parser then reads it (and names
    /// what is wrong).
    init?(serveLine args: [String]) {
        guard args.first == "standby", args.contains("--serve") else { return nil }
        var rest = ["run"]
        var idle = 600.0, count = 1, slot = 0, readyFD: Int32 = -1, lockFD: Int32 = -1
        var i = 1
        while i < args.count {
            let next = i + 1 < args.count ? args[i + 1] : nil
            switch args[i] {
            case "--serve": i += 1; continue
            case "--stop", "--", "--help", "-h": return nil
            case "--idle": guard let v = next.flatMap(parseDuration) else { return nil }; idle = v
            case "--count": guard let v = next.flatMap({ Int($0) }), (1...Standby.slots).contains(v) else { return nil }; count = v
            case "--slot": guard let v = next.flatMap({ Int($0) }), (0..<Standby.slots).contains(v) else { return nil }; slot = v
            case "--ready-fd": guard let v = next.flatMap({ Int32($0) }) else { return nil }; readyFD = v
            case "--lock-fd": guard let v = next.flatMap({ Int32($0) }) else { return nil }; lockFD = v
            default:
                rest.append(args[i])
                i += 1
                continue
            }
            i += 2
        }
        // The run options are a run line's, less its command.
        guard let line = RunLine(rest + ["--", "-"]), line.useStandby, line.degraded.isSubset(of: Protection.features),
              let commit = CommitMode(rawValue: line.commit) else { return nil }
        self.init(profile: line.profile, workspace: line.workspace, timeout: line.timeout, allowDegraded: line.degraded,
                  json: line.json, audit: line.audit, view: ViewOptions(enabled: line.view, keep: line.keep, commit: commit),
                  idle: idle, count: count, slot: slot, stop: false, serve: true, readyFD: readyFD, lockFD: lockFD)
    }
}

extension StandbySettings {
    /// The JSON members `warden standbys` shows for a standby made with these settings.
    func summary(plan: LaunchPlan, root: String, cwd: String) -> String {
        "\"profile\":\(jsonString(plan.profile.role)),\"profile_file\":\(jsonString(plan.profile.file)),"
            + "\"workspace\":\(jsonString(root)),\"directory\":\(jsonString(cwd)),"
            + "\"timeout_seconds\":\(timeout.map { String($0) } ?? "null"),\"json\":\(json),"
            + "\"audit\":\(audit.map(jsonString) ?? "null"),\"view\":\(view.enabled),\"keep\":\(view.keep),"
            + "\"commit\":\(jsonString(view.commit.rawValue)),\"allow_degraded\":[\(allowDegraded.sorted().map(jsonString).joined(separator: ","))]"
    }

    /// Makes, serves or stops standbys as the settings say; the exit status.
    func run() -> Int32 {
        LaunchTiming.mark("parsed")
        guard let root = workspaceRoot(workspace, audit: audit) else { return WardenExit.usage }
        let environment = processEnvironment()
        let cwd = currentDirectory()
        guard let cache = PlanCache.standard(environment: environment) else {
            complain("a standby needs the plan cache, and there is none (WARDEN_CACHE=off, or no directory only this user can write)")
            return WardenExit.usage
        }
        let planKey = PlanCache.key(profile: profile, workspace: root, cwd: cwd, environment: environment,
                                    allowDegraded: allowDegraded)
        LaunchTiming.mark("keyed")
        let key = Standby.key(planKey: planKey, timeout: timeout, json: json, audit: audit,
                              view: view.enabled, keep: view.keep, commit: view.commit.rawValue)
        if stop { return stopStandby(cache: cache, key: key) }
        let options = LaunchOptions(workspace: root, command: [], timeout: timeout,
                                    allowDegraded: allowDegraded, cwd: cwd, environment: environment, runID: makeRunID())
        let plan: LaunchPlan
        do {
            if serve, let compiled = cache.load(key: planKey) {
                plan = try LaunchPlan.bind(compiled, options: options, standby: true)
                LaunchTiming.mark("plan loaded")
            } else {
                let (loader, made) = try makePlan(profile: profile, options: options, standby: true)
                if let first = made.missing.first, case let .missing(reason) = first.state {
                    return report(.unavailable(feature: first.feature, reason: reason))
                }
                try storePlan(made, loader: loader, view: view.enabled, cache: cache, key: planKey)
                plan = made
            }
        } catch let code as ExitCode {
            return code.rawValue
        } catch let error as SandboxError {
            return report(error)
        } catch {
            complain("\(error)")
            return WardenExit.internalError
        }
        guard serve else {
            // The first `count` slots; one already waiting (or being made) counts.
            for slot in 0..<count {
                let path = Standby.socketPath(directory: cache.directory, key: key, slot: slot)
                if let fd = Standby.connect(path) {
                    close(fd)
                    print("standby already waiting: \(path)")
                    continue
                }
                if StandbyServer.isBeingMade(path) {
                    print("standby being made: \(path)")
                    continue
                }
                let status = startInBackground(path: path, slot: slot)
                if status != 0 { return status }
            }
            return 0
        }
        let server = StandbyServer(key: key, planKey: planKey, cache: cache, slot: slot, compiled: plan.compiled, options: options,
                                   idle: idle, readyFD: readyFD, summary: summary(plan: plan, root: root, cwd: cwd))
        LaunchTiming.mark("server made")
        do {
            try server.listen(inheritedLock: lockFD)
        } catch {
            complain("\(error)")
            return WardenExit.refused
        }
        let status = execute(plan, json: json, auditPath: audit, view: view, standby: server)
        server.finish(status: status)
        if server.claimed || server.ending == .stale { spawnSuccessor(lock: server.lockFD) } else { server.releaseLock() }
        return status
    }

    /// Stops the standby of every slot; 1 when none was waiting.
    private func stopStandby(cache: PlanCache, key: String) -> Int32 {
        var stopped = 0
        for slot in 0..<Standby.slots {
            let path = Standby.socketPath(directory: cache.directory, key: key, slot: slot)
            switch stopStandby(path: path, key: key) {
            case nil: continue
            case 0?: stopped += 1
            case let failed?: return failed
            }
        }
        guard stopped > 0 else {
            complain("no standby is waiting for these options")
            return 1
        }
        print(stopped == 1 ? "stopped" : "stopped \(stopped) standbys")
        return 0
    }

    /// Stops the standby at `path`: nil when there is none, else 0 or an exit status.
    private func stopStandby(path: String, key: String) -> Int32? {
        var fd = Standby.connect(path)
        // One still being made (a successor holds the lock before it listens) is waited for.
        if fd == nil, StandbyServer.isBeingMade(path) {
            let end = monotonicSeconds() + 30
            while fd == nil, monotonicSeconds() < end, StandbyServer.isBeingMade(path) {
                usleep(20_000)
                fd = Standby.connect(path)
            }
        }
        guard let fd else { return nil }
        defer { close(fd) }
        guard Standby.send(fd, Standby.Request(kind: .stop, key: key), fds: []),
              readExactly(fd, 1) == [Standby.stopped] else {
            complain("the standby at \(path) did not stop")
            return WardenExit.internalError
        }
        return 0
    }

    /// This command again with --serve, in a session of its own; returns once it waits for a
    /// command (or failed, having said why on our stderr).
    private func startInBackground(path: String, slot: Int) -> Int32 {
        var pipe: [Int32] = [-1, -1]
        guard warden_pipe(&pipe) == 0 else {
            complain("pipe: \(errnoName(errno))")
            return WardenExit.internalError
        }
        // Last, so that it wins over one the caller gave (the parser keeps an option's last value).
        let args = ["standby", "--serve", "--ready-fd", "3"] + Array(CommandLine.arguments.dropFirst(2)) + ["--slot", String(slot)]
        let pid = spawnDetached(args, readyFD: pipe[1], keepStderr: true)
        close(pipe[1])
        defer { close(pipe[0]) }
        guard pid > 0 else {
            complain("cannot start the standby: \(errnoName(-pid))")
            return WardenExit.internalError
        }
        if readExactly(pipe[0], 6) == Array("ready\n".utf8) {
            print("standby ready: \(path)")
            return 0
        }
        var status: Int32 = 0
        _ = warden_wait(pid, -1, &status)
        let code = warden_wexitstatus(status)
        return code == 0 ? WardenExit.internalError : code
    }

    /// The standby that takes this one's place once it ran a command; it inherits the lock.
    private func spawnSuccessor(lock: Int32) {
        var rest = Array(CommandLine.arguments.dropFirst(2))
        for option in ["--ready-fd", "--lock-fd"] {
            while let i = rest.firstIndex(of: option), i + 1 < rest.count { rest.removeSubrange(i...(i + 1)) }
        }
        _ = spawnDetached(["standby"] + rest + ["--lock-fd", "4"], readyFD: -1, keepStderr: false, lockFD: lock)
    }
}


/// Starts warden itself with `args` in a new session, stdin and stdout on /dev/null, stderr
/// ours only while `keepStderr`, `readyFD` as its fd 3 and `lockFD` as its fd 4. Its pid, or -errno.
private func spawnDetached(_ args: [String], readyFD: Int32, keepStderr: Bool, lockFD: Int32 = -1) -> pid_t {
    var exe = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard readlink("/proc/self/exe", &exe, exe.count - 1) > 0 else { return -errno }
    var actions = posix_spawn_file_actions_t()
    var attr = posix_spawnattr_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawnattr_init(&attr)
    defer {
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attr)
    }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDWR, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_RDWR, 0)
    if !keepStderr { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_RDWR, 0) }
    if readyFD >= 0 { posix_spawn_file_actions_adddup2(&actions, readyFD, 3) }
    if lockFD >= 0 { posix_spawn_file_actions_adddup2(&actions, lockFD, 4) }
    // POSIX_SPAWN_SETSID (glibc 2.26): not a child of the caller's session or terminal.
    posix_spawnattr_setflags(&attr, 0x80)
    let path = String(cString: exe)
    var argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attr, &argv, environ)
    return rc == 0 ? pid : -rc
}
