// The text the audit hands to people and scripts: --since parsing, ISO times, JSON lines
// and fix suggestions. Expected strings are written out literally.

import Foundation
import Testing
@testable import WardenAudit

@Suite struct SinceTests {
    static let now: Int64 = 1_795_428_000_000_000_000  // 2026-11-23T10:00:00Z

    @Test(arguments: [
        ("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("0s", 0), ("1d2h3m4s", 93784),
    ] as [(String, Int64)])
    func durationsCountBackFromNow(_ text: String, _ seconds: Int64) throws {
        #expect(try AuditTime.parseSince(text, now: Self.now) == Self.now - seconds * 1_000_000_000)
    }

    @Test(arguments: [
        ("2026-11-23T10:00:00Z", 1_795_428_000_000_000_000),
        ("2026-11-23t10:00:00z", 1_795_428_000_000_000_000),
        ("2026-11-23 10:00:00Z", 1_795_428_000_000_000_000),
        ("2026-11-23T10:00Z", 1_795_428_000_000_000_000),
        ("2026-11-23T12:00:00+02:00", 1_795_428_000_000_000_000),
        ("2026-11-23T05:30:00-04:30", 1_795_428_000_000_000_000),
        ("2026-11-23T10:00:00.5Z", 1_795_428_000_500_000_000),
        ("2026-11-23T10:00:00.123456789123Z", 1_795_428_000_123_456_789),
        ("2026-11-23", 1_795_392_000_000_000_000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -1_000_000_000),
        ("2024-02-29", 1_709_164_800_000_000_000),
    ] as [(String, Int64)])
    func timesAreExact(_ text: String, _ ns: Int64) throws {
        #expect(try AuditTime.parseSince(text, now: Self.now) == ns)
    }

    @Test(arguments: [
        ("", "'': empty; use a duration (90s, 10m, 2h, 1d, 1h30m) or a UTC time (2026-11-23, 2026-11-23T10:00:00Z, 2026-11-23T10:00:00+02:00)"),
        ("10", "'10': missing unit after 10: write 10s, 10m, 10h or 10d"),
        ("10x", "'10x': unknown unit 'x' (units: s, m, h, d); use a duration (90s, 10m, 2h, 1d, 1h30m) or a UTC time (2026-11-23, 2026-11-23T10:00:00Z, 2026-11-23T10:00:00+02:00)"),
        ("10min", "'10min': unknown unit 'min' (units: s, m, h, d); use a duration (90s, 10m, 2h, 1d, 1h30m) or a UTC time (2026-11-23, 2026-11-23T10:00:00Z, 2026-11-23T10:00:00+02:00)"),
        ("-5m", "'-5m': expected a number at '-'; use a duration (90s, 10m, 2h, 1d, 1h30m) or a UTC time (2026-11-23, 2026-11-23T10:00:00Z, 2026-11-23T10:00:00+02:00)"),
        ("99999999999999999999s", "'99999999999999999999s': number too large"),
        ("999999999d", "'999999999d': the duration reaches before 1677"),
        ("2026-11-23T10:00:00", "'2026-11-23T10:00:00': no time zone: add Z for UTC (2026-11-23T10:00:00Z) or an offset such as +02:00"),
        ("2026-13-01", "'2026-13-01': month 13 is not 1-12"),
        ("2025-02-29", "'2025-02-29': day 29 is not 1-28 for that month"),
        ("2026-11-23T24:00:00Z", "'2026-11-23T24:00:00Z': hour 24 is not 0-23"),
        ("2026-11-23T10:60Z", "'2026-11-23T10:60Z': minute 60 is not 0-59"),
        ("2026-11-23T10:00:00+2", "'2026-11-23T10:00:00+2': expected 2 digits for the offset hours at position 21; use a duration (90s, 10m, 2h, 1d, 1h30m) or a UTC time (2026-11-23, 2026-11-23T10:00:00Z, 2026-11-23T10:00:00+02:00)"),
        ("2026-11-23T10:00:00Zjunk", "'2026-11-23T10:00:00Zjunk': unexpected 'junk' after the time zone"),
        ("2026-1-23", "'2026-1-23': expected 2 digits for the month at position 6; use a duration (90s, 10m, 2h, 1d, 1h30m) or a UTC time (2026-11-23, 2026-11-23T10:00:00Z, 2026-11-23T10:00:00+02:00)"),
        ("1600-01-01", "'1600-01-01': year 1600 is outside 1677-2262"),
    ] as [(String, String)])
    func badInputIsAPreciseError(_ text: String, _ message: String) {
        #expect(throws: AuditError.self) { try AuditTime.parseSince(text, now: Self.now) }
        do {
            _ = try AuditTime.parseSince(text, now: Self.now)
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test(arguments: [Int64(0), 1, -1, 1_795_428_000_123_456_789, -86_400_000_000_001, Int64.max, Int64.min])
    func isoFormattingRoundTrips(_ ns: Int64) throws {
        let text = AuditTime.iso(ns, fractionDigits: 9)
        #expect(try AuditTime.parseTime(text) == ns, "\(text)")
    }

    @Test func isoFormatting() {
        #expect(AuditTime.iso(1_795_428_000_123_456_789) == "2026-11-23T10:00:00.123Z")
        #expect(AuditTime.iso(1_795_428_000_123_456_789, fractionDigits: 0) == "2026-11-23T10:00:00Z")
        #expect(AuditTime.iso(-1) == "1969-12-31T23:59:59.999Z")
    }
}

@Suite struct JSONLineTests {
    /// Strings an agent controls: every control character, quotes, backslashes, line and
    /// paragraph separators, DEL, non-ASCII, and text that decoded from invalid UTF-8.
    static let hostile: [String] = [
        "plain",
        String((0..<32).map { Character(Unicode.Scalar($0)!) }),
        "\"quoted\" \\back\\slash\\ /slash/",
        "line\u{2028}sep\u{2029}para\u{7f}del\u{85}nel",
        "é 😀 \u{10FFFF}",
        String(decoding: [0x2f, 0xff, 0xfe, 0xc3, 0x28, 0x2f], as: UTF8.self),  // invalid UTF-8 → U+FFFD
        "",
    ]

    @Test(arguments: hostile)
    func eventLinesParseBackExactly(_ s: String) throws {
        let e = AuditEvent(timeNS: 1_795_428_000_123_456_789, runID: 42, role: s, profileFile: s, pid: 7,
                           kind: .network, target: s, decision: .denied, rule: s, message: s,
                           suggestion: s.isEmpty ? nil : s)
        let line = AuditJSON.line(e)
        #expect(!line.contains("\n") && !line.contains("\r") && !line.contains("\u{2028}"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object.count == 12)
        #expect(object["time_ns"] as? Int64 == 1_795_428_000_123_456_789)
        #expect(object["time"] as? String == "2026-11-23T10:00:00.123456789Z")
        #expect(object["run"] as? Int == 42)
        #expect(object["pid"] as? Int == 7)
        #expect(object["kind"] as? String == "network")
        #expect(object["decision"] as? String == "denied")
        for key in ["role", "profile", "target", "rule", "message"] { #expect(object[key] as? String == s, "\(key)") }
        if s.isEmpty { #expect(object["suggestion"] is NSNull) } else { #expect(object["suggestion"] as? String == s) }
    }

    @Test func keysComeInAStableOrder() {
        let line = AuditJSON.line(event(run: 3, time: 0, pid: 1, suggestion: nil))
        #expect(line == """
            {"time_ns":0,"time":"1970-01-01T00:00:00.000000000Z","run":3,"role":"code","profile":"profiles/code.yaml",\
            "pid":1,"kind":"write","target":"/ws/src/a.c","decision":"denied","rule":"profiles/code.yaml:12 write",\
            "message":"not in a write zone","suggestion":null}
            """)
    }

    @Test func runLinesParseBack() throws {
        let finished = AuditRun(id: 5, command: ["sh", "-c", "echo \"x\"\n"], role: "code", profileFile: "p.yaml",
                                workspace: "/ws", startNS: 10, endNS: 20, exitStatus: 137,
                                counts: RunCounts(denied: [.exec: 2, .write: 1], allowed: 3, lost: 4),
                                auditComplete: false, degraded: ["cgroup"])
        let live = AuditRun(id: 6, command: [], role: "test", profileFile: "t.yaml", workspace: "/ws", startNS: 30)
        let a = try #require(try JSONSerialization.jsonObject(with: Data(AuditJSON.line(finished).utf8)) as? [String: Any])
        #expect(a["run"] as? Int == 5)
        #expect(a["command"] as? [String] == ["sh", "-c", "echo \"x\"\n"])
        #expect(a["exit_status"] as? Int == 137)
        #expect(a["audit_complete"] as? Bool == false)
        #expect(a["degraded"] as? [String] == ["cgroup"])
        #expect(a["denied"] as? [String: Int] == ["exec": 2, "write": 1])
        #expect(a["lost"] as? Int == 4)
        let b = try #require(try JSONSerialization.jsonObject(with: Data(AuditJSON.line(live).utf8)) as? [String: Any])
        for key in ["end_ns", "exit_status", "audit_complete", "denied", "allowed", "lost"] {
            #expect(b[key] is NSNull, "\(key)")
        }
    }
}

@Suite struct SuggestionTests {
    @Test func theDocumentedExamples() {
        #expect(Suggestion.tool("/usr/bin/curl", at: "profiles/code.yaml:7")
                == #"add "/usr/bin/curl" to tools in profiles/code.yaml:7"#)
        #expect(Suggestion.write("/ws/src/gen/parser.c", workspace: "/ws", at: "profiles/code.yaml:12")
                == #"add "src/gen/**" to write in profiles/code.yaml:12"#)
        #expect(Suggestion.syscall("keyctl", deniedBy: "@keyring", at: "profiles/code.yaml:20")
                == #"add "keyctl" to syscalls.allow in profiles/code.yaml:20 (it is denied by @keyring)"#)
        #expect(Suggestion.network(port: 443, at: "profiles/code.yaml:15")
                == "set network: on (or allow: [443]) in profiles/code.yaml:15")
    }

    @Test(arguments: [
        ("/ws/src/gen/parser.c", "src/gen/**"),
        ("src/gen/parser.c", "src/gen/**"),            // workspace-relative input
        ("/ws/Package.swift", "Package.swift"),        // at the root: the file itself, not **
        ("/ws/./src//a/../b.c", "src/**"),             // normalized lexically
        ("/ws/src/we*ird/x.c", "src/**"),              // a glob character stops the zone above it
        ("/ws/a[1].c", "**"),                          // unspellable at the root: the whole workspace
        ("/ws/src/gen/we?rd.c", "src/gen/**"),         // the file name itself may hold anything
        ("/ws", "**"),
        ("/ws/", "**"),
    ])
    func writeZones(_ path: String, _ zone: String) {
        #expect(Suggestion.writeZone(for: path, workspace: "/ws") == zone)
        #expect(Suggestion.writeZone(for: path, workspace: "/ws/") == zone)
    }

    @Test(arguments: ["/etc/passwd", "/wsx/file", "/", "../outside/x", "/ws/../etc/shadow"])
    func noWriteZoneOutsideTheWorkspace(_ path: String) {
        #expect(Suggestion.writeZone(for: path, workspace: "/ws") == nil)
        #expect(Suggestion.write(path, workspace: "/ws", at: "p.yaml:1") == nil)
    }

    @Test func otherSuggestions() {
        #expect(Suggestion.syscall("ptrace", deniedBy: "ptrace", at: "p.yaml:3")
                == #"add "ptrace" to syscalls.allow in p.yaml:3"#)
        #expect(Suggestion.syscall("ptrace", deniedBy: nil, at: "p.yaml:3")
                == #"add "ptrace" to syscalls.allow in p.yaml:3"#)
        #expect(Suggestion.network(port: nil, at: "p.yaml:4") == "set network: on in p.yaml:4")
        #expect(Suggestion.networkPort(8443, at: "p.yaml:4") == "add 8443 to network.allow in p.yaml:4")
        #expect(Suggestion.limit("memory", current: "512M", at: "p.yaml:9") == "raise limits.memory above 512M in p.yaml:9")
        #expect(Suggestion.limit("processes", current: nil, at: "p.yaml:9") == "raise limits.processes in p.yaml:9")
        #expect(Suggestion.limit("wall", current: "30m", at: "profiles/base.yaml:44")
                == "raise limits.wall above 30m in profiles/base.yaml:44")
        #expect(Suggestion.timeout(current: "10s") == "run with a longer --timeout than 10s")
        #expect(Suggestion.read("/home/me/data/in.csv", workspace: "/ws", at: "p.yaml:5")
                == #"add "/home/me/data/in.csv" to read in p.yaml:5"#)
        #expect(Suggestion.read("/ws/docs/a.md", workspace: "/ws", at: "p.yaml:5") == #"add "docs/a.md" to read in p.yaml:5"#)
        #expect(Suggestion.read("/opt/x*y/z", workspace: "/ws", at: "p.yaml:5") == #"add "/opt" to read in p.yaml:5"#)
        // A quote in a path stays a valid YAML double-quoted scalar.
        #expect(Suggestion.tool("/opt/we\"ird\\tool", at: "p.yaml:2") == #"add "/opt/we\"ird\\tool" to tools in p.yaml:2"#)
    }
}
