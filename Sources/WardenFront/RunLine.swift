import Glibc

/// A `warden run` command line of the plain shape
/// `run --profile P [--workspace DIR] [--timeout D] [--allow-degraded F]... [--json] [--[no-]view]
/// [--keep] [--commit MODE] [--audit PATH] [--no-standby] -- CMD...`,
/// read without the argument parser (whose command tree, built by runtime reflection, costs
/// more than a standby's whole launch). Nil for anything else, including values the full
/// parser would refuse, so that it handles every case that needs a message.
public struct RunLine {
    public var profile: String
    public var workspace: String?
    public var timeout: Double?
    public var json = false
    public var audit: String?
    /// As given: unknown names make no key a standby was made for, and the full parser names them.
    public var degraded: Set<String> = []
    public var useStandby = true
    public var view = true
    public var keep = false
    /// As given; the core checks it against its modes.
    public var commit = "success"
    public var command: [String]

    public init?(_ args: [String]) {
        guard args.first == "run" else { return nil }
        var profile: String?
        var i = 1
        func value() -> String? {
            i += 1
            return i < args.count ? args[i] : nil
        }
        while i < args.count, args[i] != "--" {
            switch args[i] {
            case "--profile": guard let v = value() else { return nil }; profile = v
            case "--workspace": guard let v = value() else { return nil }; workspace = v
            case "--timeout":
                guard let v = value(), let d = parseDuration(v) else { return nil }
                timeout = d
            case "--allow-degraded": guard let v = value() else { return nil }; degraded.insert(v)
            case "--json": json = true
            case "--view": view = true
            case "--no-view": view = false
            case "--keep": keep = true
            case "--no-standby": useStandby = false
            case "--commit": guard let v = value() else { return nil }; commit = v
            case "--audit": guard let v = value() else { return nil }; audit = absolutePath(v)
            default: return nil
            }
            i += 1
        }
        guard let profile, i < args.count - 1 else { return nil }
        self.profile = profile
        command = Array(args[(i + 1)...])
    }

    /// Where this line's launch is filed: the plan cache, the working directory, and the plan's
    /// key (`PlanKey.key`), `engine` being the binary that runs it. Nil when the workspace is not
    /// a directory or there is no usable cache. Reads the environment through getenv: its first
    /// dictionary of strings costs a launch most of a millisecond, and a standby's run needs none.
    public func locate(engine: String) -> Place? {
        let variable: (String) -> String? = { getenv($0).map { String(cString: $0) } }
        let cwd = currentDirectory()
        let root = absolutePath(workspace ?? cwd)
        guard FilePaths.isDirectory(root), let directory = PlanKey.cacheDirectory(variable) else { return nil }
        let key = PlanKey.key(profile: profile, workspace: root, cwd: cwd, allowDegraded: degraded.sorted(),
                              engine: engine, variable)
        LaunchTiming.mark("keyed")
        return Place(directory: directory, cwd: cwd, root: root, planKey: key)
    }

    public struct Place {
        /// The plan cache, where the standby's socket is too.
        public var directory: String
        public var cwd: String
        /// The workspace, absolute and real.
        public var root: String
        public var planKey: String
    }

    /// Hands the command to the standby waiting for this line at `place` (from `locate`), if
    /// one is and the line allows it; see `StandbyClient.run`.
    public func runOnStandby(at place: Place) -> Int32? {
        guard useStandby else { return nil }
        let key = Standby.key(planKey: place.planKey, timeout: timeout, json: json, audit: audit,
                              view: view, keep: keep, commit: commit)
        return StandbyClient.run(directory: place.directory, key: key, argv: command, environment: environmentEntries(),
                                 cwd: place.cwd)
    }
}

public func currentDirectory() -> String {
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buf, buf.count) != nil else { return "/" }
    return String(cString: buf)
}

/// `path` made absolute against the working directory, with symbolic links resolved when it exists.
public func absolutePath(_ path: String) -> String {
    let joined = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
    return FilePaths.realPath(joined) ?? joined
}

/// `environ` as it is: `NAME=value` entries.
public func environmentEntries() -> [String] {
    var entries: [String] = []
    var p = environ
    while let entry = p.pointee {
        entries.append(String(cString: entry))
        p += 1
    }
    return entries
}
