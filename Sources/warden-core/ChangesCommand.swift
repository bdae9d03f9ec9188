import ArgumentParser
import Foundation
import WardenAudit
import WardenGate
import WardenPolicy

/// `warden changes [RUN]`: what a run's view holds, as a diff against the version it started
/// from. The view must still exist: a run keeps it with --keep, when its changes were not
/// submitted, or when the gate refused them.
struct ChangesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changes",
        abstract: "Show a run's changes (its view's upper layer) as a diff against its base version.",
        discussion: """
        Without RUN, lists the views the workspace holds. A view stays after its run
        when --keep was given, when its changes were not submitted (the agent failed,
        or --commit never), and when the gate refused them.

          warden changes                      # kept views: run, role, base, status
          warden changes 1764741234-4242      # the diff
          warden changes 1764741234-4242 --json
        """)

    @Argument(help: "The run id (`WARDEN_RUN` inside the sandbox; printed at the end of the run).")
    var runID: String?

    @Option(name: .long, help: "The workspace root (default: the current directory).")
    var workspace: String?

    @Flag(name: .long, help: "One JSON object per line.")
    var json = false

    func run() throws {
        let gate: Gate
        do { gate = try Gate(workspace: absolutePath(workspace ?? currentDirectory())) } catch {
            complain("\(error)")
            throw ExitCode(WardenExit.internalError)
        }
        guard let run = runID else {
            for r in View.all(gate: gate) {
                if json {
                    print("{\"run\":\(jsonString(r.run)),\"role\":\(jsonString(r.role)),\"base\":\(r.base),\"status\":\"\(r.status.rawValue)\",\"committed\":\(r.committed.map(String.init) ?? "null")}")
                } else {
                    print("\(r.run.padded(24)) \(r.role.padded(12)) base \(r.base)  \(r.status.rawValue)\(r.committed.map { " as version \($0)" } ?? "")")
                }
            }
            return
        }
        guard let view = try View.open(gate: gate, run: run) else {
            complain("no view for run \(run) in \(gate.workspace) (views go once their changes are committed, unless the run had --keep)")
            throw ExitCode(WardenExit.usage)
        }
        let changeset = try view.changeset()
        if !json {
            print("run \(view.run)  role \(view.record.role)  base version \(view.record.base)  \(view.record.status.rawValue)"
                  + (view.record.message.map { "\n  \($0.replacingOccurrences(of: "\n", with: "\n  "))" } ?? ""))
        }
        for finding in changeset.scanFindings {
            if json {
                print("{\"path\":\(jsonString(finding.path)),\"finding\":\"\(finding.rule.rawValue)\",\"message\":\(jsonString(finding.message))}")
            } else {
                print("! \(printable(finding.path)): \(finding.message)")
            }
        }
        for entry in changeset.entries {
            if json { print(Self.json(entry)) } else { Self.show(entry, lower: view.lower) }
        }
    }

    static func json(_ e: Changeset.Entry) -> String {
        let path = jsonString(e.path)
        switch e.action {
        case let .write(_, mode, size): return "{\"path\":\(path),\"action\":\"write\",\"mode\":\"\(String(mode, radix: 8))\",\"size\":\(size)}"
        case .delete: return "{\"path\":\(path),\"action\":\"delete\"}"
        case let .directory(mode, opaque):
            return "{\"path\":\(path),\"action\":\"directory\",\"mode\":\"\(String(mode, radix: 8))\",\"opaque\":\(opaque)}"
        case let .symlink(target): return "{\"path\":\(path),\"action\":\"symlink\",\"target\":\(jsonString(target))}"
        }
    }

    /// A unified diff by the system's `diff` where there is content to compare. Names and
    /// link targets are the agent's, so they are printed escaped.
    static func show(_ e: Changeset.Entry, lower: String) {
        let old = lower + "/" + e.path
        let shown = printable(e.path)
        let hadOld = access(old, F_OK) == 0
        switch e.action {
        case let .write(source, mode, _):
            diff(hadOld ? old : "/dev/null", source, path: shown, header: hadOld ? nil : "new file, mode \(String(mode, radix: 8))")
        case .delete:
            diff(hadOld ? old : "/dev/null", "/dev/null", path: shown, header: "deleted")
        case let .directory(mode, opaque):
            print("directory \(shown) (mode \(String(mode, radix: 8))\(opaque ? ", replaces the old one whole" : ""))")
        case let .symlink(target):
            print("symlink \(shown) -> \(printable(target))")
        }
    }

    private static func diff(_ a: String, _ b: String, path: String, header: String?) {
        print("diff a/\(path) b/\(path)" + (header.map { " (\($0))" } ?? ""))
        fflush(stdout)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        process.arguments = ["-u", "--label", "a/" + path, "--label", "b/" + path, a, b]
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            print("  (no /usr/bin/diff to show the content: \(error))")
        }
    }
}
