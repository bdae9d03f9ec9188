import Glibc
import WardenAudit
import WardenPolicy
import WardenSandbox

/// One run's audit: its row in the store, the supervisor's denials as events, and the
/// closing line on stderr. The audit never stops a run: when the store cannot be opened or
/// written, the run goes on and warden says the audit is incomplete.
final class AuditSession: @unchecked Sendable {
    let store: AuditStore
    let writer: AuditWriter
    let runID: Int64
    let plan: LaunchPlan
    let workspace: String

    static func start(plan: LaunchPlan, path: String?) -> AuditSession? {
        let workspace = plan.options.workspace
        let file = path ?? AuditStore.defaultPath(workspace: workspace)
        do {
            let store = try AuditStore(path: file)
            let degraded = plan.degraded.map(\.feature)
            let id = try store.beginRun(command: plan.argv, role: plan.profile.role, profileFile: plan.profile.file,
                                        workspace: workspace, degraded: degraded)
            let session = AuditSession(store: store, writer: AuditWriter(store: store), runID: id, plan: plan)
            // The user's consent to run with less protection is itself on the record.
            for p in plan.degraded {
                if case let .degraded(reason) = p.state {
                    session.writer.record(session.event(pid: Int32(getpid()), kind: .launch, target: p.feature,
                                                        decision: .degraded, rule: "--allow-degraded \(p.feature)",
                                                        message: reason, suggestion: nil))
                }
            }
            return session
        } catch {
            complain("audit unavailable (\(file)): \(error); the run goes on unrecorded")
            return nil
        }
    }

    private init(store: AuditStore, writer: AuditWriter, runID: Int64, plan: LaunchPlan) {
        self.store = store
        self.writer = writer
        self.runID = runID
        self.plan = plan
        workspace = plan.options.workspace
    }

    func event(pid: Int32, kind: AuditKind, target: String, decision: AuditDecision, rule: String,
               message: String, suggestion: String?, timeNS: Int64 = AuditClock.now()) -> AuditEvent {
        AuditEvent(timeNS: timeNS, runID: runID, role: plan.profile.role, profileFile: plan.profile.file, pid: pid,
                   kind: kind, target: target, decision: decision, rule: rule, message: message, suggestion: suggestion)
    }

    /// Called on the supervisor's thread: builds the event and queues it, nothing more.
    func record(_ d: Denial) {
        let at = d.ruleFile.map { "\($0):\(d.ruleLine ?? 1)" }
        let kind = AuditKind(rawValue: d.kind) ?? .syscall
        var suggestion: String?
        if let at {
            switch d.list {
            case "tools": suggestion = Suggestion.tool(d.target, at: at)
            case "write": suggestion = Suggestion.write(d.target, workspace: workspace, at: at)
            case "syscalls":
                let name = String(d.target.prefix { $0 != "(" })
                suggestion = Suggestion.syscall(name, deniedBy: d.set, at: at)
            case "network":
                let port = d.target.split(separator: ":").last.flatMap { Int($0) }
                if case .allow = plan.profile.network, let port {
                    suggestion = Suggestion.networkPort(port, at: at)
                } else {
                    suggestion = Suggestion.network(port: port, at: at)
                }
            default: break
            }
        }
        writer.record(event(pid: d.pid, kind: kind, target: d.target, decision: .denied, rule: d.rule,
                            message: d.message, suggestion: suggestion, timeNS: d.timeNS))
    }

    /// Limits the run hit, then the run's row; returns the line for stderr, if any.
    func finish(_ outcome: RunOutcome?, status: Int32) -> String? {
        let file = plan.profile.file
        let limitsAt = "\(file) limits"
        if let o = outcome {
            if case let .timedOut(s) = o.ending {
                writer.record(event(pid: 0, kind: .limit, target: "wall clock", decision: .denied, rule: limitsAt,
                                    message: "the process tree was killed after \(s)s", suggestion: nil))
            }
            if o.outOfMemory {
                writer.record(event(pid: 0, kind: .limit, target: "memory", decision: .denied, rule: limitsAt,
                                    message: "the memory limit was reached; the OOM killer fired", suggestion: nil))
            }
            if o.forkRefusals > 0 {
                writer.record(event(pid: 0, kind: .limit, target: "processes", decision: .denied, rule: limitsAt,
                                    message: "\(o.forkRefusals) forks refused at the processes limit", suggestion: nil))
            }
        }
        let summary = writer.finish()
        var problem = summary.complete ? nil : "\(summary.lost) events lost: \(summary.firstError ?? "write failed")"
        do {
            try store.finishRun(id: runID, exitStatus: status, counts: summary.counts, auditComplete: summary.complete)
        } catch {
            problem = (problem.map { $0 + "; " } ?? "") + "the run's row was not finished: \(error)"
        }
        var lines: [String] = []
        if let notice = summary.counts.denialNotice(runID: runID) { lines.append(notice) }
        if let problem { lines.append("warden: the audit of run \(runID) is incomplete (\(problem))") }
        try? store.close()
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}
