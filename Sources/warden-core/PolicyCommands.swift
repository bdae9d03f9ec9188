import ArgumentParser
import WardenAudit
import Glibc
import WardenPolicy
import WardenSandbox

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "List and show role profiles.",
        subcommands: [List.self, Show.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List built-in and workspace profiles.")
        @Option(name: .long, help: "The workspace whose profiles/ to include (default: current directory).")
        var workspace: String?
        @Flag(name: .long, help: "One JSON object per line.") var json = false

        func run() throws {
            let loader = try makeLoader(workspace: absolutePath(workspace ?? currentDirectory()))
            for p in loader.availableProfiles() {
                if json {
                    print("{\"name\":\(jsonString(p.name)),\"source\":\(jsonString(p.source)),\"description\":\(jsonString(p.description))}")
                } else {
                    print("\(p.name.padded(14)) \(p.source.padded(24)) \(p.description)")
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a profile after extends, PATH lookup and set expansion.")
        @Argument(help: "Profile name or path.") var name: String
        @Option(name: .long, help: "The workspace (default: current directory).") var workspace: String?

        func run() throws {
            let loader = try makeLoader(workspace: absolutePath(workspace ?? currentDirectory()))
            print(describe(try loadProfile(loader, name)))
        }
    }
}

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check and explain policy files.",
        subcommands: [Lint.self, Explain.self]
    )

    struct Lint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report every error and warning in profiles and policy files as FILE:LINE:COLUMN.",
            discussion: "With no files, lints the built-in profiles and the workspace's profiles/ and policies/. Exits 65 on any error.")
        @Argument(help: "Files to lint.") var files: [String] = []
        @Option(name: .long, help: "The workspace (default: current directory).") var workspace: String?

        func run() throws {
            let loader = try makeLoader(workspace: absolutePath(workspace ?? currentDirectory()))
            let diagnostics = loader.lint(files: files)
            for d in diagnostics { print(d.description) }
            let errors = diagnostics.filter { $0.severity == .error }.count
            let warnings = diagnostics.count - errors
            complain("\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")")
            if errors > 0 { throw ExitCode(WardenExit.policy) }
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the effective profile and the protections a launch would have.")
        @Argument(help: "Profile name or path.") var name: String
        @Option(name: .long, help: "The workspace (default: current directory).") var workspace: String?
        @Flag(name: .long, help: "Also print the seccomp program.") var bpf = false

        func run() throws {
            let root = absolutePath(workspace ?? currentDirectory())
            let loader = try makeLoader(workspace: root)
            let profile = try loadProfile(loader, name)
            print(describe(profile))
            guard let shell = profile.tools.first?.value else { return }
            let options = LaunchOptions(workspace: root, command: [shell], timeout: nil, allowDegraded: [],
                                        cwd: root, environment: processEnvironment(), runID: "explain")
            if let plan = try? LaunchPlan.make(profile: profile, options: options) {
                print("")
                print(plan.explain(showBPF: bpf))
            }
        }
    }
}

func describe(_ p: Profile) -> String {
    var lines = ["role: \(p.role)", "description: \(p.description)", "file: \(p.file)"]
    if !p.chain.isEmpty { lines.append("extends: \(p.chain.joined(separator: " ← "))") }
    lines.append("tools:")
    lines += p.tools.map { "  - \($0.value)    # \($0.location)" }
    lines.append("read:")
    lines += p.read.map { "  - \($0.value)    # \($0.location)" }
    lines.append("write:")
    lines += p.write.map { "  - \($0.pattern)    # \($0.location)" }
    lines.append("scratch:")
    lines += p.scratch.map { "  - \($0.value)    # \($0.location)" }
    switch p.network {
    case .off: lines.append("network: off")
    case .on: lines.append("network: on")
    case let .allow(ports): lines.append("network: { allow: \(ports) }")
    }
    lines.append("syscalls.deny: \(p.deniedSyscalls.count) calls")
    let bySet = Dictionary(grouping: p.deniedSyscalls, by: { $0.viaSet ?? "(named)" })
    for (set, calls) in bySet.sorted(by: { $0.key < $1.key }) {
        lines.append("  \(set): \(calls.map(\.name).joined(separator: " "))")
    }
    for back in p.allowedBack { lines.append("  allowed back: \(back.value)    # \(back.location)") }
    let l = p.limits
    lines.append("limits: wall=\(l.wall.map { "\($0)s" } ?? "-") cpu=\(l.cpu.map { "\($0)s" } ?? "-") memory=\(l.memory.map(String.init) ?? "-") processes=\(l.processes.map(String.init) ?? "-") open_files=\(l.openFiles.map(String.init) ?? "-") file_size=\(l.fileSize.map(String.init) ?? "-")")
    lines.append("env: \(p.env.joined(separator: " "))")
    return lines.joined(separator: "\n")
}

/// One JSON string literal; the audit's escaper, so every JSON warden prints escapes alike.
func jsonString(_ s: String) -> String { AuditJSON.string(s) }

extension String {
    func padded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
