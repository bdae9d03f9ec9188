import Foundation
import Glibc

/// Workspace paths someone changed by hand since the gate last looked.
public struct HumanEdits: Sendable, Equatable {
    /// The workspace version the edits were made on: the next commit by `human` follows it.
    public var since: Int64
    /// Each path changed (`write`: created or modified, with the hash of what it holds now)
    /// or removed (`delete`), sorted by path.
    public var changes: [GateStore.Change]

    public var isEmpty: Bool { changes.isEmpty }
}

extension Gate {
    /// The role hand edits are recorded under; an owner a policy may name.
    public static let humanRole = "human"

    /// Hand edits made since the gate last looked, without recording them. The first call on a
    /// workspace takes its starting point (nothing counts as edited then).
    public func scanHumanEdits() throws -> HumanEdits {
        try withLock {
            try recoverLocked()
            return try humanEditsLocked()?.edits ?? HumanEdits(since: try store.version(), changes: [])
        }
    }

    /// Records pending hand edits as a commit by `human`; returns its sequence number, nil when
    /// there were none. Every commit does this first; call it before a view snapshots the
    /// workspace, so the view's base version already counts the edits it sees.
    @discardableResult
    public func recordHumanEdits() throws -> Int64? {
        try withLock {
            try recoverLocked()
            return try recordHumanEditsLocked()
        }
    }

    @discardableResult
    func recordHumanEditsLocked() throws -> Int64? {
        guard let (edits, current) = try humanEditsLocked(), !edits.isEmpty else { return nil }
        let seq = edits.since + 1
        var update = ManifestUpdate(cleared: edits.changes.map(\.path))
        for c in edits.changes where c.action == "write" { update.stamps[c.path] = current[c.path] }
        try store.record(seq: seq, role: Self.humanRole, run: "", task: nil, base: edits.since, timeNS: nowNS(),
                         changes: edits.changes, manifest: update)
        return seq
    }

    /// The edits and the scan they came from; nil when this was the first scan.
    func humanEditsLocked() throws -> (edits: HumanEdits, current: [String: FileStamp])? {
        let version = try store.version()
        let current = try stamps(at: "")
        guard let manifest = try store.manifest() else {
            try store.startManifest(current, version: version)
            return nil
        }
        var changes: [GateStore.Change] = []
        for (path, stamp) in current where !(manifest[path]?.sameFile(as: stamp) ?? false) {
            changes.append(GateStore.Change(path: path, action: "write", hash: contentHash(path, stamp)))
        }
        for path in manifest.keys where current[path] == nil {
            changes.append(GateStore.Change(path: path, action: "delete", hash: nil))
        }
        changes.sort { $0.path < $1.path }
        return (HumanEdits(since: version, changes: changes), current)
    }

    /// What a journaled commit leaves at its paths, for the manifest: read after the renames,
    /// so the gate's own writes are never mistaken for hand edits.
    func manifestUpdate(for journal: GateJournal) throws -> ManifestUpdate {
        var update = ManifestUpdate()
        for e in journal.entries {
            if e.action == .container || (e.action == .directory && e.opaque != true) { continue }
            update.cleared.append(e.path)
            update.stamps.merge(try stamps(at: e.path)) { $1 }
        }
        return update
    }

    /// Stamps of every non-directory at or beneath `rel` ("" is the workspace, without `.git/`
    /// and `.warden/`). Never follows a symlink; a path that vanishes mid-walk is skipped.
    func stamps(at rel: String) throws -> [String: FileStamp] {
        var out: [String: FileStamp] = [:]
        var pending: [(dir: DirectoryFD, path: String)] = []
        if rel.isEmpty {
            pending.append((try root.directory(""), ""))
        } else {
            let (parentPath, name) = splitParent(rel)
            guard let parent = try existingDirectory(root, parentPath), let st = try parent.stat(name) else { return [:] }
            if st.st_mode & S_IFMT != S_IFDIR { return [rel: FileStamp(st)] }
            guard let dir = try existingDirectory(parent, name) else { return [:] }
            pending.append((dir, rel))
        }
        while let (dir, prefix) = pending.popLast() {
            for name in try dir.entries() {
                if prefix.isEmpty, GateValidator.reserved.contains(GatePath.collisionKey(name)) { continue }
                guard let st = try dir.stat(name) else { continue }
                let path = prefix.isEmpty ? name : prefix + "/" + name
                if st.st_mode & S_IFMT == S_IFDIR {
                    if let sub = try existingDirectory(dir, name) { pending.append((sub, path)) }
                } else {
                    out[path] = FileStamp(st)
                }
            }
        }
        return out
    }

    /// The directory at `rel` beneath `dir`, nil when it is gone or no longer a directory (a
    /// human moving things while the gate looks).
    private func existingDirectory(_ dir: DirectoryFD, _ rel: String) throws -> DirectoryFD? {
        do { return try dir.directory(rel) } catch let GateError.io(_, e) where [ENOENT, ENOTDIR, ELOOP].contains(e) {
            return nil
        }
    }

    /// SHA-256 of what a hand-edited path holds: the content of a file, the target of a link.
    private func contentHash(_ rel: String, _ stamp: FileStamp) -> String? {
        let (parentPath, name) = splitParent(rel)
        guard let parent = try? existingDirectory(root, parentPath) else { return nil }
        if stamp.type == "symlink" {
            var buf = [CChar](repeating: 0, count: 4097)
            let n = readlinkat(parent.fd, name, &buf, 4096)
            return n < 0 ? nil : sha256(Data(buf[..<n].map { UInt8(bitPattern: $0) }))
        }
        // A commit must not stall reading a huge file someone dropped in: past the default
        // per-file limit the edit is recorded without a hash.
        guard stamp.type == "file", stamp.size <= GateLimits().maxFileBytes else { return nil }
        let fd = openat(parent.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return try? hashContent(fd, what: rel)
    }
}
