import ArgumentParser
import Glibc
import WardenPolicy
import WardenSandbox

/// Exit codes of warden itself. When the agent ran, warden exits with the agent's status
/// instead (128+N for a signal), so these are chosen outside the shell's usual range.
enum WardenExit {
    static let usage: Int32 = 64        // bad command line
    static let policy: Int32 = 65       // bad policy input: nothing was launched
    static let refused: Int32 = 69      // a protection is unavailable: launch refused
    static let internalError: Int32 = 70
    static let setup: Int32 = 71        // the sandbox could not be set up in the child
    static let gateRejected: Int32 = 73 // the gate refused a changeset: nothing was applied
    static let timeout: Int32 = 124
    static let notPermitted: Int32 = 126
    static let notFound: Int32 = 127
}


struct Warden: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "Run agents under role profiles the kernel enforces.",
        discussion: """
        Launch:   warden run --profile code -- make test
        Prepare:  warden standby --profile code   (the next such run starts at once)
                  warden standbys                 (what waits, for which options)
        Inspect:  warden run --profile code --explain -- make test
        Author:   warden policy lint profiles/mine.yaml
        Profiles: warden profile list | warden profile show code

        Exit status: the command's own (128+N if killed by signal N); 124 timeout;
        65 bad policy input; 69 a protection is unavailable (see --allow-degraded);
        71 the sandbox could not be set up; 73 the gate refused a changeset;
        126 command not allowed; 127 not found.
        """,
        subcommands: [Run.self, StandbyCommand.self, StandbysCommand.self, SubmitCommand.self, AuditCommand.self, GateCommand.self, ChangesCommand.self, ProfileCommand.self, PolicyCommand.self]
    )
}

/// Prints a message the way every warden error looks: `warden: ...` on stderr.
func complain(_ message: String) {
    var text = message.hasPrefix("warden:") ? message : "warden: " + message
    if !text.hasSuffix("\n") { text += "\n" }
    fputs(text, stderr)
}

func processEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    for s in environmentEntries() {
        if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
    }
    return env
}

/// Loads the policy environment for a workspace, turning policy errors into exit 65.
func makeLoader(workspace: String) throws -> PolicyLoader {
    do {
        let path = processEnvironment()["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return try PolicyLoader(environment: PolicyEnvironment(workspace: workspace, searchPath: path))
    } catch let error as PolicyError {
        complain(error.description)
        throw ExitCode(WardenExit.policy)
    }
}

/// The workspace's `policies/*.yaml` (ownership, gate settings); its warnings go to stderr.
func loadWorkspacePolicy(_ loader: PolicyLoader) throws -> WorkspacePolicy {
    do {
        let policy = try loader.workspacePolicy()
        for d in policy.diagnostics where d.severity == .warning { fputs(d.description + "\n", stderr) }
        return policy
    } catch let error as PolicyError {
        fputs(error.description + "\n", stderr)
        throw ExitCode(WardenExit.policy)
    }
}

func loadProfile(_ loader: PolicyLoader, _ name: String) throws -> Profile {
    do {
        return try loader.profile(named: name)
    } catch let error as PolicyError {
        fputs(error.description + "\n", stderr)
        throw ExitCode(WardenExit.policy)
    }
}
