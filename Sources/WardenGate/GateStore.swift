import Foundation
import GRDB

/// The gate's version index, `.warden/gate.db`: one row per commit, one per path it changed,
/// and per path the last commit that changed it, which is what conflict detection reads.
public final class GateStore: VersionIndex, Sendable {
    public let path: String
    let queue: DatabaseQueue

    public struct Change: Sendable, Equatable {
        public var path: String
        /// write, delete, directory, symlink
        public var action: String
        /// SHA-256 of the new content (files), the target (symlinks), nil otherwise.
        public var hash: String?

        public init(path: String, action: String, hash: String?) {
            self.path = path
            self.action = action
            self.hash = hash
        }
    }

    public struct Commit: Sendable, Equatable {
        public var seq: Int64
        public var role: String
        public var run: String
        public var task: String?
        public var base: Int64
        public var timeNS: Int64
        public var changes: [Change]
    }

    /// `serialized` runs the store's creation under a lock across processes: switching a new
    /// file to WAL and each migration are separate transactions, so two runners creating the
    /// store at once would both see it empty and the second `CREATE TABLE` would fail.
    public init(path: String, serialized: (() throws -> Void) throws -> Void = { try $0() }) throws {
        self.path = path
        do {
            var st = stat()
            let fresh = stat(path, &st) != 0 || st.st_size == 0
            var opened: DatabaseQueue?
            if !fresh {
                let q = try Self.open(path)
                if try q.read({ try Self.migrator.hasCompletedMigrations($0) }) { opened = q }
            }
            if opened == nil {
                try serialized {
                    let q = try Self.open(path)
                    // Set once here and kept in the file's header: GRDB's `journalMode = .wal`
                    // would check it (and write to make the WAL exist) on every open.
                    try q.writeWithoutTransaction { db in
                        guard try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") == "wal" else {
                            throw DatabaseError(message: "could not switch \(path) to WAL mode")
                        }
                    }
                    try Self.migrator.migrate(q)
                    opened = q
                }
            }
            queue = opened!
        } catch let e as GateError {
            throw e
        } catch {
            throw GateError.store("\(path): \(error)")
        }
    }

    private static func open(_ path: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.busyMode = .timeout(10)
        return try DatabaseQueue(path: path, configuration: config)
    }

    static let migrator: DatabaseMigrator = {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE commits (
                    seq INTEGER PRIMARY KEY,
                    role TEXT NOT NULL,
                    run TEXT NOT NULL,
                    task TEXT,
                    base INTEGER NOT NULL,
                    time_ns INTEGER NOT NULL
                );
                CREATE TABLE changes (
                    seq INTEGER NOT NULL,
                    path TEXT NOT NULL,
                    action TEXT NOT NULL,
                    hash TEXT,
                    PRIMARY KEY (seq, path)
                );
                -- The last commit that changed each path: a conflict is a row newer than the base.
                CREATE TABLE paths (
                    path TEXT PRIMARY KEY,
                    seq INTEGER NOT NULL
                );
                """)
        }
        registerManifest(&m)
        return m
    }()

    /// The workspace version: the last commit's sequence number, 0 before any.
    public func version() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT max(seq) FROM commits") ?? 0 }
    }

    public func lastChange(_ path: String) throws -> CommitRef? {
        try read { db in
            try Row.fetchOne(db, sql: """
                SELECT c.seq, c.role, c.run, c.time_ns FROM paths p JOIN commits c ON c.seq = p.seq
                WHERE p.path = ?
                """, arguments: [path]).map(Self.ref)
        }
    }

    public func lastChange(beneath dir: String) throws -> CommitRef? {
        try read { db in
            // '/' sorts just before '0': [dir/, dir0) is everything beneath dir.
            let sql = """
                SELECT c.seq, c.role, c.run, c.time_ns FROM paths p JOIN commits c ON c.seq = p.seq
                WHERE \(dir.isEmpty ? "1" : "p.path = ? OR (p.path >= ? AND p.path < ?)")
                ORDER BY c.seq DESC LIMIT 1
                """
            let args: StatementArguments = dir.isEmpty ? [] : [dir, dir + "/", dir + "0"]
            return try Row.fetchOne(db, sql: sql, arguments: args).map(Self.ref)
        }
    }

    public func commit(_ seq: Int64) throws -> Commit? {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM commits WHERE seq = ?", arguments: [seq]) else { return nil }
            let changes = try Row.fetchAll(db, sql: "SELECT path, action, hash FROM changes WHERE seq = ? ORDER BY path",
                                           arguments: [seq])
                .map { Change(path: $0["path"], action: $0["action"], hash: $0["hash"]) }
            return Commit(seq: row["seq"], role: row["role"], run: row["run"], task: row["task"], base: row["base"],
                          timeNS: row["time_ns"], changes: changes)
        }
    }

    public func commits(limit: Int = 50) throws -> [Commit] {
        let seqs = try read { db in
            try Int64.fetchAll(db, sql: "SELECT seq FROM commits ORDER BY seq DESC LIMIT ?", arguments: [limit])
        }
        return try seqs.compactMap { try commit($0) }
    }

    /// Records a commit. Idempotent, so recovery can replay it: a seq already present is kept.
    func record(seq: Int64, role: String, run: String, task: String?, base: Int64, timeNS: Int64,
                changes: [Change], manifest: ManifestUpdate = ManifestUpdate()) throws {
        do {
            try queue.write { db in
                guard try Int64.fetchOne(db, sql: "SELECT seq FROM commits WHERE seq = ?", arguments: [seq]) == nil else { return }
                try db.execute(sql: "INSERT INTO commits (seq, role, run, task, base, time_ns) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [seq, role, run, task, base, timeNS])
                // Compiled once per commit, not once per path.
                let change = try db.cachedStatement(sql: "INSERT INTO changes (seq, path, action, hash) VALUES (?, ?, ?, ?)")
                let last = try db.cachedStatement(
                    sql: "INSERT INTO paths (path, seq) VALUES (?, ?) ON CONFLICT(path) DO UPDATE SET seq = excluded.seq")
                for c in changes {
                    try change.execute(arguments: [seq, c.path, c.action, c.hash])
                    try last.execute(arguments: [c.path, seq])
                }
                try Self.apply(manifest, db)
            }
        } catch {
            throw GateError.store("record commit \(seq): \(error)")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try queue.read(body) } catch { throw GateError.store("\(error)") }
    }

    static func ref(_ row: Row) -> CommitRef {
        CommitRef(seq: row["seq"], role: row["role"], run: row["run"], timeNS: row["time_ns"])
    }
}
