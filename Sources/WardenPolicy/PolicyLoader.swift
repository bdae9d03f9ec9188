// Finds profiles (workspace first, then built-in), follows `extends`, and merges the chain
// into the `Profile` the sandbox enforces.

import Foundation
import WardenFront

/// Where a profile's text comes from.
struct ProfileSource {
    /// The name diagnostics use: `profiles/NAME.yaml` for a built-in, else the path.
    var file: String
    /// `builtin:NAME`, or the file path: what `Profile.file` and `chain` show.
    var display: String
    /// Cycle detection key: `builtin:NAME` or the real path.
    var identity: String
    /// The directory relative `extends` paths start from; nil for a built-in.
    var directory: String?
    var text: String
}

public struct PolicyLoader: Sendable {
    public let environment: PolicyEnvironment
    public let syscallSets: SyscallSets
    let builtinSets: SyscallSets
    /// Workspace policy files with a `sets:` key, as loaded; lint re-checks one against the others.
    let workspaceSetFiles: [(name: String, text: String)]

    static let builtinSetsFile = "policies/syscall-sets.yaml"

    /// Loads the built-in syscall sets, then the workspace's `policies/*.yaml` files that have
    /// a `sets:` key. Throws `PolicyError` when any of them is invalid.
    public init(environment: PolicyEnvironment) throws {
        self.environment = environment
        var log = DiagnosticLog()
        builtinSets = SyscallSets.load(
            files: [(Self.builtinSetsFile, embeddedPolicies[Self.builtinSetsFile] ?? "")],
            base: SyscallSets(), log: &log)
        var files: [(name: String, text: String)] = []
        for path in Self.yamlFiles(in: environment.workspace + "/policies") {
            // A file that does not parse cannot be classified; `lint` reports it.
            guard case .success(let text) = Self.readText(path), Self.topLevelKeys(of: text).contains("sets")
            else { continue }
            files.append((path, text))
        }
        workspaceSetFiles = files
        syscallSets = SyscallSets.load(files: files, base: builtinSets, log: &log)
        if log.hasErrors { throw PolicyError(diagnostics: log.errors) }
    }

    /// NAME -> workspace `profiles/NAME.yaml` if it exists, else the embedded built-in. A value
    /// containing "/" or ending in .yaml/.yml is a file path (relative to the current directory).
    public func profile(named nameOrPath: String) throws -> Profile {
        var log = DiagnosticLog()
        let profile = resolve(nameOrPath, log: &log)
        guard let profile, !log.hasErrors else { throw PolicyError(diagnostics: log.errors) }
        return profile
    }

    /// Built-in and workspace profiles, one per name (a workspace profile hides the built-in
    /// of the same name, as `profile(named:)` does), sorted by name.
    public func availableProfiles() -> [(name: String, source: String, description: String)] {
        var byName: [String: (name: String, source: String, description: String)] = [:]
        for name in Self.builtinProfileNames {
            let text = embeddedPolicies["profiles/\(name).yaml"] ?? ""
            byName[name] = (name, "builtin", Self.ownDescription(of: text))
        }
        for path in Self.yamlFiles(in: environment.workspace + "/profiles") {
            let name = String((path as NSString).lastPathComponent.dropLast(".yaml".count))
            let text = (try? Self.readText(path).get()) ?? ""
            byName[name] = (name, path, Self.ownDescription(of: text))
        }
        return byName.keys.sorted().compactMap { byName[$0] }
    }

    // MARK: Resolution

    func resolve(_ nameOrPath: String, log: inout DiagnosticLog) -> Profile? {
        switch lookup(nameOrPath, from: nil) {
        case .success(let source):
            return resolveChain(from: source, log: &log)
        case .failure(let problem):
            log.error(SourceLocation(file: nameOrPath, line: 0, column: 0), problem.message, hint: problem.hint)
            return nil
        }
    }

    /// Parses `source` and its parents, then merges them. Returns nil only when nothing could
    /// be parsed; the log says what went wrong either way.
    func resolveChain(from source: ProfileSource, log: inout DiagnosticLog) -> Profile? {
        let parser = ProfileParser(
            sets: syscallSets,
            tools: ToolResolver(workspace: environment.workspace, searchPath: environment.searchPath),
            workspace: environment.workspace)
        var chain: [(raw: RawProfile, source: ProfileSource)] = []
        var current = source
        while true {
            let start = log.all.count
            let yaml = YAMLFile(name: current.file, text: current.text, log: &log)
            let parsed = parser.parse(yaml, log: &log)
            log.sortByPosition(from: start)
            guard let raw = parsed else { break }
            chain.append((raw, current))
            guard let extends = raw.extends else { break }
            switch lookup(extends.value, from: current) {
            case .failure(let problem):
                log.error(extends.location, problem.message, hint: problem.hint)
            case .success(let parent):
                if chain.contains(where: { $0.source.identity == parent.identity }) {
                    let names = chain.map(\.source.file) + [parent.file]
                    log.error(extends.location, "extends cycle: \(names.joined(separator: " -> "))",
                              hint: "a profile cannot extend itself, directly or through its parents")
                } else {
                    current = parent
                    continue
                }
            }
            break
        }
        guard !chain.isEmpty else { return nil }
        return merge(chain, log: &log)
    }

    /// Parent first: lists concatenate without repeats, scalars are overridden by the child.
    /// Syscalls go file by file, so a child's `allow:` can take back what a parent denied,
    /// and a later `deny:` can deny it again.
    private func merge(_ chain: [(raw: RawProfile, source: ProfileSource)], log: inout DiagnosticLog) -> Profile {
        var profile = Profile(
            role: chain[0].raw.role?.value ?? "", description: "", file: chain[0].source.display,
            chain: chain.dropFirst().map(\.source.display), tools: [], read: [], write: [], scratch: [],
            network: .off, networkLocation: nil, deniedSyscalls: [], allowedBack: [], limits: Limits(), env: [])
        var env: [Located<String>] = []
        for (raw, _) in chain.reversed() {
            if let description = raw.description { profile.description = description.value }
            if let network = raw.network {
                profile.network = network.value
                profile.networkLocation = network.location
            }
            profile.limits = Limits(
                wall: raw.limits.wall ?? profile.limits.wall, cpu: raw.limits.cpu ?? profile.limits.cpu,
                memory: raw.limits.memory ?? profile.limits.memory,
                processes: raw.limits.processes ?? profile.limits.processes,
                openFiles: raw.limits.openFiles ?? profile.limits.openFiles,
                fileSize: raw.limits.fileSize ?? profile.limits.fileSize,
                locations: profile.limits.locations.merging(raw.limits.locations) { $1 })
            profile.tools += raw.tools
            profile.read += raw.read
            profile.write += raw.write
            profile.scratch += raw.scratch
            env += raw.env
            for entry in raw.deny {
                for call in syscallSets.expand(entry: entry, log: &log)
                where !profile.deniedSyscalls.contains(where: { $0.name == call.name }) {
                    profile.deniedSyscalls.append(call)
                    profile.allowedBack.removeAll { $0.value == call.name }
                }
            }
            for entry in raw.allow {
                let names = Set(syscallSets.expand(entry: entry, log: &log).map(\.name))
                let taken = profile.deniedSyscalls.filter { names.contains($0.name) }
                profile.deniedSyscalls.removeAll { names.contains($0.name) }
                if taken.isEmpty {
                    log.warning(entry.location, "'\(entry.value)' takes back nothing: it is not denied here or by a parent",
                                hint: "remove the entry")
                }
                for call in taken {
                    profile.allowedBack.append(Located(call.name, at: entry.location))
                    let from = call.viaSet.map { "from set '\($0)' " } ?? ""
                    log.note(entry.location,
                             "takes back '\(call.name)' \(from)declared at \(call.location.file):\(call.location.line)")
                }
            }
        }
        profile.tools = profile.tools.uniqued(by: \.value)
        profile.read = profile.read.uniqued(by: \.value)
        profile.write = profile.write.uniqued { [$0.path, $0.recursive ? "**" : ""] }
        profile.scratch = profile.scratch.uniqued(by: \.value)
        profile.env = env.map(\.value).uniqued()
        return profile
    }

    // MARK: Finding profiles

    /// A name, or a path (it contains "/" or ends in .yaml/.yml). A path is relative to the
    /// file that names it, or to the current directory at the top level. A workspace
    /// `profiles/NAME.yaml` that extends NAME gets the built-in NAME, so a workspace can
    /// adjust a built-in without copying it.
    func lookup(_ reference: String, from parent: ProfileSource?) -> Result<ProfileSource, PathProblem> {
        if Self.isPath(reference) {
            var path = reference
            if !reference.hasPrefix("/"), let parent {
                guard let directory = parent.directory else {
                    return .failure(PathProblem(message: "a built-in profile can only extend a profile by name", hint: nil))
                }
                path = directory.isEmpty ? reference : directory + "/" + reference
            }
            switch Self.readText(path) {
            case .success(let text): return .success(Self.fileSource(path, text: text))
            case .failure(let reason):
                let hint = parent == nil ? "paths are relative to the current directory"
                    : "paths in 'extends' are relative to the file that names them"
                return .failure(PathProblem(message: "cannot read profile '\(path)': \(reason.message)", hint: hint))
            }
        }
        let workspacePath = environment.workspace + "/profiles/\(reference).yaml"
        let builtin = lookupBuiltin(reference)
        let extendsItself = parent?.identity == (FilePaths.realPath(workspacePath) ?? workspacePath)
        if Self.isRegularFile(workspacePath), !(extendsItself && (try? builtin.get()) != nil) {
            switch Self.readText(workspacePath) {
            case .success(let text): return .success(Self.fileSource(workspacePath, text: text))
            case .failure(let reason):
                return .failure(PathProblem(message: "cannot read profile '\(workspacePath)': \(reason.message)", hint: nil))
            }
        }
        if case .success(let source) = builtin { return .success(source) }
        let names = availableProfiles().map(\.name)
        return .failure(PathProblem(message: "unknown profile '\(reference)'",
                                    hint: "available profiles: \(names.joined(separator: ", "))"))
    }

    static func isPath(_ reference: String) -> Bool {
        reference.contains("/") || reference.hasSuffix(".yaml") || reference.hasSuffix(".yml")
    }

    static func fileSource(_ path: String, text: String) -> ProfileSource {
        ProfileSource(file: path, display: path, identity: FilePaths.realPath(path) ?? path,
                      directory: (path as NSString).deletingLastPathComponent, text: text)
    }

    static var builtinProfileNames: [String] {
        embeddedPolicies.keys.filter { $0.hasPrefix("profiles/") && $0.hasSuffix(".yaml") }
            .map { String($0.dropFirst("profiles/".count).dropLast(".yaml".count)) }.sorted()
    }

    static func yamlFiles(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { directory + "/" + $0 }
            .filter(isRegularFile)
    }

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    static func readText(_ path: String) -> Result<String, PathProblem> {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied or not a file"
                                                                       : "no such file"
            return .failure(PathProblem(message: reason, hint: nil))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(PathProblem(message: "not UTF-8 text", hint: nil))
        }
        return .success(text)
    }

    static func topLevelKeys(of text: String) -> [String] {
        var ignored = DiagnosticLog()
        let yaml = YAMLFile(name: "", text: text, log: &ignored)
        return yaml.root?.mapping?.keys.compactMap(\.scalar?.string) ?? []
    }

    static func ownDescription(of text: String) -> String {
        var ignored = DiagnosticLog()
        return YAMLFile(name: "", text: text, log: &ignored).root?.mapping?["description"]?.scalar?.string ?? ""
    }
}
