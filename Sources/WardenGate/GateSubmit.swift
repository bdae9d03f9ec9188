import WardenAudit
import WardenPolicy

/// What `submit` did: the commit, the hand edits recorded before it, and what went wrong
/// after it landed (a git commit, the audit rows), which never undoes it.
public struct GateCommitResult: Sendable, Equatable {
    public var seq: Int64
    /// The commit by `human` that recorded hand edits found just before this one.
    public var handEdits: Int64?
    public var warnings: [String]
}

/// Where `submit` reports: the workspace audit store (rows of kind `gate`) and, under
/// `gate.git_commits: true`, the workspace's git repository.
public struct GateReporting: Sendable {
    public var audit: AuditStore?
    public var gitCommits: Bool

    public init(audit: AuditStore? = nil, gitCommits: Bool = false) {
        self.audit = audit
        self.gitCommits = gitCommits
    }

    /// The workspace policy's git setting and the workspace's default audit store. An audit
    /// store that cannot be opened is a warning in every result, not a refusal to commit.
    public static func workspace(_ workspace: String, policy: WorkspacePolicy) -> (GateReporting, warning: String?) {
        do {
            let store = try AuditStore(path: AuditStore.defaultPath(workspace: workspace))
            return (GateReporting(audit: store, gitCommits: policy.gate.gitCommits), nil)
        } catch {
            return (GateReporting(gitCommits: policy.gate.gitCommits), "the gate's audit rows cannot be written: \(error)")
        }
    }
}

extension Gate {
    /// Validates and commits `changeset` like `commit`, then reports it: a git commit under
    /// the lock when asked, audit rows for the commit (and any hand edits recorded first) or,
    /// when it is refused, one denied row per offending path before the rejection is thrown.
    public func submit(_ changeset: Changeset, validator: GateValidator, run: String, task: String? = nil,
                       reporting: GateReporting = GateReporting()) throws -> GateCommitResult {
        do {
            var result = try commitReporting(changeset, validator: validator, run: run, task: task, git: reporting.gitCommits)
            if let audit = reporting.audit {
                let seqs = [result.handEdits, result.seq].compactMap { $0 }
                do { try audit.insert(try GateAuditRows.commits(seqs, in: store, profileFile: validator.profileFile)) } catch {
                    result.warnings.append("the audit rows of commit \(result.seq) were not written: \(error)")
                }
            }
            return result
        } catch let rejection as GateRejection {
            if let audit = reporting.audit {
                // The rejection is what the caller must see; a failed audit write cannot replace it.
                let handEdits = (try? GateAuditRows.commits([rejection.handEdits].compactMap { $0 }, in: store,
                                                            profileFile: "")) ?? []
                try? audit.insert(handEdits + GateAuditRows.rejection(rejection, validator: validator, run: run))
            }
            throw rejection
        }
    }

    /// `revert` through `submit`'s reporting.
    public func submitRevert(_ seq: Int64, validator: GateValidator, run: String,
                             reporting: GateReporting = GateReporting()) throws -> GateCommitResult {
        try withInverse(of: seq) {
            try submit($0, validator: validator, run: run, task: "revert of commit \(seq)", reporting: reporting)
        }
    }

    func commitReporting(_ changeset: Changeset, validator: GateValidator, run: String, task: String?,
                         git: Bool) throws -> GateCommitResult {
        try withLock {
            let (seq, handEdits): (Int64, Int64?)
            do {
                (seq, handEdits) = try commitLocked(changeset, validator: validator, run: run, task: task)
            } catch let rejection as GateRejection {
                // The hand edits were recorded all the same: they get their git commit too.
                if git, let human = rejection.handEdits { _ = gitCommitLocked(human) }
                throw rejection
            }
            let warnings = git ? [handEdits, seq].compactMap { $0 }.compactMap(gitCommitLocked) : []
            return GateCommitResult(seq: seq, handEdits: handEdits, warnings: warnings)
        }
    }
}
