import Glibc
import WardenPolicy
import WardenSandbox

/// The launch path for a plan already in the cache, for a command line of the plain shape
/// (`RunLine`): the agent starts without parsing policy or building the argument parser's
/// command tree. Nil for anything else (help, --explain, errors, a cache miss), so that the
/// full command line parser handles every case that needs a message.
enum FastRun {
    static func attempt(_ args: [String]) -> Int32? {
        guard let line = RunLine(args), line.degraded.isSubset(of: Protection.features),
              let commit = CommitMode(rawValue: line.commit) else { return nil }
        // The front (the `warden` binary) tried the standby already and says so with
        // --no-standby; this is for the core run directly.
        if let status = line.runOnStandby(engine: "/proc/self/exe") { return status }
        let root = line.root
        let environment = processEnvironment()
        guard FilePaths.isDirectory(root), let cache = PlanCache.standard(environment: environment) else { return nil }
        let cwd = currentDirectory()
        let key = PlanCache.key(profile: line.profile, workspace: root, cwd: cwd, environment: environment,
                                allowDegraded: line.degraded)
        LaunchTiming.mark("keyed")
        guard let compiled = cache.load(key: key) else { return nil }
        LaunchTiming.mark("plan loaded")
        let options = LaunchOptions(workspace: root, command: line.command, timeout: line.timeout, allowDegraded: line.degraded,
                                    cwd: cwd, environment: environment, runID: makeRunID())
        let view = ViewOptions(enabled: line.view, keep: line.keep, commit: commit)
        do {
            return execute(try LaunchPlan.bind(compiled, options: options), json: line.json, cached: true,
                           auditPath: line.audit, view: view)
        } catch let error as SandboxError {
            return report(error)
        } catch {
            return nil
        }
    }
}
