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
              let commit = CommitMode(rawValue: line.commit),
              let place = line.locate(engine: PlanCache.engine),
              line.audit.map({ auditStoreProblem($0, workspace: place.root) == nil }) ?? true else { return nil }
        // The front (`warden`) asked the standby already, and passes --no-standby when it did;
        // this is for warden-core run directly.
        if let status = line.runOnStandby(at: place) { return status }
        let environment = processEnvironment()
        guard let compiled = PlanCache(directory: place.directory).load(key: place.planKey) else { return nil }
        LaunchTiming.mark("plan loaded")
        let options = LaunchOptions(workspace: place.root, command: line.command,
                                    timeout: line.timeout, allowDegraded: line.degraded, cwd: place.cwd,
                                    environment: environment, runID: makeRunID())
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
