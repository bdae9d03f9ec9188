// Retention: removing old runs and their events. An audit store only grows (a denial flood
// adds hundreds of thousands of rows), so `warden audit --prune --older-than 30d` deletes
// what ended before the cutoff, in one transaction, and never a run that may still be
// writing. Run ids are AUTOINCREMENT, so a pruned id is never handed out again and a
// `--run N` someone noted down can never come to mean another run.

import GRDB

/// What a prune removed (or, for a dry run, would remove).
public struct PruneResult: Sendable, Equatable {
    public var cutoffNS: Int64
    /// Runs deleted, oldest first; their events went with them.
    public var removedRuns: [Int64]
    /// Runs among `removedRuns` that never finished and whose runner is gone (killed).
    public var abandonedRuns: [Int64]
    /// Events deleted: those of the removed runs, and events older than the cutoff that
    /// belong to no run.
    public var removedEvents: Int
    /// Unfinished runs older than the cutoff that were kept: their runner may still be alive.
    public var keptUnfinished: [Int64]
    public var dryRun: Bool
}

extension AuditStore {
    /// Deletes every run that ended before `cutoffNS`, every unfinished run that started
    /// before it and whose runner is gone (`runnerMayBeAlive` false), and their events.
    /// All of it in one IMMEDIATE transaction, so a concurrent reader sees the store either
    /// before or after, and a concurrent runner waits for the lock instead of interleaving.
    /// `dryRun` computes the same result and rolls back. `runnerMayBeAlive` is called inside
    /// the transaction, so a runner that committed its row before the prune began is
    /// already running when the callback looks.
    public func prune(before cutoffNS: Int64, dryRun: Bool = false,
                      runnerMayBeAlive: (AuditRun) -> Bool) throws -> PruneResult {
        var result = PruneResult(cutoffNS: cutoffNS, removedRuns: [], abandonedRuns: [], removedEvents: 0,
                                 keptUnfinished: [], dryRun: dryRun)
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    let old = try Row.fetchAll(db, sql: """
                        SELECT \(Self.runColumns) FROM runs WHERE coalesce(end_ns, start_ns) < ? ORDER BY id
                        """, arguments: [cutoffNS]).map(Self.run)
                    for run in old {
                        if run.endNS == nil {
                            if runnerMayBeAlive(run) { result.keptUnfinished.append(run.id); continue }
                            result.abandonedRuns.append(run.id)
                        }
                        result.removedRuns.append(run.id)
                    }
                    // Chunks stay below SQLite's limit on bound parameters.
                    for start in stride(from: 0, to: result.removedRuns.count, by: 500) {
                        let ids = Array(result.removedRuns[start..<min(start + 500, result.removedRuns.count)])
                        let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
                        try db.execute(sql: "DELETE FROM events WHERE run_id IN (\(marks))", arguments: StatementArguments(ids))
                        result.removedEvents += db.changesCount
                        try db.execute(sql: "DELETE FROM runs WHERE id IN (\(marks))", arguments: StatementArguments(ids))
                    }
                    // Events whose run row is gone (or was never written), past the cutoff.
                    try db.execute(sql: """
                        DELETE FROM events WHERE time_ns < ? AND run_id NOT IN (SELECT id FROM runs)
                        """, arguments: [cutoffNS])
                    result.removedEvents += db.changesCount
                    return dryRun ? .rollback : .commit
                }
            }
        } catch {
            throw AuditError.wrap(error, path: path, operation: "prune")
        }
        return result
    }
}
