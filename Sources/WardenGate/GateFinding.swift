import WardenAudit

/// One reason a changeset is refused, tied to the path that caused it. The gate collects every
/// finding before it answers, so one report lists all that is wrong, not just the first.
public struct GateFinding: Sendable, Equatable, CustomStringConvertible {
    public enum Rule: String, Sendable, CaseIterable {
        /// Absolute, `..`, NUL, backslash, control character, empty component, invalid UTF-8,
        /// too long.
        case path
        /// Two entries that are the same file on a case-insensitive or normalising filesystem.
        case collision
        /// Outside the role's write zones.
        case zone
        /// Inside another role's ownership zone.
        case ownership
        /// `.git/` or `.warden/`: owned by the gate.
        case reserved
        /// A device, FIFO, socket, setuid/setgid file, file capability, hard link, or a symlink
        /// whose target leaves the workspace.
        case type
        /// Over a files, bytes, depth or path-length limit.
        case limit
        /// Changed by another commit since the agent's base version.
        case conflict
    }

    public var path: String
    public var rule: Rule
    public var message: String

    public init(_ path: String, _ rule: Rule, _ message: String) {
        self.path = path
        self.rule = rule
        self.message = message
    }

    /// The agent named the path: printed escaped, so a name cannot forge a report line or
    /// send the terminal an escape sequence.
    public var description: String { "\(path.isEmpty ? "(changeset)" : printable(path)): \(rule.rawValue): \(message)" }
}

/// The changeset was refused as a whole; nothing in the workspace was touched.
public struct GateRejection: Error, Sendable, CustomStringConvertible {
    public var findings: [GateFinding]
    /// The commit by `human` that recorded hand edits found before the changeset was judged:
    /// it stands even though the changeset was refused.
    public var handEdits: Int64?

    public init(findings: [GateFinding], handEdits: Int64? = nil) {
        self.findings = findings
        self.handEdits = handEdits
    }

    public var description: String {
        "changeset rejected (\(findings.count) problem\(findings.count == 1 ? "" : "s")):\n"
            + findings.map { "  " + $0.description }.joined(separator: "\n")
    }
}
