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

    func matches(view: Bool, control: Bool, plan: LaunchPlan) -> Bool {
        viewed == view && controlled == (control && view && plan.useInit)
    }

    deinit { ruleset?.close() }
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
