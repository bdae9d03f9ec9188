// Named syscall sets (`@mount`, `@debug`, ...), so profiles deny families of calls without
// listing every member, and so a new member (say, the next mount API) is added in one place.

import CSeccomp
import Foundation

/// Syscall names as libseccomp knows them. Its tables cover every architecture: a name that
/// does not exist on this one resolves to a negative pseudo-number (below -1), which is still
/// a real syscall name and therefore accepted; only `__NR_SCMP_ERROR` means "no such name".
enum SyscallNames {
    static func isKnown(_ name: String) -> Bool {
        !name.isEmpty && seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR
    }

    /// The calls of the native architecture, for "did you mean" hints.
    static let native: [String] = {
        var names: [String] = []
        for number in Int32(0)..<1024 {
            guard let raw = seccomp_syscall_resolve_num_arch(UInt32(SCMP_ARCH_NATIVE), number) else { continue }
            names.append(String(cString: raw))
            free(raw)
        }
        return names
    }()

    static func hint(forUnknown name: String) -> String {
        if let match = closestMatch(to: name, in: native) { return "did you mean '\(match)'?" }
        return "libseccomp knows no syscall by this name on any architecture"
    }
}

public struct SyscallSets: Sendable {
    struct Definition: Sendable {
        var name: String
        var entries: [Located<String>]
        var location: SourceLocation
    }

    private(set) var definitions: [String: Definition] = [:]

    /// The calls in `set` (`@mount`; the `@` may be left out), with nested sets expanded, in
    /// definition order without repeats. Nil when no such set exists.
    public func names(ofSet set: String) -> [String]? {
        let name = set.hasPrefix("@") ? set : "@" + set
        guard definitions[name] != nil else { return nil }
        var visiting = Set<String>()
        return expand(name, visiting: &visiting).uniqued()
    }

    public var allSetNames: [String] { definitions.keys.sorted() }

    func definition(of set: String) -> Definition? { definitions[set] }

    private func expand(_ set: String, visiting: inout Set<String>) -> [String] {
        // A cycle is reported when the sets are loaded; this guard only keeps expansion finite.
        guard let definition = definitions[set], visiting.insert(set).inserted else { return [] }
        defer { visiting.remove(set) }
        return definition.entries.flatMap { entry in
            entry.value.hasPrefix("@") ? expand(entry.value, visiting: &visiting) : [entry.value]
        }
    }

    /// Loads set definitions from policy files on top of `base` (the built-in sets). A file
    /// may add sets; giving a built-in set a different meaning is an error, because profiles
    /// written against the built-in would silently change. A verbatim copy of a built-in
    /// (the policies/ directory of warden's own repository) is accepted.
    static func load(files: [(name: String, text: String)], base: SyscallSets,
                     log: inout DiagnosticLog) -> SyscallSets {
        let start = log.all.count
        defer { log.sortByPosition(from: start) }
        var sets = base
        var added: [Definition] = []
        for file in files {
            let yaml = YAMLFile(name: file.name, text: file.text, log: &log)
            for definition in parseDefinitions(yaml, log: &log) {
                if let existing = sets.definitions[definition.name] {
                    let builtin = base.definitions[definition.name] != nil
                    if builtin, existing.entries.map(\.value) == definition.entries.map(\.value) { continue }
                    log.error(definition.location,
                              builtin ? "redefines the built-in set '\(definition.name)'"
                                      : "set '\(definition.name)' is already defined at \(existing.location)",
                              hint: "choose a new name, e.g. '\(definition.name)-extra', and include '\(definition.name)' in it")
                    continue
                }
                sets.definitions[definition.name] = definition
                added.append(definition)
            }
        }
        for definition in added {
            sets.validateEntries(of: definition, log: &log)
        }
        return sets
    }

    static func parseDefinitions(_ yaml: YAMLFile, log: inout DiagnosticLog) -> [Definition] {
        guard let top = yaml.topMapping(what: "policy file", log: &log) else { return [] }
        var definitions: [Definition] = []
        // The file may hold the rest of the workspace policy too; WorkspacePolicy reads that.
        for entry in yaml.knownEntries(of: top, allowed: WorkspacePolicy.topLevelKeys, in: "policy file", log: &log)
        where entry.key == "sets" {
            guard let mapping = entry.value.mapping else {
                log.error(yaml.location(entry.value),
                          "expected a mapping of set names to lists of syscalls for 'sets', got \(YAMLFile.kind(entry.value))",
                          hint: #"write it as sets: { "@name": [call, call] }"#)
                continue
            }
            for (keyNode, value) in mapping {
                guard let name = yaml.string(keyNode, for: "sets", log: &log) else { continue }
                guard isValidSetName(name.value) else {
                    log.error(name.location, "invalid set name '\(name.value)'",
                              hint: "set names start with '@' followed by lowercase letters, digits, '-' or '_', e.g. '@mount'")
                    continue
                }
                let entries = yaml.stringList(value, for: name.value, log: &log)
                definitions.append(Definition(name: name.value, entries: entries, location: name.location))
            }
        }
        return definitions
    }

    static func isValidSetName(_ name: String) -> Bool {
        name.count > 1 && name.hasPrefix("@")
            && name.dropFirst().allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "_" }
    }

    /// Every member must be a syscall libseccomp knows or a defined set, and no set may
    /// include itself through any chain of sets.
    private func validateEntries(of definition: Definition, log: inout DiagnosticLog) {
        for entry in definition.entries {
            if entry.value.hasPrefix("@") {
                if definitions[entry.value] == nil {
                    log.error(entry.location, "unknown syscall set '\(entry.value)'",
                              hint: suggestion(for: entry.value, among: allSetNames, listing: "known sets are"))
                } else if let cycle = path(from: entry.value, to: definition.name) {
                    let chain = ([definition.name] + cycle).joined(separator: " -> ")
                    log.error(entry.location, "set '\(definition.name)' includes itself: \(chain)",
                              hint: "remove one of the nested set references")
                }
            } else if !SyscallNames.isKnown(entry.value) {
                log.error(entry.location, "unknown syscall '\(entry.value)' in set '\(definition.name)'",
                          hint: SyscallNames.hint(forUnknown: entry.value))
            }
        }
    }

    /// The chain of set names leading from `start` to `target` through nested references.
    private func path(from start: String, to target: String) -> [String]? {
        var seen = Set<String>()
        func search(_ set: String) -> [String]? {
            if set == target { return [set] }
            guard seen.insert(set).inserted, let definition = definitions[set] else { return nil }
            for entry in definition.entries where entry.value.hasPrefix("@") {
                if let rest = search(entry.value) { return [set] + rest }
            }
            return nil
        }
        return search(start)
    }

    /// The calls a profile's `deny:`/`allow:` entry stands for, each tagged with the set it
    /// came through (nil for a call named directly). Reports unknown names and sets.
    func expand(entry: Located<String>, log: inout DiagnosticLog) -> [DeniedSyscall] {
        if entry.value.hasPrefix("@") {
            guard let names = names(ofSet: entry.value) else {
                log.error(entry.location, "unknown syscall set '\(entry.value)'",
                          hint: suggestion(for: entry.value, among: allSetNames, listing: "known sets are"))
                return []
            }
            return names.map { DeniedSyscall(name: $0, viaSet: entry.value, location: entry.location) }
        }
        guard SyscallNames.isKnown(entry.value) else {
            log.error(entry.location, "unknown syscall '\(entry.value)'",
                      hint: SyscallNames.hint(forUnknown: entry.value))
            return []
        }
        return [DeniedSyscall(name: entry.value, viaSet: nil, location: entry.location)]
    }
}
