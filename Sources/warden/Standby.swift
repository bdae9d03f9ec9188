import CSandbox
import Glibc
import WardenPolicy
import WardenSandbox

/// A standby is a launch made ahead: its view, cgroup, namespaces, mounts, Landlock ruleset
/// and supervisor are in place, and its child waits for a command. A `warden run` with the
/// same options (same key) hands it the command, its environment and its stdio over a unix
/// socket in the user's plan cache, and then only relays signals and waits for the exit
/// status. The run is otherwise the one `warden run` makes: same plan, same gate, same audit.
enum Standby {
    /// Everything that decides a launch besides the command and the environment's values:
    /// the plan cache's key, and the run options the runner acts on.
    static func key(planKey: String, timeout: Double?, json: Bool, audit: String?, view: ViewOptions) -> String {
        planKey + "\nstandby=timeout:\(timeout.map { String($0) } ?? "-") json:\(json) audit:\(audit ?? "-")"
            + " view:\(view.enabled) keep:\(view.keep) commit:\(view.commit.rawValue)"
    }

    static func socketPath(cache: PlanCache, key: String) -> String {
        cache.directory + "/standby-" + PlanCache.digest(key) + ".sock"
    }

    /// What a client sends: the request kind, the key, and for a run the working directory,
    /// the command and the environment, as counted NUL-terminated strings.
    struct Request {
        enum Kind: String { case run, stop }
        var kind: Kind
        var key: String
        var cwd = ""
        var argv: [String] = []
        var environment: [String] = []

        func encoded() -> [UInt8] {
            var out: [UInt8] = []
            func put(_ s: String) {
                out.append(contentsOf: s.utf8)
                out.append(0)
            }
            put(kind.rawValue); put(key); put(cwd)
            put(String(argv.count)); argv.forEach(put)
            put(String(environment.count)); environment.forEach(put)
            return out
        }
    }

    /// Replies, one byte each; `accepted` comes with the status (four bytes) at the run's end.
    static let accepted: UInt8 = UInt8(ascii: "A"), declined: UInt8 = UInt8(ascii: "D"), stopped: UInt8 = UInt8(ascii: "S")

    /// A stream socket (close-on-exec) and `path` as its address, for `op` (connect or
    /// bind): op's result, or -1 with errno ENAMETOOLONG for a path a unix socket cannot take.
    static func withSocket(_ path: String, _ op: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) -> (fd: Int32, rc: Int32) {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            errno = ENAMETOOLONG
            return (-1, -1)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return (-1, -1) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { op(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return (fd, rc)
    }

    /// Connects to the standby at `path`; nil when there is none (or it is gone).
    static func connect(_ path: String) -> Int32? {
        let (fd, rc) = withSocket(path) { Glibc.connect($0, $1, $2) }
        guard rc == 0 else {
            if fd >= 0 { close(fd) }
            return nil
        }
        return fd
    }

    /// Points 0, 1 and 2 at /dev/null: whoever's terminal or pipes they were is let go.
    static func releaseStdio() {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        for fd: Int32 in 0...2 { dup2(null, fd) }
        close(null)
    }

    /// Sends `request`, with `fds` (the caller's stdio) attached to its first bytes.
    static func send(_ fd: Int32, _ request: Request, fds: [Int32]) -> Bool {
        let body = request.encoded()
        var length = UInt64(body.count).littleEndian
        let sent = withUnsafeBytes(of: &length) { head in
            fds.withUnsafeBufferPointer { f in
                warden_send_with_fds(fd, head.baseAddress, head.count, f.baseAddress, Int32(f.count))
            }
        }
        return sent == 0 && writeAll(fd, body)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}

/// The `warden run` side.
enum StandbyClient {
    /// Runs the command through the standby for `key`, if one is waiting, and exits with the
    /// run's status; nil: no standby took it (none is there, it was made
    /// for another plan, or it found its view or plan out of date), so the caller launches
    /// the command itself.
    /// - Parameter environment: `NAME=value` entries, as in `environ`.
    static func run(cache: PlanCache, key: String, argv: [String], environment: [String], cwd: String) -> Int32? {
        let path = Standby.socketPath(cache: cache, key: key)
        guard access(path, F_OK) == 0, let fd = Standby.connect(path) else { return nil }
        defer { close(fd) }
        let request = Standby.Request(kind: .run, key: key, cwd: cwd, argv: argv, environment: environment)
        // Signals go to the standby from now on: it passes them to the agent, also those that
        // come while it is still taking the command. If this process dies, the standby sees
        // EOF and ends the run.
        var pid: pid_t = 0, uid: uid_t = 0
        if warden_peer(fd, &pid, &uid) == 0, pid > 0 { warden_forward_signals(pid) }
        // One byte says "declined"; an accepted run answers only at its end, the acceptance
        // with the status, so that this process sleeps through the run.
        guard Standby.send(fd, request, fds: [0, 1, 2]), let reply = readExactly(fd, 1),
              reply[0] == Standby.accepted else {
            warden_forward_signals(0)
            return nil
        }
        guard let status = readExactly(fd, 4) else {
            complain("the standby that ran the command ended without its exit status")
            return WardenExit.internalError
        }
        let code = status.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(as: Int32.self)) }
        // Nothing of this process needs tearing down (no store, no threads): _exit skips the
        // runtime's exit handlers, a third of a millisecond of a launch this short.
        LaunchTiming.mark("exit")
        LaunchTiming.report()
        fflush(stdout)
        fflush(stderr)
        _exit(code)
    }
}

// Outside the struct, so that its memberwise initializer stays.
extension Standby.Request {
    /// Nil for anything malformed.
    init?(decoding bytes: [UInt8]) {
        var fields: [String] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0 {
            fields.append(String(decoding: bytes[start..<i], as: UTF8.self))
            start = i + 1
        }
        guard start == bytes.count, fields.count >= 5, let kind = Kind(rawValue: fields[0]),
              let argc = Int(fields[3]), argc >= 0, fields.count >= 5 + argc,
              let envc = Int(fields[4 + argc]), envc >= 0, fields.count == 5 + argc + envc else { return nil }
        self.kind = kind
        key = fields[1]
        cwd = fields[2]
        argv = Array(fields[4..<(4 + argc)])
        environment = Array(fields[(5 + argc)...])
    }
}
