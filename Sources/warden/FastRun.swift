import Glibc
import WardenPolicy
import WardenSandbox

/// The launch path for a plan already in the cache. It accepts only the plain shape
/// `run --profile P [--workspace DIR] [--timeout D] [--allow-degraded F]... [--json] [--[no-]view]
/// [--keep] [--commit MODE] [--no-standby] -- CMD...`
/// and returns nil for anything else (help, --explain, errors, a cache miss), so that the full
/// command line parser handles every case that needs a message. The argument parser builds its
/// command tree through runtime reflection, which costs more than the sandbox set-up itself.
enum FastRun {
    static func attempt(_ args: [String]) -> Int32? {
        guard args.first == "run" else { return nil }
        var profile: String?, workspace: String?, timeout: Double?, json = false, audit: String?
        var degraded: Set<String> = []
        var useStandby = true
        var view = ViewOptions()
        var i = 1
        func value() -> String? {
            i += 1
            return i < args.count ? args[i] : nil
        }
        while i < args.count, args[i] != "--" {
            let arg = args[i]
            switch arg {
            case "--profile": guard let v = value() else { return nil }; profile = v
            case "--workspace": guard let v = value() else { return nil }; workspace = v
            case "--timeout":
                guard let v = value(), let d = parseDuration(v) else { return nil }
                timeout = d
            case "--allow-degraded":
                guard let v = value(), Protection.features.contains(v) else { return nil }
                degraded.insert(v)
            case "--json": json = true
            case "--view": view.enabled = true
            case "--no-view": view.enabled = false
            case "--keep": view.keep = true
            case "--no-standby": useStandby = false
            case "--commit":
                guard let v = value(), let mode = CommitMode(rawValue: v) else { return nil }
                view.commit = mode
            case "--audit": guard let v = value() else { return nil }; audit = absolute(v)
            default: return nil
            }
            i += 1
        }
        guard let profile, i < args.count - 1 else { return nil }
        let command = Array(args[(i + 1)...])
        let root = absolute(workspace ?? currentDirectory())
        let cwd = currentDirectory()
        // getenv until a standby declines: its first dictionary of strings costs a launch
        // most of a millisecond, and a standby's run needs none here.
        let variable: (String) -> String? = { getenv($0).map { String(cString: $0) } }
        guard FilePaths.isDirectory(root), let cache = PlanCache.standard(variable) else { return nil }
        let key = PlanCache.key(profile: profile, workspace: root, cwd: cwd, allowDegraded: degraded.sorted(), variable)
        LaunchTiming.mark("keyed")
        let standby = Standby.key(planKey: key, timeout: timeout, json: json, audit: audit, view: view)
        if useStandby, let status = StandbyClient.run(cache: cache, key: standby, argv: command, environment: environmentEntries(), cwd: cwd) {
            return status
        }
        let environment = processEnvironment()
        guard let compiled = cache.load(key: key) else { return nil }
        LaunchTiming.mark("plan loaded")
        let options = LaunchOptions(workspace: root, command: command, timeout: timeout, allowDegraded: degraded,
                                    cwd: cwd, environment: environment, runID: makeRunID())
        do {
            return execute(try LaunchPlan.bind(compiled, options: options), json: json, cached: true, auditPath: audit, view: view)
        } catch let error as SandboxError {
            return report(error)
        } catch {
            return nil
        }
    }
}
