// The store itself: every field survives the round trip, runs begin and end, and opening
// refuses what it should (missing store for readers, foreign files, newer schemas).

import Foundation
import Glibc
import GRDB
import Testing
@testable import WardenAudit

@Suite struct StoreTests {
    @Test func everyFieldRoundTrips() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("a/b/audit.db"))
        let run = try store.beginRun(command: ["make"], role: "code", profileFile: "profiles/code.yaml", workspace: "/ws")
        // One event per kind × decision, with values at the edges of each type and strings
        // an agent could produce: quotes, newlines, escapes, non-ASCII, emoji.
        var events: [AuditEvent] = []
        var i: Int64 = 0
        for kind in AuditKind.allCases {
            for decision in AuditDecision.allCases {
                i += 1
                events.append(AuditEvent(
                    timeNS: i.isMultiple(of: 2) ? Int64.max - i : 1_700_000_000_123_456_789 + i, runID: run,
                    role: "rôle-\(i)", profileFile: "profiles/\(kind).yaml", pid: i == 1 ? Int32.max : Int32(i),
                    kind: kind, target: "/ws/\"q\"\n\t\u{1b}[31m/é/😀/\(i)", decision: decision,
                    rule: "profiles/\(kind).yaml:\(i) \(decision)", message: "line1\nline2 \\ \(i)",
                    suggestion: i.isMultiple(of: 3) ? nil : "add \"x\(i)\" to tools in profiles/code.yaml:\(i)"))
            }
        }
        try store.insert(events)
        let back = try AuditQuery(store: store).events()
        #expect(back.count == events.count)
        // Ordered by time, so compare as sets keyed by the unique rule text.
        let byRule = Dictionary(uniqueKeysWithValues: back.map { ($0.event.rule, $0.event) })
        for e in events { #expect(byRule[e.rule] == e) }
        #expect(back.map(\.event.timeNS) == back.map(\.event.timeNS).sorted())
        #expect(Set(back.map(\.id)).count == back.count)
    }

    @Test func nulInsideAStringIsReplacedNotTruncated() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("audit.db"))
        try store.insert([event(target: "/ws/a\u{0}hidden", message: "m\u{0}rest")])
        let e = try #require(try AuditQuery(store: store).events().first).event
        #expect(e.target == "/ws/a\u{FFFD}hidden")
        #expect(e.message == "m\u{FFFD}rest")
    }

    @Test func runsBeginAndFinish() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("audit.db"))
        let command = ["sh", "-c", "echo \"hi\"; exit 3", "ünïcode"]
        let first = try store.beginRun(command: command, role: "code", profileFile: "profiles/code.yaml",
                                       workspace: "/ws", startNS: 100, degraded: ["landlock-network", "cgroup"])
        let second = try store.beginRun(command: ["true"], role: "test", profileFile: "t.yaml", workspace: "/ws", startNS: 200)
        #expect(second == first + 1)
        let counts = RunCounts(denied: [.write: 2, .exec: 1], allowed: 5, degraded: 1, lost: 4)
        try store.finishRun(id: first, endNS: 900, exitStatus: 3, counts: counts, auditComplete: false)

        let query = AuditQuery(store: store)
        let done = try #require(try query.run(first))
        #expect(done == AuditRun(id: first, command: command, role: "code", profileFile: "profiles/code.yaml",
                                 workspace: "/ws", startNS: 100, endNS: 900, exitStatus: 3, counts: counts,
                                 auditComplete: false, degraded: ["landlock-network", "cgroup"]))
        let live = try #require(try query.run(second))
        #expect(live.endNS == nil && live.exitStatus == nil && live.counts == nil && live.auditComplete == nil)
        #expect(live.degraded == [])
        #expect(try query.runs().map(\.id) == [second, first])
        #expect(try query.runs(role: "code").map(\.id) == [first])
        #expect(try query.runs(since: 150).map(\.id) == [second])
        #expect(try query.runs(limit: 1).map(\.id) == [second])
    }

    @Test func runIDsAreNeverReused() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("audit.db"))
        let a = try store.beginRun(command: [], role: "r", profileFile: "p", workspace: "/")
        try store.write("test delete") { db in try db.execute(sql: "DELETE FROM runs") }
        let b = try store.beginRun(command: [], role: "r", profileFile: "p", workspace: "/")
        #expect(b > a)
    }

    @Test func finishingAnUnknownRunIsAnError() throws {
        let dir = TempDir()
        let path = dir.file("audit.db")
        let store = try AuditStore(path: path)
        #expect(throws: AuditError.unknownRun(path: path, id: 99)) {
            try store.finishRun(id: 99, exitStatus: 0, counts: RunCounts(), auditComplete: true)
        }
    }

    @Test func readersRefuseAMissingStoreAndCreateNothing() throws {
        let dir = TempDir()
        let path = dir.file("sub/audit.db")
        #expect(throws: AuditError.storeMissing(path: path)) { try AuditStore(path: path, mode: .readOnly) }
        #expect(access(dir.file("sub"), F_OK) != 0)
    }

    @Test func readersRefuseAFileThatIsNotAStore() throws {
        let dir = TempDir()
        let path = dir.file("audit.db")
        try Data(String(repeating: "not a database\n", count: 100).utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: AuditError.incompatibleStore(path: path, reason: "the file is not an SQLite database")) {
            try AuditStore(path: path, mode: .readOnly)
        }
        // An SQLite database of something else.
        let other = dir.file("other.db")
        try DatabaseQueue(path: other).write { db in try db.execute(sql: "CREATE TABLE t (x)") }
        #expect(throws: AuditError.incompatibleStore(path: other, reason: "it has no audit tables")) {
            try AuditStore(path: other, mode: .readOnly)
        }
    }

    @Test func aStoreFromANewerWardenIsRefusedNotMigrated() throws {
        let dir = TempDir()
        let path = dir.file("audit.db")
        _ = try AuditStore(path: path)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        }
        let reason = "it was written by a newer warden (unknown schema migrations)"
        #expect(throws: AuditError.incompatibleStore(path: path, reason: reason)) { try AuditStore(path: path) }
        #expect(throws: AuditError.incompatibleStore(path: path, reason: reason)) {
            try AuditStore(path: path, mode: .readOnly)
        }
    }

    @Test func aRowWithAnUnknownKindIsReportedNotSkipped() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("audit.db"))
        try store.insert([event()])
        try store.write("tamper") { db in try db.execute(sql: "UPDATE events SET kind = 'teleport'") }
        #expect(throws: AuditError.corruptRow(table: "events", id: 1, reason: "unknown kind 'teleport'")) {
            try AuditQuery(store: store).events()
        }
    }

    @Test func theStoreIsInWALModeInADirectoryItCreated() throws {
        let dir = TempDir()
        let path = dir.file("ws/.warden/audit.db")
        let store = try AuditStore(path: path)
        let mode = try store.read("mode") { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        var st = stat()
        #expect(stat(dir.file("ws/.warden"), &st) == 0)
        // umask() would change it for every test running in parallel; /proc shows it.
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let mask = try #require(status.split(separator: "\n").first { $0.hasPrefix("Umask:") }
            .flatMap { mode_t($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) })
        #expect(st.st_mode & 0o7777 == 0o755 & ~mask)
        #expect(try store.integrityCheck() == ["ok"])
    }

    @Test func switchingANewFileToWALWaitsForAnotherConnection() throws {
        // A file still in rollback mode, as a new store is for an instant, with another
        // connection (another runner mid-open) in a write transaction. SQLite refuses the
        // switch to WAL with SQLITE_BUSY at once, without calling the busy handler (its
        // deadlock rule); opening must wait anyway.
        let dir = TempDir()
        let path = dir.file("audit.db")
        let other = try DatabaseQueue(path: path)
        try other.write { db in try db.execute(sql: "CREATE TABLE early (x)") }
        let held = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        Thread {
            try? other.inTransaction(.immediate) { db in
                try db.execute(sql: "INSERT INTO early VALUES (1)")
                held.signal()
                usleep(400_000)
                return .commit
            }
            released.signal()
        }.start()
        held.wait()
        let store = try AuditStore(path: path)
        released.wait()
        #expect(try store.read("mode") { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } == "wal")
        _ = try store.beginRun(command: [], role: "r", profileFile: "p", workspace: "/")
    }

    @Test func closingLeavesTheWALWithItsRowsAlreadyCheckpointed() throws {
        // A close does not checkpoint (that fsync would land on every run's exit): the rows
        // stay in the WAL, where every reader sees them. SQLite's automatic checkpoint (every
        // 100 pages) has already copied them into the database file, which bounds what the
        // next opener re-reads and lets the next write recycle the WAL.
        let dir = TempDir()
        let path = dir.file("audit.db")
        var st = stat()
        let store = try AuditStore(path: path)
        #expect(stat(path, &st) == 0)
        let before = st.st_size
        try store.insert((0..<5000).map { event(target: "/ws/\($0)") })
        try store.close()
        #expect(stat(path + "-wal", &st) == 0 && st.st_size > 0)
        #expect(stat(path, &st) == 0 && st.st_size > before + 400_000, "database file: \(st.st_size) bytes")
        #expect(try count(try AuditStore(path: path, mode: .readOnly)) == 5000)
        let again = try AuditStore(path: path)
        _ = try again.beginRun(command: [], role: "r", profileFile: "p", workspace: "/")
        #expect(try count(again) == 5000)
    }

    @Test func defaultPathIsInsideTheWorkspace() {
        #expect(AuditStore.defaultPath(workspace: "/ws") == "/ws/.warden/audit.db")
        #expect(AuditStore.defaultPath(workspace: "/ws/") == "/ws/.warden/audit.db")
    }

    @Test func anUncreatableDirectoryIsAPreciseError() throws {
        let dir = TempDir()
        let blocker = dir.file("file")
        #expect(creat(blocker, 0o600) >= 0)
        #expect(throws: AuditError.cannotCreateDirectory(path: blocker + "/sub", errno: ENOTDIR)) {
            try AuditStore(path: blocker + "/sub/audit.db")
        }
    }

    @Test func denialNoticeNamesTheRunAndTheKinds() {
        var counts = RunCounts()
        #expect(counts.denialNotice(runID: 42) == nil)
        for e in [event(kind: .write), event(kind: .exec), event(kind: .write), event(kind: .read, decision: .allowed)] {
            counts.add(e)
        }
        #expect(counts.denialNotice(runID: 42) == "warden: 3 operations denied (2 write, 1 exec) — warden audit --run 42")
        var one = RunCounts()
        one.add(event(kind: .syscall))
        #expect(one.denialNotice(runID: 7) == "warden: 1 operation denied (1 syscall) — warden audit --run 7")
    }
}
