// Every failure of the audit store as one enum, with a message that names the file and the
// operation, because the person reading it is usually looking at a run that already ended.

import GRDB
import Glibc

public enum AuditError: Error, Equatable, CustomStringConvertible {
    /// Reading a store that does not exist (the CLI turns this into exit 66).
    case storeMissing(path: String)
    /// The directory for a new store could not be created.
    case cannotCreateDirectory(path: String, errno: Int32)
    /// The file is not a warden audit store, or one written by a newer warden.
    case incompatibleStore(path: String, reason: String)
    /// SQLite failed. `code` is SQLite's extended result code.
    case database(path: String, operation: String, code: Int32, message: String)
    /// A row holds a value this version cannot decode (say, a kind added by a newer warden).
    case corruptRow(table: String, id: Int64, reason: String)
    /// `finishRun` named a run that is not in the store.
    case unknownRun(path: String, id: Int64)
    /// A `--since` value that is neither a duration nor a supported time.
    case badTime(input: String, reason: String)

    public var description: String {
        switch self {
        case .storeMissing(let path):
            return "no audit store at \(path)"
        case .cannotCreateDirectory(let path, let e):
            return "cannot create audit directory \(path): \(String(cString: strerror(e)))"
        case .incompatibleStore(let path, let reason):
            return "\(path) is not a usable audit store: \(reason)"
        case .database(let path, let operation, let code, let message):
            return "audit store \(path): \(operation): \(message) (SQLite code \(code))"
        case .corruptRow(let table, let id, let reason):
            return "audit store: \(table) row \(id): \(reason)"
        case .unknownRun(let path, let id):
            return "audit store \(path): no run \(id)"
        case .badTime(let input, let reason):
            return "'\(input)': \(reason)"
        }
    }

    /// True for the errors that mean "the disk is full": callers report those differently
    /// ("audit incomplete: disk full") from corruption.
    public var isDiskFull: Bool {
        if case .database(_, _, let code, _) = self {
            return ResultCode(rawValue: code).primaryResultCode == .SQLITE_FULL
        }
        return false
    }

    /// True when another process held the write lock longer than the busy timeout.
    public var isBusy: Bool {
        if case .database(_, _, let code, _) = self {
            let primary = ResultCode(rawValue: code).primaryResultCode
            return primary == .SQLITE_BUSY || primary == .SQLITE_LOCKED
        }
        return false
    }

    /// Wraps whatever GRDB threw so the message says which store and which operation.
    static func wrap(_ error: Error, path: String, operation: String) -> AuditError {
        if let audit = error as? AuditError { return audit }
        if let db = error as? DatabaseError {
            return .database(path: path, operation: operation, code: db.extendedResultCode.rawValue,
                             message: db.message ?? "\(db.resultCode)")
        }
        return .database(path: path, operation: operation, code: ResultCode.SQLITE_ERROR.rawValue,
                         message: "\(error)")
    }
}
