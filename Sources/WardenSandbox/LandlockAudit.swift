import CSandbox
import Glibc
import WardenPolicy

/// Collects a run's Landlock denials from the kernel audit log (Landlock ABI 7), so that
/// what the supervisor never sees — reads above all, since read-only opens never leave the
/// kernel — is recorded too. Runs only where `LandlockAuditState.current` says active: as
/// root, with kernel audit already enabled by the administrator.
///
/// Nothing here may stop a run: every failure makes the collector record less, never throw.
public final class LandlockAuditLog: @unchecked Sendable {
    /// For landlock_restrict_self: log the domain's denials after exec too. Without it the
    /// kernel logs only until the first exec, which for an agent is no time at all.
    public static let restrictFlags = UInt32(WARDEN_LL_RESTRICT_SELF_LOG_NEW_EXEC_ON)
    /// How long the end of a run waits for the kernel to deliver what is still queued, and
    /// then (only when the run had Landlock denials) for the domain's deallocation record,
    /// whose count of denials tells whether the kernel dropped any.
    static let flushTimeoutMS: Int64 = 300
    static let deallocationTimeoutMS: Int64 = 300
    /// A supervisor record of the same kind and target this recent makes a Landlock one a duplicate.
    static let duplicateWindowNS: Int64 = 2_000_000_000

    private let fd: Int32
    private let stopPipe: (read: Int32, write: Int32)
    private let flushPipe: (read: Int32, write: Int32)
    private let rules: LandlockDenialRules
    private let report: @Sendable (Denial) -> Void
    private let nonce: String
    private let lock = NSLockLite()
    private var stream = LandlockRecordStream()
    private var recent: [String: Int64] = [:]
    private var overruns = 0
    /// This run's denials received, and those of them recorded (not duplicates).
    private var received = 0
    private var recorded = 0
    private var kernelLostBefore: UInt32?
    private var flushed = false
    /// What the collector knows it missed, for the end-of-run line; set by stop().
    public private(set) var gaps: [String] = []
    private var thread: pthread_t?
    private var stopped = false

    /// Asks the kernel for its audit status at the start of a launch; nil, without a syscall,
    /// where the source cannot be active whatever the answer.
    public static func query(plan: LaunchPlan) -> KernelAudit.StatusRequest? {
        guard (plan.landlockABI ?? 0) >= 7, geteuid() == 0, plan.options.environment["WARDEN_LANDLOCK_AUDIT"] != "off"
        else { return nil }
        return KernelAudit.StatusRequest(background: true)
    }

    /// Opens the log before the spawn, so that no record of the run can be missed; nil when
    /// the source is inactive or cannot be opened.
    public static func start(plan: LaunchPlan, status: KernelAudit.StatusRequest?,
                             report: @escaping @Sendable (Denial) -> Void) -> LandlockAuditLog? {
        guard let status, LandlockAuditState.current(landlockABI: plan.landlockABI, environment: plan.options.environment,
                                                     status: status) == .active
        else { return nil }
        let fd = warden_audit_open_log(8 << 20)
        guard fd >= 0 else { return nil }
        var a: [Int32] = [0, 0], b: [Int32] = [0, 0]
        guard warden_pipe(&a) == 0 else { close(fd); return nil }
        guard warden_pipe(&b) == 0 else { close(fd); close(a[0]); close(a[1]); return nil }
        let log = LandlockAuditLog(fd: fd, stop: (a[0], a[1]), flush: (b[0], b[1]),
                                   rules: LandlockDenialRules(profile: plan.profile), report: report)
        if case let .success(s) = status.result() { log.kernelLostBefore = s.lost }
        log.start()
        return log
    }

    private init(fd: Int32, stop: (Int32, Int32), flush: (Int32, Int32), rules: LandlockDenialRules,
                 report: @escaping @Sendable (Denial) -> Void) {
        self.fd = fd
        stopPipe = stop
        flushPipe = flush
        self.rules = rules
        self.report = report
        nonce = "warden-landlock-flush-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }

    /// Landlock denials recorded for this run.
    public var recordedCount: Int { lock.with { recorded } }

    /// The supervisor's report, remembered so that the same operation is not recorded twice.
    public func noting(_ next: @escaping @Sendable (Denial) -> Void) -> @Sendable (Denial) -> Void {
        { [self] d in
            lock.with {
                // Bounded under a flood, in constant time per call: the duplicate check is a
                // courtesy (the supervisor refuses before Landlock sees a call), not a guarantee.
                if recent.count >= 4096 { recent.removeAll(keepingCapacity: true) }
                recent[d.kind + "\u{0}" + d.target] = d.timeNS
            }
            next(d)
        }
    }

    /// The pid that called landlock_restrict_self, as the host sees it.
    public func creator(_ pid: pid_t) {
        guard pid > 0 else { return }
        deliver(lock.with { stream.setCreator(Int32(pid)) })
    }

    /// Without a pid from the notify socket: the agent is the sandbox init's only child.
    /// Read once its exec succeeded; an agent that already exited is missed.
    public func creator(childOf initPID: pid_t) {
        guard lock.with({ stream.creator == nil }) else { return }
        guard let text = try? String(contentsOfFile: "/proc/\(initPID)/task/\(initPID)/children", encoding: .utf8),
              let first = text.split(separator: " ").first, let pid = pid_t(first) else { return }
        creator(pid)
    }

    /// After the agent's whole tree is gone: waits for the kernel to deliver what it still
    /// holds (a marker record sent now arrives after all of them), then stops, and works out
    /// what was missed.
    public func stop() {
        guard !lock.with({ () -> Bool in defer { stopped = true }; return stopped }) else { return }
        if warden_audit_user_message(nonce) == 0 {
            waitForSignal(until: monotonicMS() + Self.flushTimeoutMS) { self.flushed }
            if lock.with({ stream.domain != nil }) {
                waitForSignal(until: monotonicMS() + Self.deallocationTimeoutMS) { self.stream.domainDenials != nil }
            }
        }
        var one: UInt8 = 1
        _ = write(stopPipe.write, &one, 1)
        if let t = thread { pthread_join(t, nil) }
        thread = nil
        deliver(lock.with { stream.finish() })
        [fd, stopPipe.read, stopPipe.write, flushPipe.read, flushPipe.write].forEach { close($0) }
        gaps = lock.with { missed() }
    }

    /// Caller holds the lock.
    private func missed() -> [String] {
        var lost: (UInt32, UInt32)?
        if stream.domainDenials == nil, let before = kernelLostBefore, case let .success(now) = KernelAudit.status() {
            lost = (now.lost &- before, now.backlogLimit)
        }
        return Self.gaps(flushed: flushed, domainDenials: stream.domainDenials, received: received,
                         kernelLost: lost, overflows: overruns + stream.dropped)
    }

    /// The domain's own count of denials is exact; without it (the domain outlived the wait),
    /// any record the kernel lost meanwhile, a machine-wide counter, may have been one of ours.
    static func gaps(flushed: Bool, domainDenials: Int?, received: Int, kernelLost: (count: UInt32, backlogLimit: UInt32)?,
                     overflows: Int) -> [String] {
        var out: [String] = []
        if !flushed { out.append("the kernel audit queue was not flushed within \(flushTimeoutMS) ms") }
        if let total = domainDenials {
            if total > received { out.append("\(total - received) of \(total) Landlock denials were not delivered by kernel audit") }
        } else if let lost = kernelLost, lost.count > 0 {
            out.append("kernel audit lost \(lost.count) records during the run (backlog limit \(lost.backlogLimit)); some may be this run's Landlock denials")
        } else if overflows > 0 {
            out.append("the Landlock audit log overflowed \(overflows) times")
        }
        return out
    }

    /// Waits on the flush pipe (the thread writes a byte at each milestone) until `done`.
    private func waitForSignal(until deadline: Int64, _ done: () -> Bool) {
        var p = pollfd(fd: flushPipe.read, events: Int16(POLLIN), revents: 0)
        var byte: UInt8 = 0
        while !lock.with(done) {
            let left = deadline - monotonicMS()
            if left <= 0 { return }
            let n = poll(&p, 1, Int32(left))
            if n > 0 { _ = read(flushPipe.read, &byte, 1) } else if n < 0 && errno != EINTR { return }
        }
    }

    private func start() {
        thread = startThread { [self] in loop() }
    }

    private func loop() {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)]
        var text = [CChar](repeating: 0, count: 10_000)
        while true {
            fds[0].revents = 0; fds[1].revents = 0
            let n = poll(&fds, 2, -1)
            if n < 0 { if errno == EINTR { continue }; return }
            if fds[0].revents & Int16(POLLIN) != 0 {
                // Drain everything queued before looking at the stop pipe.
                while true {
                    var type: UInt16 = 0
                    let len = warden_audit_recv(fd, &text, text.count, &type)
                    if len == -Int(ENOBUFS) { lock.with { overruns += 1 }; continue }
                    if len < 0 { break }
                    handle(type, String(cString: text))
                }
            } else if fds[0].revents != 0 {
                return  // the socket broke: record nothing more, never fail the run
            }
            if fds[1].revents != 0 { return }
        }
    }

    private func handle(_ type: UInt16, _ text: String) {
        var one: UInt8 = 1
        if type == AuditRecordType.trustedApp {
            if text.contains(nonce) {
                lock.with { flushed = true }
                _ = write(flushPipe.write, &one, 1)
            }
            return
        }
        guard type == AuditRecordType.landlockAccess || type == AuditRecordType.landlockDomain
            || type == AuditRecordType.syscall || type == AuditRecordType.endOfEvent else { return }
        let (denied, freed) = lock.with { () -> ([LandlockDenied], Bool) in
            let before = stream.domainDenials
            return (stream.add(type: type, text: text), before == nil && stream.domainDenials != nil)
        }
        deliver(denied)
        if freed { _ = write(flushPipe.write, &one, 1) }
    }

    private func deliver(_ denied: [LandlockDenied]) {
        for d in denied {
            let denial = rules.denial(d)
            let duplicate = lock.with { () -> Bool in
                received += 1
                if let seen = recent[denial.kind + "\u{0}" + denial.target],
                   abs(seen - denial.timeNS) < Self.duplicateWindowNS { return true }
                recorded += 1
                return false
            }
            if !duplicate { report(denial) }
        }
    }

    private func monotonicMS() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
