import CSandbox
import Glibc
import WardenPolicy

/// What the caller asked for, besides the profile.
public struct LaunchOptions: Sendable {
    public var workspace: String
    public var command: [String]
    public var timeout: Double?
    public var allowDegraded: Set<String>
    public var cwd: String
    /// The caller's environment; only the profile's `env` names reach the agent.
    public var environment: [String: String]
    public var runID: String

    /// Where the agent starts: the caller's directory inside the workspace, else its root.
    public var agentDirectory: String { FilePaths.isInside(cwd, workspace) ? cwd : workspace }

    public init(workspace: String, command: [String], timeout: Double?, allowDegraded: Set<String>,
                cwd: String, environment: [String: String], runID: String) {
        self.workspace = workspace
        self.command = command
        self.timeout = timeout
        self.allowDegraded = allowDegraded
        self.cwd = cwd
        self.environment = environment
        self.runID = runID
    }
}

public struct PlannedMount: Sendable {
    public var kind: Int32
    public var target: String
    public var data: String?
}

/// The part of a launch that depends only on the profile, the workspace and this machine:
/// what `PlanCache` keeps between runs so that a repeated launch skips YAML, PATH lookup and
/// the seccomp compiler.
public struct CompiledLaunch: Sendable {
    public var profile: Profile
    public var landlockABI: Int?
    public var pathRules: [PathRule]
    public var scratch: [String]
    public var scratchSize: UInt64
    public var netPorts: [UInt16]?
    public var scoped: Bool
    public var cloneFlags: UInt
    public var namespaces: [String]
    public var mapUser: Bool
    public var useInit: Bool
    public var mounts: [PlannedMount]
    public var seccomp: SeccompProgram?
    public var rlimits: [(name: String, resource: Int32, value: UInt64)]
    public var useCgroup: Bool
    public var protections: [Protection]
    public var notes: [String]
    var rights: LandlockRights?
}

/// Everything the child needs, computed in the parent. Building it has no side effects, so
/// `--explain` shows exactly what a launch would apply.
public struct LaunchPlan: Sendable {
    public let compiled: CompiledLaunch
    public let options: LaunchOptions
    public let executable: String
    public let argv: [String]
    public let environment: [String]
    public let droppedEnvironment: [String]
    public let wallTimeout: Double?

    public var profile: Profile { compiled.profile }
    public var landlockABI: Int? { compiled.landlockABI }
    public var pathRules: [PathRule] { compiled.pathRules }
    public var scratch: [String] { compiled.scratch }
    public var scratchSize: UInt64 { compiled.scratchSize }
    public var netPorts: [UInt16]? { compiled.netPorts }
    public var scoped: Bool { compiled.scoped }
    public var cloneFlags: UInt { compiled.cloneFlags }
    public var namespaces: [String] { compiled.namespaces }
    public var mapUser: Bool { compiled.mapUser }
    public var useInit: Bool { compiled.useInit }
    public var mounts: [PlannedMount] { compiled.mounts }
    public var seccomp: SeccompProgram? { compiled.seccomp }
    public var rlimits: [(name: String, resource: Int32, value: UInt64)] { compiled.rlimits }
    public var useCgroup: Bool { compiled.useCgroup }
    public var protections: [Protection] { compiled.protections }
    public var notes: [String] { compiled.notes }
    var rights: LandlockRights? { compiled.rights }

    /// Landlock rules added in the child once its mounts exist: scratch and the fresh /proc.
    public var childRules: [PathRule] {
        guard let r = rights else { return [] }
        var rules = scratch.map { PathRule(path: $0, access: r.write, why: "scratch") }
        if useInit { rules.append(PathRule(path: "/proc", access: r.read, why: "the sandbox's own /proc")) }
        return rules
    }

    /// The protections this launch lacks without the user's consent. Empty: it may start.
    public var missing: [Protection] {
        protections.filter { if case .missing = $0.state { return true } else { return false } }
    }

    public var degraded: [Protection] {
        protections.filter { if case .degraded = $0.state { return true } else { return false } }
    }

    /// - Parameter standby: a plan without a command yet (see `bind`).
    public static func make(profile: Profile, options: LaunchOptions, standby: Bool = false) throws -> LaunchPlan {
        // The command is checked first: a command the role may not run is the user's mistake
        // to hear about before anything about this machine.
        if !standby {
            _ = try CommandBinding.resolve(options: options, tools: profile.tools, role: profile.role, file: profile.file)
        }
        var planner = Planner(profile: profile, options: options)
        return try bind(planner.compile(), options: options, standby: standby)
    }

    /// Joins a compiled launch (fresh or from the cache) with one invocation: the command,
    /// the environment values and the timeout.
    /// - Parameter standby: bind no command (a standby gets its command later, bound again
    ///   with the claiming run's options); `options.command` may then be empty.
    public static func bind(_ compiled: CompiledLaunch, options: LaunchOptions, standby: Bool = false) throws -> LaunchPlan {
        let profile = compiled.profile
        let executable = standby ? "" : try CommandBinding.resolve(options: options, tools: profile.tools, role: profile.role,
                                                                   file: profile.file)
        var env: [String] = []
        for name in profile.env {
            if let v = options.environment[name] { env.append("\(name)=\(v)") }
        }
        env.append("WARDEN_ROLE=\(profile.role)")
        env.append("WARDEN_RUN=\(options.runID)")
        let kept = Set(profile.env)
        let dropped = options.environment.keys.filter { !kept.contains($0) }.sorted()
        let wall = [options.timeout, profile.limits.wall].compactMap { $0 }.min()
        return LaunchPlan(compiled: compiled, options: options, executable: executable,
                          argv: options.command, environment: env, droppedEnvironment: dropped,
                          wallTimeout: wall)
    }
}

private struct Planner {
    let profile: Profile
    let options: LaunchOptions
    var protections: [Protection] = []
    var notes: [String] = []

    init(profile: Profile, options: LaunchOptions) {
        self.profile = profile
        self.options = options
    }

    /// Features to treat as unavailable (WARDEN_PRETEND_MISSING=a,b), so that tests can drive
    /// the fail-closed path on a machine that has everything. It can only remove protection
    /// when the user also opts down with --allow-degraded; otherwise the launch is refused.
    var pretendMissing: Set<String> {
        Set((options.environment["WARDEN_PRETEND_MISSING"] ?? "").split(separator: ",").map(String.init))
    }

    /// Records whether `feature` is in force and returns it: the one answer the plan acts on,
    /// so what --explain and the warnings report is what the agent runs under.
    @discardableResult
    mutating func require(_ feature: String, available: Bool, reason: String, detail: String) -> Bool {
        let pretended = available && pretendMissing.contains(feature)
        let available = available && !pretended
        let reason = pretended ? "\(feature) is unavailable (WARDEN_PRETEND_MISSING)" : reason
        let state: Protection.State = available ? .enforced
            : options.allowDegraded.contains(feature) ? .degraded(reason: reason) : .missing(reason: reason)
        protections.append(Protection(feature: feature, state: state, detail: available ? detail : reason))
        return available
    }

    mutating func compile() throws -> CompiledLaunch {
        let uid = getuid()
        let root = uid == 0

        // Landlock
        var rights: LandlockRights?
        var abi: Int?
        switch LandlockRights.probe() {
        case let .success(v):
            if require("landlock", available: true, reason: "", detail: "ABI \(v)") {
                abi = v
                rights = LandlockRights(abi: v)
            }
        case let .failure(err):
            if case let .unavailable(_, reason) = err {
                require("landlock", available: false, reason: reason, detail: "")
            }
        }
        let llABI = abi ?? 0
        var scoped = false
        if abi != nil {
            let truncate = require("landlock-truncate", available: llABI >= 3,
                    reason: "Landlock ABI \(llABI) cannot deny truncate (needs ABI 3, Linux 6.2)",
                    detail: "truncating files outside the write zones is denied")
            rights = LandlockRights(abi: llABI, truncate: truncate)
            scoped = require("landlock-scope", available: llABI >= 6,
                    reason: "Landlock ABI \(llABI) cannot scope signals and abstract unix sockets (needs ABI 6, Linux 6.12)",
                    detail: "signals and abstract unix sockets cannot reach outside the sandbox")
        }
        var netPorts: [UInt16]? = nil
        switch profile.network {
        case .on: break
        case .off:
            netPorts = []
            // Without Landlock at all, its parts are covered by that one opt-down.
            guard abi != nil else { break }
            if !require("landlock-network", available: llABI >= 4,
                        reason: "Landlock ABI \(llABI) cannot filter TCP (needs ABI 4, Linux 6.7)",
                        detail: "TCP bind and connect denied") { netPorts = nil }
        case let .allow(ports):
            netPorts = ports
            guard abi != nil else { break }
            if !require("landlock-network", available: llABI >= 4,
                        reason: "Landlock ABI \(llABI) cannot filter TCP ports (needs ABI 4, Linux 6.7)",
                        detail: "TCP connect only to ports \(ports.map(String.init).joined(separator: ", "))") { netPorts = nil }
        }

        // Namespaces
        var flags = UInt(warden_CLONE_NEWNS | warden_CLONE_NEWPID | warden_CLONE_NEWIPC | warden_CLONE_NEWUTS)
        var nsNames = ["mount", "pid", "ipc", "uts"]
        if profile.network == .off { flags |= UInt(warden_CLONE_NEWNET); nsNames.append("net (empty)") }
        if !root { flags |= UInt(warden_CLONE_NEWUSER); nsNames.insert("user", at: 0) }
        let useNamespaces = require("namespaces", available: root || userNamespacesAllowed(),
                reason: "unprivileged user namespaces are disabled on this machine (user.max_user_namespaces is 0)",
                detail: nsNames.joined(separator: ", "))
        if !useNamespaces { flags = 0 }

        // Paths
        var rules: [PathRule] = []
        if let r = rights {
            rules = pathRules(rights: r).map { rule in
                var rule = rule
                if !FilePaths.isDirectory(rule.path) { rule.access &= r.fileOnly }
                return rule
            }
        }
        var scratch: [String] = []
        for s in profile.scratch {
            guard FilePaths.isDirectory(s.value) else {
                throw SandboxError.command("\(s.location): scratch \(s.value) is not an existing directory on this machine")
            }
            if useNamespaces { scratch.append(s.value) } else {
                notes.append("scratch \(s.value) is not provided: without a mount namespace it cannot be private")
            }
        }
        let scratchSize = profile.limits.memory ?? (1 << 30)
        var mounts: [PlannedMount] = []
        if useNamespaces {
            // No file in a writable place can ever be mapped executable (closes `ld.so ./file`).
            mounts.append(PlannedMount(kind: Int32(WARDEN_MOUNT_NOEXEC_BIND.rawValue), target: options.workspace, data: nil))
            for s in scratch {
                mounts.append(PlannedMount(kind: Int32(WARDEN_MOUNT_TMPFS.rawValue), target: s,
                                           data: "size=\(scratchSize),mode=1777"))
            }
            mounts.append(PlannedMount(kind: Int32(WARDEN_MOUNT_PROC.rawValue), target: "/proc", data: nil))
        }

        // Limits
        let limits = profile.limits
        var rlimits: [(String, Int32, UInt64)] = [("core", Int32(WARDEN_RLIMIT_CORE), 0)]
        if let n = limits.openFiles { rlimits.append(("nofile", Int32(WARDEN_RLIMIT_NOFILE), UInt64(n))) }
        if let n = limits.fileSize { rlimits.append(("fsize", Int32(WARDEN_RLIMIT_FSIZE), n)) }
        if let n = limits.cpu { rlimits.append(("cpu", Int32(WARDEN_RLIMIT_CPU), UInt64(n.rounded(.up)))) }
        let wantsCgroup = limits.processes != nil || limits.memory != nil
        // Not through require(): for an unprivileged runner a missing cgroup means rlimits,
        // not a refusal.
        let cgroupPossible = wantsCgroup && cgroupLikelyWritable() && !pretendMissing.contains("cgroup")
        if !cgroupPossible {
            if let n = limits.processes { rlimits.append(("nproc", Int32(WARDEN_RLIMIT_NPROC), UInt64(n))) }
            if let n = limits.memory { rlimits.append(("as", Int32(WARDEN_RLIMIT_AS), n)) }
        }
        // RLIMIT_NPROC does not bind root: only a cgroup stops a root fork bomb.
        if root && limits.processes != nil {
            require("cgroup", available: cgroupPossible,
                    reason: "no writable cgroup for the processes limit (RLIMIT_NPROC does not apply to root)",
                    detail: "pids and memory limited by a per-run cgroup")
        } else if cgroupPossible {
            require("cgroup", available: true, reason: "", detail: "pids and memory limited by a per-run cgroup")
        }

        // seccomp
        var program: SeccompProgram?
        do {
            // The supervisor records denials; without it they are still enforced, silently.
            let supervised = require("supervisor", available: warden_notify_supported() != 0,
                    reason: "this kernel lacks seccomp user notification (needs Linux 5.5): denials would not be recorded",
                    detail: "exec, write, network and denied-set calls reach the supervisor and the audit")
            let built = try SeccompPlan.build(profile: profile, networkOff: profile.network == .off,
                                              supervised: supervised).0
            // Whatever is reported as degraded must really be off: --explain and the audit
            // say what the agent ran under.
            if require("seccomp", available: true, reason: "",
                       detail: "\(built.rules.count) rules in \(built.instructionCount) BPF instructions; i386 and x32 calls kill") {
                program = built
            }
        } catch {
            require("seccomp", available: false, reason: "cannot build the seccomp filter: \(error)", detail: "")
        }

        return CompiledLaunch(
            profile: profile, landlockABI: abi, pathRules: rules, scratch: scratch,
            scratchSize: scratchSize, netPorts: netPorts, scoped: scoped, cloneFlags: flags,
            namespaces: useNamespaces ? nsNames : [], mapUser: useNamespaces && !root,
            useInit: useNamespaces, mounts: mounts, seccomp: program,
            rlimits: rlimits.map { (name: $0.0, resource: $0.1, value: $0.2) },
            useCgroup: cgroupPossible, protections: protections, notes: notes, rights: rights)
    }

    mutating func pathRules(rights r: LandlockRights) -> [PathRule] {
        var rules: [PathRule] = []
        for tree in SystemPaths.readTrees { rules.append(PathRule(path: tree, access: r.read, why: "system")) }
        for etc in SystemPaths.etcEntries() { rules.append(PathRule(path: etc, access: r.read, why: "system /etc")) }
        for dev in SystemPaths.devices { rules.append(PathRule(path: dev, access: r.devices, why: "device")) }
        var interpreters: [String: String] = [:]
        for tool in profile.tools {
            rules.append(PathRule(path: tool.value, access: r.execute, why: "tool at \(tool.location)"))
            if let interp = SystemPaths.elfInterpreter(of: tool.value) { interpreters[interp] = tool.value }
            if let prefix = SystemPaths.toolPrefix(of: tool.value) {
                rules.append(PathRule(path: prefix, access: r.read, why: "prefix of \(tool.value)"))
            }
        }
        for (interp, tool) in interpreters.sorted(by: { $0.key < $1.key }) {
            rules.append(PathRule(path: interp, access: r.execute, why: "ELF interpreter of \(tool)"))
        }
        for entry in profile.read {
            let path = entry.value == "workspace" ? options.workspace
                : entry.value.hasPrefix("/") ? entry.value : options.workspace + "/" + entry.value
            rules.append(PathRule(path: path, access: r.read, why: "read at \(entry.location)"))
        }
        for zone in profile.write {
            let path = zone.path.isEmpty ? options.workspace : options.workspace + "/" + zone.path
            guard FilePaths.exists(path) else {
                notes.append("write zone \(zone.pattern) (\(zone.location)) does not exist in this workspace: nothing can be written there")
                continue
            }
            // A zone naming a directory without /** still lets the role change that directory's
            // entries; Landlock cannot tell one level from all levels.
            rules.append(PathRule(path: path, access: r.write, why: "write zone \(zone.pattern) at \(zone.location)"))
        }
        return rules
    }

    func userNamespacesAllowed() -> Bool {
        if let max = readFile("/proc/sys/user/max_user_namespaces"), Int(max.split(separator: "\n").first ?? "") == 0 {
            return false
        }
        if let legacy = readFile("/proc/sys/kernel/unprivileged_userns_clone"), legacy.hasPrefix("0") {
            return false
        }
        return true
    }

    func cgroupLikelyWritable() -> Bool {
        let own = RunCgroup.ownGroups()
        if let path = own["0::"], let v2 = RunCgroup.unifiedMount() {
            let dir = v2 + (path == "/" ? "" : path)
            let ctl = readFile(dir + "/cgroup.subtree_control") ?? ""
            if ctl.contains("pids") && access(dir, W_OK) == 0 { return true }
        }
        if let p = own["pids"], access("/sys/fs/cgroup/pids" + (p == "/" ? "" : p), W_OK) == 0 { return true }
        return false
    }
}
