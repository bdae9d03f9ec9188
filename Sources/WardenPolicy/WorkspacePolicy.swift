// The rules that bind roles together in one workspace (`policies/*.yaml`): who owns which zone,
// and what the gate lets through. Parsed like profiles, so every value keeps its file:line:col
// and every mistake in any file stops the whole policy from loading.

import Foundation
import WardenFront
import Yams

/// A zone exactly one role owns: no other role's changeset may touch it.
public struct OwnershipRule: Sendable, Hashable {
    public var zone: WriteZone
    public var owner: Located<String>

    public init(zone: WriteZone, owner: Located<String>) {
        self.zone = zone
        self.owner = owner
    }
}

/// The workspace policy's `gate:` settings. A nil limit keeps the gate's default.
public struct GateSettings: Sendable, Hashable {
    public var maxFiles: Int?
    public var maxFileBytes: UInt64?
    public var maxBytes: UInt64?
    public var maxDepth: Int?
    public var maxPath: Int?
    /// Each gate commit also becomes a git commit when the workspace is a git repository.
    public var gitCommits = false
    /// Where each setting was given, by key: the line a user edits when a limit refuses them.
    public var locations: [String: SourceLocation] = [:]

    public init() {}
}

public struct WorkspacePolicy: Sendable {
    public var ownership: [OwnershipRule] = []
    public var gate = GateSettings()
    /// The policy files it was read from, in load order.
    public var files: [String] = []
    /// Warnings and notes (an owner no profile is named after, keys not enforced yet); a
    /// policy with errors does not load at all.
    public var diagnostics: [Diagnostic] = []

    public init() {}

    /// Top-level keys of a workspace policy file; `sets` is read by `SyscallSets`.
    static let topLevelKeys = ["sets", "ownership", "gate", "handoffs", "review", "inbox"]
    static let notEnforced = ["handoffs", "review", "inbox"]
    static let gateKeys = ["max_files", "max_file_bytes", "max_bytes", "max_depth", "max_path", "git_commits"]

    /// Whether a file in `policies/` is ours to read. A file that does not parse cannot say,
    /// so one with a policy key at the start of a line counts: a typo in the YAML must not
    /// quietly drop the ownership rules it holds.
    static func isPolicyFile(text: String) -> Bool {
        let keys = PolicyLoader.topLevelKeys(of: text)
        if !keys.isEmpty { return keys.contains(where: topLevelKeys.contains) }
        return text.split(separator: "\n").contains { line in
            topLevelKeys.contains { line.hasPrefix($0 + ":") || line.hasPrefix($0 + " :") }
        }
    }

    /// Reads every file in order; the same zone or gate setting given twice with different
    /// values (in one file or across files) is an error at both places.
    static func load(files: [(name: String, text: String)], knownRoles: Set<String>,
                     log: inout DiagnosticLog) -> WorkspacePolicy {
        var policy = WorkspacePolicy()
        var parser = WorkspacePolicyParser(knownRoles: knownRoles)
        for file in files {
            let start = log.all.count
            let yaml = YAMLFile(name: file.name, text: file.text, log: &log)
            parser.parse(yaml, into: &policy, log: &log)
            log.sortByPosition(from: start)
            policy.files.append(file.name)
        }
        return policy
    }
}

extension WriteZone {
    /// Whether `path` (workspace-relative) lies in this zone.
    public func covers(_ path: String) -> Bool {
        recursive ? (self.path.isEmpty || path == self.path || path.hasPrefix(self.path + "/")) : path == self.path
    }

    /// Longer paths are more specific; at the same path one file beats the tree beneath it.
    public var specificity: (Int, Int) { (path.isEmpty ? 0 : path.split(separator: "/").count, recursive ? 0 : 1) }
}

/// Reads one file's `ownership:` and `gate:` into the policy, remembering where each zone and
/// setting was first given so a second, different one can name both places.
struct WorkspacePolicyParser {
    let knownRoles: Set<String>
    var zoneOwners: [String: OwnershipRule] = [:]

    init(knownRoles: Set<String>) { self.knownRoles = knownRoles }

    mutating func parse(_ yaml: YAMLFile, into policy: inout WorkspacePolicy, log: inout DiagnosticLog) {
        guard let top = yaml.topMapping(what: "policy file", log: &log) else { return }
        for entry in yaml.knownEntries(of: top, allowed: WorkspacePolicy.topLevelKeys, in: "policy file", log: &log) {
            switch entry.key {
            case "ownership": parseOwnership(entry.value, yaml, into: &policy, log: &log)
            case "gate": parseGate(entry.value, yaml, into: &policy.gate, log: &log)
            case let key where WorkspacePolicy.notEnforced.contains(key):
                log.note(yaml.location(entry.keyNode), "'\(key)' is accepted but not enforced yet",
                         hint: "warden reads it without checking it; the rules it states are not applied")
            default: break // sets: read and checked by SyscallSets
            }
        }
    }

    private mutating func parseOwnership(_ node: Node, _ yaml: YAMLFile, into policy: inout WorkspacePolicy,
                                         log: inout DiagnosticLog) {
        guard let mapping = yaml.mapping(node, for: "ownership", what: "a mapping of zones to roles",
                                         example: #"ownership: { "Sources/**": code, "Tests/**": test }"#, log: &log)
        else { return }
        for (keyNode, value) in mapping {
            guard let pattern = yaml.string(keyNode, for: "ownership", log: &log) else { continue }
            guard value.scalar != nil, !YAMLFile.isNull(value) else {
                log.error(yaml.location(value), "expected one role for 'ownership.\(pattern.value)', got \(YAMLFile.kind(value))",
                          hint: "each zone has exactly one owner: write \"\(pattern.value)\": ROLE")
                continue
            }
            guard let owner = yaml.string(value, for: "ownership.\(pattern.value)", log: &log) else { continue }
            let zone: WriteZone
            switch PathRules.writeZone(pattern) {
            case .success(let parsed): zone = parsed
            case .failure(let problem):
                log.error(pattern.location, problem.message.replacingOccurrences(of: "write zone", with: "ownership zone"),
                          hint: problem.hint)
                continue
            }
            guard WorkspacePolicyParser.isRoleName(owner.value) else {
                log.error(owner.location, "'\(owner.value)' is not a role name",
                          hint: "an owner is one role, such as code or test: letters, digits, '-' and '_'")
                continue
            }
            if !knownRoles.contains(owner.value) {
                log.warning(owner.location, "no profile is named '\(owner.value)'; no run can act as this owner",
                            hint: suggestion(for: owner.value, among: knownRoles.sorted(), listing: "known roles are"))
            }
            let rule = OwnershipRule(zone: zone, owner: owner)
            let key = zone.path + (zone.recursive ? "/**" : "")
            if let first = zoneOwners[key] {
                if first.owner.value == owner.value {
                    log.warning(pattern.location, "zone '\(pattern.value)' is already given to \(owner.value) at \(first.zone.location)",
                                hint: "remove one of the two entries")
                } else {
                    let hint = "each zone has exactly one owner; remove one entry, or give one role a narrower zone"
                    log.error(pattern.location, "zone '\(pattern.value)' has two owners: \(owner.value) here and \(first.owner.value) at \(first.zone.location)",
                              hint: hint)
                    log.error(first.zone.location, "zone '\(first.zone.pattern)' has two owners: \(first.owner.value) here and \(owner.value) at \(pattern.location)",
                              hint: hint)
                }
                continue
            }
            zoneOwners[key] = rule
            policy.ownership.append(rule)
        }
    }

    private func parseGate(_ node: Node, _ yaml: YAMLFile, into gate: inout GateSettings, log: inout DiagnosticLog) {
        guard let mapping = yaml.mapping(node, for: "gate", example: "gate: { max_files: 5000, max_bytes: 64MiB }", log: &log)
        else { return }
        var allowed = WorkspacePolicy.gateKeys
        allowed.append("forbid")
        for (key, keyNode, value) in yaml.knownEntries(of: mapping, allowed: allowed, in: "gate", log: &log) {
            if key == "forbid" {
                log.error(yaml.location(keyNode), "'forbid' is not a setting",
                          hint: "the gate always refuses devices, FIFOs, sockets, setuid files, hard links and symlinks out of the workspace; remove the key")
                continue
            }
            guard let entry = yaml.string(value, for: "gate.\(key)", log: &log) else { continue }
            if let first = gate.locations[key] {
                log.error(entry.location, "gate.\(key) is already set at \(first)",
                          hint: "give each gate setting once across policies/*.yaml")
                continue
            }
            let text = entry.value
            let sizeHint = "sizes are a number with a unit: 64MiB, 512KiB (K, M, G are powers of 1024); a bare number is bytes"
            func positive<T: Comparable & Numeric>(_ parsed: T?, kind: String, hint: String) -> T? {
                guard let parsed, parsed > 0, !text.hasPrefix("-") else {
                    log.error(entry.location, "invalid \(kind) '\(text)' for 'gate.\(key)'", hint: hint)
                    return nil
                }
                return parsed
            }
            switch key {
            case "max_files": gate.maxFiles = positive(Int(text), kind: "count", hint: "write a whole number above zero, e.g. 5000")
            case "max_depth": gate.maxDepth = positive(Int(text), kind: "count", hint: "write a whole number above zero, e.g. 64")
            case "max_path": gate.maxPath = positive(Int(text), kind: "length", hint: "the longest path in bytes, a whole number above zero, e.g. 1024")
            case "max_file_bytes": gate.maxFileBytes = positive(parseByteSize(text), kind: "size", hint: sizeHint)
            case "max_bytes": gate.maxBytes = positive(parseByteSize(text), kind: "size", hint: sizeHint)
            case "git_commits":
                guard value.scalar?.style == .plain, ["true", "false"].contains(text) else {
                    log.error(entry.location, "expected true or false for 'gate.git_commits', got '\(text)'",
                              hint: "write git_commits: true")
                    continue
                }
                gate.gitCommits = text == "true"
            default: continue
            }
            gate.locations[key] = entry.location
        }
    }

    static func isRoleName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" }
    }
}

extension PolicyLoader {
    /// The workspace policy: every `policies/*.yaml` with a policy key, read together. Throws
    /// `PolicyError` (every error, FILE:LINE:COLUMN with a hint) when any file is wrong;
    /// warnings come back in `diagnostics`. A workspace without policy files has an empty one.
    public func workspacePolicy() throws -> WorkspacePolicy {
        var log = DiagnosticLog()
        var policy = WorkspacePolicy.load(files: workspacePolicyFiles(log: &log), knownRoles: knownRoles, log: &log)
        if log.hasErrors { throw PolicyError(diagnostics: log.errors) }
        policy.diagnostics = log.all
        return policy
    }

    /// Roles an owner may name: every profile, and `human`, the gate's role for hand edits.
    var knownRoles: Set<String> { Set(availableProfiles().map(\.name) + ["human"]) }

    func workspacePolicyFiles(log: inout DiagnosticLog) -> [(name: String, text: String)] {
        Self.yamlFiles(in: environment.workspace + "/policies").compactMap { path in
            switch Self.readText(path) {
            case .success(let text): return WorkspacePolicy.isPolicyFile(text: text) ? (path, text) : nil
            case .failure(let problem):
                log.error(SourceLocation(file: path, line: 0, column: 0), "cannot read '\(path)': \(problem.message)")
                return nil
            }
        }
    }

    /// Lint of one policy file: read with the workspace's other policy files, so a zone another
    /// file already gives to a different owner is caught; reports only what lies in this file.
    func lintWorkspacePolicyFile(_ path: String, text: String, log: inout DiagnosticLog) {
        let identity = FilePaths.realPath(path) ?? path
        var ignored = DiagnosticLog()
        let others = workspacePolicyFiles(log: &ignored).filter { (FilePaths.realPath($0.name) ?? $0.name) != identity }
        var all = DiagnosticLog()
        _ = WorkspacePolicy.load(files: others + [(path, text)], knownRoles: knownRoles, log: &all)
        log.append(contentsOf: all.all.filter { $0.location.file == path })
    }
}
