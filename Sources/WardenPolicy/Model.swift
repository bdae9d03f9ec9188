// The resolved policy model: what a profile means after `extends`, PATH lookup and syscall-set
// expansion. Every entry keeps the file:line:column it came from, so that a denial can name the
// rule that caused it and lint can point at the line to change.

/// A place in a policy file. `line` and `column` are 1-based.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A value together with the place in a policy file that said it.
public struct Located<Value: Sendable & Hashable>: Sendable, Hashable {
    public var value: Value
    public var location: SourceLocation

    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}

public enum NetworkPolicy: Sendable, Hashable {
    /// Empty network namespace, no sockets but AF_UNIX, no TCP under Landlock.
    case off
    /// The host network, unrestricted.
    case on
    /// The host network, TCP bind/connect only to these ports (Landlock ABI >= 4).
    case allow(ports: [UInt16])
}

public struct Limits: Sendable, Hashable {
    /// Wall-clock time in seconds; the whole process tree is killed when it runs out.
    public var wall: Double?
    /// CPU seconds (RLIMIT_CPU, and the cgroup cpu controller where available).
    public var cpu: Double?
    /// Bytes of memory (cgroup memory limit, RLIMIT_AS otherwise).
    public var memory: UInt64?
    /// Processes and threads (cgroup pids limit, RLIMIT_NPROC otherwise).
    public var processes: Int?
    /// RLIMIT_NOFILE.
    public var openFiles: Int?
    /// RLIMIT_FSIZE in bytes.
    public var fileSize: UInt64?
    /// Where each limit in force was set, by its key (`wall`, `memory`, ...): the line a user
    /// edits when the run hits it.
    public var locations: [String: SourceLocation]

    public init(wall: Double? = nil, cpu: Double? = nil, memory: UInt64? = nil,
                processes: Int? = nil, openFiles: Int? = nil, fileSize: UInt64? = nil,
                locations: [String: SourceLocation] = [:]) {
        self.wall = wall
        self.cpu = cpu
        self.memory = memory
        self.processes = processes
        self.openFiles = openFiles
        self.fileSize = fileSize
        self.locations = locations
    }
}

/// A syscall the profile denies, and why: the set it came from (if any) and the line that
/// named it.
public struct DeniedSyscall: Sendable, Hashable {
    public var name: String
    /// The `@set` that brought it in, or nil when the profile named the call directly.
    public var viaSet: String?
    public var location: SourceLocation

    public init(name: String, viaSet: String?, location: SourceLocation) {
        self.name = name
        self.viaSet = viaSet
        self.location = location
    }
}

/// A write zone, relative to the workspace root. Landlock works on file hierarchies, so a zone
/// is either one path (a file or a directory and everything beneath it: `Sources/**`, `Package.swift`)
/// or the whole workspace (`**`).
public struct WriteZone: Sendable, Hashable {
    /// The pattern as written, e.g. `Sources/**`.
    public var pattern: String
    /// The workspace-relative path it covers, e.g. `Sources`; empty for the whole workspace.
    public var path: String
    /// True when the pattern ends in `/**` (or is `**`): everything beneath `path`.
    public var recursive: Bool
    public var location: SourceLocation

    public init(pattern: String, path: String, recursive: Bool, location: SourceLocation) {
        self.pattern = pattern
        self.path = path
        self.recursive = recursive
        self.location = location
    }
}

/// A profile after `extends` has been resolved: lists merged parent-first, scalars overridden
/// by the child.
public struct Profile: Sendable, Hashable {
    public var role: String
    public var description: String
    /// The file the profile was loaded from (`builtin:code` for an embedded one), and the
    /// chain of parents it extends, nearest first.
    public var file: String
    public var chain: [String]
    /// Absolute paths of the executables this role may run, resolved on PATH at load.
    public var tools: [Located<String>]
    /// Paths the role may read. `workspace` stands for the whole workspace; other entries are
    /// absolute, or relative to the workspace.
    public var read: [Located<String>]
    public var write: [WriteZone]
    /// Absolute paths that become private, empty, size-capped directories for the run.
    public var scratch: [Located<String>]
    public var network: NetworkPolicy
    public var networkLocation: SourceLocation?
    /// Syscalls denied with EPERM, after `allow:` took some back.
    public var deniedSyscalls: [DeniedSyscall]
    /// Syscalls a `syscalls.allow:` entry took back from a denied set: reported by lint and
    /// `--explain`, because it weakens a parent.
    public var allowedBack: [Located<String>]
    public var limits: Limits
    /// Environment variable names passed through to the agent; everything else is dropped.
    public var env: [String]

    public init(role: String, description: String, file: String, chain: [String],
                tools: [Located<String>], read: [Located<String>], write: [WriteZone],
                scratch: [Located<String>], network: NetworkPolicy, networkLocation: SourceLocation?,
                deniedSyscalls: [DeniedSyscall], allowedBack: [Located<String>],
                limits: Limits, env: [String]) {
        self.role = role
        self.description = description
        self.file = file
        self.chain = chain
        self.tools = tools
        self.read = read
        self.write = write
        self.scratch = scratch
        self.network = network
        self.networkLocation = networkLocation
        self.deniedSyscalls = deniedSyscalls
        self.allowedBack = allowedBack
        self.limits = limits
        self.env = env
    }
}
