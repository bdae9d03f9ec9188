import CSandbox
import Glibc
import WardenPolicy

/// The kernel work of a launch that depends on the plan alone, started before the caller's
/// own preparations (the view, the audit row, the cgroup) so that it overlaps them: the
/// kernel's audit status, the network namespace, and above all the Landlock ruleset, a couple
/// of hundred rules, each a path lookup, which the child would otherwise wait for after its
/// mounts. Hand it to `Launcher.run`; dropped unused, it closes what it made.
public final class LaunchAhead: @unchecked Sendable {
    let viewed: Bool
    let controlled: Bool
    let auditQuery: KernelAudit.StatusRequest?
    let netns: PendingNetns?
    /// The runner's own binary, allowed to the agent for `warden submit` (controlled runs).
    let selfTool: SelfTool?
    /// Rules inside the workspace: with a view they name the view's paths, which exist only
    /// in the child's mount namespace, so the child adds them itself.
    let childRules: [PathRule]
    let ruleset: PendingRuleset?

    /// - Parameter view: the run will have a private view of the workspace.
    /// - Parameter control: and, with it, a control channel (`Launcher.run`'s `control`).
    public init(plan: LaunchPlan, view: Bool, control: Bool) {
        viewed = view
        controlled = control && view && plan.useInit
        auditQuery = LandlockAuditLog.query(plan: plan)
        netns = PendingNetns.ahead(for: plan)
        selfTool = controlled ? plan.rights.flatMap { SelfTool.current(rights: $0, workspace: plan.options.workspace) } : nil
        let planned = plan.pathRules + (selfTool?.rules ?? [])
        let rules: (parent: [PathRule], child: [PathRule]) = view ? ViewMount.split(planned, workspace: plan.options.workspace)
            : (planned, [])
        childRules = rules.child
        ruleset = plan.rights.map { rights in
            PendingRuleset { try LandlockRuleset(rights: rights, rules: rules.parent, netPorts: plan.netPorts,
                                                 scoped: plan.scoped) }
        }
    }

    /// The view's overlay, made by a thread of a root runner once the caller has made the
    /// view's directories (`viewMade`), for the mount paths in `overlayFor`.
    private var overlay: OnThread<Int32>?
    private var overlayFor: ViewMount?

    /// Whether the runner and the child share a socket: the runner sends the ruleset (and
    /// the view's overlay) on it, the agent sends its seccomp listener back.
    static func hasChannel(_ plan: LaunchPlan) -> Bool {
        (plan.seccomp?.notifies ?? false) || plan.rights != nil
    }

    func matches(view: Bool, control: Bool, plan: LaunchPlan) -> Bool {
        viewed == view && controlled == (control && view && plan.useInit)
    }

    /// Starts the view's overlay on a thread: its set-up makes half a dozen inodes in the work
    /// directory, most of a millisecond the child would otherwise spend before the agent can
    /// start. Only where the runner may mount outside a user namespace (root): an
    /// unprivileged child mounts it inside its own, as before.
    public func viewMade(_ view: ViewMount, plan: LaunchPlan) {
        // Without the channel to send it on, the child must mount the view itself, and a
        // work directory another overlay has used (volatile) is refused: none is made then.
        guard viewed, overlay == nil, !plan.mapUser, geteuid() == 0, plan.cloneFlags & UInt(warden_CLONE_NEWNS) != 0,
              Self.hasChannel(plan)
        else { return }
        overlayFor = view
        overlay = OnThread { warden_overlay_fsmount(view.lower, view.upper, view.work) }
    }

    /// Whether `viewMade` started the overlay for these mount paths.
    func overlayStarted(for view: ViewMount) -> Bool {
        guard overlay != nil, let o = overlayFor else { return false }
        return o.lower == view.lower && o.upper == view.upper && o.work == view.work
    }

    /// The detached overlay (waiting for it), or -1 if it could not be made: the child then
    /// mounts it itself, and reports why if it cannot either. The caller closes it once sent.
    func takeOverlay() -> Int32 {
        guard let made = overlay else { return -1 }
        overlay = nil
        return max(made.value, -1)
    }

    deinit {
        ruleset?.close()
        if let made = overlay, made.value >= 0 { close(made.value) }
    }
}

/// A Landlock ruleset being built on a thread of its own; `wait` hands over its fd or the error.
final class PendingRuleset: @unchecked Sendable {
    private let build: OnThread<Result<Int32, Error>>
    private var closed = false

    init(_ make: @escaping @Sendable () throws -> LandlockRuleset) {
        build = OnThread { Result { try make().fd } }
    }

    func wait() -> Result<Int32, Error> { build.value }

    /// Once the child has its copy; a second call does nothing.
    func close() {
        guard !closed else { return }
        closed = true
        if case let .success(fd) = wait(), fd >= 0 { Glibc.close(fd) }
    }
}
