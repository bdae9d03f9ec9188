// `warden audit --prune --older-than WHEN`: retention for the audit store. The deleting is
// AuditStore.prune (one transaction); this file checks the flags, decides which unfinished
// runs may still have a live runner, and prints what was removed.

import ArgumentParser
import Glibc
import WardenAudit

extension AuditCommand {
    /// The cutoff when --prune is asked for, nil otherwise; ValidationError (exit 64) for a
    /// combination that would make the deletion mean something else than it says.
    func validatePrune() throws -> Int64? {
        guard prune else {
            if olderThan != nil { throw ValidationError("--older-than applies only to --prune") }
            if dryRun { throw ValidationError("--dry-run applies only to --prune") }
            return nil
        }
        guard let olderThan else {
            throw ValidationError("--prune needs --older-than WHEN (e.g. 30d, or a date such as 2026-10-01)")
        }
        // Every other filter would suggest a partial prune that this does not do.
        let others = [("--role", role != nil), ("--kind", kind != nil), ("--run", runID != nil),
                      ("--since", since != nil), ("--decision", decision != nil), ("--path", pathGlob != nil),
                      ("--limit", limit != nil), ("--summary", summary), ("--follow", follow), ("--runs", runs)]
        if let (flag, _) = others.first(where: { $0.1 }) {
            throw ValidationError("\(flag) does not apply to --prune, which takes --older-than, --dry-run and --json")
        }
        do { return try AuditTime.parseSince(olderThan) } catch let error as AuditError {
            throw ValidationError("--older-than \(error)")
        }
    }

    func runPrune(path: String, cutoff: Int64) throws {
        guard access(path, F_OK) == 0 else {
            complain("no audit records: \(path) does not exist")
            throw ExitCode(AuditExit.noStore)
        }
        // SQLite needs to write the file and create its -wal and -shm next to it.
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        guard access(path, W_OK) == 0, access(dir.isEmpty ? "/" : dir, W_OK) == 0 else {
            complain("cannot prune \(path): this user may not change it (\(String(cString: strerror(errno))))")
            throw ExitCode(AuditExit.notPermitted)
        }
        let result: PruneResult
        do {
            // The read-only check first: opening read-write would migrate a file that is not a store.
            try AuditStore(path: path, mode: .readOnly).close()
            let store = try AuditStore(path: path)
            // Looked at on first use, inside the prune's write transaction: every run row it
            // can see was committed before, by a runner that was already running then.
            var runners: [RunnerProcess]?
            result = try store.prune(before: cutoff, dryRun: dryRun) { run in
                if runners == nil { runners = RunnerProcesses.snapshot() }
                return runners!.contains { $0.mayOwn(run) }
            }
            try store.close()
        } catch let error as AuditError {
            complain("\(error)")
            throw ExitCode(AuditExit.unreadable)
        }
        if json { print(Self.pruneJSON(result)) } else { printPrune(result) }
    }

    private func printPrune(_ r: PruneResult) {
        let when = AuditTime.iso(r.cutoffNS)
        let verb = r.dryRun ? "would prune" : "pruned"
        if r.removedRuns.isEmpty && r.removedEvents == 0 {
            print("nothing to prune: no run ended before \(when)")
        } else {
            let runs = r.removedRuns.count == 1 ? "1 run" : "\(r.removedRuns.count) runs"
            let events = r.removedEvents == 1 ? "1 event" : "\(r.removedEvents) events"
            print("\(verb) \(runs) and \(events) from before \(when)"
                  + (r.removedRuns.isEmpty ? "" : ": run \(Self.ranges(r.removedRuns))"))
            if !r.abandonedRuns.isEmpty {
                print("  never finished, runner gone: run \(Self.ranges(r.abandonedRuns))")
            }
        }
        if !r.keptUnfinished.isEmpty {
            print("kept: run \(Self.ranges(r.keptUnfinished)) never finished and its runner may still be running")
        }
    }

    static func pruneJSON(_ r: PruneResult) -> String {
        func ids(_ list: [Int64]) -> String { "[" + list.map(String.init).joined(separator: ",") + "]" }
        return "{\"dry_run\":\(r.dryRun),\"cutoff_ns\":\(r.cutoffNS),\"cutoff\":" + AuditJSON.string(AuditTime.iso(r.cutoffNS))
            + ",\"removed_runs\":\(ids(r.removedRuns)),\"abandoned_runs\":\(ids(r.abandonedRuns))"
            + ",\"removed_events\":\(r.removedEvents),\"kept_unfinished\":\(ids(r.keptUnfinished))}"
    }

    /// `3-7, 9, 12-14`: ids are mostly consecutive, and a prune can remove thousands.
    static func ranges(_ ids: [Int64]) -> String {
        var parts: [String] = []
        var i = 0
        while i < ids.count {
            var j = i
            while j + 1 < ids.count && ids[j + 1] == ids[j] + 1 { j += 1 }
            parts.append(i == j ? "\(ids[i])" : "\(ids[i])-\(ids[j])")
            i = j + 1
        }
        return parts.joined(separator: ", ")
    }
}
