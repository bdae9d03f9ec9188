import CFileOps
import Crypto
import Foundation
import Glibc

/// The single writer of a workspace. Every change reaches the workspace through `commit`,
/// which holds an exclusive lock across processes, validates the whole changeset, stages its
/// content privately, writes a journal, then applies it by renames only: a file is never
/// written in place, so anything that still holds an older version (a view's lower layer)
/// keeps seeing it unchanged.
///
/// Layout under the workspace: `.warden/gate.db` (the version index), `.warden/gate/lock`,
/// `.warden/gate/txn/SEQ/` (a commit in flight: staged files and its journal),
/// `.warden/gate/history/SEQ/` (what each commit replaced, for `gate revert`),
/// `.warden/gate/snapshots/SEQ/` (what views start from) and `.warden/views/RUN/` (each run's
/// upper layer).
public final class Gate {
    public let workspace: String
    let root: DirectoryFD
    let gateDir: DirectoryFD
    private var opened: GateStore?
    /// Set while this gate holds the lock, so that nested `withLock` calls (the store opened
    /// first under the lock) do not wait on themselves: flock does not nest across open files.
    private var holdsLock = false

    /// Called with the name of each step of a commit as it completes (`staged N`, `synced`,
    /// `journaled`, `kept N`, `applied N`, `dirs synced`, `history kept`, `recorded`, `done`). Only the
    /// crash tests set it (warden-gate-stress kills itself at a named step); nil otherwise.
    nonisolated(unsafe) public static var stepHook: ((String) -> Void)?

    public init(workspace: String) throws {
        self.workspace = workspace
        root = try DirectoryFD(path: workspace)
        gateDir = try root.makeDirectories(".warden/gate")
        _ = try gateDir.makeDirectories("txn")
        _ = try gateDir.makeDirectories("history")
        // A new workspace's starting point is taken now (see `store`): edits made after the
        // first gate saw it are hand edits.
        if try !root.exists(".warden/gate.db") { _ = try store }
    }

    /// The version index, opened on first use: a view that starts from an existing snapshot
    /// and ends with nothing to submit never reads it, which keeps SQLite off the launch path.
    public var store: GateStore {
        get throws {
            if let opened { return opened }
            let store = try GateStore(path: workspace + "/.warden/gate.db", serialized: { body in try withLock(body) })
            // The first gate to see the workspace takes its starting point: what is there now
            // is not a hand edit, whatever comes later is.
            if try !store.hasManifest() {
                try withLock {
                    if try !store.hasManifest() { try store.startManifest(try stamps(at: ""), version: try store.version()) }
                }
            }
            opened = store
            return store
        }
    }

    /// Removes what `View.discard` set aside. Several runners may empty it at once: whatever
    /// one of them removed first, the others skip.
    public func emptyTrash() {
        guard let (trash, names) = trashEntries() else { return }
        for name in names { try? forceRemove(name, in: trash) }
    }

    /// How many discarded views wait in the trash.
    public func trashedViews() -> Int {
        trashEntries()?.names.count ?? 0
    }

    private func trashEntries() -> (dir: DirectoryFD, names: [String])? {
        guard let trash = try? root.directory(".warden/views/" + View.trash), let names = try? trash.entries() else { return nil }
        return (trash, names)
    }

    /// The workspace version a new view starts from.
    public func version() throws -> Int64 { try store.version() }

    /// Validates and applies `changeset` as one commit; returns its sequence number. Throws
    /// `GateRejection` (nothing touched) when any entry fails a check.
    @discardableResult
    public func commit(_ changeset: Changeset, validator: GateValidator, run: String, task: String? = nil) throws -> Int64 {
        try withLock { try commitLocked(changeset, validator: validator, run: run, task: task).seq }
    }

    /// The commit, under the lock; also the number of the commit that recorded hand edits
    /// found first, if any.
    func commitLocked(_ changeset: Changeset, validator: GateValidator, run: String,
                      task: String?) throws -> (seq: Int64, handEdits: Int64?) {
        try recoverLocked()
        // Hand edits become their own commit first, so a stale change to one conflicts.
        let handEdits = try recordHumanEditsLocked()
        var findings = try validator.validate(changeset, index: store)
        findings += try preflight(changeset)
        if !findings.isEmpty { throw GateRejection(findings: findings, handEdits: handEdits) }
        let seq = try store.version() + 1
        // recoverLocked left txn/ empty: no stale directory can hold this number.
        let txnRoot = try gateDir.directory("txn")
        let txn = try txnRoot.makeDirectories("\(seq)")
        var entries: [GateJournal.Entry] = []
        var stagingFindings: [GateFinding] = []
        for (i, e) in changeset.entries.enumerated() {
            switch e.action {
            case let .write(source, mode, _):
                do {
                    let hash = try stage(source, into: txn, as: "new-\(i)", mode: mode, limit: validator.limits.maxFileBytes)
                    entries.append(.init(index: i, path: e.path, action: .write, mode: mode, hash: hash))
                    Gate.stepHook?("staged \(i)")
                } catch let finding as StagingProblem {
                    stagingFindings.append(GateFinding(e.path, finding.rule, finding.message))
                }
            case let .symlink(target):
                guard symlinkat(target, txn.fd, "new-\(i)") == 0 else { throw GateError.io(operation: "stage link \(e.path)", errno: errno) }
                entries.append(.init(index: i, path: e.path, action: .symlink, hash: sha256(Data(target.utf8))))
            case .delete:
                entries.append(.init(index: i, path: e.path, action: .delete))
            case let .directory(mode, opaque):
                let container = validator.isContainer(e)
                entries.append(.init(index: i, path: e.path, action: container ? .container : .directory,
                                     mode: mode & 0o777, opaque: opaque))
            }
        }
        if !stagingFindings.isEmpty {
            try txnRoot.removeTree("\(seq)")
            throw GateRejection(findings: stagingFindings, handEdits: handEdits)
        }
        // One syncfs for every staged file: per-file fsyncs cost a 1,000-file commit over
        // half a second here, and the journal below must not be durable before they are.
        let synced = warden_syncfs(txn.fd)
        guard synced == 0 else { throw GateError.io(operation: "syncfs \(txn.path)", errno: -synced) }
        Gate.stepHook?("synced")
        let journal = GateJournal(seq: seq, role: validator.role, run: run, task: task, base: changeset.base,
                                  timeNS: nowNS(), entries: entries)
        try txn.writeAtomically("journal", try journal.encoded())
        try txnRoot.sync()
        Gate.stepHook?("journaled")
        try finish(journal)
        return (seq, handEdits)
    }

    /// Finishes any commit a killed gate left half-done. Run by every commit under the lock;
    /// call it at start-up to settle the workspace before reading it.
    public func recover() throws {
        try withLock { try recoverLocked() }
    }

    func recoverLocked() throws {
        let txnRoot = try gateDir.directory("txn")
        for name in try txnRoot.entries().sorted(by: { (Int64($0) ?? 0) < (Int64($1) ?? 0) }) {
            let txn = try txnRoot.directory(name)
            // No journal: staging never finished and the workspace was never touched.
            guard let data = try txn.read("journal"), let journal = try? GateJournal.decode(data) else {
                try txnRoot.removeTree(name)
                continue
            }
            try finish(journal)
        }
    }

    /// Applies a journaled commit (again, after a crash: every step checks whether it is
    /// already done), records it and drops its transaction directory.
    func finish(_ journal: GateJournal) throws {
        let txnRoot = try gateDir.directory("txn")
        let txn = try txnRoot.directory("\(journal.seq)")
        let history = try gateDir.makeDirectories("history/\(journal.seq)")
        var touched: [String: DirectoryFD] = [:]
        for e in journal.entries {
            let (parentPath, name) = splitParent(e.path)
            let parent = try touched[parentPath] ?? root.directory(parentPath)
            touched[parentPath] = parent
            try apply(e, name: name, in: parent, txn: txn, history: history)
            Gate.stepHook?("applied \(e.index)")
        }
        for dir in touched.values { try dir.sync() }
        Gate.stepHook?("dirs synced")
        // The journal says which old-N held which path: `revert` needs it after txn/ is gone.
        if try !history.exists("journal") {
            guard linkat(txn.fd, "journal", history.fd, "journal", 0) == 0 else {
                throw GateError.io(operation: "keep journal of commit \(journal.seq)", errno: errno)
            }
        }
        try history.sync()
        Gate.stepHook?("history kept")
        try store.record(seq: journal.seq, role: journal.role, run: journal.run, task: journal.task, base: journal.base,
                         timeNS: journal.timeNS, changes: journal.recordedChanges, manifest: try manifestUpdate(for: journal))
        // Only a hint for views (Snapshots.swift): a failure here leaves an older version to start from.
        Gate.stepHook?("recorded")
        try? writeCurrentVersion(journal.seq)
        try txnRoot.removeTree("\(journal.seq)")
        try txnRoot.sync()
        Gate.stepHook?("done")
    }

    private func apply(_ e: GateJournal.Entry, name: String, in parent: DirectoryFD, txn: DirectoryFD,
                       history: DirectoryFD) throws {
        let old = "old-\(e.index)", new = "new-\(e.index)"
        let current = try parent.stat(name)
        let isDir = current.map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
        // Keeps what the path held, once: a directory moves (its tree goes with it), anything
        // else is hard-linked, so the path is never missing while the new version lands.
        func keepOld(move: Bool) throws {
            guard current != nil, try !history.exists(old) else { return }
            let rc = move ? renameat(parent.fd, name, history.fd, old) : linkat(parent.fd, name, history.fd, old, 0)
            guard rc == 0 else { throw GateError.io(operation: "keep \(e.path)", errno: errno) }
        }
        switch e.action {
        case .write, .symlink:
            guard try txn.exists(new) else { return } // already renamed into place
            try keepOld(move: isDir)
            Gate.stepHook?("kept \(e.index)")
            guard renameat(txn.fd, new, parent.fd, name) == 0 else { throw GateError.io(operation: "rename into \(e.path)", errno: errno) }
        case .delete:
            if current != nil, try !history.exists(old) { try keepOld(move: true) }
        case .directory, .container:
            let replace = e.opaque == true || (current != nil && !isDir)
            if replace, current != nil, try !history.exists(old) { try keepOld(move: true) }
            let mode = e.action == .container ? 0o755 : mode_t(e.mode ?? 0o755)
            if try !parent.exists(name) {
                guard mkdirat(parent.fd, name, mode) == 0 else { throw GateError.io(operation: "mkdir \(e.path)", errno: errno) }
            }
            if e.action == .directory, let m = e.mode {
                guard fchmodat(parent.fd, name, mode_t(m), 0) == 0 else { throw GateError.io(operation: "chmod \(e.path)", errno: errno) }
            }
        }
    }

    /// Every parent an entry needs is a real directory of the workspace (no symlink, no file)
    /// or is created by the changeset itself: found now, not halfway through the apply.
    func preflight(_ changeset: Changeset) throws -> [GateFinding] {
        let directories = Set(changeset.entries.compactMap { e -> String? in
            if case .directory = e.action { return e.path }
            return nil
        })
        var checked: [String: Bool] = [:]
        var findings: [GateFinding] = []
        for e in changeset.entries {
            var prefix = ""
            for component in splitParent(e.path).0.split(separator: "/") {
                prefix += (prefix.isEmpty ? "" : "/") + component
                if directories.contains(prefix) { continue }
                let ok = try checked[prefix] ?? { (try? root.directory(prefix)) != nil }()
                checked[prefix] = ok
                if !ok {
                    findings.append(GateFinding(e.path, .path, "\(prefix) is not a directory of the workspace (a file, a symlink, or missing)"))
                    break
                }
            }
        }
        return findings
    }

    func withLock<T>(_ body: () throws -> T) throws -> T {
        if holdsLock { return try body() }
        let fd = openat(gateDir.fd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GateError.io(operation: "open \(gateDir.path)/lock", errno: errno) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw GateError.io(operation: "lock \(gateDir.path)/lock", errno: errno) }
        }
        holdsLock = true
        defer { holdsLock = false }
        return try body()
    }
}

struct StagingProblem: Error {
    var rule: GateFinding.Rule
    var message: String
}

/// Copies the agent's file into the transaction: this copy is what gets validated and applied,
/// so the agent changing its file afterwards (a held fd, an mmap) changes nothing. Not fsynced
/// here: the commit syncs the filesystem once for all staged files.
func stage(_ source: String, into txn: DirectoryFD, as name: String, mode: UInt32, limit: Int64) throws -> String {
    let input = open(source, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    guard input >= 0 else { throw StagingProblem(rule: .type, message: "cannot be opened as a file (\(String(cString: strerror(errno))))") }
    defer { close(input) }
    var st = stat()
    guard fstat(input, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw StagingProblem(rule: .type, message: "is no longer a regular file") }
    if st.st_nlink > 1 { throw StagingProblem(rule: .type, message: "became a hard link") }
    if UInt32(st.st_mode) & 0o6000 != 0 { throw StagingProblem(rule: .type, message: "gained setuid/setgid bits") }
    let out = openat(txn.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard out >= 0 else { throw GateError.io(operation: "stage \(name)", errno: errno) }
    defer { close(out) }
    var hasher = SHA256()
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    var total: Int64 = 0
    while true {
        let n = read(input, &buf, buf.count)
        if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
        guard n >= 0 else { throw GateError.io(operation: "read \(source)", errno: errno) }
        if n == 0 { break }
        total += Int64(n)
        if total > limit { throw StagingProblem(rule: .limit, message: "grew past \(limit) bytes while being staged") }
        hasher.update(data: buf[..<n])
        try buf.withUnsafeBytes { try writeAll(out, UnsafeRawBufferPointer(rebasing: $0[..<n]), what: name) }
    }
    guard fchmod(out, mode_t(mode & 0o777)) == 0 else { throw GateError.io(operation: "stage \(name)", errno: errno) }
    return hexDigest(hasher.finalize())
}

/// The SHA-256 of a regular file's content (not following a symlink).
func hashFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { throw GateError.io(operation: "open \(path)", errno: errno) }
    defer { close(fd) }
    return try hashContent(fd, what: path)
}

/// The SHA-256 of what `fd` holds, which must be a regular file: a FIFO swapped in would
/// answer EAGAIN for ever.
func hashContent(_ fd: Int32, what: String) throws -> String {
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw GateError.io(operation: "hash \(what) (not a regular file)", errno: EINVAL) }
    var hasher = SHA256()
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = read(fd, &buf, buf.count)
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw GateError.io(operation: "read \(what)", errno: errno) }
        if n == 0 { break }
        hasher.update(data: buf[..<n])
    }
    return hexDigest(hasher.finalize())
}

func sha256(_ data: Data) -> String {
    hexDigest(SHA256.hash(data: data))
}

func nowNS() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// Lowercase hex of a digest. `String(format:)` per byte was an eighth of a 1,000-file commit.
func hexDigest<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for byte in digest {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
