import Foundation

/// The write-ahead record of one commit, `.warden/gate/txn/SEQ/journal`. It is complete (and
/// fsynced) before the first workspace change, and every step it describes is idempotent, so a
/// gate killed at any point finishes the commit on its next start (`Gate.recover`). A
/// transaction directory without a journal never touched the workspace and is discarded.
struct GateJournal: Codable, Equatable {
    struct Entry: Codable, Equatable {
        enum Action: String, Codable {
            case write, symlink, delete
            /// A directory the changeset creates, re-modes or (opaque) replaces.
            case directory
            /// A directory copied up only as the parent of a change: created if missing.
            case container
        }

        var index: Int
        var path: String
        var action: Action
        var mode: UInt32?
        var opaque: Bool?
        /// SHA-256 of the staged content (write) or of the target text (symlink).
        var hash: String?
    }

    var seq: Int64
    var role: String
    var run: String
    var task: String?
    var base: Int64
    var timeNS: Int64
    var entries: [Entry]

    /// What the version index records: everything but containers and plain directories,
    /// which change nothing of their own (two agents adding files to one new directory do
    /// not conflict over it).
    var recordedChanges: [GateStore.Change] {
        entries.compactMap { e in
            switch e.action {
            case .container: return nil
            case .directory where e.opaque != true: return nil
            default: return GateStore.Change(path: e.path, action: e.action.rawValue, hash: e.hash)
            }
        }
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    static func decode(_ data: Data) throws -> GateJournal {
        try JSONDecoder().decode(GateJournal.self, from: data)
    }
}
