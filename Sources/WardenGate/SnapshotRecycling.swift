import Foundation
import Glibc

// A snapshot is a link per workspace file, and after a commit the previous one is usually
// garbage: making the new one from scratch and removing the old cost a link and an unlink
// per file (about 1 s for a commit in a workspace of 20,000 files). The old snapshot is
// instead renamed to the new one's build directory and patched: what still is the same
// inode stays, the rest is replaced, and the result is the tree a fresh walk would make.

extension Gate {
    /// Takes the newest snapshot older than `version` that no view holds (its lock) or names
    /// (a kept view's base) out of use, as the collector does, renamed to `temp`. False when
    /// there is none.
    func recycleSnapshotLocked(before version: Int64, as temp: String, in dir: DirectoryFD) throws -> Bool {
        let older = try dir.entries().compactMap { Int64($0) }.filter { $0 < version }.sorted(by: >)
        guard !older.isEmpty else { return false }
        let named = Set(View.all(gate: self).map(\.base))
        for candidate in older where !named.contains(candidate) {
            if ifUnheld(candidate, in: dir, { retire(candidate, as: temp, in: dir) }) == true { return true }
        }
        return false
    }
}

/// Makes a tree an earlier `SnapshotCopier` walk made into the tree a walk would make now:
/// an entry that is still the workspace's inode (a hard link to it) stays, a directory is
/// patched in turn, anything else is replaced through the copier, and what the workspace no
/// longer has goes. Directories are stamped as the copier stamps them: stat'ed before read.
struct SnapshotPatcher {
    let copier: SnapshotCopier
    private var prefix: String { copier.prefix }

    init(stamps: DirectoryStamps, prefix: String = "") {
        copier = SnapshotCopier(stamps: stamps, prefix: prefix)
    }

    func patch(from source: DirectoryFD, to target: DirectoryFD, rootStat: stat?) throws {
        if let st = rootStat { copier.stamps.add(prefix, st) }
        // Writable while patched, whatever the workspace's mode; set back at the end.
        _ = fchmod(target.fd, 0o700)
        // Names as the kernel gives them (NUL-terminated), not as Swift strings: a file name
        // that is not UTF-8 must be found again, as the copier's raw links find it.
        var gone = Set(try target.rawEntries())
        for (name, type) in try source.typedRawEntries() {
            let had = gone.remove(name) != nil
            try name.withUnsafeBufferPointer { buffer in
                let raw = buffer.baseAddress!
                let now = try source.stat(raw: raw)
                let isDir = type == UInt8(DT_DIR) || (type == UInt8(DT_UNKNOWN) && now.map { $0.st_mode & S_IFMT == S_IFDIR } == true)
                let old = had ? try target.stat(raw: raw) : nil
                let oldIsDir = old.map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
                let kept: Bool
                if prefix.isEmpty, Gate.outsideSnapshots.contains(String(cString: raw)) {
                    kept = old != nil && oldIsDir == isDir  // a mount point: only its type matters
                } else if old != nil, isDir, oldIsDir {
                    // Directories by name, as the copier opens them.
                    let rel = String(cString: raw)
                    try SnapshotPatcher(stamps: copier.stamps, prefix: prefix.isEmpty ? rel : prefix + "/" + rel)
                        .patch(from: try source.directory(rel), to: try target.directory(rel), rootStat: now)
                    kept = true
                } else if let old, let now, !isDir, !oldIsDir {
                    kept = now.st_dev == old.st_dev && now.st_ino == old.st_ino
                } else {
                    kept = false
                }
                if kept { return }
                if old != nil { try forceRemove(raw: raw, in: target) }
                try copier.copyEntry(raw, type: type, from: source, to: target)
            }
        }
        for name in gone {
            try name.withUnsafeBufferPointer { try forceRemove(raw: $0.baseAddress!, in: target) }
        }
        if let st = rootStat { try copier.copyMetadata(st, of: target) }
    }
}
