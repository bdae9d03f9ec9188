import CSandbox
import Glibc

/// A standby is a launch made ahead: its view, cgroup, namespaces, mounts, Landlock ruleset
/// and supervisor are in place, and its child waits for a command. A `warden run` with the
/// same options (same key) hands it the command, its environment and its stdio over a unix
/// socket in the user's plan cache, and then only relays signals and waits for the exit
/// status. The run is otherwise the one `warden run` makes: same plan, same gate, same audit.
public enum Standby {
    /// Everything that decides a launch besides the command and the environment's values:
    /// the plan cache's key, and the run options the runner acts on.
    public static func key(planKey: String, timeout: Double?, json: Bool, audit: String?,
                           view: Bool, keep: Bool, commit: String) -> String {
        planKey + "\nstandby=timeout:\(timeout.map { String($0) } ?? "-") json:\(json) audit:\(audit ?? "-")"
            + " view:\(view) keep:\(keep) commit:\(commit)"
    }

    /// How many standbys may wait for one key (`warden standby --count`), each in a slot of
    /// its own: a burst of runs gets one each.
    public static let slots = 8

    /// The socket of the standby in `slot`, in the plan cache's directory.
    public static func socketPath(directory: String, key: String, slot: Int = 0) -> String {
        directory + "/standby-" + PlanKey.digest(key) + (slot == 0 ? "" : "-\(slot)") + ".sock"
    }

    /// What a client sends: the request kind, the key, and for a run the working directory,
    /// the command and the environment, as counted NUL-terminated strings.
    public struct Request {
        /// `info`: what the standby waits for, as one JSON object (`warden standbys`).
        public enum Kind: String { case run, stop, info }
        public var kind: Kind
        public var key: String
        public var cwd = ""
        public var argv: [String] = []
        public var environment: [String] = []

        public init(kind: Kind, key: String, cwd: String = "", argv: [String] = [], environment: [String] = []) {
            self.kind = kind
            self.key = key
            self.cwd = cwd
            self.argv = argv
            self.environment = environment
        }

        public func encoded() -> [UInt8] {
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

    /// Replies, one byte each: `accepted` as the command goes to the agent, its status (four
    /// bytes) at the run's end; `info` with a length (four bytes) and that much JSON.
    public static let accepted: UInt8 = UInt8(ascii: "A"), declined: UInt8 = UInt8(ascii: "D"), stopped: UInt8 = UInt8(ascii: "S"),
                      info: UInt8 = UInt8(ascii: "I")

    /// A stream socket (close-on-exec) and `path` as its address, for `op` (connect or
    /// bind): op's result, or -1 with errno ENAMETOOLONG for a path a unix socket cannot take.
    public static func withSocket(_ path: String, _ op: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) -> (fd: Int32, rc: Int32) {
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
    public static func connect(_ path: String) -> Int32? {
        let (fd, rc) = withSocket(path) { Glibc.connect($0, $1, $2) }
        guard rc == 0 else {
            if fd >= 0 { close(fd) }
            return nil
        }
        return fd
    }

    /// Points 0, 1 and 2 at /dev/null: whoever's terminal or pipes they were is let go.
    public static func releaseStdio() {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        for fd: Int32 in 0...2 { dup2(null, fd) }
        close(null)
    }

    /// Sends `request`, with `fds` (the caller's stdio) attached to its first bytes.
    public static func send(_ fd: Int32, _ request: Request, fds: [Int32]) -> Bool {
        let body = request.encoded()
        var length = UInt64(body.count).littleEndian
        let sent = withUnsafeBytes(of: &length) { head in
            fds.withUnsafeBufferPointer { f in
                warden_send_with_fds(fd, head.baseAddress, head.count, f.baseAddress, Int32(f.count))
            }
        }
        return sent == 0 && writeAll(fd, body)
    }

    /// Writes all of `bytes`. On a socket, a peer that went away is an error (EPIPE), not a
    /// SIGPIPE that kills this process: a claimant that gave up, or a standby that closed
    /// with this connection still queued.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { p -> Int in
                let sent = Glibc.send(fd, p.baseAddress! + done, p.count - done, Int32(MSG_NOSIGNAL))
                return sent < 0 && errno == ENOTSOCK ? write(fd, p.baseAddress! + done, p.count - done) : sent
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}

extension Standby.Request {
    /// Nil for anything malformed.
    public init?(decoding bytes: [UInt8]) {
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

/// Exactly `count` bytes from `fd` (retrying short reads and EINTR); nil at EOF or an error first.
public func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
    var out = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
        let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return nil }
        done += n
    }
    return out
}
