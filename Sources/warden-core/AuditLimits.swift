import WardenAudit
import WardenSandbox

extension AuditSession {
    /// The audit event for a limit the run hit (`wall`, `memory`, `processes`): the profile
    /// line that set it as the rule, and raising it as the fix — or a longer `--timeout` when
    /// the command line's timeout was the one in force.
    func limitEvent(_ key: String, runID: Int64, target: String, message: String) -> AuditEvent {
        let source = plan.limitSource(key)
        let fix = source.key.map { Suggestion.limit($0, current: source.current, at: source.at) }
            ?? Suggestion.timeout(current: source.current ?? "")
        return event(runID: runID, pid: 0, kind: .limit, target: target, decision: .denied, rule: source.rule,
                     message: message, suggestion: fix)
    }
}
