import CSandbox
import Glibc
import WardenPolicy

/// What an agent may ask its runner over the control channel (fd `WARDEN_CONTROL_FD`, 3).
public struct ControlRequest: Sendable, Equatable {
    /// `submit [TASK]`: commit what the view holds now, with TASK as the commit's task.
    public var task: String?
}

/// Answers one request with one reply line (no newline), e.g. `committed 7`, `nothing`,
/// `refused: ...`, `error: ...`. Runs on the runner's waiting thread; the agent keeps
/// running meanwhile unless the handler freezes it.
public typealias ControlHandler = (ControlRequest, SandboxFreezer) -> String

/// Stops and continues every process of a running sandbox but its init. The sandbox's PID 1
/// (spawn.c) sends SIGSTOP with kill(-1), which reaches every process of the namespace
/// whatever its session or process group, and a fork in flight either fails or its child is
/// stopped too; the runner then waits until /proc shows every thread of every descendant of
/// init stopped (or a zombie), twice in a row, so nothing of the agent can run, and write,
/// until `thaw`. (SIGCONT at `thaw` also continues a process the agent had stopped itself.) A process that cannot be stopped within the timeout makes `freeze` fail (and
/// continue the others): the caller must not validate a live tree.
public final class SandboxFreezer {
    let initPID: pid_t
    let socket: Int32
    public private(set) var frozen = false

    init(initPID: pid_t, socket: Int32) {
        self.initPID = initPID
        self.socket = socket
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public func freeze(timeout: Double = 5) throws {
        // Whatever init managed before a failure is undone.
        frozen = true
        do { try ask("S") } catch { thaw(); throw error }
        let deadline = monotonicSeconds() + timeout
        var clean = 0
        while true {
            guard let running = runningTasks() else {
                thaw()
                throw Failure(description: "cannot list the sandbox's processes in /proc")
            }
            // Twice in a row: a scan that raced with a process's exit is not trusted alone.
            if running.isEmpty { clean += 1 } else { clean = 0 }
            if clean == 2 { return }
            if monotonicSeconds() > deadline {
                thaw()
                throw Failure(description: "thread(s) \(running.prefix(5).map(String.init).joined(separator: ", ")) did not stop within \(Int(timeout))s")
            }
            if clean == 0 { usleep(1000) }
        }
    }

    public func thaw() {
        guard frozen else { return }
        frozen = false
        try? ask("C")
    }

    private func ask(_ request: Character) throws {
        var byte = request.asciiValue!
        guard send(socket, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 else {
            throw Failure(description: "the sandbox's init does not answer (\(String(cString: strerror(errno))))")
        }
        var p = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        var answer: UInt8 = 0
        guard poll(&p, 1, 5000) == 1, recv(socket, &answer, 1, 0) == 1 else {
            throw Failure(description: "the sandbox's init does not answer")
        }
        guard answer == 0 else {
            throw Failure(description: "kill(-1, \(request == "S" ? "SIGSTOP" : "SIGCONT")) in the sandbox: \(String(cString: strerror(Int32(answer))))")
        }
    }

    /// Threads of the sandbox's processes (init excepted) that are not stopped; nil when
    /// /proc cannot be read. The sandbox's processes are init's descendants: an orphan is
    /// reparented to init (or to a subreaper beneath it) before its parent leaves /proc.
    /// (The PID namespace link of init cannot serve: init is not dumpable, and an
    /// unprivileged runner may not read it.)
    func runningTasks() -> [Int32]? {
        guard let proc = opendir("/proc") else { return nil }
        var parents: [Int32: Int32] = [:]
        while let entry = readdir(proc) {
            guard let pid = Int32(entryName(entry)), let fields = statFields("/proc/\(pid)/stat") else { continue }
            parents[pid] = fields.ppid
        }
        closedir(proc)
        guard parents[initPID] != nil else { return nil }
        var members: Set<Int32> = []
        for pid in parents.keys where pid != initPID {
            var chain: [Int32] = []
            var p = pid
            var inside = false
            while let parent = parents[p], chain.count < 4096 {
                chain.append(p)
                if parent == initPID || members.contains(parent) { inside = true; break }
                if parent <= 1 { break }
                p = parent
            }
            if inside { members.formUnion(chain) }
        }
        var running: [Int32] = []
        for pid in members {
            guard let tasks = opendir("/proc/\(pid)/task") else { continue }
            while let t = readdir(tasks) {
                guard let tid = Int32(entryName(t)), let fields = statFields("/proc/\(pid)/task/\(tid)/stat") else { continue }
                if !"TtZX".contains(fields.state) { running.append(tid) }
            }
            closedir(tasks)
        }
        return running
    }

    private func entryName(_ entry: UnsafeMutablePointer<dirent>) -> String {
        withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// The state letter and parent pid of a /proc stat line ("PID (COMM) S PPID ...").
    private func statFields(_ path: String) -> (state: Character, ppid: Int32)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 512)
        let n = read(fd, &buf, buf.count)
        guard n > 0, let close = buf[..<n].lastIndex(of: UInt8(ascii: ")")), close + 2 < n else { return nil }
        let rest = String(decoding: buf[(close + 2)..<n], as: UTF8.self).split(separator: " ")
        guard rest.count >= 2, let state = rest[0].first, let ppid = Int32(rest[1]) else { return nil }
        return (state, ppid)
    }
}

/// The runner's end of an agent's control channel. The agent is hostile: a request is one
/// line of at most `maxLine` bytes, anything else gets an `error:` reply, replies are sent
/// without blocking (an agent that does not read them loses the channel), and EOF or an
/// error only closes the channel; the run goes on.
final class ControlServer {
    static let maxLine = 4096
    private(set) var fd: Int32
    private var line: [UInt8] = []
    private var discarding = false
    private let handler: ControlHandler
    private let freezer: SandboxFreezer

    init(fd: Int32, freezer: SandboxFreezer, handler: @escaping ControlHandler) {
        self.fd = fd
        self.freezer = freezer
        self.handler = handler
    }

    /// Reads what the agent sent and answers each complete line in turn.
    func service() {
        guard fd >= 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let n = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return }
        guard n > 0 else { close(); return }
        for byte in chunk[..<n] {
            guard fd >= 0 else { return }
            if byte == UInt8(ascii: "\n") {
                if discarding { discarding = false; continue }
                let request = line
                line = []
                reply(answer(request))
            } else if !discarding {
                if line.count >= Self.maxLine {
                    line = []
                    discarding = true
                    reply("error: a request is one line of at most \(Self.maxLine) bytes")
                } else {
                    line.append(byte)
                }
            }
        }
    }

    private func answer(_ bytes: [UInt8]) -> String {
        var bytes = bytes
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else { return "error: the request is not UTF-8" }
        let usage = "error: unknown request; send `submit` or `submit TASK`, one line"
        if text == "submit" { return handler(ControlRequest(task: nil), freezer) }
        guard text.hasPrefix("submit ") else { return usage }
        let task = String(text.dropFirst("submit ".count))
        guard !task.isEmpty, !task.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            return "error: the task must be non-empty text without control characters"
        }
        return handler(ControlRequest(task: task), freezer)
    }

    private func reply(_ text: String) {
        let flat = text.map { $0 == "\n" || $0 == "\r" ? " " : $0 }
        let bytes = Array(String(flat).utf8) + [UInt8(ascii: "\n")]
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        // A reply that does not fit: the agent is not reading them.
        if sent != bytes.count { close() }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The runner's own executable, runnable inside a sandbox that has a control channel so that
/// `warden submit` works there (`$WARDEN_EXE submit`): execute on the file and its ELF
/// interpreter, read on the directories of the shared libraries it has loaded (from
/// /proc/self/maps) that the system read rules do not cover. None when the executable lies
/// in the workspace (mounted noexec in the sandbox).
struct SelfTool {
    let path: String
    let rules: [PathRule]

    static func current(rights r: LandlockRights, workspace: String) -> SelfTool? {
        guard let path = FilePaths.realPath("/proc/self/exe"), !FilePaths.isInside(path, workspace) else { return nil }
        var rules = [PathRule(path: path, access: r.execute, why: "warden itself, for warden submit")]
        if let interp = SystemPaths.elfInterpreter(of: path) {
            rules.append(PathRule(path: interp, access: r.execute, why: "ELF interpreter of \(path)"))
        }
        var dirs: [String] = []
        for dir in mappedLibraryDirectories() {
            let system = SystemPaths.readTrees.contains { dir == $0 || dir.hasPrefix($0 + "/") }
            if !system && !dirs.contains(dir) && !FilePaths.isInside(dir, workspace) { dirs.append(dir) }
        }
        for dir in dirs { rules.append(PathRule(path: dir, access: r.read, why: "libraries of \(path)")) }
        return SelfTool(path: path, rules: rules)
    }
}

/// The directory of each shared object in /proc/self/maps (the path field of a line that
/// names a `.so`), repeats included. Scanned as bytes: a static runner maps none, and
/// splitting the whole file into strings cost each launch a tenth of a millisecond.
func mappedLibraryDirectories() -> [String] {
    guard let maps = readBytes("/proc/self/maps") else { return [] }
    let slash = UInt8(ascii: "/"), dot = UInt8(ascii: "."), s = UInt8(ascii: "s"), o = UInt8(ascii: "o")
    var dirs: [String] = []
    var start = 0
    while start < maps.count {
        var end = start
        while end < maps.count, maps[end] != UInt8(ascii: "\n") { end += 1 }
        var first = -1, last = -1, shared = false
        for i in start..<end {
            if maps[i] == slash { if first < 0 { first = i }; last = i }
            if first >= 0, i + 2 < end, maps[i] == dot, maps[i + 1] == s, maps[i + 2] == o { shared = true }
        }
        if shared, last > first { dirs.append(String(decoding: maps[first..<last], as: UTF8.self)) }
        start = end + 1
    }
    return dirs
}
