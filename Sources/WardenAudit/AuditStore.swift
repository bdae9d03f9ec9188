// The SQLite file behind `warden audit`. One store is shared by every run in a workspace,
// often by several runner processes at once, so everything here is about being safe to open
// concurrently and cheap to open on every launch.

import CSQLiteTuning
import Foundation
import GRDB
import GRDBSQLite
import Glibc

public final class AuditStore: Sendable {
    public enum Mode: Sendable {
        /// Creates the store (and its directory) if needed and migrates it: the runner.
        case readWrite
        /// Never creates or changes anything; a missing store is an error: `warden audit`.
        case readOnly
    }

    public let path: String
    /// The runner's store is one connection (a DatabaseQueue): it only writes, from one
    /// thread at a time, and a pool's set-up costs a launch about a millisecond more (GRDB
    /// checks the WAL file through Foundation and may write a dummy table). `warden audit`
    /// reads through a pool, so `--follow` can poll while a query pages.
    let pool: any DatabaseWriter

    /// Where a workspace keeps its store unless `--audit PATH` says otherwise.
    public static func defaultPath(workspace: String) -> String {
        (workspace.hasSuffix("/") ? workspace : workspace + "/") + ".warden/audit.db"
    }

    /// - Parameter busyTimeout: how long to wait for another process's write transaction
    ///   before giving up. Concurrent runs commit small batches, so waiting is almost always
    ///   the right answer; failing would lose audit rows.
    public init(path: String, mode: Mode = .readWrite, busyTimeout: Double = 5) throws {
        self.path = path
        var config = Configuration()
        config.label = "warden-audit"
        config.busyMode = .timeout(busyTimeout)
        // Queries run one at a time; the writer and a --follow poll need at most two.
        config.maximumReaderCount = 2
        // The -wal and -shm files stay after the last connection closes (so a reader without
        // write access to the directory can still open the store), but the WAL is cut to
        // zero bytes then: the next opener would otherwise re-read all of it to rebuild the
        // index, which after a flood is megabytes on every launch.
        //
        // A writer's close does not checkpoint: the fsync it costs would land on every run's
        // exit. Committed rows are safe in the WAL all the same (a killed runner loses
        // nothing either). The WAL is folded back by SQLite's automatic checkpoint instead,
        // every 100 pages rather than 1000, because the next opener re-reads whatever the WAL
        // holds to rebuild its index: 400 KiB at most, on the opening thread.
        // synchronous=NORMAL is the WAL setting SQLite recommends: a commit survives the
        // process being killed, only an OS crash can lose the last transactions.
        config.prepareDatabase { db in
            var on: Int32 = 1
            _ = sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_PERSIST_WAL, &on)
            if !db.configuration.readonly {
                _ = warden_sqlite_no_checkpoint_on_close(db.sqliteConnection)
                try db.execute(sql: "PRAGMA journal_size_limit = 4194304; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 100")
            }
        }
        switch mode {
        case .readOnly:
            guard access(path, F_OK) == 0 else { throw AuditError.storeMissing(path: path) }
            config.readonly = true
        case .readWrite:
            try Self.makeParentDirectory(of: path)
        }
        do {
            switch mode {
            case .readOnly: pool = try Self.openPool(path: path, configuration: config, patience: busyTimeout)
            case .readWrite: pool = try Self.openWriter(path: path, configuration: config, patience: busyTimeout)
            }
        } catch {
            throw Self.openError(error, path: path)
        }
        switch mode {
        case .readOnly: try checkSchema()
        case .readWrite: try migrate()
        }
    }

    /// Checkpoints the WAL and closes every connection. Optional: dropping the store does the
    /// same, but calling it lets the runner report a failure instead of ignoring it.
    public func close() throws {
        do { try pool.close() } catch { throw AuditError.wrap(error, path: path, operation: "close") }
    }

    // MARK: Runs

    /// The statements both writers use: this store and the launch path's `RunRow`.
    enum SQL {
        static let insertRun = """
            INSERT INTO runs (command, role, profile_file, workspace, start_ns, degraded)
            VALUES (?, ?, ?, ?, ?, ?)
            """
        static let finishRun = """
            UPDATE runs SET end_ns = ?, exit_status = ?, counts = ?, audit_complete = ?
            WHERE id = ?
            """
        static let insertEvent = """
            INSERT INTO events (time_ns, run_id, role, profile_file, pid, kind, target, decision,
                                rule, message, suggestion)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
    }

    /// Inserts the run's row and returns its id, the number users type in `--run`.
    public func beginRun(command: [String], role: String, profileFile: String, workspace: String,
                         startNS: Int64 = AuditClock.now(), degraded: [String] = []) throws -> Int64 {
        let commandJSON = Self.jsonText(command)
        let degradedJSON = Self.jsonText(degraded)
        return try write("begin run") { db in
            try db.execute(sql: SQL.insertRun, arguments: [commandJSON, clean(role), clean(profileFile), clean(workspace), startNS, degradedJSON])
            return db.lastInsertedRowID
        }
    }

    public func finishRun(id: Int64, endNS: Int64 = AuditClock.now(), exitStatus: Int32,
                          counts: RunCounts, auditComplete: Bool) throws {
        let countsJSON = counts.storedJSON
        let changed = try write("finish run \(id)") { db in
            try db.execute(sql: SQL.finishRun, arguments: [endNS, exitStatus, countsJSON, auditComplete, id])
            return db.changesCount
        }
        if changed == 0 { throw AuditError.unknownRun(path: path, id: id) }
    }

    // MARK: Events

    /// Inserts every event in one transaction: all of them are committed or none.
    public func insert<Events: Collection>(_ events: Events) throws where Events.Element == AuditEvent {
        guard !events.isEmpty else { return }
        try write("insert \(events.count) event\(events.count == 1 ? "" : "s")") { db in
            let statement = try db.cachedStatement(sql: SQL.insertEvent)
            for e in events {
                statement.setUncheckedArguments([
                    e.timeNS, e.runID, clean(e.role), clean(e.profileFile), e.pid, e.kind.rawValue,
                    clean(e.target), e.decision.rawValue, clean(e.rule), clean(e.message),
                    e.suggestion.map(clean),
                ])
                try statement.execute()
            }
        }
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a sound file, otherwise SQLite's findings.
    public func integrityCheck() throws -> [String] {
        try read("integrity check") { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    // MARK: Internals

    /// One IMMEDIATE transaction: the write lock is taken up front, where SQLite's busy
    /// handler can wait for another process's commit. A deferred transaction would take it
    /// at the first INSERT, where a snapshot made stale by that commit fails at once.
    func write<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw AuditError.wrap(error, path: path, operation: operation)
        }
    }

    func read<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch { throw AuditError.wrap(error, path: path, operation: operation) }
    }

    static func jsonText(_ strings: [String]) -> String {
        AuditJSON.array(strings.map(clean))
    }

    /// The store's files, created empty where missing (SQLite takes an empty file as a new
    /// database), for the runner to bind read-only into the sandbox before it starts: the
    /// opening thread may not have created them yet, and an agent must not be able to plant
    /// its own. Returns those that are regular files; anything else is left for the open to
    /// refuse (it does not follow symlinks).
    public static func prepareFiles(path: String) -> [String] {
        guard (try? makeParentDirectory(of: path)) != nil else { return [] }
        return [path, path + "-wal", path + "-shm"].filter { file in
            let fd = open(file, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0o644)
            guard fd >= 0 else { return false }
            defer { Glibc.close(fd) }
            var st = stat()
            return fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG
        }
    }

    /// `mkdir -p` for the store's directory, mode 0755 less the umask like any directory:
    /// `.warden/` also holds the orchestrator's tasks and handoffs, which roles running as
    /// other users may need to reach, and the store file itself gets the umask's mode.
    static func makeParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let dir = String(path[..<slash])
        // Almost always there already: one call instead of one per component.
        if mkdir(dir, 0o755) == 0 || errno == EEXIST { return }
        var prefix = dir.hasPrefix("/") ? "" : "."
        for component in dir.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw AuditError.cannotCreateDirectory(path: prefix, errno: errno)
            }
        }
    }

    /// Opening a store that does not exist yet switches the new file to WAL, which needs an
    /// exclusive lock. When several runners create the same store at once, SQLite resolves
    /// the lock conflict by failing one with SQLITE_BUSY straight away, without waiting
    /// (its deadlock rule for rollback-journal files), so the wait happens here, with jitter
    /// so the contenders do not collide again. Once the file is in WAL mode this never loops.
    static func openPool(path: String, configuration: Configuration, patience: Double) throws -> DatabasePool {
        try retryingBusy(patience: patience) { try DatabasePool(path: path, configuration: configuration) }
    }

    /// The runner's connection. A store that is not in WAL mode yet (a new file) is switched
    /// here, under the same busy retry as the pool's open.
    static func openWriter(path: String, configuration: Configuration, patience: Double) throws -> DatabaseQueue {
        try retryingBusy(patience: patience) {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.writeWithoutTransaction { db in
                guard try String.fetchOne(db, sql: "PRAGMA journal_mode") != "wal" else { return }
                guard try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") == "wal" else {
                    throw DatabaseError(message: "could not switch \(path) to WAL mode")
                }
            }
            return queue
        }
    }

    static func retryingBusy<T>(patience: Double, _ open: () throws -> T) throws -> T {
        let deadline = AuditClock.monotonic() + Int64(patience * 1e9)
        var pause: UInt32 = 1000
        while true {
            do {
                return try open()
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && AuditClock.monotonic() < deadline {
                usleep(pause + UInt32.random(in: 0...pause))
                pause = min(pause * 2, 50_000)
            }
        }
    }

    static func openError(_ error: Error, path: String) -> AuditError {
        if let db = error as? DatabaseError, db.resultCode == .SQLITE_NOTADB {
            return .incompatibleStore(path: path, reason: "the file is not an SQLite database")
        }
        return AuditError.wrap(error, path: path, operation: "open")
    }
}

/// SQLite stores a NUL inside TEXT, but reading it back through C strings would cut the
/// value there and silently hide the rest of a path or message; U+FFFD keeps it visible.
func clean(_ s: String) -> String {
    s.utf8.contains(0) ? s.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : s
}

extension RunCounts {
    /// The `counts` column: the same object JSONEncoder with sorted keys would write, built by
    /// hand because the encoder's first use costs the runner's exit a quarter millisecond.
    var storedJSON: String {
        // Appended in a fixed order: sorting and joining pairs cost each exit their generic
        // metadata's first use.
        var out = "{\"allowed\":" + String(allowed) + ",\"degraded\":" + String(degraded) + ",\"denied\":{"
        var first = true
        for kind in AuditKind.byName {
            guard let n = denied[kind] else { continue }
            if !first { out += "," }
            first = false
            out += "\"" + kind.rawValue + "\":" + String(n)
        }
        return out + "},\"lost\":" + String(lost) + "}"
    }
}
