import GRDB
import Glibc

/// What the gate last saw at a workspace path: enough metadata to tell that someone changed
/// it by hand. The gate replaces files by rename only, so a file it wrote keeps its inode
/// until the next commit; a new inode, size, mtime, mode or type is a real change.
public struct FileStamp: Sendable, Equatable {
    public var inode: UInt64
    public var size: Int64
    public var mtimeNS: Int64
    /// Kept for the record but not compared: making a hard link (a snapshot of the workspace
    /// for a view's lower layer) changes every file's ctime without changing the file.
    public var ctimeNS: Int64
    public var mode: UInt32
    /// file, symlink or other (a FIFO or device a human made).
    public var type: String

    init(_ st: stat) {
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtimeNS = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        ctimeNS = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        mode = UInt32(st.st_mode) & 0o7777
        switch st.st_mode & S_IFMT {
        case S_IFREG: type = "file"
        case S_IFLNK: type = "symlink"
        default: type = "other"
        }
    }

    /// A row of `SELECT path, ino, size, mtime_ns, ctime_ns, mode, type`: by position, since
    /// lookups by column name cost most of a 10,000-path scan.
    init(row: Row) {
        inode = UInt64(bitPattern: row[1])
        size = row[2]
        mtimeNS = row[3]
        ctimeNS = row[4]
        mode = UInt32(truncatingIfNeeded: row[5] as Int64)
        type = row[6]
    }

    /// Whether the path still holds what the gate saw (ctime aside; see `ctimeNS`).
    func sameFile(as other: FileStamp) -> Bool {
        inode == other.inode && size == other.size && mtimeNS == other.mtimeNS && mode == other.mode && type == other.type
    }
}

/// A change to the manifest, applied in the transaction that records a commit, so the version
/// index and the manifest never disagree about what the gate itself wrote.
struct ManifestUpdate {
    /// Paths whose rows (their own and everything beneath) are dropped first.
    var cleared: [String] = []
    var stamps: [String: FileStamp] = [:]
}

extension GateStore {
    static func registerManifest(_ m: inout DatabaseMigrator) {
        m.registerMigration("v2-manifest") { db in
            try db.execute(sql: """
                -- What the gate last saw at each non-directory path outside .git/ and .warden/.
                CREATE TABLE manifest (
                    path TEXT PRIMARY KEY,
                    ino INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    ctime_ns INTEGER NOT NULL,
                    mode INTEGER NOT NULL,
                    type TEXT NOT NULL
                );
                -- manifest_version: the version the first scan was taken at (absent: never).
                CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                """)
        }
    }

    func hasManifest() throws -> Bool {
        try read { db in try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'manifest_version'") != nil }
    }

    /// The manifest, or nil when the gate has never scanned this workspace.
    func manifest() throws -> [String: FileStamp]? {
        try read { db in
            guard try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'manifest_version'") != nil else { return nil }
            var result: [String: FileStamp] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT path, ino, size, mtime_ns, ctime_ns, mode, type FROM manifest")
            while let row = try rows.next() { result[row[0]] = FileStamp(row: row) }
            return result
        }
    }

    /// The first scan: what the workspace holds now is the gate's starting point, not an edit.
    func startManifest(_ stamps: [String: FileStamp], version: Int64) throws {
        do {
            try queue.write { db in
                try db.execute(sql: "DELETE FROM manifest")
                try Self.apply(ManifestUpdate(stamps: stamps), db)
                try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('manifest_version', ?)", arguments: [version])
            }
        } catch {
            throw GateError.store("start manifest: \(error)")
        }
    }

    static func apply(_ update: ManifestUpdate, _ db: Database) throws {
        for path in update.cleared {
            try db.execute(sql: "DELETE FROM manifest WHERE path = ? OR (path >= ? AND path < ?)",
                           arguments: [path, path + "/", path + "0"])
        }
        let insert = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO manifest (path, ino, size, mtime_ns, ctime_ns, mode, type) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for (path, s) in update.stamps {
            try insert.execute(arguments: [path, Int64(bitPattern: s.inode), s.size, s.mtimeNS, s.ctimeNS, Int64(s.mode), s.type])
        }
    }
}
