import CSandbox
import Glibc
import WardenPolicy

/// One operation the supervisor refused, as the audit records it.
public struct Denial: Sendable {
    public var timeNS: Int64
    public var pid: Int32
    /// exec, write, syscall or network.
    public var kind: String
    /// A path, or a syscall with its decoded arguments.
    public var target: String
    public var errno: Int32
    /// The profile entry that decided, e.g. "profiles/code.yaml:7:8 tools".
    public var rule: String
    public var message: String
    /// Where the profile would change to allow it (file, line), and which list.
    public var ruleFile: String?
    public var ruleLine: Int?
    public var list: String
    public var set: String?
}

/// Watches the seccomp listener of a run: every intercepted call is decided with the same
/// policy as the kernel's rules, refusals are answered with the kernel's errno and reported.
///
/// Why a decision here is only ever a record, never the barrier: the supervisor reads a path
/// out of the agent's memory, and another thread of the agent can rewrite that memory after
/// the read and before the kernel acts on the call (TOCTOU). So an allowed call is answered
/// CONTINUE, and the kernel then checks it again on what it really resolves: Landlock for
/// paths and exec, the read-only mounts for chmod and chown. A refusal here can only make
/// the agent see EACCES for a call that the kernel would also refuse; it cannot let through
/// anything the kernel would refuse. Where the supervisor cannot tell (a symlink, a path it
/// cannot read, a magic link in /proc), it lets the kernel decide and records nothing.
public final class Supervisor: @unchecked Sendable {
    let listener: Int32
    let policy: SupervisorPolicy
    let report: @Sendable (Denial) -> Void
    private var thread: pthread_t?
    private let stopPipe: (read: Int32, write: Int32)
    private let lock = NSLockLite()
    private var _intercepted = 0
    private var _denied = 0

    public init(listener: Int32, policy: SupervisorPolicy, report: @escaping @Sendable (Denial) -> Void) throws {
        self.listener = listener
        self.policy = policy
        self.report = report
        var fds: [Int32] = [0, 0]
        let rc = warden_pipe(&fds)
        guard rc == 0 else { throw SandboxError.setup(stage: "pipe2", errno: -rc) }
        stopPipe = (fds[0], fds[1])
        _ = warden_notify_sync_wakeup(listener)
    }

    /// Calls seen and refused so far.
    public var counts: (intercepted: Int, denied: Int) { lock.with { (_intercepted, _denied) } }

    public func start() {
        thread = startThread { [self] in loop() }
    }

    /// After the agent's process tree is gone: answers what is still pending, then stops.
    public func stop() {
        var one: UInt8 = 1
        _ = write(stopPipe.write, &one, 1)
        if let t = thread { pthread_join(t, nil) }
        thread = nil
        close(stopPipe.read); close(stopPipe.write)
        close(listener)
    }

    private func loop() {
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)]
        var note = warden_notification()
        while true {
            fds[0].revents = 0; fds[1].revents = 0
            let n = poll(&fds, 2, -1)
            if n < 0 { if errno == EINTR { continue }; return }
            if fds[0].revents & Int16(POLLIN) != 0 {
                let rc = warden_notify_recv(listener, &note)
                // ENOENT: the caller died between the wake-up and the receive.
                if rc == 0 { handle(note) }
                continue
            }
            // No filtered process is left (POLLHUP), or the runner is done.
            if fds[0].revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 || fds[1].revents != 0 { return }
        }
    }

    private func handle(_ n: warden_notification) {
        lock.with { _intercepted += 1 }
        let decision: Decision
        if let entry = policy.intercept(n.nr) {
            decision = decide(entry, n)
        } else {
            decision = .allow
        }
        switch decision {
        case .allow:
            _ = warden_notify_respond(listener, n.id, 0, 1)
        case let .deny(err, denial):
            // Only record what the caller really attempted: if it died or the notification
            // was answered meanwhile, the memory we read may belong to no one.
            guard warden_notify_id_valid(listener, n.id) == 0 else { return }
            _ = warden_notify_respond(listener, n.id, err, 0)
            lock.with { _denied += 1 }
            report(denial)
        }
    }

    enum Decision {
        case allow
        case deny(Int32, Denial)
    }

    private func decide(_ e: Intercept, _ n: warden_notification) -> Decision {
        let pid = pid_t(n.pid)
        switch e.kind {
        case .deny:
            let kind = e.name == "socket" ? "network" : "syscall"
            let target = "\(e.name)(\(SyscallArgs.describe(e.name, n.args)))"
            if kind == "network" {
                // Refused because the profile says network: off; that line is what to change.
                let loc = policy.networkLocation
                return .deny(e.errno, denial(n, kind: kind, target: target, errno: e.errno,
                                             rule: "\(loc.map { "\($0.file):\($0.line)" } ?? policy.profileFile) network",
                                             message: e.why, file: loc?.file ?? policy.profileFile, line: loc?.line,
                                             list: "network"))
            }
            let rule = e.location.map { "\($0.file):\($0.line) syscalls \(e.set ?? e.name)" } ?? "built-in: \(e.why)"
            return .deny(e.errno, denial(n, kind: kind, target: target, errno: e.errno, rule: rule,
                                          message: e.why, file: e.location?.file, line: e.location?.line,
                                          list: e.location == nil ? "built-in" : "syscalls", set: e.set))
        case .exec:
            return decideExec(e, n, pid)
        case .open:
            var flags: UInt64
            var pathArg = 1, dirArg: Int? = 0
            switch e.name {
            case "open": flags = n.args.1; pathArg = 0; dirArg = nil
            case "creat": flags = 0x41; pathArg = 0; dirArg = nil
            case "openat2":
                var how: UInt64 = 0
                guard warden_read_memory(pid, n.args.2, &how, 8) == 8 else { return .allow }
                flags = how
            default: flags = n.args.2
            }
            guard flags & 0x3 != 0 || flags & 0x240 != 0 else { return .allow }
            return decideWrite(e, n, pid, paths: [(pathArg, dirArg)])
        case .pathChange:
            return decideWrite(e, n, pid, paths: PathArgs.of(e.name))
        case .connect:
            return decideConnect(e, n, pid)
        }
    }

    private func denial(_ n: warden_notification, kind: String, target: String, errno: Int32, rule: String,
                        message: String, file: String?, line: Int?, list: String, set: String? = nil) -> Denial {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Denial(timeNS: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec), pid: Int32(n.pid), kind: kind,
                      target: target, errno: errno, rule: rule, message: message, ruleFile: file, ruleLine: line,
                      list: list, set: set)
    }

    // MARK: exec

    private func decideExec(_ e: Intercept, _ n: warden_notification, _ pid: pid_t) -> Decision {
        let at = e.name == "execveat"
        if at && n.args.4 & 0x1000 != 0 {
            return .deny(EPERM, denial(n, kind: "exec", target: "execveat(fd \(Int32(truncatingIfNeeded: n.args.0)), AT_EMPTY_PATH)",
                                       errno: EPERM, rule: "built-in: exec of an open fd bypasses the exec allowlist",
                                       message: "exec of an open file descriptor is refused", file: nil, line: nil,
                                       list: "built-in"))
        }
        guard let path = AgentView.absolutePath(pid: pid, pathAddress: at ? n.args.1 : n.args.0,
                                                dirfd: at ? Int32(truncatingIfNeeded: n.args.0) : nil) else { return .allow }
        // What the agent names, seen through its own root: /tmp there is its scratch.
        var st = stat()
        guard stat("/proc/\(pid)/root" + path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return .allow }
        if policy.toolIdentities.contains(FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))) { return .allow }
        if policy.toolDirectories.contains(where: { FilePaths.isInside(path, $0) }) { return .allow }
        let last = policy.toolsLocation
        return .deny(EACCES, denial(n, kind: "exec", target: path, errno: EACCES,
                                    rule: "\(last.map { "\($0.file):\($0.line)" } ?? policy.profileFile) tools",
                                    message: "\(path) is not one of the role's tools",
                                    file: last?.file ?? policy.profileFile, line: last?.line, list: "tools"))
    }

    // MARK: writes

    private func decideWrite(_ e: Intercept, _ n: warden_notification, _ pid: pid_t,
                             paths: [(path: Int, dirfd: Int?)]) -> Decision {
        let args = [n.args.0, n.args.1, n.args.2, n.args.3, n.args.4, n.args.5]
        for (pathIndex, dirIndex) in paths {
            let dirfd = dirIndex.map { Int32(truncatingIfNeeded: args[$0]) }
            guard let path = AgentView.absolutePath(pid: pid, pathAddress: args[pathIndex], dirfd: dirfd) else { continue }
            if policy.writable(path) { continue }
            // Lexically outside every zone; confirm on the agent's real tree before refusing.
            guard AgentView.confirmedOutside(pid: pid, path: path, roots: policy.writeRootIDs(pid: pid)) else { continue }
            let zone = policy.writeLocation
            return .deny(EACCES, denial(n, kind: "write", target: path, errno: EACCES,
                                        rule: "\(zone.map { "\($0.file):\($0.line)" } ?? policy.profileFile) write",
                                        message: "\(e.name): \(path) is outside the role's write zones",
                                        file: zone?.file ?? policy.profileFile, line: zone?.line, list: "write"))
        }
        return .allow
    }

    // MARK: network

    private func decideConnect(_ e: Intercept, _ n: warden_notification, _ pid: pid_t) -> Decision {
        var addr = [UInt8](repeating: 0, count: 110)
        let len = min(Int(n.args.2), addr.count)
        guard len >= 2, warden_read_memory(pid, n.args.1, &addr, len) == len else { return .allow }
        let family = Int32(addr[0]) | Int32(addr[1]) << 8
        let loc = policy.networkLocation
        switch family {
        case AF_UNIX:
            // Abstract sockets outside the sandbox are out of scope (Landlock ABI 6 refuses them).
            guard len > 2, addr[2] == 0, policy.scoped else { return .allow }
            let name = String(decoding: addr[3..<len].prefix { $0 != 0 }, as: UTF8.self)
            return .deny(EPERM, denial(n, kind: "network", target: "unix:@\(name)", errno: EPERM,
                                       rule: "built-in: abstract unix sockets are scoped to the sandbox",
                                       message: "connect to an abstract unix socket outside the sandbox", file: nil,
                                       line: nil, list: "built-in"))
        case AF_INET, AF_INET6:
            guard len >= 4 else { return .allow }
            let port = UInt16(addr[2]) << 8 | UInt16(addr[3])
            if let allowed = policy.tcpPorts, allowed.contains(port) { return .allow }
            let host = family == AF_INET && len >= 8 ? "\(addr[4]).\(addr[5]).\(addr[6]).\(addr[7])" : "[ipv6]"
            return .deny(EACCES, denial(n, kind: "network", target: "tcp:\(host):\(port)", errno: EACCES,
                                        rule: "\(loc.map { "\($0.file):\($0.line)" } ?? policy.profileFile) network",
                                        message: policy.tcpPorts == nil || policy.tcpPorts!.isEmpty
                                            ? "network is off for this role" : "port \(port) is not in network.allow",
                                        file: loc?.file ?? policy.profileFile, line: loc?.line, list: "network"))
        default:
            return .allow
        }
    }
}

/// Which argument holds a path, and which its directory fd, for each path-changing call.
enum PathArgs {
    static func of(_ name: String) -> [(path: Int, dirfd: Int?)] {
        switch name {
        case "unlink", "rmdir", "mkdir", "chmod", "chown", "lchown", "truncate", "mknod": return [(0, nil)]
        case "unlinkat", "mkdirat", "fchmodat", "fchmodat2", "fchownat", "mknodat": return [(1, 0)]
        case "rename", "link": return [(0, nil), (1, nil)]
        case "renameat", "renameat2", "linkat": return [(1, 0), (3, 2)]
        case "symlink": return [(1, nil)]
        case "symlinkat": return [(2, 1)]
        default: return []
        }
    }
}

/// A tiny mutex: the supervisor must not pull in Foundation's locks on the launch path.
final class NSLockLite: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func with<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return body()
    }
}
