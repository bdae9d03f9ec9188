// The "fix:" line under every denial: the smallest profile change that would have allowed
// the operation, pointing at the file:line of the key to edit. Smallest matters: a user who
// copies the suggestion should widen the profile by exactly one operation's worth, not
// grant a whole tree because that was easier to phrase.
//
// Locations are passed in as `FILE:LINE` strings; this module knows no policy types, so the
// caller (who has the profile's source locations) decides which line the key lives on.

public enum Suggestion {
    /// `add "/usr/bin/curl" to tools in profiles/code.yaml:7`
    public static func tool(_ path: String, at location: String) -> String {
        "add \(quoted(path)) to tools in \(location)"
    }

    /// `add "src/gen/**" to write in profiles/code.yaml:12`, or nil when no write zone can
    /// allow the path (it is outside the workspace, where only `scratch:` can give a role a
    /// private directory, and no profile can let it change host files).
    public static func write(_ path: String, workspace: String, at location: String) -> String? {
        writeZone(for: path, workspace: workspace).map { "add \(quoted($0)) to write in \(location)" }
    }

    /// The tightest write zone covering `path`: its parent directory + `/**`, relative to the
    /// workspace (creating, renaming or deleting a file needs rights on the directory), or the
    /// file itself when it sits at the workspace root, since `**` would grant everything.
    /// Components a zone cannot spell (glob characters, backslashes) make the zone stop at
    /// the nearest ancestor that can be spelled, because the linter refuses patterns.
    /// `path` is absolute or workspace-relative; `..` is resolved lexically.
    public static func writeZone(for path: String, workspace: String) -> String? {
        guard let rel = relative(path, to: workspace) else { return nil }
        if rel.isEmpty { return "**" }
        let spellable = rel.prefix { !unspellable($0) }
        if spellable.count == rel.count && rel.count == 1 { return rel[0] }
        let dir = spellable.prefix(rel.count - 1)
        return dir.isEmpty ? "**" : dir.joined(separator: "/") + "/**"
    }

    /// `add "/home/me/data/input.csv" to read in profiles/code.yaml:5`: the path itself,
    /// workspace-relative when inside the workspace. Read entries may name single files, so
    /// nothing wider is needed unless a component cannot be spelled.
    public static func read(_ path: String, workspace: String, at location: String) -> String {
        "add \(quoted(readEntry(for: path, workspace: workspace))) to read in \(location)"
    }

    public static func readEntry(for path: String, workspace: String) -> String {
        if let rel = relative(path, to: workspace) {
            let spellable = rel.prefix { !unspellable($0) }
            return spellable.isEmpty ? "workspace" : spellable.joined(separator: "/")
        }
        let components = normalize(path.hasPrefix("/") ? path : "/" + path)
        let spellable = components.prefix { !unspellable($0) }
        return "/" + spellable.joined(separator: "/")
    }

    /// `add "keyctl" to syscalls.allow in profiles/code.yaml:20 (it is denied by @keyring)`.
    /// `deniedBy` is the set that denied it; nil or the call's own name when the profile
    /// denied the call by name, in which case there is no set to mention.
    public static func syscall(_ name: String, deniedBy set: String?, at location: String) -> String {
        var text = "add \(quoted(name)) to syscalls.allow in \(location)"
        if let set, set != name { text += " (it is denied by \(set))" }
        return text
    }

    /// `set network: on (or allow: [443]) in profiles/code.yaml:15` for a role with the
    /// network off. Without a TCP port (a UDP or raw socket, a bare socket() call) only
    /// `network: on` would help, so the allow-list alternative is not offered.
    public static func network(port: Int?, at location: String) -> String {
        if let port { return "set network: on (or allow: [\(port)]) in \(location)" }
        return "set network: on in \(location)"
    }

    /// `add 443 to network.allow in profiles/code.yaml:15` for a role that already has an
    /// allow-list: turning the whole network on would be far wider than needed.
    public static func networkPort(_ port: Int, at location: String) -> String {
        "add \(port) to network.allow in \(location)"
    }

    /// `raise limits.memory above 512M in profiles/code.yaml:30`
    public static func limit(_ name: String, current: String?, at location: String) -> String {
        "raise limits.\(name)\(current.map { " above \($0)" } ?? "") in \(location)"
    }

    /// `run with a longer --timeout than 10s` when the command line's `--timeout`, not the
    /// profile's `limits.wall`, was the limit the run hit: editing the profile would not help.
    public static func timeout(current: String) -> String {
        "run with a longer --timeout than \(current)"
    }

    // MARK: Paths

    /// Components of `path` below `workspace`, or nil when it is not inside. [] is the root.
    static func relative(_ path: String, to workspace: String) -> [String]? {
        let ws = normalize(workspace)
        let full = normalize(path.hasPrefix("/") ? path : workspace + "/" + path)
        guard full.count >= ws.count, Array(full.prefix(ws.count)) == ws else { return nil }
        return Array(full.dropFirst(ws.count))
    }

    /// Lexical normalization: `//`, `.` and `..` (never above `/`).
    static func normalize(_ path: String) -> [String] {
        var out: [String] = []
        for c in path.split(separator: "/") {
            switch c {
            case ".": continue
            case "..": if !out.isEmpty { out.removeLast() }
            default: out.append(String(c))
            }
        }
        return out
    }

    /// Characters the profile linter refuses in a path (they read as glob patterns).
    static func unspellable(_ component: String) -> Bool {
        component.contains { "*?[{\\".contains($0) }
    }

    /// A YAML double-quoted scalar, which is what a JSON string is.
    static func quoted(_ s: String) -> String { AuditJSON.string(s) }
}
