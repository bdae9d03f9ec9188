import Foundation
import WardenAudit
import WardenPolicy
import WardenSandbox

/// One run's audit: its row in the store, the supervisor's denials as events, and the
/// closing line on stderr. The audit never stops a run: when the store cannot be opened or
/// written, the run goes on and warden says the audit is incomplete.
///
/// Opening the store (SQLite, the schema check and the run's row) costs a few milliseconds,
/// as much as the sandbox set-up itself, so it happens on its own thread while the runner
/// builds the sandbox and the agent starts. Denials that arrive before the run has its id
/// wait in `early` and are handed to the writer once it exists; `finish` waits for the
/// opening to end, so nothing recorded is dropped by the race.
final class AuditSession: @unchecked Sendable {
    let plan: LaunchPlan
    let workspace: String
    let file: String

    private let lock = NSLock()
    private let opened = DispatchSemaphore(value: 0)
    // Guarded by `lock`.
    /// The run's row, when the store was there and current (the usual case): no GRDB at all
    /// for a run that records nothing else.
    private var row: RunRow?
    /// GRDB's store and writer: opened at once for a store that must be created or migrated,
    /// else on the first event.
    private var store: AuditStore?
    private var writer: AuditWriter?
    private var writerOpening: DispatchSemaphore?
    /// Launch events `RunRow` stored with the row, which the writer's tally never saw.
    private var preloadedDegraded = 0
    /// Events recorded after the store failed: tallied for the run's counts, not stored.
    private var dropped = RunCounts()
    private var early: [AuditEvent] = []
    private var failure: String?
    /// The run's id in the store, once its row exists: the number users type in `--run`.
    private(set) var runID: Int64?
    /// The store's files, for the launcher to bind read-only in the sandbox: a role whose
    /// write zones cover `.warden/` must still not be able to rewrite its own record.
    private(set) var files: [String] = []
    private var optedDown: [String: String] = [:]

    /// - Parameter optedDown: protections the user turned off by a flag other than
    ///   --allow-degraded (feature: why), recorded like degraded ones.
    /// - Parameter ahead: a connection to the store opened ahead, and the thread that opened
    ///   it (a standby's): only the row is inserted then, on that thread.
    static func start(plan: LaunchPlan, path: String?, optedDown: [String: String] = [:],
                      ahead: Ahead? = nil) -> AuditSession {
        let session = AuditSession(plan: plan, file: path ?? AuditStore.defaultPath(workspace: plan.options.workspace))
        session.optedDown = optedDown
        let startNS = AuditClock.now()
        session.files = AuditStore.prepareFiles(path: session.file)
        if let ahead {
            ahead.run { session.open(startNS: startNS, preopened: $0) }
        } else {
            startBackgroundThread { session.open(startNS: startNS, preopened: nil) }
        }
        return session
    }

    /// A connection to the store, opened now on a thread that then waits to insert the run's
    /// row with it (`start(ahead:)`): a claimed standby starts no thread and opens nothing.
    final class Ahead: @unchecked Sendable {
        private let go = DispatchSemaphore(value: 0)
        private var work: ((RunRow?) -> Void)?

        init(path: String) {
            startBackgroundThread { [self] in
                let row = RunRow.open(path: path)
                go.wait()
                work?(row)
            }
        }

        /// Runs `body` with the connection (nil: the store is not simply there), once.
        func run(_ body: @escaping (RunRow?) -> Void) {
            work = body
            go.signal()
        }
    }

    private init(plan: LaunchPlan, file: String) {
        self.plan = plan
        self.file = file
        workspace = plan.options.workspace
    }

    /// The user's consent to run with less protection is itself on the record.
    private func launchEvents(runID: Int64, startNS: Int64) -> [AuditEvent] {
        var events: [AuditEvent] = []
        for p in plan.degraded {
            if case let .degraded(reason) = p.state {
                events.append(event(runID: runID, pid: Int32(getpid()), kind: .launch, target: p.feature,
                                    decision: .degraded, rule: "--allow-degraded \(p.feature)",
                                    message: reason, suggestion: nil, timeNS: startNS))
            }
        }
        for (feature, reason) in optedDown.sorted(by: { $0.key < $1.key }) {
            events.append(event(runID: runID, pid: Int32(getpid()), kind: .launch, target: feature,
                                decision: .degraded, rule: "--no-\(feature)", message: reason,
                                suggestion: nil, timeNS: startNS))
        }
        return events
    }

    private var degradedFeatures: [String] { plan.degraded.map(\.feature) + optedDown.keys.sorted() }

    private func open(startNS: Int64, preopened: RunRow?) {
        defer { opened.signal() }
        do {
            let launch = launchEvents(runID: 0, startNS: startNS)
            let row: RunRow?
            if let preopened {
                try preopened.insert(command: plan.argv, role: plan.profile.role, profileFile: plan.profile.file,
                                     workspace: workspace, startNS: startNS, degraded: degradedFeatures, launchEvents: launch)
                row = preopened
            } else {
                row = try RunRow.begin(path: file, command: plan.argv, role: plan.profile.role,
                                       profileFile: plan.profile.file, workspace: workspace, startNS: startNS,
                                       degraded: degradedFeatures, launchEvents: launch)
            }
            if let row {
                lock.lock()
                self.row = row
                runID = row.id
                // In the store with the row already; the run's counts must still include them.
                preloadedDegraded = launch.count
                let pending = !early.isEmpty
                lock.unlock()
                if pending { openWriter() }
                return
            }
            // A new, older or foreign store: GRDB creates, migrates or refuses it.
            let store = try AuditStore(path: file)
            let id = try store.beginRun(command: plan.argv, role: plan.profile.role, profileFile: plan.profile.file,
                                        workspace: workspace, startNS: startNS, degraded: degradedFeatures)
            adopt(store, AuditWriter(store: store), runID: id, first: launchEvents(runID: id, startNS: startNS))
        } catch {
            storeFailed(error, "the run goes on unrecorded")
        }
    }

    /// Makes `writer` the run's, and hands it what was recorded before it existed.
    private func adopt(_ store: AuditStore, _ writer: AuditWriter, runID id: Int64, first: [AuditEvent] = []) {
        lock.lock()
        defer { lock.unlock() }
        self.store = store
        self.writer = writer
        runID = id
        for var e in first + early {
            e.runID = id
            writer.record(e)
        }
        early = []
    }

    /// Said now, not at the end: a long run should not go unrecorded unnoticed.
    private func storeFailed(_ error: Error, _ consequence: String) {
        lock.lock()
        failure = "\(error)"
        early.forEach { dropped.add($0) }
        early = []
        lock.unlock()
        complain("audit unavailable (\(file)): \(error); \(consequence)")
    }

    /// Opens GRDB's writer for the events of a run whose row went in through `RunRow`, on a
    /// thread of its own: the supervisor's thread that records the first denial must not
    /// wait for it.
    private func openWriter() {
        lock.lock()
        guard let row, writerOpening == nil, writer == nil, failure == nil else {
            lock.unlock()
            return
        }
        let done = DispatchSemaphore(value: 0)
        writerOpening = done
        lock.unlock()
        startBackgroundThread { [self] in
            defer { done.signal() }
            do {
                let store = try AuditStore(path: file)
                adopt(store, AuditWriter(store: store), runID: row.id)
            } catch {
                storeFailed(error, "the run's events go unrecorded")
            }
        }
    }

    func event(runID: Int64, pid: Int32, kind: AuditKind, target: String, decision: AuditDecision, rule: String,
               message: String, suggestion: String?, timeNS: Int64 = AuditClock.now()) -> AuditEvent {
        AuditEvent(timeNS: timeNS, runID: runID, role: plan.profile.role, profileFile: plan.profile.file, pid: pid,
                   kind: kind, target: target, decision: decision, rule: rule, message: message, suggestion: suggestion)
    }

    /// Queues an event: to the writer once the store is open, to `early` until then.
    private func queue(_ e: AuditEvent) {
        lock.lock()
        if let writer, let runID {
            var e = e
            e.runID = runID
            writer.record(e)
        } else if failure == nil {
            early.append(e)
        } else {
            dropped.add(e)
        }
        let needWriter = row != nil && writer == nil && failure == nil
        lock.unlock()
        if needWriter { openWriter() }
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
            case "read": suggestion = Suggestion.read(d.target, workspace: workspace, at: at)
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
        queue(event(runID: 0, pid: d.pid, kind: kind, target: d.target, decision: .denied, rule: d.rule,
                    message: d.message, suggestion: suggestion, timeNS: d.timeNS))
    }

    /// Limits the run hit, then the run's row; returns the line for stderr, if any.
    /// Once the run's row exists (or the store failed): `runID` is final.
    func waitOpened() {
        opened.wait()
        opened.signal()
    }

    func finish(_ outcome: RunOutcome?, status: Int32) -> String? {
        waitOpened()
        lock.lock()
        let id = runID
        lock.unlock()
        guard let runID = id else { return nil }
        // Each limit row names the line that set the limit and how to raise it.
        func limit(_ key: String, _ target: String, _ message: String) {
            queue(limitEvent(key, runID: runID, target: target, message: message))
        }
        if let o = outcome {
            if case let .timedOut(s) = o.ending { limit("wall", "wall clock", "the process tree was killed after \(s)s") }
            if o.outOfMemory { limit("memory", "memory", "the memory limit was reached; the OOM killer fired") }
            if o.forkRefusals > 0 { limit("processes", "processes", "\(o.forkRefusals) forks refused at the processes limit") }
        }
        lock.lock()
        let opening = writerOpening
        lock.unlock()
        opening?.wait()
        opening?.signal()
        lock.lock()
        let row = self.row, store = self.store, writer = self.writer
        let dropped = self.dropped, droppedWhy = failure
        lock.unlock()
        let droppedCount = dropped.deniedTotal + dropped.allowed + dropped.degraded
        let summary = writer?.finish()
        var counts = summary?.counts ?? RunCounts()
        counts.degraded += preloadedDegraded + dropped.degraded
        counts.allowed += dropped.allowed
        for (kind, n) in dropped.denied { counts.denied[kind, default: 0] += n }
        let lost = (summary?.lost ?? 0) + droppedCount
        counts.lost = lost
        let complete = (summary?.complete ?? true) && droppedCount == 0
        var problems: [String] = []
        if !complete { problems.append("\(lost) events lost: \(summary?.firstError ?? droppedWhy ?? "write failed")") }
        // Denials the kernel's audit queue dropped before the Landlock collector saw them.
        problems += outcome?.auditGaps ?? []
        var problem = problems.isEmpty ? nil : problems.joined(separator: "; ")
        let auditComplete = complete && (outcome?.auditGaps.isEmpty ?? true)
        do {
            if let row {
                try row.finish(exitStatus: status, counts: counts, auditComplete: auditComplete)
            } else {
                try store?.finishRun(id: runID, exitStatus: status, counts: counts, auditComplete: auditComplete)
            }
        } catch {
            problem = (problem.map { $0 + "; " } ?? "") + "the run's row was not finished: \(error)"
        }
        var lines: [String] = []
        if let notice = counts.denialNotice(runID: runID) { lines.append(notice) }
        if let problem { lines.append("warden: the audit of run \(runID) is incomplete (\(problem))") }
        row?.close()
        try? store?.close()
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}
