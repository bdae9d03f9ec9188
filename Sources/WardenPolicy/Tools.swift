// Resolves the exec allowlist against the host at load time, so the sandbox can grant
// execute on exact files and a missing tool is a load error rather than a confusing EACCES
// inside the run.

import Foundation
import WardenFront

struct ToolResolver {
    let workspace: String
    let searchPath: String

    enum Outcome {
        case found(String)
        case problem(PathProblem)
        /// A bare name found nowhere on PATH, or an absolute path that does not exist.
        case missing(PathProblem)
    }

    /// `optional` tools never make a profile fail for reasons of the host: a PATH hit inside
    /// the workspace is passed over (the sandbox mounts the workspace noexec) and the search
    /// goes on. A required tool found there is an error instead, since silently picking a
    /// different binary than the shell would is worse than saying so.
    func resolve(_ name: String, optional: Bool) -> Outcome {
        if name.isEmpty || name.contains("\0") {
            return .problem(PathProblem(message: "tool name '\(name)' is not a file name", hint: nil))
        }
        // A directory entry (written with a trailing slash, so it cannot happen by accident)
        // lets every program beneath it run: compilers exec helpers such as cc1 and
        // collect2 from version-specific directories.
        if name.hasPrefix("/") && name.hasSuffix("/") && name.count > 1 {
            guard FilePaths.isDirectory(name) else {
                return .missing(PathProblem(
                    message: "tool directory '\(name)' does not exist",
                    hint: "a tools entry ending in '/' names a directory whose programs may all run"))
            }
            if let problem = insideWorkspace(name) { return .problem(problem) }
            return .found(name)
        }
        if name.hasPrefix("/") {
            guard Self.isExecutableFile(name) else {
                return .missing(PathProblem(
                    message: "tool '\(name)' is not an executable file",
                    hint: "absolute tool paths must name an existing, executable regular file"))
            }
            if let problem = insideWorkspace(name) { return .problem(problem) }
            return .found(name)
        }
        if name.contains("/") {
            return .problem(PathProblem(
                message: "tool '\(name)' is a relative path",
                hint: "name a tool by its bare name (looked up on PATH) or by an absolute path"))
        }
        for directory in searchDirectories {
            let candidate = directory == "/" ? "/" + name : directory + "/" + name
            guard Self.isExecutableFile(candidate) else { continue }
            if let problem = insideWorkspace(candidate) {
                if optional { continue }
                return .problem(problem)
            }
            return .found(candidate)
        }
        return .missing(PathProblem(message: "tool '\(name)' was not found on PATH",
                                    hint: "searched PATH=\(searchPath)"))
    }

    /// Relative PATH entries would be resolved against whatever directory warden runs in,
    /// which is not a stable meaning for a policy, so only absolute ones are searched.
    private var searchDirectories: [String] {
        searchPath.split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }.map { dir in
            dir.count > 1 && dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        }
    }

    private func insideWorkspace(_ path: String) -> PathProblem? {
        let real = FilePaths.realPath(path) ?? path
        guard FilePaths.isInside(path, workspace) || FilePaths.isInside(real, workspace) else { return nil }
        return PathProblem(
            message: "tool '\(path)' is inside the workspace",
            hint: "the sandbox mounts the workspace noexec; install the tool outside the workspace")
    }

    /// An existing regular file (after following symlinks) with an execute bit we may use.
    static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    /// Programs that run code they read: allowing one allows whatever it can be told to do,
    /// within the other limits of the sandbox.
    static func isInterpreter(_ path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let exact: Set<String> = [
            "sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "busybox", "env",
            "perl", "ruby", "node", "nodejs", "php", "lua", "tclsh", "irb", "deno", "bun",
        ]
        if exact.contains(name) { return true }
        return ["python", "pypy", "perl5", "ruby", "lua", "php", "node"].contains { prefix in
            name.hasPrefix(prefix) && name.dropFirst(prefix.count).allSatisfy { $0.isNumber || $0 == "." }
        }
    }
}
