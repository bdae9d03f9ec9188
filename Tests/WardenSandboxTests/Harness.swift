// Spawning real processes for the escape tests: warden and warden-probe, as root and as
// nobody, with timeouts, custom environments, extra descriptors and ptys.

import Foundation
import Glibc
import Testing

/// Who starts warden (or, for a positive control, the probe itself).
enum Identity: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case root, nobody, current

    var testDescription: String { rawValue }

    /// Root runs every case twice, the second time as nobody; anyone else runs as themselves.
    static var all: [Identity] { getuid() == 0 ? [.root, .nobody] : [.current] }

    static let nobodyID: uid_t = 65534

    /// The argv prefix that drops to this identity.
    var prefix: [String] {
        switch self {
        case .nobody:
            return ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        case .root, .current:
            return []
        }
    }

    var home: String {
        switch self {
        case .nobody: return "/nonexistent"
        case .root: return "/root"
        case .current: return ProcessInfo.processInfo.environment["HOME"] ?? "/nonexistent"
        }
    }
}

/// How a process ended, plus everything it printed.
struct Outcome: CustomStringConvertible {
    var status: Int32  // exit code, or 128+N for signal N (shell convention)
    var signal: Int32?  // set when killed by a signal
    var stdout: String
    var stderr: String
    var elapsed: Double
    var timedOut: Bool

    var firstLine: String { stdout.split(separator: "\n").first.map(String.init) ?? "" }
    var description: String {
        "status \(status)\(signal.map { " (signal \($0))" } ?? "")\(timedOut ? " TIMED OUT" : "")"
            + " stdout=\(stdout.debugDescription) stderr=\(stderr.debugDescription)"
    }
}

enum Stdin {
    case null
    case data(String)
    case fd(Int32)  // dup'ed onto 0 in the child (e.g. a pty slave)
}

/// Locates the built binaries and copies them to a 0755 directory under /var/tmp that
/// nobody can reach (the build tree under /work may not be, and /tmp is scratch inside).
enum Binaries {
    static let buildDir: String = {
        // #filePath → Tests/WardenSandboxTests/Harness.swift → package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path,
            root + "/.build/debug",
        ]
        for dir in candidates where ["warden", "warden-core", "warden-probe"].allSatisfy({ access(dir + "/" + $0, X_OK) == 0 }) {
            return dir
        }
        return root + "/.build/debug"
    }()

    static let dir: String = {
        let d = makeTempDir(prefix: "warden-escape-bin")
        for name in ["warden", "warden-core", "warden-probe"] {
            let src = buildDir + "/" + name
            let dst = d + "/" + name
            try? FileManager.default.removeItem(atPath: dst)
            copyExecutable(src, to: dst)
        }
        atexit { try? FileManager.default.removeItem(atPath: Binaries.dir) }
        return d
    }()

    /// Directories outside the system library dirs that the probe's shared libraries come
    /// from. SwiftPM links even this C executable against libswiftCore (RUNPATH
    /// /opt/swift/...), which only the tools' ELF interpreter grant does not cover; the
    /// probe profiles add these as read rules so the probe can start at all.
    static let libraryDirs: [String] = {
        let child = spawn(["/usr/bin/ldd", buildDir + "/warden-probe"], env: ["PATH": "/usr/bin:/bin"], cwd: "/")
        let out = child.wait().stdout
        var dirs: [String] = []
        for line in out.split(separator: "\n") {
            guard let arrow = line.range(of: "=> /") else { continue }
            let path = String(line[arrow.upperBound...].split(separator: " ")[0])
            let dir = "/" + (path as NSString).deletingLastPathComponent
            let system = ["/lib", "/usr/lib", "/lib64", "/usr/lib64"].contains { dir == $0 || dir.hasPrefix($0 + "/") }
            if !system && !dirs.contains(dir) { dirs.append(dir) }
        }
        return dirs
    }()

    static var warden: String { dir + "/warden" }
    /// What the front (`warden`) executes for everything a standby does not take.
    static var core: String { dir + "/warden-core" }
    static var probe: String { dir + "/warden-probe" }
}

func makeTempDir(prefix: String) -> String {
    var buffer = Array("/var/tmp/\(prefix)-XXXXXX".utf8CString)
    let made = buffer.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed: \(errno)")
    let path = String(cString: buffer)
    chmod(path, 0o755)
    return path
}

/// A running child; `wait` enforces the deadline so a hang fails the test instead of CI.
final class Child {
    let pid: pid_t
    let started: Date
    let outPath: String
    let errPath: String
    let deadline: Double

    init(pid: pid_t, outPath: String, errPath: String, deadline: Double) {
        self.pid = pid
        self.started = Date()
        self.outPath = outPath
        self.errPath = errPath
        self.deadline = deadline
    }

    var stdoutSoFar: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Polls until `predicate` holds for stdout or `seconds` pass; true if it held.
    func waitForOutput(seconds: Double = 10, _ predicate: (String) -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if predicate(stdoutSoFar) { return true }
            usleep(20_000)
        }
        return predicate(stdoutSoFar)
    }

    func wait() -> Outcome {
        var st: Int32 = 0
        var timedOut = false
        while true {
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if Date().timeIntervalSince(started) > deadline && !timedOut {
                timedOut = true
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
            }
            usleep(5_000)
        }
        let elapsed = Date().timeIntervalSince(started)
        let sig = st & 0x7f
        let out = stdoutSoFar
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: (outPath as NSString).deletingLastPathComponent)
        if sig == 0 {
            return Outcome(status: (st >> 8) & 0xff, signal: nil, stdout: out, stderr: err, elapsed: elapsed, timedOut: timedOut)
        }
        return Outcome(status: 128 + sig, signal: sig, stdout: out, stderr: err, elapsed: elapsed, timedOut: timedOut)
    }
}

/// posix_spawn_file_actions_addchdir_np is a GNU extension hidden from the Swift importer.
private let addchdir: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32 = {
    guard let sym = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else { fatalError("glibc too old") }
    return unsafeBitCast(sym, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
}()

/// posix_spawn with: a chosen stdin, stdout/stderr to files, an optional extra descriptor at
/// a fixed number, default signal dispositions, and its own process group or session.
/// Copies a program that tests will run, mode 755, by a child process: a copy made in this
/// process holds the file open for writing while other tests fork, and a fork that inherited
/// that descriptor makes the copy's exec fail with ETXTBSY (inside setpriv, where no retry can
/// see it).
func copyExecutable(_ src: String, to dst: String) {
    let cp = spawn(["/bin/cp", src, dst], env: ["PATH": "/usr/bin:/bin"], cwd: "/").wait()
    guard cp.status == 0 else { fatalError("cannot copy \(src): \(cp) — run `swift build` first") }
    chmod(dst, 0o755)
}

func spawn(_ argv: [String], env: [String: String], cwd: String, stdin: Stdin = .null,
           extraFD: (source: Int32, target: Int32)? = nil, setsid: Bool = false,
           timeout: Double = 30) -> Child {
    let scratch = makeTempDir(prefix: "warden-escape-io")
    let outPath = scratch + "/out", errPath = scratch + "/err"
    let outFD = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    let errFD = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    precondition(outFD >= 0 && errFD >= 0)
    defer { close(outFD); close(errFD) }

    var inFD: Int32 = -1
    var pipeWrite: Int32 = -1
    switch stdin {
    case .null: inFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
    case .fd(let fd): inFD = fd
    case .data:
        var p: [Int32] = [0, 0]
        precondition(pipe(&p) == 0)
        _ = fcntl(p[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(p[1], F_SETFD, FD_CLOEXEC)
        inFD = p[0]
        pipeWrite = p[1]
    }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, inFD, 0)
    posix_spawn_file_actions_adddup2(&actions, outFD, 1)
    posix_spawn_file_actions_adddup2(&actions, errFD, 2)
    var extraHigh: Int32 = -1
    if let extra = extraFD {
        // Via a high number, so dup2 always runs and clears FD_CLOEXEC on the target.
        extraHigh = fcntl(extra.source, F_DUPFD_CLOEXEC, 200)
        posix_spawn_file_actions_adddup2(&actions, extraHigh, extra.target)
    }
    precondition(addchdir(&actions, cwd) == 0)

    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var defaults = sigset_t()
    sigfillset(&defaults)
    sigdelset(&defaults, SIGKILL)
    sigdelset(&defaults, SIGSTOP)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setsigmask(&attr, &empty)
    var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
    if setsid {
        flags |= 0x80  // POSIX_SPAWN_SETSID: a GNU extension the Swift overlay does not export
    } else {
        flags |= Int32(POSIX_SPAWN_SETPGROUP)
        posix_spawnattr_setpgroup(&attr, 0)
    }
    posix_spawnattr_setflags(&attr, Int16(flags))

    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (cArgs + cEnv).forEach { free($0) } }
    var pid: pid_t = 0
    var rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
    // ETXTBSY: another test's fork still held the binary's copy open for writing (it closes
    // at that child's exec). Transient; the kernel says so.
    for _ in 0..<50 where rc == ETXTBSY {
        usleep(20_000)
        rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
    }
    precondition(rc == 0, "posix_spawn \(argv[0]) failed: \(rc)")
    if extraHigh >= 0 { close(extraHigh) }
    if case .fd = stdin {} else { close(inFD) }
    if case .data(let text) = stdin {
        _ = text.withCString { write(pipeWrite, $0, strlen($0)) }
        close(pipeWrite)
    }
    return Child(pid: pid, outPath: outPath, errPath: errPath, deadline: timeout)
}

/// One test's world: a workspace (owned by the identity), a place for profiles, and runners.
final class Fixture {
    let identity: Identity
    let base: String
    let ws: String

    /// - Parameter name: the workspace directory's own name.
    init(_ identity: Identity, files: [String: String] = [:], name: String = "ws") {
        self.identity = identity
        base = makeTempDir(prefix: "warden-escape")
        ws = base + "/" + name
        mkdir(ws, 0o755)
        for d in ["Sources", "Tests", ".warden/tasks"] {
            try! FileManager.default.createDirectory(atPath: ws + "/" + d, withIntermediateDirectories: true)
        }
        write("Sources/main.swift", "print(\"main\")\n")
        write("Tests/main_tests.swift", "// tests\n")
        for (path, text) in files { write(path, text) }
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    var probe: String { Binaries.probe }
    var warden: String { Binaries.warden }

    /// Writes a workspace file (absolute path returned), owned by the identity.
    @discardableResult
    func write(_ rel: String, _ text: String) -> String {
        let full = ws + "/" + rel
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        try! text.write(toFile: full, atomically: false, encoding: .utf8)
        chownTree()
        return full
    }

    func chownTree() {
        guard identity == .nobody else { return }
        let id = Identity.nobodyID
        lchown(ws, id, id)
        let e = FileManager.default.enumerator(atPath: ws)
        while let rel = e?.nextObject() as? String { lchown(ws + "/" + rel, id, id) }
    }

    func path(_ rel: String) -> String { ws + "/" + rel }
    func exists(_ rel: String) -> Bool { access(path(rel), F_OK) == 0 }
    func read(_ rel: String) -> String? { try? String(contentsOfFile: path(rel), encoding: .utf8) }
    func size(_ rel: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path(rel))[.size] as? Int) ?? nil
    }

    /// A profile extending `role` with the probe as a tool; `extra` is appended YAML.
    func profile(_ role: String, tools: [String] = [], read: [String] = [], extra: String = "") -> String {
        let file = base + "/\(role)-probe-\(UUID().uuidString.prefix(8)).yaml"
        let list = ([probe] + tools).map { "\"\($0)\"" }.joined(separator: ", ")
        var yaml = "role: probe-\(role)\nextends: \(role)\ntools: [\(list)]\n"
        let reads = Binaries.libraryDirs + read
        if !reads.isEmpty {
            yaml += "read: [\(reads.map { "\"\($0)\"" }.joined(separator: ", "))]\n"
        }
        yaml += extra
        try! yaml.write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, 0o644)
        return file
    }

    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": identity.home, "LANG": "C"]
        env.merge(extra) { $1 }
        return env
    }

    /// Starts `warden run` as the identity without waiting.
    func start(profile: String, _ command: [String], options: [String] = [], env: [String: String] = [:],
               stdin: Stdin = .null, extraFD: (source: Int32, target: Int32)? = nil,
               timeout: Double = 30) -> Child {
        let argv = identity.prefix + [warden, "run", "--profile", profile, "--workspace", ws] + options + ["--"] + command
        return spawn(argv, env: environment(env), cwd: ws, stdin: stdin, extraFD: extraFD, timeout: timeout)
    }

    func run(profile: String, _ command: [String], options: [String] = [], env: [String: String] = [:],
             stdin: Stdin = .null, extraFD: (source: Int32, target: Int32)? = nil,
             timeout: Double = 30) -> Outcome {
        start(profile: profile, command, options: options, env: env, stdin: stdin, extraFD: extraFD, timeout: timeout).wait()
    }

    /// The probe under `role` (extended with the probe as a tool).
    func sandboxed(_ role: String, _ args: String..., extra: String = "") -> Outcome {
        run(profile: profile(role, extra: extra), [probe] + args)
    }

    /// The same probe with no sandbox, as the same identity: the positive control.
    func startControl(_ command: [String], env: [String: String] = [:], stdin: Stdin = .null,
                      extraFD: (source: Int32, target: Int32)? = nil, setsid: Bool = false,
                      timeout: Double = 30) -> Child {
        spawn(identity.prefix + command, env: environment(env), cwd: ws, stdin: stdin, extraFD: extraFD,
              setsid: setsid, timeout: timeout)
    }

    func control(_ args: String...) -> Outcome { startControl([probe] + args).wait() }
}

/// A process outside any sandbox (e.g. `sleep 30`) as a target; killed on deinit.
final class Bystander {
    let child: Child
    var pid: pid_t { child.pid }
    init(_ argv: [String] = ["/bin/sleep", "30"], identity: Identity = .root) {
        child = spawn(identity.prefix + argv, env: ["PATH": "/usr/bin:/bin"], cwd: "/", timeout: 60)
    }
    var alive: Bool {
        var st: Int32 = 0
        return waitpid(child.pid, &st, WNOHANG) == 0
    }
    deinit {
        kill(child.pid, SIGKILL)
        _ = child.wait()
    }
}

/// `ok...` with exit 0.
func expectOK(_ o: Outcome, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(o.status == 0 && o.firstLine.hasPrefix("ok"), "expected ok \(comment): \(o)", sourceLocation: sourceLocation)
}

/// `err STAGE ERRNO...` with exit 1; `errnos` lists the acceptable names.
func expectErr(_ o: Outcome, _ stage: String, _ errnos: String..., sourceLocation: SourceLocation = #_sourceLocation) {
    let words = o.firstLine.split(separator: " ").map(String.init)
    let good = o.status == 1 && words.count >= 3 && words[0] == "err" && words[1] == stage && errnos.contains(words[2])
    #expect(good, "expected err \(stage) \(errnos.joined(separator: "|")): \(o)", sourceLocation: sourceLocation)
}
