import Foundation
import Glibc

/// Whether the workspace is still as snapshot `version` saw it, for a process that asks more
/// than once or late (a standby, at its claim): the exact answer (`snapshotIsCurrent`) costs
/// one stat per workspace directory, 4 ms at 2,000 directories, on the launch's path.
///
/// inotify answers the common case, nothing happened, with one read. Every directory in the
/// snapshot's stamps is watched for what moves its mtime or ctime (an entry created, deleted
/// or renamed; its own attributes; itself moved or deleted), and the mount table for a mount
/// over any of them. Any event at all, a full queue, a mount change or an error sends the
/// question the exact way: inotify only ever spares a check, it never decides one. Watches
/// are added before the first exact check, so a change that came before a watch is one that
/// check sees.
public final class SnapshotWatch: @unchecked Sendable {
    private let gate: Gate
    public let version: Int64
    private let inotify: Int32
    private let mounts: Int32

    /// What changes a directory's mtime or ctime, on the directory or its entries. IN_ATTRIB
    /// also comes for an entry's attributes (a hard link's count, a chmod), which only sends
    /// a check the exact way.
    static let mask: UInt32 = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

    /// Nil when the watch cannot be made (no inotify instance or watch left for this user, a
    /// directory unreadable) or the workspace is already not as the snapshot saw it: the
    /// caller asks `snapshotIsCurrent` each time instead.
    public init?(gate: Gate, version: Int64) {
        guard let snapshots = try? gate.gateDir.directory("snapshots"),
              let data = try? snapshots.read(Gate.stampsName(version), max: 1 << 28) else { return nil }
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard inotify >= 0 else { return nil }
        // Through the gate's descriptor, as the stamps are checked: not a path that may since
        // lead elsewhere.
        let root = "/proc/self/fd/\(gate.root.fd)/"
        let watched = DirectoryStamps.allMatch(data) { _, _, path in
            inotify_add_watch(inotify, root + String(cString: path), Self.mask) >= 0
        }
        let mounts = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        guard watched, mounts >= 0, gate.snapshotIsCurrent(version) else {
            close(inotify)
            if mounts >= 0 { close(mounts) }
            return nil
        }
        self.gate = gate
        self.version = version
        self.inotify = inotify
        self.mounts = mounts
    }

    deinit {
        close(inotify)
        close(mounts)
    }

    /// Events taken from the queue that no exact check has answered yet.
    private var unanswered = false
    /// A directory's ctime never goes back: once the exact check said no, it stays no.
    private var stale = false

    /// `gate.snapshotIsCurrent(version)`, without its stats when nothing happened since the
    /// last time this was asked. One caller at a time.
    public func isCurrent() -> Bool {
        if stale { return false }
        if quiet() { return gate.currentVersionHint() == version }
        // Answered before the check: what comes during it is in the queue for the next time.
        unanswered = false
        if gate.snapshotIsCurrent(version) { return true }
        stale = true
        return false
    }

    /// True when no event came since the last exact check.
    func quiet() -> Bool {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            if n > 0 { unanswered = true; continue }
            if n < 0 && errno == EINTR { continue }
            // EAGAIN: the queue is empty. Anything else: no telling what was missed.
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK { unanswered = true }
            break
        }
        // The mount table says POLLPRI once the namespace's mounts changed since it was last
        // polled (or opened); the poll itself starts the count again.
        var p = pollfd(fd: mounts, events: Int16(POLLPRI), revents: 0)
        if poll(&p, 1, 0) != 0 { unanswered = true }
        return !unanswered
    }
}
