import Foundation
import Glibc

/// `gate.git_commits: true`: each gate commit also becomes a git commit of exactly its paths,
/// authored by the role. The gate commit has landed by then; git failing (no git, a broken
/// repository, an ignored file) is a warning, never a reason to undo it.
extension Gate {
    /// Makes the git commit for gate commit `seq`, under the gate lock so git commits follow
    /// gate commits in order. Returns a warning, or nil when it worked (or there is no repository).
    func gitCommitLocked(_ seq: Int64) -> String? {
        guard (try? root.stat(".git")) != nil else { return nil }
        guard let commit = try? store.commit(seq) else { return "git commit for gate commit \(seq): the commit is not in the index" }
        let paths = commit.changes.map { ":(literal)" + $0.path }
        guard !paths.isEmpty else { return nil }
        var message = "warden: \(commit.role)\(commit.run.isEmpty ? "" : " run \(commit.run)") (gate commit \(seq))"
        if let task = commit.task, !task.isEmpty { message += "\n\n" + task }
        let identity = ["GIT_AUTHOR_NAME": commit.role, "GIT_AUTHOR_EMAIL": "\(commit.role)@warden.local",
                        "GIT_COMMITTER_NAME": commit.role, "GIT_COMMITTER_EMAIL": "\(commit.role)@warden.local"]
        // -A stages deletions too; --only commits these paths whatever else the index holds.
        // No hooks, no signing: nobody is at the keyboard to answer them.
        let steps: [[String]] = [
            ["add", "-A", "--"] + paths,
            ["-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "--allow-empty", "--only",
             "-m", message, "--"] + paths,
        ]
        for args in steps {
            if let failure = runGit(args, environment: identity) {
                return "git commit for gate commit \(seq) failed (the gate commit stands): \(failure)"
            }
        }
        return nil
    }

    /// Runs git in the workspace; nil on success, else what went wrong.
    private func runGit(_ args: [String], environment: [String: String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", workspace] + args
        var env = ProcessInfo.processInfo.environment
        // An inherited GIT_DIR or index would send the commit somewhere else.
        for name in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_CEILING_DIRECTORIES"] {
            env[name] = nil
        }
        p.environment = env.merging(environment) { $1 }
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return "cannot run git: \(error)" }
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationReason == .exit && p.terminationStatus == 0 { return nil }
        if p.terminationStatus == 127 { return "git is not installed" }
        let detail = text.split(separator: "\n").first.map(String.init) ?? "exit status \(p.terminationStatus)"
        return "git \(args.first ?? ""): \(detail)"
    }
}
