import Glibc
import WardenPolicy

/// Finds the command a user asked for and checks it against the role's tools, on every
/// launch (a cached plan included): PATH and the working directory belong to the invocation.
enum CommandBinding {
    static func resolve(options: LaunchOptions, tools: [Located<String>], role: String, file: String) throws -> String {
        guard let name = options.command.first, !name.isEmpty else {
            throw SandboxError.command("no command given: warden run --profile NAME -- CMD [ARGS...]")
        }
        var path: String?
        if name.contains("/") {
            path = name.hasPrefix("/") ? name : options.cwd + "/" + name
        } else {
            let search = options.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            path = search.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
        }
        guard let found = path, FilePaths.exists(found) else {
            throw SandboxError.command("\(name): command not found")
        }
        // The kernel refuses it anyway; saying so here names the line to change.
        let identity = fileIdentity(found)
        var real: String?
        let allowed = tools.contains { t in
            if t.value.hasSuffix("/") {
                if real == nil { real = FilePaths.realPath(found) ?? found }
                return FilePaths.isInside(real!, FilePaths.realPath(t.value) ?? t.value)
            }
            return identity != nil && fileIdentity(t.value).map { $0 == identity! } ?? false
        }
        guard allowed else {
            throw SandboxError.command(
                "\(found) is not in the tools of profile \(role) (\(file)); add it to `tools:` to allow it")
        }
        return found
    }
}
