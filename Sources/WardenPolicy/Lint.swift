import WardenFront

// `warden lint`: everything `profile(named:)` would refuse, plus the warnings and notes that
// do not stop a profile from loading but weaken it (interpreters on the allowlist, calls
// taken back from a parent's deny list).

extension PolicyLoader {
    /// Lints files: a YAML file with a `role:` key is a profile, one with a `sets:`,
    /// `ownership:` or `gate:` key (or another workspace policy key) a policy file. With no files, lints every built-in profile and every workspace `profiles/*.yaml`
    /// and `policies/*.yaml`. An empty result means clean; warnings and notes are included.
    public func lint(files: [String]) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        if files.isEmpty {
            for name in Self.builtinProfileNames {
                guard case .success(let source) = lookupBuiltin(name) else { continue }
                var log = DiagnosticLog()
                _ = resolveChain(from: source, log: &log)
                diagnostics += log.all
            }
            for path in Self.yamlFiles(in: environment.workspace + "/profiles") {
                diagnostics += lintFile(path, mustBePolicy: true)
            }
            // policies/ may hold files for other tools; only policy files are ours to judge.
            for path in Self.yamlFiles(in: environment.workspace + "/policies") {
                diagnostics += lintFile(path, mustBePolicy: false)
            }
        } else {
            for path in files {
                diagnostics += lintFile(path, mustBePolicy: true)
            }
        }
        return diagnostics.uniqued()
    }

    private func lintFile(_ path: String, mustBePolicy: Bool) -> [Diagnostic] {
        let text: String
        switch Self.readText(path) {
        case .success(let contents): text = contents
        case .failure(let problem):
            return [Diagnostic(.error, at: SourceLocation(file: path, line: 0, column: 0),
                               "cannot read '\(path)': \(problem.message)")]
        }
        var log = DiagnosticLog()
        let yaml = YAMLFile(name: path, text: text, log: &log)
        if yaml.malformed { return log.all }
        let keys = yaml.root?.mapping?.keys.compactMap(\.scalar?.string) ?? []
        if keys.contains("role") {
            _ = resolveChain(from: Self.fileSource(path, text: text), log: &log)
        } else if keys.contains(where: WorkspacePolicy.topLevelKeys.contains) {
            if keys.contains("sets") { lintSetFile(path, text: text, log: &log) }
            lintWorkspacePolicyFile(path, text: text, log: &log)
        } else if mustBePolicy {
            log.error(yaml.location(yaml.root), "neither a profile nor a policy file",
                      hint: "a profile has a 'role:' key; a policy file has 'sets:', 'ownership:' or 'gate:'")
        }
        return log.all
    }

    /// Checks one set file against the built-in sets and the workspace's other set files (it
    /// may use their sets), reporting only what is wrong in this file.
    private func lintSetFile(_ path: String, text: String, log: inout DiagnosticLog) {
        let identity = FilePaths.realPath(path) ?? path
        let others = workspaceSetFiles.filter { (FilePaths.realPath($0.name) ?? $0.name) != identity }
        var all = DiagnosticLog()
        let sets = SyscallSets.load(files: others + [(path, text)], base: builtinSets, log: &all)
        log.append(contentsOf: all.all.filter { $0.location.file == path })
        var yamlLog = DiagnosticLog()
        for definition in SyscallSets.parseDefinitions(YAMLFile(name: path, text: text, log: &yamlLog), log: &yamlLog)
        where definition.entries.isEmpty && sets.definition(of: definition.name) != nil {
            log.warning(definition.location, "set '\(definition.name)' is empty",
                        hint: "denying an empty set denies nothing")
        }
    }

    func lookupBuiltin(_ name: String) -> Result<ProfileSource, PathProblem> {
        let file = "profiles/\(name).yaml"
        guard let text = embeddedPolicies[file] else {
            return .failure(PathProblem(message: "no built-in profile '\(name)'", hint: nil))
        }
        return .success(ProfileSource(file: file, display: "builtin:\(name)", identity: "builtin:\(name)",
                                      directory: nil, text: text))
    }
}
