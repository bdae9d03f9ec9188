import ArgumentParser
import CSandbox
import Glibc
import WardenPolicy
import WardenSandbox

struct StandbyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "standby",
        abstract: "Prepare a launch ahead, so that the next matching `warden run` starts at once.",
        discussion: """
        A standby makes everything a `warden run` with the same options
        makes (the view, cgroup, namespaces, mounts, Landlock ruleset,
        seccomp, supervisor) and then waits, in the background, for a
        command. The next `warden run` with the same profile, workspace
        and options hands it its command, environment and terminal, and
        the run is the one it would have made itself: same protections,
        same gate, same audit row, about half the launch time.

        After each run a fresh standby takes its place; one that waits
        longer than --idle ends. --count keeps several waiting for the
        same options, so that a burst of runs (agents started together)
        gets one each. A standby declines (the run launches
        itself) when its view or plan went out of date (the workspace
        changed, a profile was edited), when the run comes from another
        directory, or when the command does not bind (not found, not in
        the tools). `warden run --no-standby` always launches itself.

          warden standby --profile code    # prints "standby ready: SOCKET"
          warden run --profile code -- make
          warden standby --profile code --count 4   # three more
          warden standby --profile code --stop      # all of them

        Only the user who made it can use it, and never from inside a
        sandbox. SIGTERM, SIGINT and SIGHUP end a waiting standby cleanly.
        """
    )

    /// A run uses this standby only when its values of these are the same.
    @OptionGroup var launch: LaunchArguments

    @Option(name: .long, help: "End the standby if no run claims it for this long (e.g. 90s, 10m, 1h).")
    var idle = "10m"

    @Option(name: .long, help: "How many standbys to keep waiting for these options (1-\(Standby.slots)); each serves one run at a time.")
    var count = 1

    @Flag(name: .long, help: "End the standbys made with these options instead of making one.")
    var stop = false

    /// Which of the key's sockets this one listens on (see `Standby.slots`).
    @Option(name: .long, help: .hidden)
    var slot = 0

    @Flag(name: .long, help: .hidden)
    var serve = false

    @Option(name: .long, help: .hidden)
    var lockFD: Int32 = -1

    @Option(name: .long, help: .hidden)
    var readyFD: Int32 = -1

    func validate() throws {
        if parseDuration(idle) == nil {
            throw ValidationError("--idle '\(idle)' is not a duration (e.g. 90s, 10m, 1h)")
        }
        if !(1...Standby.slots).contains(count) {
            throw ValidationError("--count \(count): between 1 and \(Standby.slots) standbys may wait for the same options")
        }
        if !(0..<Standby.slots).contains(slot) {
            throw ValidationError("--slot \(slot) is not a slot (0-\(Standby.slots - 1))")
        }
    }

    func run() throws {
        let root = try launch.root()
        let environment = processEnvironment()
        let cwd = currentDirectory()
        guard let cache = PlanCache.standard(environment: environment) else {
            complain("a standby needs the plan cache, and there is none (WARDEN_CACHE=off, or no directory only this user can write)")
            throw ExitCode(WardenExit.usage)
        }
        let planKey = PlanCache.key(profile: launch.profile, workspace: root, cwd: cwd, environment: environment,
                                    allowDegraded: Set(launch.allowDegraded))
        let viewOptions = launch.viewOptions
        let auditPath = launch.audit.map(absolutePath)
        let key = Standby.key(planKey: planKey, timeout: launch.timeout.flatMap(parseDuration), json: launch.json, audit: auditPath,
                              view: viewOptions.enabled, keep: viewOptions.keep, commit: viewOptions.commit.rawValue)
        if stop { throw ExitCode(stopStandby(cache: cache, key: key)) }
        let options = LaunchOptions(workspace: root, command: [], timeout: launch.timeout.flatMap(parseDuration),
                                    allowDegraded: Set(launch.allowDegraded), cwd: cwd, environment: environment, runID: makeRunID())
        let plan: LaunchPlan
        if serve, let compiled = cache.load(key: planKey) {
            plan = try LaunchPlan.bind(compiled, options: options, standby: true)
        } else {
            let (loader, made) = try makePlan(profile: launch.profile, options: options, standby: true)
            if let first = made.missing.first, case let .missing(reason) = first.state {
                throw ExitCode(report(.unavailable(feature: first.feature, reason: reason)))
            }
            try storePlan(made, loader: loader, view: launch.view, cache: cache, key: planKey)
            plan = made
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
                if status != 0 { throw ExitCode(status) }
            }
            return
        }
        let server = StandbyServer(key: key, planKey: planKey, cache: cache, slot: slot, compiled: plan.compiled, options: options,
                                   idle: parseDuration(idle) ?? 600, readyFD: readyFD)
        do {
            try server.listen(inheritedLock: lockFD)
        } catch {
            complain("\(error)")
            throw ExitCode(WardenExit.refused)
        }
        let status = execute(plan, json: launch.json, auditPath: auditPath, view: viewOptions, standby: server)
        server.finish(status: status)
        if server.claimed || server.ending == .stale { spawnSuccessor(lock: server.lockFD) } else { server.releaseLock() }
        throw ExitCode(status)
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
