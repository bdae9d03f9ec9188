// One profile file, checked on its own: every key, type, path, name and limit, with each
// problem reported at its node. Merging with parents happens in the loader; here a file is
// only ever judged by what it says itself.

import Yams

/// What one profile file says, validated; invalid entries are reported and left out.
struct RawProfile {
    var file: String
    var role: Located<String>?
    var description: Located<String>?
    var extends: Located<String>?
    var tools: [Located<String>] = []
    var read: [Located<String>] = []
    var write: [WriteZone] = []
    var scratch: [Located<String>] = []
    var network: Located<NetworkPolicy>?
    var deny: [Located<String>] = []
    var allow: [Located<String>] = []
    var limits = Limits()
    var env: [Located<String>] = []
}

struct ProfileParser {
    static let keys = ["role", "description", "extends", "tools", "optional_tools", "read", "write",
                       "scratch", "network", "syscalls", "limits", "env"]
    static let limitKeys = ["wall", "cpu", "memory", "processes", "open_files", "file_size"]

    /// Variables that make a trusted program load or run code chosen by whoever sets them.
    static func isInjectionVariable(_ name: String) -> Bool {
        let exact: Set<String> = [
            "GLIBC_TUNABLES", "BASH_ENV", "ENV", "PYTHONSTARTUP", "PYTHONPATH", "PYTHONHOME",
            "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH",
            "SHELLOPTS", "BASHOPTS", "PS4", "IFS",
        ]
        return exact.contains(name) || name.hasPrefix("LD_") || name.hasPrefix("GIT_")
            || name.hasPrefix("BASH_FUNC_")
    }

    let sets: SyscallSets
    let tools: ToolResolver
    let workspace: String

    func parse(_ yaml: YAMLFile, log: inout DiagnosticLog) -> RawProfile? {
        guard let top = yaml.topMapping(what: "profile", log: &log) else { return nil }
        var raw = RawProfile(file: yaml.name)
        var sawRole = false
        for (key, _, value) in yaml.knownEntries(of: top, allowed: Self.keys, in: "profile", log: &log) {
            switch key {
            case "role":
                sawRole = true
                raw.role = yaml.string(value, for: key, log: &log)
                if let role = raw.role, role.value.isEmpty {
                    log.error(role.location, "'role' is empty", hint: "name the role this profile grants, e.g. role: code")
                }
            case "description": raw.description = yaml.string(value, for: key, log: &log)
            case "extends":
                raw.extends = yaml.string(value, for: key, log: &log)
                if let extends = raw.extends, extends.value.isEmpty {
                    log.error(extends.location, "'extends' is empty", hint: "name a profile, e.g. extends: base")
                    raw.extends = nil
                }
            case "tools", "optional_tools":
                let optional = key == "optional_tools"
                for entry in yaml.stringList(value, for: key, log: &log) {
                    if let path = resolveTool(entry, optional: optional, log: &log) {
                        raw.tools.append(Located(path, at: entry.location))
                    }
                }
            case "read":
                for entry in yaml.stringList(value, for: key, log: &log) {
                    if let path = check(PathRules.readEntry(entry.value), at: entry.location, log: &log) {
                        raw.read.append(Located(path, at: entry.location))
                    }
                }
            case "write":
                for entry in yaml.stringList(value, for: key, log: &log) {
                    if let zone = check(PathRules.writeZone(entry), at: entry.location, log: &log) {
                        raw.write.append(zone)
                    }
                }
            case "scratch":
                for entry in yaml.stringList(value, for: key, log: &log) {
                    if let path = check(PathRules.scratch(entry.value, workspace: workspace),
                                        at: entry.location, log: &log) {
                        raw.scratch.append(Located(path, at: entry.location))
                    }
                }
            case "network": raw.network = parseNetwork(value, yaml, log: &log)
            case "syscalls": parseSyscalls(value, yaml, into: &raw, log: &log)
            case "limits": raw.limits = parseLimits(value, yaml, log: &log)
            case "env":
                raw.env = yaml.stringList(value, for: key, log: &log).filter { checkEnv($0, log: &log) }
            default: break
            }
        }
        if !sawRole {
            log.error(yaml.location(yaml.root), "missing required key 'role'",
                      hint: "every profile names the role it grants, e.g. role: code")
        }
        return raw
    }

    private func check<T>(_ result: Result<T, PathProblem>, at location: SourceLocation,
                          log: inout DiagnosticLog) -> T? {
        switch result {
        case .success(let value): return value
        case .failure(let problem):
            log.error(location, problem.message, hint: problem.hint)
            return nil
        }
    }

    private func resolveTool(_ entry: Located<String>, optional: Bool, log: inout DiagnosticLog) -> String? {
        switch tools.resolve(entry.value, optional: optional) {
        case .found(let path):
            if ToolResolver.isInterpreter(entry.value) || ToolResolver.isInterpreter(path) {
                log.warning(entry.location,
                            "'\(entry.value)' can run any code it can read; the exec allowlist does not limit what it interprets",
                            hint: "allow an interpreter only in roles that need it")
            }
            if path.hasSuffix("/") {
                log.warning(entry.location,
                            "every program beneath '\(path)' may run",
                            hint: "list single executables where you can; a directory suits toolchain helpers (cc1, collect2)")
            }
            return path
        case .missing(let problem):
            if !optional { log.error(entry.location, problem.message, hint: problem.hint) }
            return nil
        case .problem(let problem):
            log.error(entry.location, problem.message, hint: problem.hint)
            return nil
        }
    }

    private func checkEnv(_ entry: Located<String>, log: inout DiagnosticLog) -> Bool {
        let name = entry.value
        let valid = !name.isEmpty && !(name.first!.isNumber)
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        if !valid {
            log.error(entry.location, "'\(name)' is not an environment variable name",
                      hint: "env lists the names of variables to pass through, e.g. env: [PATH, HOME]")
            return false
        }
        if Self.isInjectionVariable(name) {
            log.error(entry.location, "passing '\(name)' through would let the agent inject code into trusted programs",
                      hint: "variables like LD_*, GLIBC_TUNABLES, BASH_ENV, PYTHONSTARTUP, NODE_OPTIONS and GIT_* change what other programs load or run")
            return false
        }
        return true
    }

    private func parseNetwork(_ node: Node, _ yaml: YAMLFile, log: inout DiagnosticLog) -> Located<NetworkPolicy>? {
        let hint = "write network: off, network: on, or network: {allow: [443]}"
        if let scalar = node.scalar, !YAMLFile.isNull(node) {
            // YAML 1.1 reads off/on/no/yes as booleans; they all mean the obvious thing here.
            switch scalar.string.lowercased() {
            case "off", "false", "no": return Located(.off, at: yaml.location(node))
            case "on", "true", "yes": return Located(.on, at: yaml.location(node))
            default: break
            }
        } else if let mapping = node.mapping {
            var ports: [UInt16]?
            for (key, _, value) in yaml.knownEntries(of: mapping, allowed: ["allow"], in: "network", log: &log) {
                guard key == "allow" else { continue }
                ports = []
                for entry in yaml.stringList(value, for: "network.allow", log: &log) {
                    if let port = UInt16(entry.value), port > 0 {
                        ports?.append(port)
                    } else {
                        log.error(entry.location, "'\(entry.value)' is not a TCP port number",
                                  hint: "ports are whole numbers from 1 to 65535")
                    }
                }
            }
            guard let ports else {
                log.error(yaml.location(node), "network mapping needs an 'allow' list of ports", hint: hint)
                return nil
            }
            return Located(.allow(ports: ports.uniqued()), at: yaml.location(node))
        }
        log.error(yaml.location(node), "expected off, on or {allow: [ports]} for 'network', got \(YAMLFile.kind(node))",
                  hint: hint)
        return nil
    }

    private func parseSyscalls(_ node: Node, _ yaml: YAMLFile, into raw: inout RawProfile, log: inout DiagnosticLog) {
        guard let mapping = yaml.mapping(node, for: "syscalls", example: "syscalls: {deny: [\"@mount\"], allow: [ptrace]}",
                                         log: &log) else { return }
        for (key, _, value) in yaml.knownEntries(of: mapping, allowed: ["deny", "allow"], in: "syscalls", log: &log) {
            // Expansion here only validates; the loader expands again when it merges the chain.
            let entries = yaml.stringList(value, for: "syscalls.\(key)", log: &log).filter { entry in
                let before = log.all.count
                _ = sets.expand(entry: entry, log: &log)
                return log.all.count == before
            }
            if key == "deny" { raw.deny += entries } else { raw.allow += entries }
        }
    }

    private func parseLimits(_ node: Node, _ yaml: YAMLFile, log: inout DiagnosticLog) -> Limits {
        var limits = Limits()
        guard let mapping = yaml.mapping(node, for: "limits", example: "limits: {wall: 30m, memory: 4GiB}", log: &log)
        else { return limits }
        for (key, _, value) in yaml.knownEntries(of: mapping, allowed: Self.limitKeys, in: "limits", log: &log) {
            guard let entry = yaml.string(value, for: "limits.\(key)", log: &log) else { continue }
            let text = entry.value
            func positive<T: Comparable & Numeric>(_ parsed: T?, kind: String, hint: String) -> T? {
                if text.hasPrefix("-") {
                    log.error(entry.location, "limit '\(key)' must be positive, got '\(text)'",
                              hint: "limits are upper bounds above zero; leave the key out to keep the parent's limit")
                    return nil
                }
                guard let parsed else {
                    log.error(entry.location, "invalid \(kind) '\(text)' for '\(key)'", hint: hint)
                    return nil
                }
                guard parsed > 0 else {
                    log.error(entry.location, "limit '\(key)' must be positive, got '\(text)'",
                              hint: "limits are upper bounds above zero; leave the key out to keep the parent's limit")
                    return nil
                }
                return parsed
            }
            let durationHint = "durations are a number with a unit: 90s, 30m, 2h, 1h30m, 250ms; a bare number is seconds"
            let sizeHint = "sizes are a number with a unit: 4GiB, 512MiB, 64KiB (K, M, G are powers of 1024); a bare number is bytes"
            let countHint = "write a whole number, e.g. 256"
            switch key {
            case "wall": limits.wall = positive(parseDuration(text), kind: "duration", hint: durationHint)
            case "cpu": limits.cpu = positive(parseDuration(text), kind: "duration", hint: durationHint)
            case "memory": limits.memory = positive(parseByteSize(text), kind: "size", hint: sizeHint)
            case "file_size": limits.fileSize = positive(parseByteSize(text), kind: "size", hint: sizeHint)
            case "processes": limits.processes = positive(Int(text), kind: "count", hint: countHint)
            case "open_files": limits.openFiles = positive(Int(text), kind: "count", hint: countHint)
            default: break
            }
            limits.locations[key] = entry.location
        }
        return limits
    }
}
