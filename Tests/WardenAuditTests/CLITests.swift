// `warden audit` end to end: exit statuses, the human format with its fix lines, escaping of
// agent-controlled text, and JSON lines. Runs only once the subcommand is registered in
// Warden.swift; until then it says so and skips.

import Foundation
import Glibc
import Testing
@testable import WardenAudit

enum Warden {
    static let path = builtBinary("warden")

    /// Whether this build of warden has the audit subcommand.
    static let hasAudit: Bool = {
        guard let h = try? HelperProcess(["--help"], executable: path) else { return false }
        h.wait()
        return h.lines.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("audit ") }
    }()

    static func audit(_ args: [String]) throws -> (status: Int32, stdout: [String], stderr: String) {
        let h = try HelperProcess(["audit"] + args, executable: path)
        let status = h.wait()
        return (status, h.lines, h.stderrText)
    }
}

@Suite(.enabled(if: Warden.hasAudit, "warden was built without `audit` among its subcommands (AuditCommand.self in Warden.swift)"))
struct CLITests {
    let dir = TempDir("cli")
    let path: String

    init() throws {
        path = dir.file(".warden/audit.db")
        let store = try AuditStore(path: path)
        let run = try store.beginRun(command: ["sh", "-c", "make test"], role: "code", profileFile: "profiles/code.yaml",
                                     workspace: dir.path, startNS: 1_000)
        try store.insert([
            event(run: run, time: 2_000, kind: .exec, target: "/usr/bin/curl", rule: "profiles/code.yaml:7 tools",
                  message: "not in tools", suggestion: Suggestion.tool("/usr/bin/curl", at: "profiles/code.yaml:7")),
            event(run: run, time: 3_000, target: "\(dir.path)/evil\u{1b}[2J\nFORGED LINE", message: "no zone\r",
                  suggestion: nil),
            event(run: run, time: 4_000, kind: .read, target: "/etc/hosts", decision: .allowed, message: "read"),
        ])
        try store.finishRun(id: run, endNS: 9_000_000_000, exitStatus: 2,
                            counts: RunCounts(denied: [.exec: 1, .write: 1], allowed: 1), auditComplete: true)
    }

    @Test func humanOutputHasAFixLineForEachDenialAndEscapesAgentText() throws {
        let r = try Warden.audit(["--workspace", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == [
            "1970-01-01T00:00:00.000Z run 1 code EXEC DENIED /usr/bin/curl — not in tools",
            "    fix: add \"/usr/bin/curl\" to tools in profiles/code.yaml:7",
            "1970-01-01T00:00:00.000Z run 1 code WRITE DENIED \(dir.path)/evil\\x1b[2J\\x0aFORGED LINE — no zone\\x0d",
            "    fix: no profile change allows this (decided by profiles/code.yaml:12 write)",
            "1970-01-01T00:00:00.000Z run 1 code READ ALLOWED /etc/hosts — read",
        ])
    }

    @Test func jsonLinesParse() throws {
        let r = try Warden.audit(["--audit", path, "--json", "--decision", "denied"])
        #expect(r.status == 0)
        #expect(r.stdout.count == 2)
        for line in r.stdout {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["decision"] as? String == "denied")
        }
    }

    @Test func summaryAndRuns() throws {
        let s = try Warden.audit(["--audit", path, "--summary"])
        #expect(s.stdout.first == "3 events (2 denied, 1 allowed)")
        #expect(s.stdout.contains("  1  profiles/code.yaml:7 tools"))
        let runs = try Warden.audit(["--audit", path, "--runs"])
        #expect(runs.stdout == [
            "run 1  1970-01-01T00:00:00.000Z  code  profiles/code.yaml  8.9s  exit 2  2 denied  — sh -c 'make test'",
        ])
    }

    @Test func exitStatuses() throws {
        let missing = try Warden.audit(["--audit", dir.file("nope.db")])
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("no audit records: \(dir.file("nope.db")) does not exist"))
        #expect(access(dir.file("nope.db"), F_OK) != 0)  // looking did not create it

        let notAStore = dir.file("text.db")
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: notAStore))
        let bad = try Warden.audit(["--audit", notAStore])
        #expect(bad.status == 74)
        #expect(bad.stderr.contains("is not a usable audit store"))

        for args in [["--kind", "teleport"], ["--since", "10x"], ["--decision", "maybe"], ["--limit", "0"],
                     ["--runs", "--kind", "exec"], ["--summary", "--follow"]] {
            let r = try Warden.audit(["--audit", path] + args)
            #expect(r.status == 64, "\(args): \(r.status) \(r.stderr)")
        }
        let since = try Warden.audit(["--audit", path, "--since", "2026-11-23T10:00:00"])
        #expect(since.stderr.contains("no time zone: add Z for UTC"))

        for args in [["--prune"], ["--older-than", "30d"], ["--dry-run"], ["--prune", "--older-than", "30x"],
                     ["--prune", "--older-than", "30d", "--kind", "exec"], ["--prune", "--older-than", "1d", "--follow"]] {
            let r = try Warden.audit(["--audit", path] + args)
            #expect(r.status == 64, "\(args): \(r.status) \(r.stderr)")
        }
        #expect(try Warden.audit(["--audit", dir.file("nope.db"), "--prune", "--older-than", "1d"]).status == 66)
        #expect(access(dir.file("nope.db"), F_OK) != 0)
        #expect(try Warden.audit(["--audit", notAStore, "--prune", "--older-than", "1d"]).status == 74)
        #expect(try String(contentsOfFile: notAStore, encoding: .utf8) == "hello\n")  // not turned into a store
    }

    @Test func pruneRemovesTheOldRunAndSaysSo() throws {
        let dry = try Warden.audit(["--audit", path, "--prune", "--older-than", "30d", "--dry-run"])
        let line = dry.stdout.first ?? ""
        #expect(dry.status == 0 && dry.stdout.count == 1, "\(dry)")
        #expect(line.hasPrefix("would prune 1 run and 3 events from before ") && line.hasSuffix("Z: run 1"), "\(line)")
        #expect(try Warden.audit(["--audit", path, "--runs"]).stdout.count == 1)

        let r = try Warden.audit(["--audit", path, "--prune", "--older-than", "30d", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data((r.stdout.first ?? "").utf8)) as? [String: Any])
        #expect(object["removed_runs"] as? [Int] == [1])
        #expect(object["removed_events"] as? Int == 3)
        #expect(object["dry_run"] as? Bool == false)
        #expect(try Warden.audit(["--audit", path, "--runs", "--json"]).stdout.isEmpty)
        let again = try Warden.audit(["--audit", path, "--prune", "--older-than", "30d"])
        #expect(again.stdout.first?.hasPrefix("nothing to prune: no run ended before ") == true, "\(again)")
    }
}
