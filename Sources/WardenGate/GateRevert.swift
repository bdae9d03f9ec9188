import Foundation
import Glibc
import WardenPolicy

/// `gate revert` could not even build the inverse of a commit; nothing was touched.
public struct RevertRefusal: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension Gate {
    /// Applies the inverse of commit `seq` as a new commit, through the same validation and
    /// crash-safe apply as any other: what `seq` replaced comes back from
    /// `.warden/gate/history/SEQ/`, what it created is deleted. Based on version `seq`, so a
    /// path a later commit (or a hand edit) changed again is a conflict and nothing is applied.
    @discardableResult
    public func revert(_ seq: Int64, validator: GateValidator, run: String) throws -> Int64 {
        try withInverse(of: seq) { try commit($0, validator: validator, run: run, task: "revert of commit \(seq)") }
    }

    /// The changeset that undoes commit `seq`, based on version `seq`; its files live in a
    /// scratch directory under `.warden/gate/revert/` for as long as `body` runs.
    func withInverse<T>(of seq: Int64, _ body: (Changeset) throws -> T) throws -> T {
        guard let commit = try store.commit(seq) else { throw RevertRefusal(message: "no commit \(seq) in this workspace") }
        // Hand edits have no journal: they changed the workspace in place, before the gate saw them.
        guard let history = try? gateDir.directory("history/\(seq)"),
              let data = try history.read("journal"), let journal = try? GateJournal.decode(data) else {
            throw RevertRefusal(message: commit.role == Self.humanRole
                ? "commit \(seq) records edits made by hand; the gate kept no copy of what they replaced"
                : "commit \(seq) kept no journal of what it replaced (made by an older warden)")
        }
        let scratchRoot = try gateDir.makeDirectories("revert")
        let name = "\(seq)-\(getpid())-\(nowNS())"
        let scratch = try scratchRoot.makeDirectories(name)
        defer { try? scratchRoot.removeTree(name) }
        var inverse = InverseBuilder(history: history, scratch: scratch)
        for e in journal.entries { try inverse.add(e) }
        // A tree brought back whole (an opaque directory) already undoes every step beneath it.
        let trees = inverse.entries.compactMap { e -> String? in
            if case .directory(_, opaque: true) = e.action { return e.path }
            return nil
        }
        let entries = inverse.entries
            .filter { e in e.action != .delete || !trees.contains { e.path.hasPrefix($0 + "/") } }
            .sorted { $0.rawPath.lexicographicallyPrecedes($1.rawPath) }
        return try body(Changeset(base: seq, entries: entries))
    }
}

extension GateValidator {
    /// What a person may commit through the gate (a revert by `human`): anything but `.git/` and
    /// `.warden/`, whoever owns it, within the workspace's limits.
    public static func human(limits: GateLimits = GateLimits()) -> GateValidator {
        GateValidator(role: Gate.humanRole,
                      zones: [WriteZone(pattern: "**", path: "", recursive: true,
                                        location: SourceLocation(file: "(gate)", line: 0, column: 0))],
                      limits: limits)
    }
}

/// Turns each journaled step of a commit into the entries that undo it. Old files are copied
/// out of history into a private scratch directory: the history copy may share its inode with
/// a view's snapshot, and the gate stages nothing that is a hard link.
private struct InverseBuilder {
    let history: DirectoryFD
    let scratch: DirectoryFD
    var entries: [Changeset.Entry] = []
    var copies = 0

    init(history: DirectoryFD, scratch: DirectoryFD) {
        self.history = history
        self.scratch = scratch
    }

    mutating func add(_ e: GateJournal.Entry) throws {
        let old = "old-\(e.index)"
        let kept = try history.exists(old)
        switch e.action {
        case .container:
            return
        case .directory where e.opaque != true:
            // A created or re-moded directory: the entries beneath it undo its content; the
            // directory itself stays.
            return
        case .write, .symlink, .directory:
            if kept { try restore(old, in: history, as: e.path, replacing: true) } else { entries.append(.init(e.path, .delete)) }
        case .delete:
            if kept { try restore(old, in: history, as: e.path, replacing: true) }
        }
    }

    /// Entries that bring back what `name` in `dir` held at `path`: a file, a link, or a whole
    /// tree (an opaque directory, so nothing of the current tree survives beneath it).
    private mutating func restore(_ name: String, in dir: DirectoryFD, as path: String, replacing: Bool) throws {
        guard let st = try dir.stat(name) else { return }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            let copy = "f\(copies)"
            copies += 1
            let size = try copyFile(name, from: dir, to: copy, in: scratch)
            entries.append(.init(path, .write(source: scratch.path + "/" + copy, mode: UInt32(st.st_mode) & 0o777, size: size)))
        case S_IFLNK:
            var buf = [CChar](repeating: 0, count: 4097)
            let n = readlinkat(dir.fd, name, &buf, 4096)
            guard n >= 0 else { throw GateError.io(operation: "readlink \(dir.path)/\(name)", errno: errno) }
            entries.append(.init(path, .symlink(target: String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))))
        case S_IFDIR:
            entries.append(.init(path, .directory(mode: UInt32(st.st_mode) & 0o777, opaque: replacing)))
            let sub = try dir.directory(name)
            for child in try sub.entries() { try restore(child, in: sub, as: path + "/" + child, replacing: false) }
        default:
            throw RevertRefusal(message: "\(path): what the commit replaced is not a file, link or directory")
        }
    }
}

/// Copies `name` in `from` to a new `to` in `dir` without following links; returns its size.
private func copyFile(_ name: String, from: DirectoryFD, to: String, in dir: DirectoryFD) throws -> Int64 {
    let input = openat(from.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    guard input >= 0 else { throw GateError.io(operation: "open \(from.path)/\(name)", errno: errno) }
    defer { close(input) }
    let out = openat(dir.fd, to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard out >= 0 else { throw GateError.io(operation: "create \(dir.path)/\(to)", errno: errno) }
    defer { close(out) }
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    var total: Int64 = 0
    while true {
        let n = read(input, &buf, buf.count)
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw GateError.io(operation: "read \(from.path)/\(name)", errno: errno) }
        if n == 0 { return total }
        try buf.withUnsafeBytes { try writeAll(out, UnsafeRawBufferPointer(rebasing: $0[..<n]), what: to) }
        total += Int64(n)
    }
}
