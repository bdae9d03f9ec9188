import CSandbox
import Glibc

/// What is left of a run once its init has reported: init itself, exiting while the kernel
/// tears down its namespaces and its copy of the runner (most of a millisecond), and the run's
/// cgroup, which can go only once init has left it. Init kills and reaps everything else in
/// its PID namespace before it reports, so nothing of the agent's runs any more: the caller
/// does its own work first (the view, the audit row) and `finish`es last, and the teardown
/// overlaps that work instead of preceding it.
public final class SandboxExit: @unchecked Sendable {
    private var pid: pid_t
    private var cgroup: RunCgroup?

    init(pid: pid_t, cgroup: RunCgroup?) {
        self.pid = pid
        self.cgroup = cgroup
    }

    /// Reaps init and removes the cgroup; a second call does nothing.
    public func finish() {
        guard pid > 0 else { return }
        var status: Int32 = 0
        _ = warden_wait(pid, -1, &status)
        pid = 0
        cgroup?.remove()
        cgroup = nil
    }

    deinit { finish() }
}

extension Launcher {
    /// Waits for init's report on `statusFD` (the agent's wait status, and whether init left
    /// nothing else running), serving `server` meanwhile, until `deadline` (monotonic seconds;
    /// negative: none). Returns 1 on timeout, -errno on error, else 0 with the agent's status
    /// and, when init reported nothing left, the exit still to finish; otherwise init has been
    /// waited for here, as the kernel's teardown of its namespace is then the only guarantee.
    static func waitForInit(_ pid: pid_t, statusFD: Int32, server: ControlServer?, deadline: Double,
                            cgroup: RunCgroup?) -> (waited: Int32, status: Int32, left: SandboxExit?) {
        var waited = serving(server, until: deadline) { warden_wait_readable(statusFD, $0, $1) }
        guard waited == 0 else { return (waited, 0, nil) }
        var report: [Int32] = [0, 0]
        let got = report.withUnsafeMutableBytes { readFully(statusFD, $0.baseAddress!, 8) }
        if got == 8, report[1] == 1 { return (0, report[0], SandboxExit(pid: pid, cgroup: cgroup)) }
        // Init died before its report, or could not reap everything: wait for the kernel.
        var raw: Int32 = 0
        waited = warden_wait(pid, -1, &raw)
        return (waited, got >= 4 ? report[0] : raw, nil)
    }

    /// Calls `wait(serverFD, millisecondsLeft)` until it returns anything but 2 (the control
    /// server's fd is readable), serving the server each time; `deadline` as above.
    static func serving(_ server: ControlServer?, until deadline: Double, _ wait: (Int32, Int64) -> Int32) -> Int32 {
        while true {
            let left = deadline < 0 ? Int64(-1) : max(0, Int64((deadline - monotonicSeconds()) * 1000))
            let waited = wait(server?.fd ?? -1, left)
            guard waited == 2, let server else { return waited }
            server.service()
        }
    }
}
