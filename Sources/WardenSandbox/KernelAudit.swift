import CSandbox
import Glibc

/// The kernel audit subsystem, as far as Landlock's denial log depends on it.
public enum KernelAudit {
    public struct Status: Sendable, Equatable {
        /// 0 off, 1 on, 2 on and locked until reboot.
        public var enabled: UInt32
        /// What the kernel does when it loses records: 0 nothing, 1 printk, 2 panic.
        public var failure: UInt32
        /// auditd's pid, 0 when none is registered.
        public var daemonPID: UInt32
        public var backlogLimit: UInt32
        /// Records the kernel has lost since boot (backlog full, rate limit).
        public var lost: UInt32
    }

    /// AUDIT_GET, or the errno (EPERM without CAP_AUDIT_CONTROL).
    public static func status() -> Result<Status, SandboxError> { StatusRequest().result() }

    /// An AUDIT_GET sent now and read later: the kernel answers from a kernel thread it starts
    /// for each request, which a launch can overlap with its own set-up. The send itself waits
    /// until kthreadd has made that thread (most of a millisecond on a busy machine), so a
    /// launch sends it from another thread (`background`).
    public final class StatusRequest: @unchecked Sendable {
        private var sent: OnThread<Int32>?
        private var sock: Int32 = -1
        private var answer: Result<Status, SandboxError>?

        public init(background: Bool = false) {
            if background { sent = OnThread { warden_audit_status_send() } } else { sock = warden_audit_status_send() }
        }

        deinit {
            takeSocket()
            if sock >= 0 { close(sock) }
        }

        private func takeSocket() {
            if let sent {
                sock = sent.value
                self.sent = nil
            }
        }

        public func result() -> Result<Status, SandboxError> {
            if let answer { return answer }
            takeSocket()
            var raw = warden_audit_status()
            let rc = sock < 0 ? sock : warden_audit_status_receive(sock, &raw)
            sock = -1  // closed by the receive
            let result: Result<Status, SandboxError> = rc != 0 ? .failure(.setup(stage: "AUDIT_GET", errno: -rc))
                : .success(Status(enabled: raw.enabled, failure: raw.failure, daemonPID: raw.daemon_pid,
                                  backlogLimit: raw.backlog_limit, lost: raw.lost))
            answer = result
            return result
        }
    }

    /// AUDIT_SET of the enabled flag; 0 or the errno. warden itself never calls this: turning
    /// audit on changes the whole machine (every process gets an audit context, every
    /// Landlock and seccomp-log denial of every program is recorded). Tests use it, restoring
    /// the previous state afterwards.
    public static func setEnabled(_ enabled: UInt32) -> Int32 {
        -warden_audit_set_enabled(enabled)
    }
}

/// Whether a run's Landlock denials are collected from the kernel's audit log, and if not, why.
public enum LandlockAuditState: Sendable, Equatable {
    case active
    case inactive(reason: String)

    /// Decided at launch, not in the (cached) plan: the audit state can change between runs.
    public static func current(landlockABI: Int?, environment: [String: String],
                               status: KernelAudit.StatusRequest? = nil) -> LandlockAuditState {
        guard let abi = landlockABI else { return .inactive(reason: "Landlock is not in force") }
        guard abi >= 7 else {
            return .inactive(reason: "Landlock ABI \(abi) does not log denials (needs ABI 7, Linux 6.15)")
        }
        if environment["WARDEN_LANDLOCK_AUDIT"] == "off" {
            return .inactive(reason: "turned off (WARDEN_LANDLOCK_AUDIT=off)")
        }
        guard geteuid() == 0 else {
            return .inactive(reason: "needs root (CAP_AUDIT_CONTROL and CAP_AUDIT_READ) and audit_enabled=1")
        }
        switch (status ?? KernelAudit.StatusRequest()).result() {
        case let .failure(error):
            if case let .setup(_, err) = error {
                return .inactive(reason: "cannot read the kernel audit status (AUDIT_GET: \(errnoName(err)))")
            }
            return .inactive(reason: "cannot read the kernel audit status")
        case let .success(status):
            if status.enabled == 0 {
                return .inactive(reason: "kernel audit is disabled (audit_enabled=0); warden does not turn it on, `auditctl -e 1` does")
            }
            // The kernel panics when it loses a record in this mode, and logging every denial
            // after exec would let an agent flood the backlog on purpose.
            if status.failure == 2 {
                return .inactive(reason: "kernel audit is in panic-on-loss mode (auditctl -f 2): an agent could halt the machine with denials")
            }
            return .active
        }
    }

    /// The `--explain` line naming every source of the audit.
    public static func explainLine(supervised: Bool, landlock: LandlockAuditState) -> String {
        let supervisor = supervised ? "supervisor (seccomp user notification)"
            : "supervisor: inactive (no seccomp user notification in this plan)"
        switch landlock {
        case .active:
            return "audit sources: \(supervisor); landlock audit log: active (kernel audit, records after exec)"
        case let .inactive(reason):
            return "audit sources: \(supervisor); landlock audit log: inactive (\(reason))"
        }
    }
}
