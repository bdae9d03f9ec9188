import CSandbox
import Foundation
import Glibc
import WardenAudit
import WardenGate
import WardenPolicy
import WardenSandbox

/// The standby's side: listens on the key's socket, and hands the first acceptable `warden
/// run` to the waiting child (see `Standby`).
final class StandbyServer {
    enum Ending {
        /// Nobody came within the idle time, or `warden standby --stop` asked.
        case unused
        /// Its view or plan went out of date: a fresh standby should take its place.
        case stale
    }

    let key: String
    let path: String
    private let slot: Int
    private let summary: String
    private let compiled: CompiledLaunch
    /// What the standby's own plan was bound with: the workspace, timeout and run id a claim keeps.
    private let options: LaunchOptions
    /// What the plan depends on, read once: checked before each run.
    private let stamps: PlanStamps?
    private let idle: Double
    private let readyFD: Int32
    private var listener: Int32 = -1
    private(set) var lockFD: Int32 = -1
    /// The accepted run's connection; its status goes back on it.
    private var client: Int32 = -1
    private let done = ManagedAtomicFlag()
    private(set) var ending: Ending = .unused
    /// A run took it (its status went back, or goes back, on `client`).
    private(set) var claimed = false

    /// - Parameter summary: JSON members saying what the standby waits for (`info`).
    init(key: String, planKey: String, cache: PlanCache, slot: Int, compiled: CompiledLaunch, options: LaunchOptions,
         idle: Double, readyFD: Int32, summary: String) {
        self.slot = slot
        self.summary = summary
        self.key = key
        self.options = options
        stamps = cache.stamps(key: planKey)
        self.compiled = compiled
        self.idle = idle
        self.readyFD = readyFD
        path = Standby.socketPath(directory: cache.directory, key: key, slot: slot)
    }

    /// Whether a standby holds the lock for the socket at `path` (it may not listen yet).
    static func isBeingMade(_ path: String) -> Bool {
        let fd = open(path + ".lock", O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// Takes the key's lock and listens. Throws a message for the user.
    /// - Parameter inheritedLock: the lock, already held, handed down by the standby this one
    ///   succeeds, so that no moment passes without one (`--stop` waits for a held lock).
    func listen(inheritedLock: Int32) throws {
        if inheritedLock >= 0 {
            lockFD = inheritedLock
            _ = fcntl(lockFD, F_SETFD, FD_CLOEXEC)
        } else {
            try takeLock()
        }
        unlink(path)
        unlink(path + ".new")
        // Bound under another name until the sandbox is ready (`claim`), so that a run never
        // waits for a standby still being made: it finds none and launches itself. Only the
        // owner may connect; the cache directory is 0700 as well.
        let old = umask(0o177)
        let (fd, rc) = Standby.withSocket(path + ".new") { Glibc.bind($0, $1, $2) }
        let err = errno
        umask(old)
        listener = fd
        if fd < 0, err == ENAMETOOLONG {
            throw StandbyProblem("the socket path \(path) is too long for a unix socket; set WARDEN_CACHE to a shorter directory")
        }
        guard fd >= 0, rc == 0 else { throw StandbyProblem("cannot bind \(path): \(errnoName(err))") }
        guard Glibc.listen(listener, 8) == 0 else { throw StandbyProblem("cannot listen on \(path): \(errnoName(errno))") }
    }

    /// The last standby of a slot removes its lock file (`releaseLock`), so a lock taken on a
    /// file opened just before that is on a file nobody else will find: taken again, on the
    /// file the path names now.
    private func takeLock() throws {
        let lockPath = path + ".lock"
        while true {
            lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard lockFD >= 0 else { throw StandbyProblem("cannot open \(lockPath): \(errnoName(errno))") }
            while flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
                if errno == EINTR { continue }
                if errno == EWOULDBLOCK { throw StandbyProblem("a standby with these options is already waiting (\(path))") }
                throw StandbyProblem("cannot lock \(lockPath): \(errnoName(errno))")
            }
            var held = stat(), named = stat()
            if fstat(lockFD, &held) == 0, stat(lockPath, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev {
                return
            }
            close(lockFD)
        }
    }

    /// For a standby no successor follows: its lock file goes, while still held.
    func releaseLock() {
        guard lockFD >= 0 else { return }
        unlink(path + ".lock")
        close(lockFD)
        lockFD = -1
    }

    /// Called by the launcher once the sandbox waits for its command: tells whoever started
    /// this standby that it is ready, then serves requests until one is a run it accepts.
    func claim(child: pid_t, view: ViewSession?) -> LaunchPlan? {
        // Made before anyone can claim this standby, so that its exact check covers what came
        // before its watches; nil (no inotify to spare, or already stale): stats each time.
        let watch = view.flatMap { SnapshotWatch(gate: $0.gate, version: $0.view.record.base) }
        rename(path + ".new", path)
        if readyFD >= 0 {
            // Until now its errors went to whoever started it; from now on, nobody listens.
            Standby.releaseStdio()
            _ = Standby.writeAll(readyFD, Array("ready\n".utf8))
            close(readyFD)
        }
        let stamps = self.stamps
        let freshness = Freshness {
            (stamps?.hold ?? false)
                && (view.map { watch?.isCurrent() ?? $0.gate.snapshotIsCurrent($0.view.record.base) } ?? true)
        }
        // Signals end a waiting standby (its view goes); once claimed, they go to the agent.
        stopFD = warden_stop_signals()
        self.child = child
        defer { warden_forward_signals(child) }
        let deadline = monotonicSeconds() + idle
        while true {
            let left = deadline - monotonicSeconds()
            guard left > 0 else { return stop(.unused) }
            // Woken each second to see whether kernel audit was switched since the sandbox was
            // made: whether its agent's Landlock denials are logged was decided then.
            switch warden_wait_readable(listener, stopFD, Int64(min(left, 1) * 1000)) {
            case 0: break
            case 1:
                if auditChanged() { return stop(.stale) }
                continue
            default: return stop(.unused)
            }
            let conn = warden_accept(listener)
            if conn < 0 { continue }
            LaunchTiming.mark("standby accepted")
            // Whether the plan and the view still hold is asked now, on a thread of its own,
            // while this one checks the peer and reads its request.
            freshness.start()
            guard trusted(conn), let (request, fds) = receive(conn) else {
                _ = freshness.result()
                close(conn)
                continue
            }
            func decline(_ reply: UInt8 = Standby.declined) {
                fds.forEach { close($0) }
                _ = Standby.writeAll(conn, [reply])
                close(conn)
            }
            LaunchTiming.mark("request read")
            let fresh = freshness.result()
            if request.kind == .info {
                fds.forEach { close($0) }
                _ = Standby.writeAll(conn, info(current: fresh, left: deadline - monotonicSeconds()))
                close(conn)
                continue
            }
            guard request.key == key else { decline(); continue }
            if request.kind == .stop { decline(Standby.stopped); return stop(.unused) }
            // Out of date: the claimant launches the command itself, and a fresh standby follows.
            guard fresh else {
                decline()
                return stop(.stale)
            }
            LaunchTiming.mark("still current")
            guard fds.count == 3, let plan = bind(request) else { decline(); continue }
            LaunchTiming.mark("bound")
            close(listener)
            listener = -1
            unlink(path)
            // The point of no return, said before the command goes to the agent: a claimant
            // that reads it never launches the command elsewhere, whatever happens to this
            // process after (it would otherwise run twice); one that sees EOF first may.
            guard Standby.writeAll(conn, [Standby.accepted]) else {
                fds.forEach { close($0) }
                close(conn)
                continue
            }
            client = conn
            claimed = true
            pending = fds
            return plan
        }
    }

    /// The `info` reply: what this standby waits for (`summary`, from whoever made it), its
    /// process and slot, whether its plan and view are still current, and its idle time left.
    private func info(current: Bool, left: Double) -> [UInt8] {
        let json = "{\"pid\":\(getpid()),\"slot\":\(slot),\(summary),\"current\":\(current),\"idle_left_seconds\":\(Int(max(left, 0)))}"
        var length = UInt32(json.utf8.count).littleEndian
        return [Standby.info] + withUnsafeBytes(of: &length) { Array($0) } + Array(json.utf8)
    }

    /// Kernel audit's state when the sandbox was made (nil: not readable, as for non-root).
    private let auditEnabled: UInt32? = (try? KernelAudit.status().get())?.enabled

    private func auditChanged() -> Bool {
        guard let before = auditEnabled else { return false }
        return (try? KernelAudit.status().get())?.enabled != before
    }

    /// Where stop signals land while waiting (see warden_stop_signals), and the sandbox's child.
    private var stopFD: Int32 = -1
    private var child: pid_t = 0

    /// The claimant's stdio, until `accepted` makes it this process's own.
    private(set) var pending: [Int32] = []

    /// Once the agent has its command: this process's own messages go to the claimant's
    /// stderr from now on.
    func accepted() {
        for (i, fd) in pending.enumerated() {
            dup2(fd, Int32(i))
            close(fd)
        }
        pending = []
        // A signal the claimant passed on while the command was being taken is the agent's.
        var sig: UInt8 = 0
        while stopFD >= 0, read(stopFD, &sig, 1) == 1 { kill(child, Int32(sig)) }
        watch(client)
    }

    /// The run's exit status to its `warden run`, which exits with it.
    func finish(status: Int32) {
        guard client >= 0 else { return }
        // On the claimant's stderr, while it waits (WARDEN_TIMING in the standby's environment).
        LaunchTiming.mark("exit")
        LaunchTiming.report()
        // The caller's terminal or pipes are let go before the status: a caller reading the
        // run's output until EOF must not wait for this process to exit.
        Standby.releaseStdio()
        done.set()
        var s = status.littleEndian
        _ = withUnsafeBytes(of: &s) { Standby.writeAll(client, Array($0)) }
        close(client)
        client = -1
    }

    private func stop(_ why: Ending) -> LaunchPlan? {
        ending = why
        if listener >= 0 { close(listener); listener = -1 }
        unlink(path)
        unlink(path + ".new")
        return nil
    }

    /// The standby's plan bound to the request's command and environment, under the
    /// standby's own run id (its view and cgroup are named by it). Nil when the command does
    /// not bind (not found, not in the tools) or would start in another directory: the
    /// claimant launches it itself (and reports what is wrong).
    private func bind(_ request: Standby.Request) -> LaunchPlan? {
        guard !request.argv.isEmpty, request.cwd.hasPrefix("/") else { return nil }
        var environment: [String: String] = [:]
        for entry in request.environment {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            environment[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        let bound = LaunchOptions(workspace: options.workspace, command: request.argv, timeout: options.timeout,
                                  allowDegraded: options.allowDegraded, cwd: request.cwd,
                                  environment: environment, runID: options.runID)
        // The agent is already in its directory: a run from elsewhere launches itself.
        guard bound.agentDirectory == options.agentDirectory else { return nil }
        return try? LaunchPlan.bind(compiled, options: bound)
    }

    /// The peer must be this user, and outside every sandbox: an agent that reached the
    /// socket would otherwise have its command run under whatever role the standby was made for.
    private func trusted(_ conn: Int32) -> Bool {
        var pid: pid_t = 0, uid: uid_t = 0
        guard warden_peer(conn, &pid, &uid) == 0, pid > 0, uid == geteuid() || uid == getuid() else { return false }
        // The namespaces are read through /proc/PID; the peer's pidfd, still alive after, proves
        // that PID was the peer and not a process that reused its number.
        let pidfd = warden_peer_pidfd(conn)
        guard pidfd >= 0 else { return false }
        defer { close(pidfd) }
        for (ns, ours) in ownNamespaces {
            guard let theirs = namespace("/proc/\(pid)/ns/\(ns)"), theirs == ours else { return false }
        }
        return warden_pidfd_alive(pidfd) == 1
    }

    private lazy var ownNamespaces: [(String, String?)] = ["pid", "mnt", "user"].map { ($0, namespace("/proc/self/ns/\($0)")) }

    private func namespace(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 64)
        let n = readlink(path, &buf, buf.count - 1)
        return n > 0 ? String(cString: buf) : nil
    }

    private func receive(_ conn: Int32) -> (Standby.Request, [Int32])? {
        // A client that connects and says nothing must not hold the standby.
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var head = [UInt8](repeating: 0, count: 8)
        var fds: [Int32] = [-1, -1, -1]
        var nfds: Int32 = 0
        let n = head.withUnsafeMutableBytes { h in
            fds.withUnsafeMutableBufferPointer { warden_recv_with_fds(conn, h.baseAddress, 8, $0.baseAddress, 3, &nfds) }
        }
        let got = Array(fds.prefix(Int(max(nfds, 0))))
        let length = head.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n == 8, length <= 16 << 20, let body = readExactly(conn, Int(length)),
              let request = Standby.Request(decoding: body) else {
            got.forEach { close($0) }
            return nil
        }
        // The run itself may take any time: `watch` reads this socket until its claimant goes.
        tv = timeval(tv_sec: 0, tv_usec: 0)
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return (request, got)
    }

    /// A run whose `warden run` dies is ended like one whose runner dies: the standby exits,
    /// and the kernel kills the sandbox with it (its child's parent-death signal).
    private func watch(_ conn: Int32) {
        let done = self.done
        // Its own descriptor: `finish` closes the other while this read may still wait.
        let conn = fcntl(conn, F_DUPFD_CLOEXEC, 3)
        guard conn >= 0 else { return }
        startBackgroundThread {
            var byte: UInt8 = 0
            while true {
                let n = read(conn, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                if n > 0 { continue }
                break
            }
            if !done.isSet { _exit(WardenExit.internalError) }
        }
    }
}

/// A check a thread of its own makes each time it is started: the standby's freshness,
/// asked while the request is read.
final class Freshness: @unchecked Sendable {
    private let go = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
    private var value = false

    init(_ check: @escaping () -> Bool) {
        startBackgroundThread { [self] in
            while true {
                go.wait()
                value = check()
                done.signal()
            }
        }
    }

    func start() { go.signal() }

    /// Waits for the answer of the check `start` began.
    func result() -> Bool {
        done.wait()
        return value
    }
}

struct StandbyProblem: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A flag one thread sets and another reads.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
