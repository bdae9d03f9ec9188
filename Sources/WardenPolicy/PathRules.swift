import WardenFront

// Path syntax for read, write and scratch entries. Landlock grants access to file
// hierarchies, so the only patterns accepted are the ones a hierarchy can express; anything
// that looks like a finer-grained glob is refused rather than silently widened.

struct PathProblem: Error {
    var message: String
    var hint: String?
}

enum PathRules {
    static let globCharacters: Set<Character> = ["*", "?", "[", "{"]

    static let landlockHint = """
        Landlock grants access to whole file hierarchies, not to patterns: write '**' for the \
        whole workspace, 'DIR/**' for a directory and everything beneath it, or an exact path
        """

    /// A write zone: `**`, `DIR/**`, or one exact workspace-relative path.
    static func writeZone(_ entry: Located<String>) -> Result<WriteZone, PathProblem> {
        let raw = entry.value
        if raw.hasPrefix("/") || raw.hasPrefix("~") {
            return .failure(PathProblem(
                message: "write zone '\(raw)' is outside the workspace",
                hint: "write zones are relative to the workspace root; for a private temporary directory use scratch:"))
        }
        if raw == "**" {
            return .success(WriteZone(pattern: raw, path: "", recursive: true, location: entry.location))
        }
        let recursive = raw.hasSuffix("/**")
        let base = recursive ? String(raw.dropLast(3)) : raw
        return normalizeRelative(base, what: "write zone '\(raw)'").flatMap { path in
            if path.isEmpty && !recursive {
                return .failure(PathProblem(message: "write zone '\(raw)' names no path",
                                            hint: "write '**' for the whole workspace"))
            }
            return .success(WriteZone(pattern: raw, path: path, recursive: recursive, location: entry.location))
        }
    }

    /// A read entry: `workspace`, a workspace-relative path (`docs/`, `docs/**`) or an absolute
    /// host path. Relative entries come back normalized, and `workspace` when they name the root.
    static func readEntry(_ raw: String) -> Result<String, PathProblem> {
        if raw == "workspace" || raw == "**" { return .success("workspace") }
        if raw.hasPrefix("/") { return normalizeAbsolute(raw, what: "read path '\(raw)'") }
        if raw.hasPrefix("~") {
            return .failure(PathProblem(message: "read path '\(raw)': '~' is not expanded",
                                        hint: "write the absolute path of the directory"))
        }
        let base = raw.hasSuffix("/**") ? String(raw.dropLast(3)) : raw
        return normalizeRelative(base, what: "read path '\(raw)'").map { $0.isEmpty ? "workspace" : $0 }
    }

    /// A scratch directory: an absolute host path that the sandbox replaces with a private,
    /// empty directory. It may not overlap the workspace, which it would hide or be hidden by.
    static func scratch(_ raw: String, workspace: String) -> Result<String, PathProblem> {
        guard raw.hasPrefix("/") else {
            return .failure(PathProblem(message: "scratch path '\(raw)' is not absolute",
                                        hint: "scratch directories are host paths such as /tmp"))
        }
        return normalizeAbsolute(raw, what: "scratch path '\(raw)'").flatMap { path in
            if path == "/" {
                return .failure(PathProblem(message: "scratch path '/' would hide the whole file system",
                                            hint: "name a directory such as /tmp"))
            }
            // Scratch inside the workspace would hide workspace files. A workspace inside scratch
            // cannot be re-bound into the tmpfs either: Landlock's path walk climbs through the
            // mount point, so the scratch write rule would cover every workspace file.
            if FilePaths.isInside(path, workspace) {
                return .failure(PathProblem(
                    message: "scratch path '\(raw)' is inside the workspace \(workspace)",
                    hint: "scratch directories are private and empty; use write: to let the role change workspace files"))
            }
            if FilePaths.isInside(workspace, path) {
                return .failure(PathProblem(
                    message: "the workspace \(workspace) is inside scratch path '\(raw)', which the run replaces with an empty private directory",
                    hint: "move the workspace out of \(path) (e.g. to /var/tmp or your home), or use a profile without this scratch path"))
            }
            return .success(path)
        }
    }

    /// Strips `./` components and a trailing `/`; refuses `..`, empty components, NUL,
    /// backslashes and glob characters. The root itself normalizes to "".
    static func normalizeRelative(_ raw: String, what: String) -> Result<String, PathProblem> {
        if raw.isEmpty { return .failure(PathProblem(message: "\(what) is empty", hint: nil)) }
        if let problem = characterProblem(raw, what: what) { return .failure(problem) }
        var components = raw.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if components.count > 1, components.last == "" { components.removeLast() }
        var kept: [String] = []
        for component in components {
            switch component {
            case ".": continue
            case "":
                return .failure(PathProblem(message: "\(what) has an empty path component",
                                            hint: "remove the doubled '/'"))
            case "..":
                return .failure(PathProblem(message: "\(what) is outside the workspace",
                                            hint: "paths are relative to the workspace root and may not contain '..'"))
            default:
                kept.append(component)
            }
        }
        return .success(kept.joined(separator: "/"))
    }

    /// Collapses `//`, `/./` and a trailing `/`; refuses `..`, which cannot be resolved
    /// without following symlinks.
    static func normalizeAbsolute(_ raw: String, what: String) -> Result<String, PathProblem> {
        if let problem = characterProblem(raw, what: what) { return .failure(problem) }
        var kept: [Substring] = []
        for component in raw.split(separator: "/") where component != "." {
            if component == ".." {
                return .failure(PathProblem(message: "\(what) is not normalized: it contains '..'",
                                            hint: "write the path without '..'"))
            }
            kept.append(component)
        }
        return .success("/" + kept.joined(separator: "/"))
    }

    private static func characterProblem(_ raw: String, what: String) -> PathProblem? {
        if raw.contains("\0") || raw.contains("\\") {
            return PathProblem(message: "\(what) contains a NUL or backslash character",
                               hint: "paths use '/' as the separator")
        }
        if raw.contains(where: globCharacters.contains) {
            return PathProblem(message: "\(what) is a pattern Landlock cannot express", hint: landlockHint)
        }
        return nil
    }
}
