import CSandbox
import Glibc
import WardenPolicy

/// How a run ended.
public struct RunOutcome: Sendable {
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        case timedOut(Double)
    }

    public var ending: Ending
    /// The agent hit the memory limit (the cgroup's OOM killer fired).
    public var outOfMemory: Bool
    /// Calls the supervisor saw, and refused.
    public var intercepted = 0
    public var denied = 0
    /// The cgroup refused a fork this many times (pids.max reached).
    public var forkRefusals = 0
    /// Denials an audit source knows it did not deliver (see LandlockAuditLog.gaps).
    public var auditGaps: [String] = []
    /// Init's exit and the cgroup's removal, still to wait for (`finish`) once the caller
    /// has done its own work; without it, done before `run` returned.
    public var teardown: SandboxExit?

    /// The status warden exits with: the agent's own, 128+N for a signal, 124 for a timeout.
    public var exitCode: Int32 { Self.exitCode(ending) }

    public static func exitCode(_ ending: Ending) -> Int32 {
        switch ending {
        case let .exited(code): return code
        case let .signaled(sig): return 128 + sig
        case .timedOut: return 124
        }
    }
}

public enum Launcher {
    /// Runs the plan to completion. Refuses (throws `.unavailable`) if the plan lacks a
    /// protection the user did not opt out of. Groups crashed runners left are the caller's
    /// to remove (`RunCgroup.removeStale`), off the launch path.
    /// - Parameter readOnly: existing files inside the workspace the agent must not change
    ///   even where its write zones cover them (the audit store); bound read-only over
    ///   themselves in the agent's mount namespace.
    /// - Parameter view: the run's private view, mounted over the workspace; nil: the agent
    ///   sees the workspace itself (its write zones then change it directly).
    /// - Parameter ahead: the plan's kernel work, started by the caller before its own
    ///   preparations (`LaunchAhead`); made here if nil or made for another view or control.
    /// - Parameter onStarted: called once the agent's command is running (its execve done).
    /// - Parameter onExited: called once the agent has exited and nothing of the sandbox runs
    ///   any more (not after a timeout), before the supervisor and the cgroup are wound up.
    /// - Parameter hold: a standby launch. The sandbox is made as usual, and the child waits in
    ///   it for its command until `hold` (given the child's pid) returns one; nil: nobody came,
    ///   and `run` throws `StandbyEnded`. `plan`'s own command is not used.
    /// - Parameter control: with a view and a PID namespace, the agent gets a control
    ///   channel at fd 3 (`WARDEN_CONTROL_FD=3` in its environment) and each request it sends
    ///   is answered by this handler while the run goes on (`warden submit`).
    public static func run(_ plan: LaunchPlan, readOnly: [String] = [], view: ViewMount? = nil,
                           control: ControlHandler? = nil, ahead: LaunchAhead? = nil,
                           onStarted: () -> Void = {}, hold: ((pid_t) -> HeldCommand?)? = nil,
                           onExited: (RunOutcome.Ending) -> Void = { _ in },
                           onDenial: @escaping @Sendable (Denial) -> Void = { _ in }) throws -> RunOutcome {
        if let first = plan.missing.first, case let .missing(reason) = first.state {
            throw SandboxError.unavailable(feature: first.feature, reason: reason)
        }
        if view != nil, plan.cloneFlags & UInt(warden_CLONE_NEWNS) == 0 {
            throw SandboxError.unavailable(feature: "view",
                                           reason: "a private view of the workspace needs a mount namespace, which this launch lacks")
        }
        let ahead = ahead.flatMap { $0.matches(view: view != nil, control: control != nil, plan: plan) ? $0 : nil }
            ?? LaunchAhead(plan: plan, view: view != nil, control: control != nil)
        let controlled = ahead.controlled, selfTool = ahead.selfTool, ruleset = ahead.ruleset
        defer { ruleset?.close() }
        LaunchTiming.mark("launcher")

        var cgroup: RunCgroup?
        if plan.useCgroup {
            switch RunCgroup.create(name: "warden-\(plan.options.runID)", pidsMax: plan.profile.limits.processes,
                                    memoryMax: plan.profile.limits.memory) {
            case let .success(group): cgroup = group
            case let .failure(error):
                if !plan.options.allowDegraded.contains("cgroup") {
                    throw SandboxError.unavailable(feature: "cgroup", reason: "cannot create the run's cgroup: \(error.message)")
                }
            }
        }
        // Unless handed to the caller with init's exit (see SandboxExit).
        var exitLeft: SandboxExit?
        defer { if exitLeft == nil { cgroup?.remove() } }
        LaunchTiming.mark("cgroup")

        // v1: the child moves itself in through these (see spawn.c); v2: the runner moves it.
        var tasks: [Int32] = [-1, -1]
        defer { tasks.filter { $0 >= 0 }.forEach { close($0) } }
        if let group = cgroup, group.version == .v1 {
            for (i, dir) in group.directories.prefix(2).enumerated() {
                tasks[i] = open(dir + "/tasks", O_WRONLY | O_CLOEXEC)
                if tasks[i] < 0 { throw SandboxError.setup(stage: "open \(dir)/tasks", errno: errno) }
            }
        }
        // The agent's control channel (a stream, so a shell can use it) and init's freeze
        // channel; the runner's ends are [0].
        var agentPair: [Int32] = [-1, -1], initPair: [Int32] = [-1, -1]
        if controlled {
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &agentPair) == 0 else {
                throw SandboxError.setup(stage: "socketpair (control)", errno: errno)
            }
            guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &initPair) == 0 else {
                close(agentPair[0]); close(agentPair[1])
                throw SandboxError.setup(stage: "socketpair (freeze)", errno: errno)
            }
        }
        var controlEnds = controlled ? [agentPair[0], initPair[0]] : []
        defer { controlEnds.forEach { close($0) } }
        var childControlEnds = controlled ? [agentPair[1], initPair[1]] : []
        defer { childControlEnds.forEach { close($0) } }
        let needSync = cgroup != nil && cgroup?.version != .v1
        let sync = needSync ? try makePipe() : (read: Int32(-1), write: Int32(-1))
        let report = try makePipe(), status = try makePipe()
        let supervised = plan.seccomp?.notifies ?? false
        // One socket both ways: the runner sends the ruleset, the agent sends its listener.
        var pair: [Int32] = [-1, -1]
        let channel = LaunchAhead.hasChannel(plan)
        if hold != nil, !channel {
            throw SandboxError.unavailable(feature: "standby",
                                           reason: "a standby's child gets its command over the launch channel, and this launch has none (no Landlock, supervisor or view)")
        }
        if channel, socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) != 0 {
            throw SandboxError.setup(stage: "socketpair", errno: errno)
        }
        // Landlock's own denial records (reads above all); inactive unless root with kernel audit on.
        let landlockLog = LandlockAuditLog.start(plan: plan, status: ahead.auditQuery, report: onDenial)
        defer { landlockLog?.stop() }
        if supervised, landlockLog != nil { _ = warden_passcred(pair[0]) }
        let netnsFD = ahead.netns?.take() ?? -1
        defer { if netnsFD >= 0 { close(netnsFD) } }
        // The overlay follows over the channel once made; the child waits for it at its mount.
        let viewSock = channel && (view.map { ahead.overlayStarted(for: $0) } ?? false) ? pair[1] : -1
        let pid: pid_t = try withSpec(plan, readOnly: readOnly, view: view, viewRules: ahead.childRules, landlockSock: ruleset != nil ? pair[1] : -1,
                                      landlockFlags: landlockLog == nil ? 0 : LandlockAuditLog.restrictFlags, cgroupTasks: tasks,
                                      fds: (sync: sync.read, report: report.write, status: status.write,
                                            notify: supervised ? pair[1] : -1),
                                      parentEnds: [sync.write, report.read, status.read, pair[0]],
                                      control: (agent: agentPair[1], initEnd: initPair[1], parent: [agentPair[0], initPair[0]]),
                                      selfTool: selfTool?.path, netnsFD: netnsFD, viewSock: viewSock,
                                      commandSock: hold != nil ? pair[1] : -1) { spec in
            warden_spawn(&spec)
        }
        LaunchTiming.mark("cloned")
        // The child has its copies; a runner that kept these would never see the agent's EOF.
        childControlEnds.forEach { close($0) }
        childControlEnds = []
        if needSync { close(sync.read) }
        close(report.write); close(status.write)
        if channel { close(pair[1]) }
        guard pid > 0 else {
            if needSync { close(sync.write) }
            if channel { close(pair[0]) }
            close(report.read); close(status.read)
            if -pid == EPERM || -pid == EINVAL || -pid == ENOSPC, plan.mapUser {
                throw SandboxError.unavailable(feature: "namespaces",
                                               reason: "cannot create user namespaces here (clone: \(errnoName(-pid)))")
            }
            throw SandboxError.setup(stage: "clone", errno: -pid)
        }
        warden_forward_signals(pid)
        defer { warden_forward_signals(0) }
        if viewSock >= 0 {
            let overlay = ahead.takeOverlay()
            // A failed send means the child is gone; the report pipe says why.
            _ = warden_send_fd(pair[0], overlay)
            if overlay >= 0 { close(overlay) }
        }
        // While the child sets up its mounts: the agent's first execve waits for the supervisor.
        let supervisorPolicy = supervised ? SupervisorPolicy(plan: plan, extraTools: selfTool.map { [$0.path] } ?? []) : nil

        if needSync {
            if let group = cgroup, !group.add(pid: pid) {
                let err = errno
                kill(pid, SIGKILL)
                _ = reap(pid)
                close(sync.write); close(report.read); close(status.read)
                throw SandboxError.setup(stage: "join cgroup \(group.directories.joined(separator: ", "))", errno: err)
            }
            var go: UInt8 = 1
            _ = write(sync.write, &go, 1)
            close(sync.write)
        }

        if let ruleset {
            switch ruleset.wait() {
            case let .success(fd):
                // A failed send means the child is gone; the report pipe says why.
                _ = warden_send_fd(pair[0], fd)
            case let .failure(error):
                kill(pid, SIGKILL)
                _ = reap(pid)
                close(pair[0]); close(report.read); close(status.read)
                throw error
            }
        }
        LaunchTiming.mark("ruleset sent")
        if channel && !supervised && hold == nil { close(pair[0]) }

        // The agent sends its listener just before execve, which is itself intercepted: the
        // supervisor has to be running before the report pipe can say anything.
        var supervisor: Supervisor?
        if supervised {
            var agentPID: pid_t = 0
            let listener = warden_recv_fd_pid(pair[0], &agentPID)
            if hold == nil { close(pair[0]) }
            landlockLog?.creator(agentPID)
            if listener >= 0, let supervisorPolicy {
                supervisor = try Supervisor(listener: listener, policy: supervisorPolicy,
                                            report: landlockLog?.noting(onDenial) ?? onDenial)
                supervisor?.start()
            }
        }
        defer { supervisor?.stop() }
        LaunchTiming.mark("supervisor")
        var wallTimeout = plan.wallTimeout
        if let hold {
            // The agent says it is ready once every protection is in force (a message without
            // a descriptor); EOF: it failed, and the report pipe says why.
            if warden_recv_fd(pair[0]) == -EPROTO {
                guard let held = hold(pid) else {
                    kill(pid, SIGKILL)
                    _ = reap(pid)
                    close(pair[0]); close(report.read); close(status.read)
                    throw StandbyEnded()
                }
                wallTimeout = held.plan.wallTimeout
                LaunchTiming.mark("held")
                // A failed send means the agent is gone; the report pipe says why.
                _ = sendCommand(pair[0], held, controlled: controlled, selfTool: selfTool?.path)
                LaunchTiming.mark("command sent")
                held.sent()
            }
            close(pair[0])
        }

        // EOF without a report means the agent's execve succeeded.
        var failure = warden_report()
        let got = readFully(report.read, &failure, MemoryLayout<warden_report>.size)
        close(report.read)
        if got == MemoryLayout<warden_report>.size {
            _ = reap(pid)
            close(status.read)
            let stage = String(cString: warden_stage_name(failure.stage))
            throw SandboxError.child(stage: stage, errno: failure.err)
        }
        LaunchTiming.mark("exec done")
        onStarted()
        if plan.useInit { landlockLog?.creator(childOf: pid) } else { landlockLog?.creator(pid) }

        let timeoutMS = wallTimeout.map { Int64($0 * 1000) } ?? -1
        var raw: Int32 = 0
        var ending: RunOutcome.Ending
        var server: ControlServer?
        if controlled, let control {
            server = ControlServer(fd: agentPair[0], freezer: SandboxFreezer(initPID: pid, socket: initPair[0]), handler: control)
            controlEnds = [initPair[0]]
        }
        defer { server?.close() }
        let deadline = timeoutMS < 0 ? -1.0 : monotonicSeconds() + Double(timeoutMS) / 1000
        var waited: Int32
        if plan.useInit {
            (waited, raw, exitLeft) = waitForInit(pid, statusFD: status.read, server: server, deadline: deadline, cgroup: cgroup)
        } else {
            waited = serving(server, until: deadline) { warden_wait_fd(pid, $0, $1, &raw) }
        }
        if waited == 1 {
            // PID 1 of the sandbox dies, and the kernel kills everything in its namespace;
            // without a PID namespace, the session (setsid made it the agent's pid) and the
            // cgroup catch the rest.
            kill(pid, SIGKILL)
            if !plan.useInit { kill(-pid, SIGKILL) }
            _ = reap(pid)
            close(status.read)
            supervisor?.stop()
            let counts = supervisor?.counts ?? (0, 0)
            supervisor = nil
            landlockLog?.stop()
            return RunOutcome(ending: .timedOut(wallTimeout ?? 0), outOfMemory: false,
                              intercepted: counts.0, denied: counts.1, forkRefusals: cgroup?.forkRefusals ?? 0,
                              auditGaps: landlockLog?.gaps ?? [])
        }
        LaunchTiming.mark("agent exited")
        if waited < 0 { throw SandboxError.setup(stage: "wait", errno: -waited) }
        close(status.read)
        ending = warden_wifsignaled(raw) != 0 ? .signaled(warden_wtermsig(raw)) : .exited(warden_wexitstatus(raw))
        onExited(ending)
        supervisor?.stop()
        let counts = supervisor?.counts ?? (0, 0)
        supervisor = nil
        landlockLog?.stop()
        LaunchTiming.mark("supervisor stopped")
        let oom = cgroup?.oomKilled ?? false
        LaunchTiming.mark("oom read")
        let refusals = cgroup?.forkRefusals ?? 0
        LaunchTiming.mark("refusals read")
        return RunOutcome(ending: ending, outOfMemory: oom,
                          intercepted: counts.0, denied: counts.1, forkRefusals: refusals,
                          auditGaps: landlockLog?.gaps ?? [], teardown: exitLeft)
    }

    private static func reap(_ pid: pid_t) -> Int32 {
        var st: Int32 = 0
        _ = warden_wait(pid, -1, &st)
        return st
    }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        let rc = warden_pipe(&fds)
        guard rc == 0 else { throw SandboxError.setup(stage: "pipe2", errno: -rc) }
        return (fds[0], fds[1])
    }

    static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        var done = 0
        while done < count {
            let n = read(fd, buffer + done, count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        return done
    }

    /// Lays the plan out as C memory that stays valid for the duration of `body`.
    private static func withSpec<R>(_ plan: LaunchPlan, readOnly: [String], view: ViewMount?, viewRules: [PathRule],
                                    landlockSock: Int32, landlockFlags: UInt32,
                                    cgroupTasks: [Int32],
                                    fds: (sync: Int32, report: Int32, status: Int32, notify: Int32), parentEnds: [Int32],
                                    control: (agent: Int32, initEnd: Int32, parent: [Int32]), selfTool: String?,
                                    netnsFD: Int32, viewSock: Int32, commandSock: Int32,
                                    _ body: (inout warden_spec) -> R) throws -> R {
        var owned: [UnsafeMutablePointer<CChar>] = []
        defer { owned.forEach { free($0) } }
        func c(_ s: String) -> UnsafeMutablePointer<CChar> {
            let p = strdup(s)!
            owned.append(p)
            return p
        }
        var argv: [UnsafeMutablePointer<CChar>?] = plan.argv.map { c($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = agentEnvironment(plan, controlled: control.agent >= 0, selfTool: selfTool).map { c($0) } + [nil]
        let planned = view?.mounts(replacing: plan.mounts, workspace: plan.options.workspace, userNamespace: plan.mapUser)
            ?? plan.mounts
        var mounts = planned.map { m in
            warden_mount(kind: m.kind, target: c(m.target), data: m.data.map { UnsafePointer(c($0)) })
        }
        // After the workspace's own bind, so they lie on top of it; only where there is a
        // mount namespace to put them in.
        if plan.cloneFlags & UInt(warden_CLONE_NEWNS) != 0 {
            for path in readOnly where FilePaths.isInside(path, plan.options.workspace) {
                mounts.append(warden_mount(kind: Int32(WARDEN_MOUNT_READONLY_BIND.rawValue), target: c(path), data: nil))
            }
        }
        var childRules = (plan.childRules + viewRules).map { warden_child_rule(path: c($0.path), access: $0.access) }
        var limits = plan.rlimits.map { warden_rlimit(resource: $0.resource, value: $0.value) }
        let bpf = plan.seccomp?.bytes ?? []
        let path = c(plan.executable), cwdC = c(plan.options.agentDirectory)

        return argv.withUnsafeMutableBufferPointer { argvBuf in
            envp.withUnsafeMutableBufferPointer { envBuf in
                mounts.withUnsafeMutableBufferPointer { mountBuf in
                    childRules.withUnsafeMutableBufferPointer { ruleBuf in
                        limits.withUnsafeMutableBufferPointer { limitBuf in
                            bpf.withUnsafeBytes { bpfBuf in
                                var spec = warden_spec()
                                spec.path = UnsafePointer(path)
                                spec.argv = UnsafePointer(argvBuf.baseAddress)
                                spec.envp = UnsafePointer(envBuf.baseAddress)
                                spec.cwd = UnsafePointer(cwdC)
                                spec.clone_flags = netnsFD >= 0 ? plan.cloneFlags & ~UInt(warden_CLONE_NEWNET) : plan.cloneFlags
                                spec.netns_fd = netnsFD
                                spec.view_sock = viewSock
                                spec.command_sock = commandSock
                                spec.null_stdio = commandSock >= 0 ? 1 : 0
                                spec.map_user = plan.mapUser ? 1 : 0
                                spec.outer_uid = getuid()
                                spec.outer_gid = getgid()
                                spec.mounts = UnsafePointer(mountBuf.baseAddress)
                                spec.n_mounts = Int32(mountBuf.count)
                                spec.landlock_fd = -1
                                spec.landlock_sock = landlockSock
                                spec.landlock_flags = landlockFlags
                                spec.child_rules = UnsafePointer(ruleBuf.baseAddress)
                                spec.n_child_rules = Int32(ruleBuf.count)
                                spec.bpf = bpfBuf.baseAddress
                                spec.bpf_len = UInt16(bpf.count / 8)
                                // SECCOMP_FILTER_FLAG_NEW_LISTENER: the filter's notifications go to the supervisor.
                                spec.seccomp_flags = plan.seccomp?.notifies == true ? 8 : 0
                                spec.rlimits = UnsafePointer(limitBuf.baseAddress)
                                spec.n_rlimits = Int32(limitBuf.count)
                                spec.drop_caps = (getuid() == 0 || plan.mapUser) ? 1 : 0
                                spec.use_init = plan.useInit ? 1 : 0
                                spec.cgroup_tasks = (cgroupTasks[0], cgroupTasks[1])
                                spec.sync_fd = fds.sync
                                spec.report_fd = fds.report
                                spec.status_fd = fds.status
                                spec.parent_ends = (parentEnds[0], parentEnds[1], parentEnds[2], -1)
                                spec.parent_channel = parentEnds[3]
                                spec.notify_sock = fds.notify
                                spec.control_fd = control.agent
                                spec.init_ctl = control.initEnd
                                spec.parent_control = (control.parent[0], control.parent[1])
                                return body(&spec)
                            }
                        }
                    }
                }
            }
        }
    }
}
