import ArgumentParser
import Glibc
import WardenAudit
import WardenGate
import WardenPolicy

struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "The single writer of the workspace: its versions, commits and changesets.",
        discussion: """
        Every change an agent makes reaches the workspace through the gate:
        validated whole (paths, write and ownership zones, .git/ and .warden/, file
        types, limits, conflicts with newer commits) and applied atomically, one
        writer at a time.

          warden gate status              # the version, and any commit to finish
          warden gate log --limit 20      # newest commits first
          warden gate show 12             # one commit's paths and hashes
          warden gate apply --profile code --from UPPER --base 11
          warden gate apply --view 1764741234-4242   # a kept view (warden changes)
          warden gate revert 12           # the inverse of commit 12, as a new one
        """,
        subcommands: [Status.self, Log.self, Show.self, Apply.self, Revert.self]
    )

    struct Place: ParsableArguments {
        @Option(name: .long, help: "The workspace root (default: the current directory).")
        var workspace: String?

        @Flag(name: .long, help: "One JSON object per line.")
        var json = false

        func gate() throws -> Gate {
            do { return try Gate(workspace: absolutePath(workspace ?? currentDirectory())) } catch {
                complain("\(error)")
                throw ExitCode(WardenExit.internalError)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The workspace version and paths edited by hand since; finishes a commit a killed gate left half-done.")
        @OptionGroup var place: Place

        func run() throws {
            let gate = try place.gate()
            let edits = try gate.scanHumanEdits()
            let version = try gate.version()
            let last = try gate.store.commits(limit: 1).first
            if place.json {
                let paths = edits.changes.map { "{\"path\":\(AuditJSON.string($0.path)),\"action\":\"\($0.action)\"}" }
                print("{\"version\":\(version),\"last\":\(last.map(commitJSON) ?? "null"),\"hand_edits\":[\(paths.joined(separator: ","))]}")
                return
            }
            print("workspace \(gate.workspace) at version \(version)")
            if let last { print("last commit: " + commitLine(last)) }
            if !edits.isEmpty {
                let n = edits.changes.count
                print("\(n) path\(n == 1 ? "" : "s") edited by hand since version \(edits.since); the next commit records them")
                for c in edits.changes { print("  \(c.action.padding(9)) \(c.path)") }
            }
        }
    }

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Commits, newest first.")
        @OptionGroup var place: Place
        @Option(name: .long, help: "At most this many commits.") var limit = 50

        func run() throws {
            for c in try place.gate().store.commits(limit: limit) {
                print(place.json ? commitJSON(c) : commitLine(c))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One commit: who, when, and each path with its hash.")
        @OptionGroup var place: Place
        @Argument(help: "The commit's sequence number.") var seq: Int64

        func run() throws {
            guard let c = try place.gate().store.commit(seq) else {
                complain("no commit \(seq) in this workspace")
                throw ExitCode(WardenExit.usage)
            }
            if place.json {
                print(commitJSON(c))
                return
            }
            print(commitLine(c))
            for ch in c.changes { print("  \(ch.action.padding(9)) \(ch.path)\(ch.hash.map { "  sha256:\($0.prefix(16))" } ?? "")") }
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate and commit an upper directory (overlay layout) as one changeset.",
            discussion: "Exit status 0 with the new version on stdout, or 73 with every problem on stderr and nothing changed.")
        @OptionGroup var place: Place
        @Option(name: .long, help: "The role whose write zones the changeset must stay in (with --view: the run's own by default).")
        var profile: String?
        @Option(name: .long, help: "The upper directory: files, whiteouts, opaque directories, symlinks.") var from: String?
        @Option(name: .long, help: "A kept view's run id (`warden changes` lists them): its upper layer, at its base version.")
        var view: String?
        @Option(name: .long, help: "The workspace version the changes were made against (default: the current one).") var base: Int64?
        @Option(name: .customLong("run"), help: "The run to record the commit under.") var runID = "manual"

        func validate() throws {
            if (from == nil) == (view == nil) { throw ValidationError("give exactly one of --from UPPER and --view RUN") }
            if view == nil && profile == nil { throw ValidationError("--from needs --profile") }
        }

        func run() throws {
            let gate = try place.gate()
            var kept: View?
            if let view {
                guard let v = try View.open(gate: gate, run: view) else {
                    complain("no kept view for run \(view) (warden changes lists them)")
                    throw ExitCode(WardenExit.usage)
                }
                kept = v
            }
            let loader = try makeLoader(workspace: gate.workspace)
            // A built-in profile is recorded as builtin:NAME; a file by its path.
            let named = profile ?? kept.map { $0.record.profileFile.hasPrefix("builtin:") ? $0.record.role : $0.record.profileFile } ?? ""
            let role = try loadProfile(loader, named)
            let policy = try loadWorkspacePolicy(loader)
            let validator = GateValidator(profile: role, policy: policy)
            let upper = kept?.upper ?? absolutePath(from ?? "")
            let run = kept.map { runID == "manual" ? $0.run : runID } ?? runID
            try place.report(gate: gate, policy: policy) { reporting in
                // A kept view leaves out what its run already committed mid-run (warden submit).
                let changeset = if let kept, base == nil {
                    try kept.changeset(limits: validator.limits)
                } else {
                    try ChangesetScanner.scan(upper: upper, base: try base ?? kept?.record.base ?? gate.version(),
                                              limits: validator.limits)
                }
                let result = try gate.submit(changeset, validator: validator, run: run, reporting: reporting)
                // Its changes are in the workspace now: the view has done its job.
                try? kept?.discard()
                return result
            }
        }
    }

    struct Revert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the inverse of a commit as a new commit.",
            discussion: """
            What the commit replaced comes back, what it created is deleted. Refused
            (exit 73, nothing changed) when a later commit or a hand edit changed any of
            its paths again.
            """)
        @OptionGroup var place: Place
        @Argument(help: "The commit to undo.") var seq: Int64
        @Option(name: .customLong("as"), help: "Commit as this role, within its write zones (default: human, anything but .git/ and .warden/).")
        var role: String?
        @Option(name: .customLong("run"), help: "The run to record the commit under.") var runID = "manual"

        func run() throws {
            let gate = try place.gate()
            let loader = try makeLoader(workspace: gate.workspace)
            let policy = try loadWorkspacePolicy(loader)
            let validator = try role.map { GateValidator(profile: try loadProfile(loader, $0), policy: policy) }
                ?? .human(limits: GateLimits(policy.gate))
            try place.report(gate: gate, policy: policy) { reporting in
                do {
                    return try gate.submitRevert(seq, validator: validator, run: runID, reporting: reporting)
                } catch let refusal as RevertRefusal {
                    complain(refusal.message)
                    throw ExitCode(WardenExit.gateRejected)
                }
            }
        }
    }
}

extension GateCommand.Place {
    /// Runs one commit with the workspace's reporting (audit rows, git) and prints its outcome:
    /// the new version, or every finding with exit 73.
    func report(gate: Gate, policy: WorkspacePolicy, _ body: (GateReporting) throws -> GateCommitResult) throws {
        let (reporting, warning) = GateReporting.workspace(gate.workspace, policy: policy)
        if let warning { complain(warning) }
        do {
            let result = try body(reporting)
            if let human = result.handEdits { complain("hand edits recorded first as commit \(human) (role human)") }
            for w in result.warnings { complain(w) }
            print(json ? "{\"committed\":\(result.seq),\"hand_edits\":\(result.handEdits.map(String.init) ?? "null")}"
                       : "committed version \(result.seq)")
        } catch let rejection as GateRejection {
            if json {
                for f in rejection.findings {
                    print("{\"path\":\(AuditJSON.string(f.path)),\"rule\":\"\(f.rule.rawValue)\",\"message\":\(AuditJSON.string(f.message))}")
                }
            }
            complain(rejection.description)
            throw ExitCode(WardenExit.gateRejected)
        } catch let error as GateError {
            complain("\(error)")
            throw ExitCode(WardenExit.internalError)
        }
    }
}

func commitLine(_ c: GateStore.Commit) -> String {
    "\(c.seq)  \(AuditTime.iso(c.timeNS))  \(c.role)  \(c.run.isEmpty ? "" : "run \(c.run)  ")base \(c.base)  \(c.changes.count) path\(c.changes.count == 1 ? "" : "s")"
}

func commitJSON(_ c: GateStore.Commit) -> String {
    let changes = c.changes.map {
        "{\"path\":\(AuditJSON.string($0.path)),\"action\":\"\($0.action)\",\"sha256\":\($0.hash.map { "\"\($0)\"" } ?? "null")}"
    }
    return "{\"seq\":\(c.seq),\"role\":\(AuditJSON.string(c.role)),\"run\":\(AuditJSON.string(c.run)),\"task\":\(c.task.map(AuditJSON.string) ?? "null"),\"base\":\(c.base),\"time_ns\":\(c.timeNS),\"changes\":[\(changes.joined(separator: ","))]}"
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
