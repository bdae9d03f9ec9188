// The tables, their migrations, and decoding rows back into values. The column names are the
// store's public format: users query the file with sqlite3, so they do not change lightly.

import Foundation
import GRDB

extension AuditStore {
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // AUTOINCREMENT: a run id is shown to users and typed back into `--run`, so an id
            // must never be reused, even after rows are deleted.
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    command TEXT NOT NULL,          -- JSON array of argv
                    role TEXT NOT NULL,
                    profile_file TEXT NOT NULL,
                    workspace TEXT NOT NULL,
                    start_ns INTEGER NOT NULL,
                    end_ns INTEGER,                 -- NULL: still running, or the runner was killed
                    exit_status INTEGER,
                    counts TEXT,                    -- JSON RunCounts
                    audit_complete INTEGER,         -- NULL until the run ends; 0 if rows were lost
                    degraded TEXT NOT NULL DEFAULT '[]'  -- JSON array of opted-down protections
                );
                """)
            // No FOREIGN KEY to runs: one bad run id would make SQLite refuse the whole batch,
            // and an audit log must rather keep a row than enforce tidiness.
            try db.execute(sql: """
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY,
                    time_ns INTEGER NOT NULL,
                    run_id INTEGER NOT NULL,
                    role TEXT NOT NULL,
                    profile_file TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    target TEXT NOT NULL,
                    decision TEXT NOT NULL,
                    rule TEXT NOT NULL,
                    message TEXT NOT NULL,
                    suggestion TEXT
                );
                """)
            // One index per selective filter, each ending in time_ns so the ORDER BY comes
            // from the index. decision and the path glob are left to a scan of the rows the
            // other filters select: decision has three values, and GLOB with a leading `*`
            // cannot use an index. Every index costs the flood path an extra b-tree insert.
            try db.execute(sql: """
                CREATE INDEX events_time ON events (time_ns);
                CREATE INDEX events_run ON events (run_id, time_ns);
                CREATE INDEX events_role ON events (role, time_ns);
                CREATE INDEX events_kind ON events (kind, time_ns);
                CREATE INDEX runs_start ON runs (start_ns);
                """)
        }
        return migrator
    }()

    /// Brings the schema up to date. Two runners may create the same fresh store at once:
    /// both see no migrations applied, one wins the write lock and the other's CREATE TABLE
    /// then fails. GRDB's migrator does not re-check under the lock, so the loser re-reads
    /// the applied migrations and accepts the winner's work.
    /// Schema checks here use the writer connection, which is open anyway: a reader
    /// connection would cost a launch another open (about a third of a millisecond).
    func migrate() throws {
        do {
            try Self.migrator.migrate(pool)
        } catch {
            let done = (try? pool.writeWithoutTransaction { db in try Self.migrator.hasCompletedMigrations(db) }) ?? false
            if !done { throw Self.schemaError(error, path: path) }
        }
        let newer: Bool
        do {
            newer = try pool.writeWithoutTransaction { db in try Self.migrator.hasBeenSuperseded(db) }
        } catch {
            throw AuditError.wrap(error, path: path, operation: "read schema version")
        }
        if newer { throw Self.newerStore(path) }
    }

    /// For read-only opens: the file must be a store this version understands.
    func checkSchema() throws {
        let complete: Bool
        do {
            complete = try pool.read { db in try Self.migrator.hasCompletedMigrations(db) }
        } catch {
            throw Self.schemaError(error, path: path)
        }
        if try read("read schema version", { db in try Self.migrator.hasBeenSuperseded(db) }) {
            throw Self.newerStore(path)
        }
        if !complete {
            throw AuditError.incompatibleStore(path: path, reason: "it has no audit tables")
        }
    }

    private static func newerStore(_ path: String) -> AuditError {
        .incompatibleStore(path: path, reason: "it was written by a newer warden (unknown schema migrations)")
    }

    private static func schemaError(_ error: Error, path: String) -> AuditError {
        if let db = error as? DatabaseError, db.resultCode == .SQLITE_NOTADB {
            return .incompatibleStore(path: path, reason: "the file is not an SQLite database")
        }
        return AuditError.wrap(error, path: path, operation: "migrate schema")
    }

    static let eventColumns =
        "id, time_ns, run_id, role, profile_file, pid, kind, target, decision, rule, message, suggestion"

    static func record(_ row: Row) throws -> AuditRecord {
        let id: Int64 = row[0]
        let kindText: String = row[6]
        let decisionText: String = row[8]
        guard let kind = AuditKind(rawValue: kindText) else {
            throw AuditError.corruptRow(table: "events", id: id, reason: "unknown kind '\(kindText)'")
        }
        guard let decision = AuditDecision(rawValue: decisionText) else {
            throw AuditError.corruptRow(table: "events", id: id, reason: "unknown decision '\(decisionText)'")
        }
        let pid: Int64 = row[5]
        guard let pid32 = Int32(exactly: pid) else {
            throw AuditError.corruptRow(table: "events", id: id, reason: "pid \(pid) out of range")
        }
        return AuditRecord(id: id, event: AuditEvent(
            timeNS: row[1], runID: row[2], role: row[3], profileFile: row[4], pid: pid32, kind: kind,
            target: row[7], decision: decision, rule: row[9], message: row[10], suggestion: row[11]))
    }

    static let runColumns = """
        id, command, role, profile_file, workspace, start_ns, end_ns, exit_status, counts, \
        audit_complete, degraded
        """

    static func run(_ row: Row) throws -> AuditRun {
        let id: Int64 = row[0]
        func strings(_ text: String, _ column: String) throws -> [String] {
            guard let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
                throw AuditError.corruptRow(table: "runs", id: id, reason: "\(column) is not a JSON list of strings")
            }
            return list
        }
        var counts: RunCounts?
        if let text: String = row[8] {
            do {
                counts = try JSONDecoder().decode(RunCounts.self, from: Data(text.utf8))
            } catch {
                throw AuditError.corruptRow(table: "runs", id: id, reason: "counts: \(error)")
            }
        }
        let status: Int64? = row[7]
        return AuditRun(
            id: id, command: try strings(row[1], "command"), role: row[2], profileFile: row[3],
            workspace: row[4], startNS: row[5], endNS: row[6], exitStatus: status.flatMap { Int32(exactly: $0) },
            counts: counts, auditComplete: row[9], degraded: try strings(row[10], "degraded"))
    }
}
