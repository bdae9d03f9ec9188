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
        var line = (workspace: String?.none, timeout: Double?.none, json: false, audit: String?.none,
                    degraded: Set<String>(), useStandby: true, view: true, keep: false, commit: "success")
        while i < args.count, args[i] != "--" {
            switch args[i] {
            case "--profile": guard let v = value() else { return nil }; profile = v
            case "--workspace": guard let v = value() else { return nil }; line.workspace = v
            case "--timeout":
                guard let v = value(), let d = parseDuration(v) else { return nil }
                line.timeout = d
            case "--allow-degraded": guard let v = value() else { return nil }; line.degraded.insert(v)
            case "--json": line.json = true
            case "--view": line.view = true
            case "--no-view": line.view = false
            case "--keep": line.keep = true
            case "--no-standby": line.useStandby = false
            case "--commit": guard let v = value() else { return nil }; line.commit = v
            case "--audit": guard let v = value() else { return nil }; line.audit = absolutePath(v)
            default: return nil
            }
            i += 1
        }
        guard let profile, i < args.count - 1 else { return nil }
        self.profile = profile
        command = Array(args[(i + 1)...])
        (workspace, timeout, json, audit, degraded, useStandby, view, keep, commit) = line
    }

    /// The workspace root, resolved as the plan's key has it.
    public var root: String { absolutePath(workspace ?? currentDirectory()) }

    /// The plan's key for this line (see `PlanKey.key`), `engine` being the binary that runs it.
    public func planKey(cwd: String, engine: String, _ variable: (String) -> String?) -> String {
        PlanKey.key(profile: profile, workspace: root, cwd: cwd, allowDegraded: degraded.sorted(),
                    engine: engine, variable)
    }

    /// The key a standby made for this line waits under.
    public func standbyKey(planKey: String) -> String {
        Standby.key(planKey: planKey, timeout: timeout, json: json, audit: audit, view: view, keep: keep, commit: commit)
    }

    /// Hands the command to the standby waiting for this line, if one is; see `StandbyClient.run`.
    public func runOnStandby(engine: String) -> Int32? {
        guard useStandby else { return nil }
        let cwd = currentDirectory()
        // getenv: the environment's first dictionary of strings costs a launch most of a millisecond.
        let variable: (String) -> String? = { getenv($0).map { String(cString: $0) } }
        guard PlanKey.isDirectory(root), let directory = PlanKey.cacheDirectory(variable) else { return nil }
        let key = standbyKey(planKey: planKey(cwd: cwd, engine: engine, variable))
        LaunchTiming.mark("keyed")
        return StandbyClient.run(directory: directory, key: key, argv: command, environment: environmentEntries(), cwd: cwd)
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
    guard let resolved = realpath(joined, nil) else { return joined }
    defer { free(resolved) }
    return String(cString: resolved)
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
