import ArgumentParser
import Foundation
import WardenAudit
import WardenGate
import WardenPolicy
import WardenSandbox

/// When a run's changes go to the gate.
enum CommitMode: String, CaseIterable, ExpressibleByArgument {
    /// When the agent exits 0 (default): a failed agent's half-done work is kept, not applied.
    case success
    case always
    /// Keep the view; submit later with `warden gate apply --view RUN`.
    case never
}

struct ViewOptions {
    var enabled = true
    var keep = false
    var commit = CommitMode.success
}

/// One run's private view: made before the launch, turned into a changeset and offered to
/// the gate once the agent has exited (every process of the sandbox is gone with its PID
/// namespace, so nothing writes the upper layer any more). A view whose changes did not reach
/// the workspace is kept, so nothing an agent did is ever lost silently.
final class ViewSession {
    let view: View
    let gate: Gate
    let options: ViewOptions
    /// Where `finish` says what became of the changes (stderr unless the caller collects it).
    var say: (String) -> Void = { complain($0) }
    /// Set by `finish`: for the JSON summary.
    private(set) var outcome = "none"
    private(set) var version: Int64?

    static func start(plan: LaunchPlan, options: ViewOptions) throws -> ViewSession? {
        guard options.enabled else { return nil }
        let gate = try Gate(workspace: plan.options.workspace)
        let view = try View.create(gate: gate, run: plan.options.runID, role: plan.profile.role,
                                   profileFile: plan.profile.file)
        return ViewSession(view: view, gate: gate, options: options)
    }

    private init(view: View, gate: Gate, options: ViewOptions) {
        self.view = view
        self.gate = gate
        self.options = options
    }

    var mount: ViewMount {
        ViewMount(lower: view.lower, upper: view.upper, work: view.work, hidden: view.hidden)
    }

    /// Offers the agent's changes to the gate, validated against the profile and the
    /// workspace policy (ownership zones, limits), with audit rows in `auditFile` under the
    /// run's audit id. Returns the exit status to use instead of the agent's, if any: 73 when
    /// the gate refused what a successful agent produced, 65 for a broken workspace policy.
    /// - Parameter collect: also remove the snapshots nothing needs any more; false when the
    ///   caller does that itself (`collectStale`), after its caller has the status.
    func finish(plan: LaunchPlan, status: Int32?, auditFile: String? = nil, auditRun: Int64? = nil,
                collect: Bool = true) -> Int32? {
        defer { if collect { collectStale() } }
        view.releaseSnapshot()
        let changeset: Changeset
        do {
            changeset = try view.changeset(limits: GateLimits())
        } catch {
            keep(.kept, "could not read the view: \(error)")
            return WardenExit.internalError
        }
        if changeset.entries.isEmpty && changeset.scanFindings.isEmpty {
            if options.keep { keep(.kept, nil) } else { try? view.discard() }
            return nil
        }
        let directories = changeset.entries.filter { if case .directory = $0.action { return true } else { return false } }.count
        let paths = changeset.entries.count - directories
        let count = "\(paths) path\(paths == 1 ? "" : "s")" + (directories > 0 ? " (and \(directories) director\(directories == 1 ? "y" : "ies"))" : "")
        let submit: Bool
        switch options.commit {
        case .always: submit = true
        case .never: submit = false
        case .success: submit = status == 0
        }
        guard submit else {
            let why = status == nil || status == 0 ? "--commit never" : "the agent exited with \(status!)"
            keep(.kept, "not submitted: \(why)")
            say("\(count) not submitted (\(why)); kept: warden changes \(view.run), then warden gate apply --view \(view.run)")
            return nil
        }
        let policy: WorkspacePolicy
        do {
            policy = try PolicyLoader(environment: PolicyEnvironment(workspace: gate.workspace, searchPath: processEnvironment()["PATH"] ?? "/usr/bin:/bin"))
                .workspacePolicy()
        } catch {
            keep(.kept, "the workspace policy is invalid: \(error)")
            say("\(error)")
            say("nothing was applied (the workspace policy must be fixed first); the view is kept: warden changes \(view.run)")
            return WardenExit.policy
        }
        let validator = GateValidator(profile: plan.profile, policy: policy)
        var reporting = GateReporting(gitCommits: policy.gate.gitCommits)
        if let auditFile { reporting.audit = try? AuditStore(path: auditFile) }
        // The audit's run number, so that `warden audit --run N` and the gate log agree.
        let run = auditRun.map(String.init) ?? view.run
        do {
            // Limits of the policy, not the defaults the first scan used, decide.
            let checked = try view.changeset(limits: validator.limits)
            let result = try gate.submit(checked, validator: validator, run: run, reporting: reporting)
            version = result.seq
            outcome = "committed"
            if let human = result.handEdits { say("hand edits in the workspace recorded first as version \(human) (by human)") }
            say("committed \(count) as workspace version \(result.seq) (base \(view.record.base))")
            for w in result.warnings { say(w) }
            if options.keep { keep(.committed, nil, committed: result.seq) } else { try? view.discard() }
            // The next view starts from this version: its snapshot is made now, while this run
            // is ending anyway, rather than when the next agent starts.
            try? gate.prepareSnapshot()
            return nil
        } catch let rejection as GateRejection {
            keep(.rejected, rejection.description)
            say(rejection.description)
            say("nothing was applied; the view is kept: warden changes \(view.run)")
            return status == 0 ? WardenExit.gateRejected : nil
        } catch {
            keep(.kept, "\(error)")
            say("the gate failed: \(error); nothing was applied, the view is kept: warden changes \(view.run)")
            return WardenExit.internalError
        }
    }

    /// `warden submit` from inside the running sandbox: every process of the sandbox is
    /// stopped while the upper layer is scanned and each file copied to a place the agent
    /// cannot reach, then continued; the gate validates and applies those copies. Returns the
    /// reply line: `committed SEQ`, `nothing`, `refused: ...` or `error: ...`.
    func submitLive(_ request: ControlRequest, freezer: SandboxFreezer, plan: LaunchPlan,
                    auditFile: String?, auditRun: Int64?) -> String {
        let policy: WorkspacePolicy
        do {
            policy = try PolicyLoader(environment: PolicyEnvironment(workspace: gate.workspace, searchPath: processEnvironment()["PATH"] ?? "/usr/bin:/bin"))
                .workspacePolicy()
        } catch {
            return "error: the workspace policy is invalid: \(error)"
        }
        let validator = GateValidator(profile: plan.profile, policy: policy)
        defer { try? view.removeFrozen() }
        let pending: (changeset: Changeset, fingerprints: [String: String])
        do {
            try freezer.freeze()
        } catch {
            // Fail closed: a live tree is never validated.
            return "error: cannot stop the sandbox to take a frozen copy, nothing was submitted: \(error)"
        }
        do {
            pending = try view.frozenChangeset(limits: validator.limits)
            freezer.thaw()
        } catch {
            freezer.thaw()
            return "error: could not read the view: \(error)"
        }
        let changeset = pending.changeset
        if changeset.entries.isEmpty && changeset.scanFindings.isEmpty { return "nothing" }
        var reporting = GateReporting(gitCommits: policy.gate.gitCommits)
        if let auditFile { reporting.audit = try? AuditStore(path: auditFile) }
        let run = auditRun.map(String.init) ?? view.run
        do {
            let result = try gate.submit(changeset, validator: validator, run: run, task: request.task, reporting: reporting)
            let paths = Set(changeset.entries.map(\.path))
            let committed = pending.fingerprints.filter { paths.contains($0.key) }
            do { try view.recordSubmitted(committed, seq: result.seq) } catch {
                complain("submit: commit \(result.seq) is in, but the view's record of it was not saved: \(error)")
            }
            version = result.seq
            outcome = "committed"
            complain("submit: committed \(changeset.entries.count) entr\(changeset.entries.count == 1 ? "y" : "ies") as workspace version \(result.seq)")
            for w in result.warnings { complain(w) }
            return "committed \(result.seq)"
        } catch let rejection as GateRejection {
            complain("submit: " + rejection.description)
            return "refused: " + rejection.findings.map { "\($0)" }.joined(separator: "; ")
        } catch {
            return "error: the gate failed, nothing was applied: \(error)"
        }
    }

    private func keep(_ status: ViewRecord.Status, _ message: String?, committed: Int64? = nil) {
        outcome = status.rawValue
        try? view.mark(status, committed: committed, message: message)
    }

    /// Snapshots that neither a running view holds nor a kept view names go. Once any
    /// snapshot is stale, even one a kept view still names, this opens the gate's store and
    /// reads every view's record: 3 ms, which a run's caller need not wait for.
    func collectStale() {
        guard gate.mayHaveStaleSnapshots() else { return }
        let kept = Set(View.all(gate: gate).map(\.base))
        _ = try? gate.collectSnapshots(keeping: kept)
    }
}
