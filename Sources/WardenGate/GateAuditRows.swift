import Glibc
import WardenAudit

/// The gate's rows in the workspace audit store (kind `gate`): one per path of every accepted
/// commit, one per finding of a refused changeset, so `warden audit --kind gate` answers both
/// "who changed this file" and "what was refused, and by which rule".
enum GateAuditRows {
    /// The audit's run id for a gate run name: a `warden run` id is a number; anything else
    /// (a manual `gate apply`, hand edits) has none and is recorded under run 0.
    static func runID(_ run: String) -> Int64 { Int64(run) ?? 0 }

    static func commits(_ seqs: [Int64], in store: GateStore, profileFile: String) throws -> [AuditEvent] {
        try seqs.compactMap { try store.commit($0) }.flatMap { c in
            c.changes.map { change in
                AuditEvent(timeNS: c.timeNS, runID: runID(c.run), role: c.role,
                           profileFile: c.role == Gate.humanRole ? "" : profileFile, pid: getpid(), kind: .gate,
                           target: change.path, decision: .allowed, rule: "commit \(c.seq)",
                           message: "\(change.action) in commit \(c.seq) (base \(c.base))"
                               + (change.hash.map { ", sha256 \($0.prefix(16))" } ?? ""))
            }
        }
    }

    static func rejection(_ rejection: GateRejection, validator: GateValidator, run: String) -> [AuditEvent] {
        rejection.findings.map { f in
            AuditEvent(runID: runID(run), role: validator.role, profileFile: validator.profileFile, pid: getpid(),
                       kind: .gate, target: f.path.isEmpty ? "(changeset)" : f.path, decision: .denied,
                       rule: f.rule.rawValue, message: f.message, suggestion: suggestion(f, validator))
        }
    }

    /// Only a zone finding has a profile fix; the others are the policy (ownership, limits),
    /// the workspace (conflicts) or the agent's own doing (paths, types).
    static func suggestion(_ f: GateFinding, _ validator: GateValidator) -> String? {
        guard f.rule == .zone, let zone = validator.zones.first else { return nil }
        return Suggestion.write(f.path, workspace: "/", at: "\(zone.location.file):\(zone.location.line)")
    }
}
