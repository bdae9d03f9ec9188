import CSandbox
import Glibc

/// The run's new, empty network namespace, made on a thread of its own while the runner
/// prepares everything else (the child joins it with setns instead of cloning one: most of a
/// millisecond of kernel work off the launch's critical path). Only for a runner that may
/// make one outside a user namespace (root); elsewhere the clone makes it, as before.
public final class PendingNetns: @unchecked Sendable {
    /// The thread ends in the new namespace; it does nothing else there.
    private let made = OnThread { warden_new_netns() }
    private var taken = false

    /// Nil when the plan has no network namespace, or makes it in a user namespace.
    public static func ahead(for plan: LaunchPlan) -> PendingNetns? {
        guard plan.cloneFlags & UInt(warden_CLONE_NEWNET) != 0, !plan.mapUser, geteuid() == 0 else { return nil }
        return PendingNetns()
    }

    private init() {}

    /// The namespace's fd, or -1: the clone then makes one itself. The caller closes it.
    func take() -> Int32 {
        defer { taken = true }
        return taken ? -1 : max(made.value, -1)
    }

    deinit {
        let left = take()
        if left >= 0 { close(left) }
    }
}
