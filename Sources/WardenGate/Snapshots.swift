import Foundation
import Glibc

/// Immutable copies of the workspace, one per version that a view starts from, under
/// `.warden/gate/snapshots/VERSION`. A snapshot is a tree of new directories holding hard
/// links to the workspace's files: it costs a link per file, never a copy of content, and it
/// stays as it was because the gate replaces files only by rename. Every view that starts at
/// the same version shares one snapshot.
///
/// A view holds its snapshot with a shared flock on `snapshots/VERSION.lock`; the collector
/// removes a snapshot only under the gate lock, when it is not the current version, no view
/// holds it and no kept view names it.
///
/// What a hard link cannot protect against: a person editing a workspace file in place (not
/// by rename) changes that inode in every snapshot holding it.
public final class SnapshotLease {
    public let version: Int64
    public let path: String
    private var lockFD: Int32

    init(version: Int64, path: String, lockFD: Int32) {
        self.version = version
        self.path = path
        self.lockFD = lockFD
    }

    /// Lets the collector remove the snapshot (if nothing else holds it).
    public func release() {
        if lockFD >= 0 { close(lockFD) }
        lockFD = -1
    }

    deinit { release() }
}

extension Gate {
    /// The workspace entries a snapshot leaves out: the gate's own state, and git's, which a
    /// view binds in live instead. An empty entry of the same type stays as a mount point.
    static let outsideSnapshots: Set<String> = [".warden", ".git"]

    /// A snapshot of the current version, made now if missing, held until `release`.
    public func snapshotLease() throws -> SnapshotLease {
        if let version = currentVersionHint(), workspaceUnchanged(since: version), let lease = try hold(version) { return lease }
        return try withLock {
            try recoverLocked()
            // Hand edits become a version first, so the snapshot is exactly some version.
            _ = try recordHumanEditsLocked()
            let version = try store.version()
            try makeSnapshotLocked(version)
            guard let lease = try hold(version) else {
                throw GateError.io(operation: "hold snapshot \(version)", errno: ENOENT)
            }
            return lease
        }
    }

    /// Makes the current version's snapshot if it is missing, so that the next view starts
    /// without paying for it; a committing run calls this once its commit is done.
    public func prepareSnapshot() throws {
        try withLock {
            try recoverLocked()
            try makeSnapshotLocked(try store.version())
        }
    }

    /// Whether `collectSnapshots` could find anything to remove: a directory listing, so that
    /// a run ending in a tidy workspace does not take the gate lock for nothing. One old
    /// snapshot is no work: it is held, named, or the spare.
    public func mayHaveStaleSnapshots() -> Bool {
        guard let dir = try? gateDir.directory("snapshots"), let names = try? dir.entries() else { return false }
        let current = currentVersionHint()
        var old = 0
        for name in names where !name.hasSuffix(".lock") && !name.hasSuffix(".dirs") {
            guard let version = Int64(name) else { return true }  // a build or trash left behind
            if version != current { old += 1 }
        }
        return old > 1
    }

    /// Removes snapshots no view needs any more, but the newest of them: the spare that the
    /// next commit patches into its snapshot (`recycleSnapshotLocked`) when the previous one
    /// is still held, as a waiting standby holds it. Returns the versions removed.
    @discardableResult
    public func collectSnapshots(keeping kept: Set<Int64> = []) throws -> [Int64] {
        try withLock {
            let dir = try gateDir.makeDirectories("snapshots")
            let current = try store.version()
            var removed: [Int64] = []
            var spared = false
            var versions: [Int64] = []
            for name in try dir.entries() {
                if name.hasPrefix(".build-") || name.hasPrefix(".trash-") {
                    try forceRemove(name, in: dir)
                    continue
                }
                if let version = Int64(name), "\(version)" == name { versions.append(version) }
            }
            for version in versions.sorted(by: >) where version != current && !kept.contains(version) {
                let taken = ifUnheld(version, in: dir) { () -> Bool in
                    if !spared {
                        spared = true
                        return false
                    }
                    return retire(version, as: ".trash-\(version)", in: dir)
                }
                guard taken == true else { continue }
                try forceRemove(".trash-\(version)", in: dir)
                removed.append(version)
            }
            return removed
        }
    }

    /// `body`'s result with snapshot `version`'s lock taken exclusively, so that no view holds
    /// it meanwhile; nil when a view holds it now.
    func ifUnheld<T>(_ version: Int64, in dir: DirectoryFD, _ body: () throws -> T) rethrows -> T? {
        let lock = openat(dir.fd, "\(version).lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard lock >= 0 else { return nil }
        defer { close(lock) }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { return nil }
        return try body()
    }

    /// Takes snapshot `version` (locked by `ifUnheld`) out of use under `name`. Renamed first:
    /// a view that takes the lock after this finds no snapshot and asks the gate for the
    /// current one.
    func retire(_ version: Int64, as name: String, in dir: DirectoryFD) -> Bool {
        guard renameat(dir.fd, "\(version)", dir.fd, name) == 0 else { return false }
        unlinkat(dir.fd, "\(version).lock", 0)
        unlinkat(dir.fd, Self.stampsName(version), 0)
        return true
    }

    /// The version the last commit wrote to `snapshots/current`; only a hint (a stale one
    /// starts a view at an older, still consistent version).
    func currentVersionHint() -> Int64? {
        guard let data = try? gateDir.read("current", max: 64) else { return nil }
        // By hand: Foundation's trimming bridges to NSString, whose first use costs a launch
        // a few hundred microseconds.
        let digits = data.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "\r") }
        return Int64(String(decoding: digits, as: UTF8.self))
    }

    func writeCurrentVersion(_ version: Int64) throws {
        try gateDir.writeAtomically("current", Data("\(version)\n".utf8))
    }

    private func hold(_ version: Int64) throws -> SnapshotLease? {
        let dir = try gateDir.makeDirectories("snapshots")
        let lock = openat(dir.fd, "\(version).lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw GateError.io(operation: "open \(dir.path)/\(version).lock", errno: errno) }
        while flock(lock, LOCK_SH) != 0 {
            guard errno == EINTR else {
                close(lock)
                throw GateError.io(operation: "lock \(dir.path)/\(version).lock", errno: errno)
            }
        }
        guard let st = try dir.stat("\(version)"), st.st_mode & S_IFMT == S_IFDIR else {
            close(lock)
            return nil
        }
        return SnapshotLease(version: version, path: dir.path + "/\(version)", lockFD: lock)
    }

    private func makeSnapshotLocked(_ version: Int64) throws {
        let dir = try gateDir.makeDirectories("snapshots")
        if try dir.exists("\(version)") {
            // Hand edits were recorded first, so the workspace is this version: whatever
            // changed the directories (a `git init`, say) was no edit the gate keeps.
            if !workspaceUnchanged(since: version) { try writeStamps(try stampDirectories(), version: version, in: dir) }
            try writeCurrentVersion(version)
            return
        }
        let temp = ".build-\(version)-\(getpid())"
        try forceRemove(temp, in: dir)
        let stamps = DirectoryStamps()
        if try recycleSnapshotLocked(before: version, as: temp, in: dir) {
            try SnapshotPatcher(stamps: stamps).patch(from: root, to: try dir.directory(temp), rootStat: try root.stat("."))
        } else {
            guard mkdirat(dir.fd, temp, 0o755) == 0 else { throw GateError.io(operation: "mkdir \(dir.path)/\(temp)", errno: errno) }
            try SnapshotCopier(stamps: stamps).copy(from: root, to: try dir.directory(temp), rootStat: try root.stat("."))
        }
        try writeStamps(stamps, version: version, in: dir)
        // A snapshot is complete or absent: readers only ever see the renamed result.
        guard renameat(dir.fd, temp, dir.fd, "\(version)") == 0 else {
            throw GateError.io(operation: "rename snapshot \(version)", errno: errno)
        }
        try writeCurrentVersion(version)
    }
}

/// The walk that makes a snapshot: directories are created, everything else is hard-linked.
/// Regular files that cannot be linked (another filesystem mounted inside the workspace, or a
/// file this user may not link) are copied instead.
struct SnapshotCopier {
    /// Where this directory is in the workspace: "" for its root.
    var prefix = ""
    let stamps: DirectoryStamps
    private let privileged = geteuid() == 0
    private var root: Bool { prefix.isEmpty }

    init(stamps: DirectoryStamps, prefix: String = "") {
        self.stamps = stamps
        self.prefix = prefix
    }

    /// `rootStat` is the source directory's, taken before it is read.
    func copy(from source: DirectoryFD, to target: DirectoryFD, rootStat: stat?) throws {
        if let st = rootStat { stamps.add(prefix, st) }
        guard let dir = fdopendir(dup(source.fd)) else { throw GateError.io(operation: "opendir \(source.path)", errno: errno) }
        defer { closedir(dir) }
        rewinddir(dir)
        while let entry = readdir(dir) {
            let type = entry.pointee.d_type
            try withUnsafePointer(to: entry.pointee.d_name) { namePointer in
                try namePointer.withMemoryRebound(to: CChar.self, capacity: 256) { name in
                    if strcmp(name, ".") == 0 || strcmp(name, "..") == 0 { return }
                    try copyEntry(name, type: type, from: source, to: target)
                }
            }
        }
        if let st = rootStat { try copyMetadata(st, of: target) }
    }

    func copyEntry(_ name: UnsafePointer<CChar>, type: UInt8, from source: DirectoryFD, to target: DirectoryFD) throws {
        var isDir = type == UInt8(DT_DIR)
        if type == UInt8(DT_UNKNOWN) {
            var st = stat()
            guard fstatat(source.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw GateError.io(operation: "stat \(source.path)/\(String(cString: name))", errno: errno)
            }
            isDir = st.st_mode & S_IFMT == S_IFDIR
        }
        if root, Gate.outsideSnapshots.contains(String(cString: name)) {
            try mountPoint(name, isDir: isDir, in: target)
            return
        }
        if isDir {
            guard mkdirat(target.fd, name, 0o700) == 0 else {
                throw GateError.io(operation: "mkdir \(target.path)/\(String(cString: name))", errno: errno)
            }
            let rel = String(cString: name)
            let from = try source.directory(rel), to = try target.directory(rel)
            try SnapshotCopier(stamps: stamps, prefix: root ? rel : prefix + "/" + rel)
                .copy(from: from, to: to, rootStat: try source.stat(rel))
            return
        }
        if linkat(source.fd, name, target.fd, name, 0) == 0 { return }
        let err = errno
        guard err == EXDEV || err == EPERM else {
            throw GateError.io(operation: "link \(source.path)/\(String(cString: name))", errno: err)
        }
        try copyFile(name, from: source, to: target, linkError: err)
    }

    /// `.warden` and `.git` are bound in live by the view: the snapshot only needs something
    /// of the same type to mount them on.
    func mountPoint(_ name: UnsafePointer<CChar>, isDir: Bool, in target: DirectoryFD) throws {
        let rc = isDir ? mkdirat(target.fd, name, 0o755)
            : openat(target.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard rc >= 0 else { throw GateError.io(operation: "create \(target.path)/\(String(cString: name))", errno: errno) }
        if !isDir { close(rc) }
    }

    private func copyFile(_ name: UnsafePointer<CChar>, from source: DirectoryFD, to target: DirectoryFD, linkError: Int32) throws {
        let display = "\(source.path)/\(String(cString: name))"
        let input = openat(source.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard input >= 0 else { throw GateError.io(operation: "link or copy \(display)", errno: linkError) }
        defer { close(input) }
        var st = stat()
        guard fstat(input, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw GateError.io(operation: "link \(display)", errno: linkError)
        }
        let out = openat(target.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(st.st_mode & 0o7777))
        guard out >= 0 else { throw GateError.io(operation: "copy \(display)", errno: errno) }
        defer { close(out) }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(input, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw GateError.io(operation: "copy \(display)", errno: errno) }
            if n == 0 { break }
            try buf.withUnsafeBytes { try writeAll(out, UnsafeRawBufferPointer(rebasing: $0[..<n]), what: display) }
        }
        try copyMetadata(st, of: out)
    }

    func copyMetadata(_ st: stat, of target: DirectoryFD) throws {
        try copyMetadata(st, of: target.fd)
    }

    private func copyMetadata(_ st: stat, of fd: Int32) throws {
        if privileged { _ = fchown(fd, st.st_uid, st.st_gid) }
        guard fchmod(fd, mode_t(st.st_mode & 0o7777)) == 0 else { throw GateError.io(operation: "chmod snapshot entry", errno: errno) }
    }
}
