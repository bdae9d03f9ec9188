import CSandbox
import Glibc

public struct CgroupError: Error, Sendable { public var message: String }

/// A per-run control group that caps processes and memory. RLIMIT_NPROC does not bind root,
/// so for a root runner this is what stops a fork bomb. Groups are created beneath the
/// runner's own group, never elsewhere, and removed when the run ends.
public final class RunCgroup: @unchecked Sendable {
    public enum Version: String, Sendable { case v1, v2 }

    public let version: Version
    /// Directories of the group: one per controller on v1, one on v2.
    public let directories: [String]
    public let pidsMax: Int?
    public let memoryMax: UInt64?

    private init(version: Version, directories: [String], pidsMax: Int?, memoryMax: UInt64?) {
        self.version = version
        self.directories = directories
        self.pidsMax = pidsMax
        self.memoryMax = memoryMax
    }

    /// Creates the group, or returns why it cannot.
    public static func create(name: String, pidsMax: Int?, memoryMax: UInt64?) -> Result<RunCgroup, CgroupError> {
        let own = ownGroups()
        if let path = own["0::"] ?? own[""], let v2 = unifiedMount(), pidsMax != nil || memoryMax != nil {
            let parent = v2 + (path == "/" ? "" : path)
            let controllers = (readFile(parent + "/cgroup.subtree_control") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            let needed = (pidsMax != nil ? ["pids"] : []) + (memoryMax != nil ? ["memory"] : [])
            if needed.allSatisfy(controllers.contains) {
                let dir = parent + "/" + name
                if mkdir(dir, 0o755) == 0 {
                    let group = RunCgroup(version: .v2, directories: [dir], pidsMax: pidsMax, memoryMax: memoryMax)
                    var ok = true
                    if let p = pidsMax { ok = ok && writeFile(dir + "/pids.max", "\(p)") }
                    if let m = memoryMax {
                        ok = ok && writeFile(dir + "/memory.max", "\(m)")
                        _ = writeFile(dir + "/memory.swap.max", "0")
                    }
                    if ok { return .success(group) }
                    group.remove()
                }
            }
        }
        // v1: one hierarchy per controller, each mounted at /sys/fs/cgroup/<controller>.
        var dirs: [String] = []
        func fail(_ why: String) -> Result<RunCgroup, CgroupError> {
            for d in dirs.reversed() { rmdir(d) }
            return .failure(CgroupError(message: why))
        }
        for (controller, wanted) in [("pids", pidsMax != nil), ("memory", memoryMax != nil)] where wanted {
            guard let path = own[controller] else { return fail("no cgroup v1 \(controller) hierarchy") }
            let base = "/sys/fs/cgroup/\(controller)" + (path == "/" ? "" : path)
            let dir = base + "/" + name
            guard mkdir(dir, 0o755) == 0 else {
                return fail("cannot create \(dir): \(String(cString: strerror(errno)))")
            }
            dirs.append(dir)
            let ok = controller == "pids"
                ? writeFile(dir + "/pids.max", "\(pidsMax!)")
                : writeFile(dir + "/memory.limit_in_bytes", "\(memoryMax!)")
            if !ok { return fail("cannot set \(controller) limit in \(dir)") }
            if controller == "memory" { _ = writeFile(dir + "/memory.memsw.limit_in_bytes", "\(memoryMax!)") }
        }
        if dirs.isEmpty { return .failure(CgroupError(message: "no limit needs a cgroup")) }
        return .success(RunCgroup(version: .v1, directories: dirs, pidsMax: pidsMax, memoryMax: memoryMax))
    }

    /// Moves `pid` (and so everything it will start) into the group.
    public func add(pid: pid_t) -> Bool {
        directories.allSatisfy { writeFile($0 + "/cgroup.procs", "\(pid)") }
    }

    /// Kills whatever is left in the group (a daemon that escaped the process tree), then
    /// removes the group.
    public func remove() {
        for _ in 0..<50 {
            var left = false
            for dir in directories {
                for line in (readFile(dir + "/cgroup.procs") ?? "").split(separator: "\n") {
                    if let pid = pid_t(line) { kill(pid, SIGKILL); left = true }
                }
            }
            if !left { break }
            usleep(2000)
        }
        for dir in directories { rmdir(dir) }
    }

    /// How often a fork was refused because the group was at pids.max.
    public var forkRefusals: Int {
        for dir in directories {
            for line in (readFile(dir + "/pids.events") ?? "").split(separator: "\n") where line.hasPrefix("max ") {
                return Int(line.dropFirst(4)) ?? 0
            }
        }
        return 0
    }

    /// Whether the group's OOM killer fired during the run.
    public var oomKilled: Bool {
        for dir in directories {
            if let events = readFile(dir + "/memory.events"),
               events.split(separator: "\n").contains(where: { $0.hasPrefix("oom_kill ") && !$0.hasSuffix(" 0") }) {
                return true
            }
            if let failcnt = readFile(dir + "/memory.failcnt"), (Int(failcnt.split(separator: "\n").first ?? "") ?? 0) > 0 {
                return true
            }
        }
        return false
    }

    /// Removes groups a crashed runner left behind. A group is named warden-TIME-PID after the
    /// runner that made it; one whose runner is alive belongs to a concurrent run that may not
    /// have moved its child in yet, and is left alone. rmdir refuses non-empty groups.
    public static func removeStale(prefix: String = "warden-") {
        let own = ownGroups()
        var parents: [String] = []
        if let path = own["0::"] ?? own[""], let v2 = unifiedMount() { parents.append(v2 + (path == "/" ? "" : path)) }
        for c in ["pids", "memory"] {
            if let path = own[c] { parents.append("/sys/fs/cgroup/\(c)" + (path == "/" ? "" : path)) }
        }
        for parent in parents {
            for name in SystemPaths.directoryEntries(parent) where name.hasPrefix(prefix) {
                guard let last = name.split(separator: "-").last, let owner = pid_t(last) else { continue }
                if kill(owner, 0) == 0 || errno == EPERM { continue }
                rmdir(parent + "/" + name)
            }
        }
    }

    /// controller (or "0::" for v2) → path, from /proc/self/cgroup; read once, since a
    /// process does not move itself and a launch asks twice.
    static func ownGroups() -> [String: String] { own }

    private static let own: [String: String] = readOwnGroups()

    private static func readOwnGroups() -> [String: String] {
        var result: [String: String] = [:]
        for line in (readFile("/proc/self/cgroup") ?? "").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty { result["0::"] = String(parts[2]); continue }
            for c in parts[1].split(separator: ",") { result[String(c)] = String(parts[2]) }
        }
        return result
    }

    static func unifiedMount() -> String? {
        for candidate in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
            if warden_is_cgroup2(candidate) != 0 { return candidate }
        }
        return nil
    }
}

func readFile(_ path: String) -> String? {
    readBytes(path).map { String(decoding: $0, as: UTF8.self) }
}

func readBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buf, buf.count)
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

func writeFile(_ path: String, _ text: String) -> Bool {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    return write(fd, bytes, bytes.count) == bytes.count
}
