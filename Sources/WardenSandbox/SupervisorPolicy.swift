import CSandbox
import Glibc
import WardenPolicy

struct FileID: Hashable {
    var dev: UInt64
    var ino: UInt64
}

/// What the supervisor decides with: the same zones, tools and sets the kernel rules were
/// built from, in the form a decision needs.
public struct SupervisorPolicy: Sendable {
    let profileFile: String
    /// A few dozen, searched in order: a dictionary keyed by syscall number would cost each
    /// launch a runtime conformance lookup (a scan of every conformance record in the binary)
    /// that is slower than all the searches of a run.
    let intercepts: [Intercept]
    /// Absolute paths writes may go to: the zones, scratch and the writable devices.
    let writeRoots: [String]
    let writeDevices: Set<String>
    let toolIdentities: [FileID]
    let toolDirectories: [String]
    let toolsLocation: SourceLocation?
    let writeLocation: SourceLocation?
    let networkLocation: SourceLocation?
    /// nil: any port (network on); []: none.
    let tcpPorts: [UInt16]?
    let scoped: Bool
    let scratch: [String]

    /// `extraTools`: executables the run allows beyond the profile's (warden itself, with a
    /// control channel).
    public init(plan: LaunchPlan, extraTools: [String] = []) {
        let p = plan.profile
        profileFile = p.file
        intercepts = plan.seccomp?.intercepts ?? []
        var roots = p.write.map { $0.path.isEmpty ? plan.options.workspace : plan.options.workspace + "/" + $0.path }
        roots += plan.scratch
        writeRoots = roots
        scratch = plan.scratch
        writeDevices = Set(SystemPaths.devices)
        var ids: [FileID] = []
        var dirs: [String] = []
        for extra in extraTools {
            var st = stat()
            if stat(extra, &st) == 0 { ids.append(FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))) }
        }
        for t in p.tools {
            if t.value.hasSuffix("/") {
                dirs.append(FilePaths.realPath(t.value) ?? t.value)
            } else {
                var st = stat()
                if stat(t.value, &st) == 0 { ids.append(FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))) }
            }
        }
        toolIdentities = ids
        toolDirectories = dirs
        toolsLocation = p.tools.last?.location
        writeLocation = p.write.last?.location
        networkLocation = p.networkLocation
        switch p.network {
        case .on: tcpPorts = nil
        case .off: tcpPorts = []
        case let .allow(ports): tcpPorts = ports
        }
        scoped = plan.scoped
    }

    func intercept(_ nr: Int32) -> Intercept? {
        intercepts.first { $0.nr == nr }
    }

    func writable(_ path: String) -> Bool {
        writeDevices.contains(path) || writeRoots.contains { FilePaths.isInside(path, $0) }
    }

    /// The zones' identities as the agent sees them (scratch is its own tmpfs).
    func writeRootIDs(pid: pid_t) -> Set<FileID> {
        var ids: Set<FileID> = []
        for root in writeRoots {
            var st = stat()
            if stat("/proc/\(pid)/root" + root, &st) == 0 { ids.insert(FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))) }
        }
        return ids
    }
}

/// Paths as the agent names them, read from its memory and its /proc entries.
/// O_PATH, which Glibc does not export to Swift.
private let oPath: Int32 = 0o10000000

enum AgentView {
    static let atFDCWD: Int32 = -100

    /// The path argument made absolute and normalized lexically (`.`/`..`), or nil when it
    /// cannot be read (bad pointer, longer than PATH_MAX) or is empty: the kernel decides those.
    static func absolutePath(pid: pid_t, pathAddress: UInt64, dirfd: Int32?) -> String? {
        // Every intercepted call comes here: stack buffers, and no normalising of a path that
        // is already normal, keep the supervisor's share of a call small.
        let raw: String? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(PATH_MAX) + 1) { buf in
            let n = warden_read_string(pid, pathAddress, buf.baseAddress!, buf.count)
            return n > 0 ? String(cString: buf.baseAddress!) : nil
        }
        guard let raw else { return nil }
        if raw.hasPrefix("/") { return normalize(raw) }
        let link = dirfd == nil || dirfd == atFDCWD ? "/proc/\(pid)/cwd" : "/proc/\(pid)/fd/\(dirfd!)"
        guard let dir = readLink(link), dir.hasPrefix("/") else { return nil }
        return normalize(dir == "/" ? "/" + raw : dir + "/" + raw)
    }

    static func normalize(_ path: String) -> String {
        isNormal(path) ? path : componentWalk(path)
    }

    /// `.` dropped, `..` taking the component before it, empty components gone.
    static func componentWalk(_ path: String) -> String {
        var parts: [Substring] = []
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Absolute, with no empty, `.` or `..` component and no trailing slash: what `normalize`
    /// would return unchanged.
    static func isNormal(_ path: String) -> Bool {
        var bytes = path.utf8.makeIterator()
        guard bytes.next() == UInt8(ascii: "/") else { return false }
        if path.utf8.count == 1 { return true }
        var length = 0, dots = 0
        while true {
            let b = bytes.next()
            if b == nil || b == UInt8(ascii: "/") {
                // A component ends: empty, "." and ".." are not normal.
                if length == 0 || length == dots && dots <= 2 { return false }
                if b == nil { return true }
                length = 0; dots = 0
            } else {
                length += 1
                if b == UInt8(ascii: ".") { dots += 1 }
            }
        }
    }

    static func readLink(_ path: String) -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(PATH_MAX) + 1) { buf in
            let n = readlink(path, buf.baseAddress!, buf.count - 1)
            guard n > 0 else { return nil }
            buf[n] = 0
            return String(cString: buf.baseAddress!)
        }
    }

    /// True only when the path's parent, resolved in the agent's own mount namespace, lies
    /// outside every write root and the last component is not a symlink (whose target the
    /// kernel would check instead). Anything uncertain is false: the kernel decides.
    static func confirmedOutside(pid: pid_t, path: String, roots: Set<FileID>) -> Bool {
        if path.hasPrefix("/proc/") || path == "/proc" || path.hasPrefix("/dev/fd/") { return false }
        let parent = path.split(separator: "/").dropLast().joined(separator: "/")
        let name = String(path.split(separator: "/").last ?? "")
        var fd = open("/proc/\(pid)/root/" + parent, oPath | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        var st = stat()
        if !name.isEmpty, fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFLNK {
            close(fd)
            return false
        }
        // Is the final path itself a root (a zone that is a single file, or a zone directory)?
        if !name.isEmpty, fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0,
           roots.contains(FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))) {
            close(fd)
            return false
        }
        for _ in 0..<256 {
            guard fstat(fd, &st) == 0 else { close(fd); return false }
            let id = FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
            if roots.contains(id) { close(fd); return false }
            let up = openat(fd, "..", oPath | O_DIRECTORY | O_CLOEXEC)
            close(fd)
            guard up >= 0 else { return false }
            var upst = stat()
            guard fstat(up, &upst) == 0 else { close(up); return false }
            if upst.st_dev == st.st_dev && upst.st_ino == st.st_ino { close(up); return true }
            fd = up
        }
        close(fd)
        return false
    }
}

/// Syscall arguments as the audit shows them.
enum SyscallArgs {
    static func describe(_ name: String, _ a: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)) -> String {
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        switch name {
        case "ioctl": return "fd \(Int32(truncatingIfNeeded: a.0)), \(ioctlName(a.1))"
        case "socket": return "\(familyName(Int32(truncatingIfNeeded: a.0))), type \(a.1 & 0xf), proto \(a.2)"
        case "clone", "unshare": return "flags \(hex(a.0))"
        case "personality": return hex(a.0)
        case "ptrace": return "request \(a.0), pid \(Int32(truncatingIfNeeded: a.1))"
        case "keyctl", "bpf", "prctl": return "op \(a.0)"
        case "memfd_create": return "flags \(hex(a.1))"
        default: return [a.0, a.1, a.2].map(hex).joined(separator: ", ")
        }
    }

    static func ioctlName(_ request: UInt64) -> String {
        switch request & 0xffff_ffff {
        case 0x5412: return "TIOCSTI"
        case 0x541C: return "TIOCLINUX"
        default: return "0x" + String(request, radix: 16)
        }
    }

    static func familyName(_ f: Int32) -> String {
        switch f {
        case AF_INET: return "AF_INET"
        case AF_INET6: return "AF_INET6"
        case AF_NETLINK: return "AF_NETLINK"
        case AF_PACKET: return "AF_PACKET"
        default: return "family \(f)"
        }
    }
}
