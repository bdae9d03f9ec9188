// `warden audit`: reads the audit store. Thin on purpose: filtering, summaries, time parsing
// and JSON live in WardenAudit where the tests reach them; this file maps flags onto them and
// prints. The store is opened read-only, so looking at the audit can never change it.

import ArgumentParser
import Glibc
import WardenAudit
import WardenFront

/// Exit statuses of `warden audit` beyond WardenExit's 64 (sysexits.h values).
enum AuditExit {
    static let noStore: Int32 = 66      // EX_NOINPUT: the store does not exist
    static let unreadable: Int32 = 74   // EX_IOERR: not an audit store, newer schema, SQLite error
    static let notPermitted: Int32 = 77 // EX_NOPERM: --prune on a store this user cannot write
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show what agents tried and were refused, by which rule, and how to allow it.",
        discussion: """
        Every run records to WORKSPACE/.warden/audit.db. Each event prints as
          TIME run N ROLE KIND DECISION TARGET — MESSAGE
        and every denial is followed by the smallest profile change that
        would have allowed it:
              fix: add "src/gen/**" to write in profiles/code.yaml:12

        Examples:
          warden audit --run 42                      what run 42 did
          warden audit --decision denied --since 2h  denials, last two hours
          warden audit --kind exec --role code       programs code tried to run
          warden audit --path '*/.ssh/*'             anything in an .ssh dir
          warden audit --summary --since 1d          counts by role, kind, rule
          warden audit --follow --decision denied    denials as they happen
          warden audit --runs --limit 10             the last ten runs
          warden audit --json --run 42 | jq .target  one JSON object per line
          warden audit --prune --older-than 30d      drop runs ended 30+ days ago

        --since: a duration back from now (90s, 10m, 2h, 1d, 1h30m), a date
        (2026-11-23, midnight UTC) or a time with a zone (2026-11-23T10:00Z,
        2026-11-23T12:00:00+02:00). Times print in UTC.
        --path: an SQLite GLOB on the target; * and ? also match '/', and
        case matters.
        --limit: the most recent N events, still printed oldest first.
        --prune --older-than WHEN: deletes, in one transaction, every run that
        ended before WHEN (same forms as --since) with its events, and runs that
        never finished whose runner is gone; a run whose runner may still be
        alive is kept. Run ids are never reused. --dry-run only reports.

        Exit status: 0, also when nothing matches or nothing is pruned; 64 bad
        option value; 66 no audit store at that path; 74 not a readable audit
        store; 77 --prune on a store this user cannot write.
        """
    )

    @Option(name: .long, help: ArgumentHelp("The audit store to read.", valueName: "path"))
    var audit: String?

    @Option(name: .long, help: ArgumentHelp("Workspace whose .warden/audit.db to read (default: current directory).",
                                            valueName: "dir"))
    var workspace: String?

    @Option(name: .long, help: "Only this role's events.")
    var role: String?

    @Option(name: .long, help: ArgumentHelp("Only this kind: \(AuditKind.allCases.map(\.rawValue).joined(separator: ", ")).",
                                            valueName: "kind"))
    var kind: String?

    @Option(name: .customLong("run"), help: ArgumentHelp("Only this run's events (the id `warden run` printed).",
                                                         valueName: "id"))
    var runID: Int64?

    @Option(name: .long, help: ArgumentHelp("Only events since then: 10m, 2h, 1d or an ISO-8601 time with a zone.",
                                            valueName: "when"))
    var since: String?

    @Option(name: .long, help: ArgumentHelp("Only this decision: denied, allowed or degraded.", valueName: "decision"))
    var decision: String?

    @Option(name: .customLong("path"), help: ArgumentHelp("Only targets matching this GLOB (e.g. 'src/*', '*/.ssh/*').",
                                                          valueName: "glob"))
    var pathGlob: String?

    @Option(name: .long, help: ArgumentHelp("At most this many (the most recent).", valueName: "n"))
    var limit: Int?

    @Flag(name: .long, help: "Counts by decision, role, kind and (for denials) rule instead of events.")
    var summary = false

    @Flag(name: .long, help: "Keep printing new events as runs record them.")
    var follow = false

    @Flag(name: .long, help: "One JSON object per line.")
    var json = false

    @Flag(name: .long, help: "List runs (newest first) instead of events; takes --role, --since, --limit.")
    var runs = false

    @Flag(name: .long, help: "Delete runs (and their events) that ended before --older-than.")
    var prune = false

    @Option(name: .long, help: ArgumentHelp("With --prune: the cutoff, as for --since (30d, 2026-10-01).", valueName: "when"))
    var olderThan: String?

    @Flag(name: .long, help: "With --prune: report what would be deleted, delete nothing.")
    var dryRun = false

    /// The parsed filter, set by validate().
    private var filter = AuditFilter()

    private enum CodingKeys: String, CodingKey {
        case audit, workspace, role, kind, runID, since, decision, pathGlob, limit, summary, follow, json, runs
        case prune, olderThan, dryRun
    }

    /// The --prune cutoff, set by validate().
    private var pruneCutoff: Int64?

    mutating func validate() throws {
        var f = AuditFilter(role: role, runID: runID, pathGlob: pathGlob, limit: limit)
        if let kind {
            guard let k = AuditKind(rawValue: kind) else {
                throw ValidationError("--kind '\(kind)' is not a kind; use one of: \(AuditKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            f.kind = k
        }
        if let decision {
            guard let d = AuditDecision(rawValue: decision) else {
                throw ValidationError("--decision '\(decision)' is not a decision; use one of: \(AuditDecision.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            f.decision = d
        }
        if let since {
            do { f.since = try AuditTime.parseSince(since) } catch let error as AuditError {
                throw ValidationError("--since \(error)")
            }
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
        if let runID, runID < 1 { throw ValidationError("--run must be a run id (1 or more; got \(runID))") }
        if summary && follow { throw ValidationError("--summary and --follow cannot be combined") }
        if summary && limit != nil { throw ValidationError("--limit does not apply to --summary, which counts every match") }
        if runs {
            let eventOnly = [("--kind", kind != nil), ("--run", runID != nil), ("--decision", decision != nil),
                             ("--path", pathGlob != nil), ("--summary", summary), ("--follow", follow)]
            if let (flag, _) = eventOnly.first(where: { $0.1 }) {
                throw ValidationError("\(flag) does not apply to --runs, which takes --role, --since and --limit")
            }
        }
        if audit != nil && workspace != nil {
            throw ValidationError("--audit and --workspace both name the store; give one")
        }
        pruneCutoff = try validatePrune()
        filter = f
    }

    func run() throws {
        let path = audit.map(absolutePath) ?? AuditStore.defaultPath(workspace: absolutePath(workspace ?? currentDirectory()))
        if let cutoff = pruneCutoff { return try runPrune(path: path, cutoff: cutoff) }
        let query: AuditQuery
        do {
            query = AuditQuery(store: try AuditStore(path: path, mode: .readOnly))
        } catch AuditError.storeMissing {
            complain("no audit records: \(path) does not exist (every `warden run` in a workspace records to .warden/audit.db there; --audit PATH reads another store)")
            throw ExitCode(AuditExit.noStore)
        } catch {
            complain("\(error)")
            throw ExitCode(AuditExit.unreadable)
        }
        do {
            if runs { try printRuns(query) } else if summary { try printSummary(query) } else { try printEvents(query, path) }
        } catch let error as AuditError {
            complain("\(error)")
            throw ExitCode(AuditExit.unreadable)
        }
    }

    // MARK: Events

    private func printEvents(_ query: AuditQuery, _ path: String) throws {
        var f = filter
        // Like tail -f: a follower starts from recent context, not the whole history.
        if follow && f.limit == nil { f.limit = 10 }
        // Read the cursor before the backlog: a row committed in between is then shown by
        // the first poll instead of falling between the two reads.
        var cursor = follow ? try query.lastEventID() : 0
        var shown = 0
        var alreadyShown = Set<Int64>()
        try query.forEachEvent(f) { r in
            emit(r.event)
            shown += 1
            if follow && r.id > cursor { alreadyShown.insert(r.id) }
        }
        if shown == 0 && !json && !follow { complain("no matching events in \(path)") }
        guard follow else { return }
        fflush(stdout)
        while true {
            usleep(200_000)
            let (records, next) = try query.follow(after: cursor, filter)
            for r in records where !alreadyShown.contains(r.id) { emit(r.event) }
            cursor = next
            if !records.isEmpty { fflush(stdout) }
        }
    }

    private func emit(_ e: AuditEvent) {
        if json {
            print(AuditJSON.line(e))
            return
        }
        var line = "\(AuditTime.iso(e.timeNS)) run \(e.runID) \(printable(e.role)) \(e.kind.rawValue.uppercased())"
        line += " \(e.decision.rawValue.uppercased()) \(printable(e.target))"
        if !e.message.isEmpty { line += " — \(printable(e.message))" }
        print(line)
        guard e.decision == .denied else { return }
        if let fix = e.suggestion {
            print("    fix: \(printable(fix))")
        } else {
            print("    fix: no profile change allows this (decided by \(printable(e.rule)))")
        }
    }

    // MARK: Summary

    private func printSummary(_ query: AuditQuery) throws {
        let s = try query.summary(filter)
        if json {
            func object(_ counts: [AuditSummary.Count]) -> String {
                "{" + counts.map { AuditJSON.string($0.key) + ":\($0.count)" }.joined(separator: ",") + "}"
            }
            print("{\"total\":\(s.total),\"by_decision\":\(object(s.byDecision)),\"by_role\":\(object(s.byRole))"
                  + ",\"by_kind\":\(object(s.byKind)),\"denied_by_rule\":\(object(s.deniedByRule))}")
            return
        }
        let decisions = s.byDecision.map { "\($0.count) \($0.key)" }.joined(separator: ", ")
        print("\(s.total) event\(s.total == 1 ? "" : "s")\(decisions.isEmpty ? "" : " (\(decisions))")")
        for (title, counts) in [("by role", s.byRole), ("by kind", s.byKind), ("denials by rule", s.deniedByRule)]
        where !counts.isEmpty {
            print("\(title):")
            let width = counts.map { String($0.count).count }.max() ?? 1
            for c in counts {
                let n = String(c.count)
                print("  " + String(repeating: " ", count: width - n.count) + n + "  " + printable(c.key))
            }
        }
    }

    // MARK: Runs

    private func printRuns(_ query: AuditQuery) throws {
        let list = try query.runs(role: role, since: filter.since, limit: limit)
        for r in list {
            if json { print(AuditJSON.line(r)); continue }
            var line = "run \(r.id)  \(AuditTime.iso(r.startNS))  \(printable(r.role))  \(printable(r.profileFile))"
            if let end = r.endNS {
                line += "  \(seconds(end - r.startNS))  exit \(r.exitStatus.map(String.init) ?? "?")"
            } else {
                line += "  no end recorded (still running, or the runner was killed)"
            }
            if let c = r.counts {
                line += "  \(c.deniedTotal) denied"
                if c.lost > 0 { line += ", \(c.lost) lost" }
            }
            if r.auditComplete == false { line += "  AUDIT INCOMPLETE" }
            if !r.degraded.isEmpty { line += "  degraded: \(r.degraded.map(printable).joined(separator: ","))" }
            line += "  — " + r.command.map { shellQuoted(printable($0)) }.joined(separator: " ")
            print(line)
        }
        if list.isEmpty && !json { complain("no runs recorded") }
    }

    private func seconds(_ ns: Int64) -> String {
        let tenths = ns / 100_000_000
        return "\(tenths / 10).\(tenths % 10)s"
    }
}

/// An argv word as a shell would need it typed, so `sh -c 'make test'` reads as one word.
func shellQuoted(_ s: String) -> String {
    let safe = s.unicodeScalars.allSatisfy { c in
        c.properties.isAlphabetic || ("0"..."9").contains(c) || "-_./=:,+@%^".unicodeScalars.contains(c)
    }
    if safe && !s.isEmpty { return s }
    return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}
