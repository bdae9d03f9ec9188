// A run's own row, written through SQLite's C API. Every launch writes one and finishes it,
// and most runs record nothing else; GRDB's connection set-up (its functions, collations,
// authorizer, the migrator's checks, type metadata the Swift runtime resolves on first use)
// cost a launch more CPU than building the sandbox. GRDB opens only when events arrive.

import CSQLiteTuning
import GRDBSQLite
import Glibc

public final class RunRow: @unchecked Sendable {
    public let path: String
    public private(set) var id: Int64 = 0
    private var db: OpaquePointer?

    /// The migrations an up-to-date store has applied, in order (`AuditStore.migrator`'s
    /// identifiers; a test keeps the two in step).
    static let schema = "v1"

    private init(path: String, db: OpaquePointer) {
        self.path = path
        self.db = db
    }

    deinit { close() }

    /// Inserts the run's row and its launch events (opted-down protections) in one
    /// transaction. Nil when the store is not simply there and current (no file yet, another
    /// schema, not SQLite): then `AuditStore` creates, migrates or refuses it, with the
    /// messages that go with that. Throws only for a failure of a store that is current.
    public static func begin(path: String, command: [String], role: String, profileFile: String, workspace: String,
                             startNS: Int64, degraded: [String], launchEvents: [AuditEvent]) throws -> RunRow? {
        guard let row = open(path: path) else { return nil }
        try row.insert(command: command, role: role, profileFile: profileFile, workspace: workspace,
                       startNS: startNS, degraded: degraded, launchEvents: launchEvents)
        return row
    }

    /// A connection to a store that is there and current, for `insert` later (a standby opens
    /// it ahead of its run); nil as for `begin`.
    public static func open(path: String) -> RunRow? {
        var handle: OpaquePointer?
        // No CREATE: a missing or empty file is AuditStore's to make. NOFOLLOW: the agent of
        // an earlier run may have planted a symlink where the store should be.
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK, let db = handle else {
            sqlite3_close_v2(handle)
            return nil
        }
        var on: Int32 = 1
        _ = sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &on)
        _ = warden_sqlite_no_checkpoint_on_close(db)
        sqlite3_busy_timeout(db, 5000)
        // The settings AuditStore's writer uses (see there for why).
        guard sqlite3_exec(db, "PRAGMA journal_size_limit = 4194304; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 100",
                           nil, nil, nil) == SQLITE_OK,
              (try? text(db, "SELECT group_concat(identifier, ',') FROM (SELECT identifier FROM grdb_migrations ORDER BY rowid)")) == schema,
              (try? text(db, "PRAGMA journal_mode")) == "wal"
        else {
            sqlite3_close_v2(db)
            return nil
        }
        return RunRow(path: path, db: db)
    }

    /// Inserts the run's row and its launch events in one transaction (see `begin`).
    public func insert(command: [String], role: String, profileFile: String, workspace: String,
                       startNS: Int64, degraded: [String], launchEvents: [AuditEvent]) throws {
        let row = self
        guard let db else { throw AuditError.database(path: path, operation: "begin run", code: SQLITE_MISUSE, message: "connection closed") }
        row.id = try row.transaction("begin run") {
            try row.run(AuditStore.SQL.insertRun, [
                .text(AuditStore.jsonText(command)), .text(clean(role)), .text(clean(profileFile)),
                .text(clean(workspace)), .int(startNS), .text(AuditStore.jsonText(degraded)),
            ])
            let id = sqlite3_last_insert_rowid(db)
            for var e in launchEvents {
                e.runID = id
                try row.run(AuditStore.SQL.insertEvent, [
                    .int(e.timeNS), .int(e.runID), .text(clean(e.role)), .text(clean(e.profileFile)),
                    .int(Int64(e.pid)), .text(e.kind.rawValue), .text(clean(e.target)), .text(e.decision.rawValue),
                    .text(clean(e.rule)), .text(clean(e.message)), e.suggestion.map { .text(clean($0)) } ?? .null,
                ])
            }
            return id
        }
    }

    public func finish(endNS: Int64 = AuditClock.now(), exitStatus: Int32, counts: RunCounts, auditComplete: Bool) throws {
        let changed = try transaction("finish run \(id)") { () -> Int32 in
            try run(AuditStore.SQL.finishRun, [
                .int(endNS), .int(Int64(exitStatus)), .text(counts.storedJSON), .int(auditComplete ? 1 : 0), .int(id),
            ])
            return sqlite3_changes(db)
        }
        if changed == 0 { throw AuditError.unknownRun(path: path, id: id) }
    }

    public func close() {
        if let db { sqlite3_close_v2(db) }
        db = nil
    }

    // MARK: The few SQLite calls this needs

    enum Value {
        case int(Int64)
        case text(String)
        case null
    }

    private struct Failure: Error {
        var code: Int32
        var message: String
    }

    /// BEGIN IMMEDIATE, as AuditStore's writes: the busy handler waits for the lock up front.
    private func transaction<T>(_ operation: String, _ body: () throws -> T) throws -> T {
        do {
            try exec("BEGIN IMMEDIATE")
            do {
                let result = try body()
                try exec("COMMIT")
                return result
            } catch {
                _ = sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
                throw error
            }
        } catch let f as Failure {
            throw AuditError.database(path: path, operation: operation, code: f.code, message: f.message)
        }
    }

    private func exec(_ sql: String) throws {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw failure(rc) }
    }

    private func run(_ sql: String, _ values: [Value]) throws {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw failure(rc) }
        defer { sqlite3_finalize(statement) }
        // SQLITE_TRANSIENT: SQLite copies each string before the Swift one goes away.
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            switch value {
            case let .int(v): sqlite3_bind_int64(statement, index, v)
            case let .text(s): sqlite3_bind_text(statement, index, s, -1, transient)
            case .null: sqlite3_bind_null(statement, index)
            }
        }
        let step = sqlite3_step(statement)
        if step != SQLITE_DONE { throw failure(step) }
    }

    private func failure(_ rc: Int32) -> Failure {
        Failure(code: sqlite3_extended_errcode(db), message: String(cString: sqlite3_errmsg(db)))
    }

    private static func text(_ db: OpaquePointer, _ sql: String) throws -> String? {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw Failure(code: sqlite3_extended_errcode(db), message: String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW, let bytes = sqlite3_column_text(statement, 0) else { return nil }
        return String(cString: bytes)
    }
}
