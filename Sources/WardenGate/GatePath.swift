import Foundation

/// The text checks every changeset path passes before anything looks at the filesystem. A path
/// arrives as the bytes the agent's filesystem held, so a name that is not UTF-8, or that two
/// filesystems would fold into one, is caught here rather than by a surprised apply.
public enum GatePath {
    /// Longest workspace-relative path accepted, in bytes (PATH_MAX less room for the root).
    public static let maxBytes = 3072

    /// Everything wrong with `raw`, or nothing. `raw` is workspace-relative.
    public static func problems(_ raw: [UInt8], maxBytes: Int = maxBytes) -> [String] {
        var found: [String] = []
        if raw.isEmpty { return ["the path is empty"] }
        if raw.contains(0) { found.append("the path contains a NUL byte") }
        if raw.contains(UInt8(ascii: "\\")) { found.append("the path contains a backslash") }
        // A newline or an escape sequence in a name is there to confuse whoever reads a listing.
        if raw.contains(where: { ($0 != 0 && $0 < 0x20) || $0 == 0x7f }) { found.append("the path contains a control character") }
        if raw.first == UInt8(ascii: "/") { found.append("the path is absolute") }
        if raw.count > maxBytes { found.append("the path is \(raw.count) bytes long (limit \(maxBytes))") }
        if String(validatingUTF8: raw.map { CChar(bitPattern: $0) } + [0]) == nil && !raw.contains(0) {
            found.append("the path is not valid UTF-8")
        }
        let components = raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let inner = raw.first == UInt8(ascii: "/") ? components.dropFirst() : components[...]
        if inner.contains(where: { $0.isEmpty }) { found.append("the path has an empty component (`//` or a trailing `/`)") }
        if inner.contains(where: { $0.elementsEqual([UInt8(ascii: ".")]) }) { found.append("the path has a `.` component") }
        if inner.contains(where: { $0.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) }) {
            found.append("the path has a `..` component")
        }
        return found
    }

    /// The key under which two paths name the same file on a case-insensitive or
    /// Unicode-normalising filesystem (macOS, Windows shares, a checkout on either): canonical
    /// composition, then case folding.
    public static func collisionKey(_ path: String) -> String {
        path.precomposedStringWithCanonicalMapping.folding(options: [.caseInsensitive], locale: nil)
    }

    /// Whether `path` is `dir` or beneath it (`dir` empty: the whole workspace).
    public static func isInside(_ path: String, _ dir: String) -> Bool {
        dir.isEmpty || path == dir || path.hasPrefix(dir + "/")
    }

    /// Where a symlink at `link` with text `target` points, as a workspace-relative path, or nil
    /// when it leaves the workspace (absolute, or `..` above the root). Computed on the text
    /// alone: the gate never follows a link to find out.
    public static func resolveLinkTarget(_ target: String, from link: String) -> String? {
        if target.isEmpty || target.hasPrefix("/") { return nil }
        var parts = link.split(separator: "/").dropLast().map(String.init)
        for component in target.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                if parts.isEmpty { return nil }
                parts.removeLast()
            default: parts.append(String(component))
            }
        }
        return parts.joined(separator: "/")
    }
}
