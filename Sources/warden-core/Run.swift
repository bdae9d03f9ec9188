import ArgumentParser
import Foundation
import Glibc
import WardenAudit
import WardenPolicy
import WardenSandbox

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command under a role profile.",
        discussion: """
        The command runs in new namespaces, with Landlock limiting what it may execute,
        read and write, seccomp denying the profile's syscall sets, and the profile's
        limits. If any protection cannot be applied on this machine, warden refuses to
        launch and names it; --allow-degraded FEATURE runs without that one (features:
        \(Protection.features.joined(separator: ", "))).

          warden run --profile code -- make
          warden run --profile ./profiles/mine.yaml --timeout 10m -- ./agent.sh
          warden run --profile explore --explain -- grep -r TODO .

        With a view (the default), the agent's changes go to the gate when it
        exits, and whenever it asks before that: it gets fd 3
        (WARDEN_CONTROL_FD=3), where the line `submit [TASK]` is answered with
        one line (`committed SEQ`, `nothing`, `refused: ...`, `error: ...`)
        once the sandbox was stopped, its files copied and the copies offered
        to the gate. See `warden submit --help`.
        """
    )

    @OptionGroup var launch: LaunchArguments

    @Flag(name: .long, help: "Print exactly which protections and rules would be in force, and do not run.")
    var explain = false

    @Flag(name: .long, help: "With --explain, also print the seccomp program.")
    var bpf = false

    @Flag(name: .long, help: "Launch the command here even if a standby (warden standby) waits for these options.")
    var noStandby = false

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.")
    var command: [String] = []

    func run() throws {
        var argv = command
        if argv.first == "--" { argv.removeFirst() }
        guard !argv.isEmpty else {
            throw ValidationError("no command: warden run --profile \(launch.profile) -- CMD [ARGS...]")
        }
        let root = try launch.root()
        let environment = processEnvironment()
        let cwd = currentDirectory()
        let cache = explain ? nil : PlanCache.standard(environment: environment)
        let key = PlanCache.key(profile: launch.profile, workspace: root, cwd: cwd, environment: environment,
                                allowDegraded: Set(launch.allowDegraded))
        let options = LaunchOptions(
            workspace: root, command: argv, timeout: launch.timeout.flatMap(parseDuration),
            allowDegraded: Set(launch.allowDegraded), cwd: cwd, environment: environment, runID: makeRunID())
        let (loader, plan) = try makePlan(profile: launch.profile, options: options)
        if explain {
            print(plan.explain(showBPF: bpf))
            print(launch.view
                ? "view: private overlay of \(root) over the snapshot of its current version; at exit the changes go to the gate (--commit \(launch.commit.rawValue)\(launch.keep ? ", --keep" : "")), and on `warden submit` from inside (fd 3, WARDEN_CONTROL_FD; warden itself runs there as $WARDEN_EXE)"
                : "view: none (--no-view): the agent writes its zones in the workspace directly, without the gate")
            if !plan.missing.isEmpty {
                complain("this launch would be refused: " + plan.missing.map(\.feature).joined(separator: ", ") + " missing")
                throw ExitCode(WardenExit.refused)
            }
            return
        }
        try storePlan(plan, loader: loader, view: launch.view, cache: cache, key: key)
        throw ExitCode(execute(plan, json: launch.json, auditPath: launch.audit.map(absolutePath), view: launch.viewOptions))
    }
}

/// The options `warden run` and `warden standby` share: a standby serves only runs whose
/// values are the same.
struct LaunchArguments: ParsableArguments {
    @Option(name: .long, help: "A profile name (workspace profiles/NAME.yaml, else built-in) or a path to a .yaml file.")
    var profile: String

    @Option(name: .long, help: "The workspace root (default: the current directory).")
    var workspace: String?

    @Option(name: .long, help: "Kill the whole process tree after this long (e.g. 90s, 10m, 1h).")
    var timeout: String?

    @Option(name: .long, help: "Run without this protection when the machine lacks it (repeatable).")
    var allowDegraded: [String] = []

    @Flag(name: .long, help: "Print a JSON summary of the run on stderr when it ends.")
    var json = false

    @Option(name: .long, help: "The audit store (default: WORKSPACE/.warden/audit.db).")
    var audit: String?

    @Flag(name: .long, inversion: .prefixedNo,
          help: "Give the agent a private copy-on-write view whose changes reach the workspace only through the gate. --no-view lets it write the workspace directly (within its write zones), with no gate.")
    var view = true

    @Flag(name: .long, help: "Keep the view (.warden/views/RUN) after the run, for `warden changes RUN`.")
    var keep = false

    @Option(name: .long, help: "When to submit the view's changes to the gate: success (the agent exited 0), always, never.")
    var commit = CommitMode.success

    func validate() throws {
        for feature in allowDegraded where !Protection.features.contains(feature) {
            throw ValidationError("unknown feature '\(feature)' for --allow-degraded; known: \(Protection.features.joined(separator: ", "))")
        }
        if let t = timeout, parseDuration(t) == nil {
            throw ValidationError("--timeout '\(t)' is not a duration (e.g. 90s, 10m, 1h30m)")
        }
    }

    var viewOptions: ViewOptions { ViewOptions(enabled: view, keep: keep, commit: commit) }

    /// The workspace, absolute and real; a usage error (exit 64) if it is not a directory, or
    /// if --audit names a place in it the store may not be.
    func root() throws -> String {
        guard let root = workspaceRoot(workspace, audit: audit.map(absolutePath)) else { throw ExitCode(WardenExit.usage) }
        return root
    }
}

/// The workspace (default: the working directory), absolute and real. Nil, having said why,
/// when it is not a directory or the audit store (absolute) may not be where it is asked to be.
func workspaceRoot(_ workspace: String?, audit: String?) -> String? {
    let root = absolutePath(workspace ?? currentDirectory())
    guard FilePaths.isDirectory(root) else {
        complain("workspace \(root) is not a directory")
        return nil
    }
    if let audit, let problem = auditStoreProblem(audit, workspace: root) {
        complain(problem)
        return nil
    }
    return root
}

/// Why the audit store cannot be at `path` for runs in `workspace`, or nil. In the workspace,
/// only `.warden/` stays out of the gate's snapshots and changesets: a store anywhere else
/// in it would be a workspace file, changing the workspace with every run, bound into no
/// view until a snapshot held it, and within reach of the gate for a role whose write zones
/// cover it.
func auditStoreProblem(_ path: String, workspace: String) -> String? {
    // A store not made yet: where its directory really is.
    var resolved = path
    if !FilePaths.exists(path), let slash = path.lastIndex(of: "/"), slash != path.startIndex,
       let directory = FilePaths.realPath(String(path[..<slash])) {
        resolved = directory + path[slash...]
    }
    guard FilePaths.isInside(resolved, workspace), !FilePaths.isInside(resolved, workspace + "/.warden") else { return nil }
    return "--audit \(path): the audit store may be in the workspace only under \(workspace)/.warden/ (the default is .warden/audit.db), or outside it"
}

/// Loads the profile and compiles the launch: policy errors exit 65, a refused plan its code.
func makePlan(profile: String, options: LaunchOptions, standby: Bool = false) throws -> (PolicyLoader, LaunchPlan) {
    let loader = try makeLoader(workspace: options.workspace)
    let resolved = try loadProfile(loader, profile)
    do {
        return (loader, try LaunchPlan.make(profile: resolved, options: options, standby: standby))
    } catch let error as SandboxError {
        throw ExitCode(report(error))
    }
}

/// Caches a plan for the next launch with the same key, once the workspace policy loads.
func storePlan(_ plan: LaunchPlan, loader: PolicyLoader, view: Bool, cache: PlanCache?, key: String) throws {
    // The gate reads the workspace policy when the agent ends: a broken one is refused now,
    // before the agent works for nothing. Its files are part of the cache key, so a plan is
    // cached only with a policy that loads and the cached path needs no check.
    let policyLoads: Bool
    if view {
        _ = try loadWorkspacePolicy(loader)
        policyLoads = true
    } else {
        policyLoads = (try? loader.workspacePolicy()) != nil
    }
    if policyLoads {
        cache?.store(plan.compiled, key: key, workspace: plan.options.workspace, cwd: plan.options.cwd,
                     searchPath: plan.options.environment["PATH"] ?? "")
    }
}

/// Runs a bound plan and turns its ending into warden's exit status: shared by the parsed
/// command and the cached fast path, so both behave the same.
/// - Parameter standby: the sandbox is made for a command a later `warden run` hands over
///   (`StandbyServer.claim`); the audit row is begun then, with that command.
func execute(_ plan: LaunchPlan, json: Bool, cached: Bool = false, auditPath: String? = nil,
             view viewOptions: ViewOptions = ViewOptions(), standby: StandbyServer? = nil) -> Int32 {
    if standby == nil { warnDegraded(plan) }
    // Before the view: the ruleset, the network namespace and the audit status are made on
    // threads of their own while this one makes the view and the audit row.
    let ahead = LaunchAhead(plan: plan, view: viewOptions.enabled, control: viewOptions.enabled)
    LaunchTiming.mark("ahead")
    let view: ViewSession?
    do {
        view = try ViewSession.start(plan: plan, options: viewOptions)
    } catch {
        complain("cannot make the run's private view of the workspace: \(error); --no-view runs without one (no gate)")
        return WardenExit.setup
    }
    if let view { ahead.viewMade(view.mount, plan: plan) }
    LaunchTiming.mark("view started")
    let housekeeping = Housekeeping(gate: view?.gate)
    let optedDown = viewOptions.enabled ? [:] : ["view": "--no-view: the agent writes the workspace directly, without the gate"]
    // The plan of the command that runs: a standby's is bound when a run claims it.
    var plan = plan
    // A standby's is begun when a run claims it, before the agent can be denied anything.
    let slot = AuditSlot(standby == nil ? AuditSession.start(plan: plan, path: auditPath, optedDown: optedDown) : nil)
    var audit: AuditSession! { slot.session }
    LaunchTiming.mark("audit started")
    // A standby's connection to the store is made while it waits; only the row goes in at the claim.
    let auditFile = auditPath ?? AuditStore.defaultPath(workspace: plan.options.workspace)
    let auditAhead = standby == nil ? nil : AuditSession.Ahead(path: auditFile)
    let hold: ((pid_t) -> HeldCommand?)? = standby.map { server in
        { child in
            housekeeping.wait()
            guard let claimed = server.claim(child: child, view: view) else { return nil }
            plan = claimed
            slot.session = AuditSession.start(plan: claimed, path: auditPath, optedDown: optedDown, ahead: auditAhead)
            return HeldCommand(plan: claimed, stdio: server.pending) {
                server.accepted()
                warnDegraded(claimed)
            }
        }
    }
    // The view goes to the gate on a thread of its own as soon as the agent has exited, while
    // this one winds up the supervisor, reads the cgroup and finishes the audit row: they need
    // only the run's audit id. Their messages come out in the usual order after.
    var viewEnd: ViewEnd?
    func endView(_ ending: RunOutcome.Ending) {
        guard let view, viewEnd == nil else { return }
        audit.waitOpened()
        viewEnd = ViewEnd(view, plan: plan, status: RunOutcome.exitCode(ending), auditFile: audit.file, auditRun: audit.runID)
    }
    let outcome: RunOutcome
    do {
        let control: ControlHandler? = view.map { session in
            { request, freezer in
                session.submitLive(request, freezer: freezer, plan: plan, auditFile: audit.file, auditRun: audit.runID)
            }
        }
        outcome = try Launcher.run(plan, readOnly: audit?.files ?? AuditStore.prepareFiles(path: auditFile),
                                   view: view?.mount, control: control, ahead: ahead, onStarted: { housekeeping.start() },
                                   hold: hold, onExited: { endView($0) }, onDenial: { slot.session?.record($0) })
    } catch is StandbyEnded {
        // Nothing ran in it: nothing to offer the gate or keep, whatever --keep says.
        try? view?.view.discard()
        return 0
    } catch let error as SandboxError {
        let status = report(error)
        _ = view?.finish(plan: plan, status: nil)
        if let line = audit?.finish(nil, status: status) { complain(line) }
        return status
    } catch {
        complain("\(error)")
        _ = view?.finish(plan: plan, status: nil)
        return WardenExit.internalError
    }
    LaunchTiming.mark("agent done")
    endView(outcome.ending)
    let auditLine = audit.finish(outcome, status: outcome.exitCode)
    LaunchTiming.mark("audit finished")
    let gateStatus = viewEnd?.wait()
    LaunchTiming.mark("view finished")
    if let auditLine { complain(auditLine) }
    viewEnd?.lines.forEach { complain($0) }
    switch outcome.ending {
    case let .timedOut(seconds):
        complain("timed out after \(formatSeconds(seconds)); killed the whole process tree")
    case .signaled(9) where outcome.outOfMemory:
        complain("killed: the process tree exceeded its memory limit (\(plan.profile.limits.memory ?? 0) bytes)")
    default: break
    }
    if json {
        let ending: String
        switch outcome.ending {
        case let .exited(c): ending = "\"exit\":\(c)"
        case let .signaled(s): ending = "\"signal\":\(s)"
        case let .timedOut(t): ending = "\"timeout\":\(t)"
        }
        let auditRun = audit.runID.map { ",\"audit_run\":\($0)" } ?? ""
        let gate = view.map { ",\"view\":\"\($0.outcome)\"" + ($0.version.map { ",\"version\":\($0)" } ?? "") } ?? ""
        fputs("{\"run\":\(jsonString(plan.options.runID))\(auditRun)\(gate),\"profile\":\(jsonString(plan.profile.role)),\"plan\":\"\(cached ? "cached" : "compiled")\",\(ending),\"status\":\(gateStatus ?? outcome.exitCode),\"intercepted\":\(outcome.intercepted),\"denied\":\(outcome.denied)}\n", stderr)
    }
    let status = gateStatus ?? outcome.exitCode
    // Everything the caller can observe is done: a standby's caller may go now, while init's
    // namespaces and the cgroup (all processes already gone) are torn down.
    standby?.finish(status: status)
    outcome.teardown?.finish()
    housekeeping.finish()
    viewEnd?.waitCollected()
    LaunchTiming.mark("torn down")
    return status
}

/// `ViewSession.finish` on a thread of its own, its messages kept for the caller to print.
final class ViewEnd: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0), collected = DispatchSemaphore(value: 0)
    private var status: Int32?
    private(set) var lines: [String] = []

    init(_ session: ViewSession, plan: LaunchPlan, status: Int32, auditFile: String, auditRun: Int64?) {
        session.say = { [unowned self] in lines.append($0) }
        startBackgroundThread { [self] in
            self.status = session.finish(plan: plan, status: status, auditFile: auditFile, auditRun: auditRun, collect: false)
            session.say = { complain($0) }
            done.signal()
            session.collectStale()
            collected.signal()
        }
    }

    /// Once stale snapshots are gone (after the status went to the caller).
    func waitCollected() {
        collected.wait()
    }

    /// The status `finish` returned, once it has.
    func wait() -> Int32? {
        done.wait()
        return status
    }
}

/// The run's audit session, set once (late for a standby) and read by the supervisor's thread.
final class AuditSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var value: AuditSession?
    init(_ session: AuditSession?) { value = session }
    var session: AuditSession? {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}

private func warnDegraded(_ plan: LaunchPlan) {
    for p in plan.degraded {
        if case let .degraded(reason) = p.state {
            complain("running without \(p.feature) (--allow-degraded): \(reason)")
        }
    }
}

/// Prints a sandbox error and picks the exit status that tells scripts what kind it was.
func report(_ error: SandboxError) -> Int32 {
    complain(error.description)
    switch error {
    case .unavailable: return WardenExit.refused
    case let .child(stage, err) where stage == "execve":
        return err == ENOENT ? WardenExit.notFound : WardenExit.notPermitted
    case .child: return WardenExit.setup
    case .setup: return WardenExit.internalError
    case let .command(message):
        return message.hasSuffix("command not found") ? WardenExit.notFound : WardenExit.notPermitted
    }
}
func makeRunID() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return "\(ts.tv_sec)-\(getpid())"
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s))s" : "\(s)s"
}
