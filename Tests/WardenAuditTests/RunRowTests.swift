// The launch path's own row writer (SQLite's C API, no GRDB): it must write exactly what the
// GRDB store reads back, and step aside (nil) for every store it is not sure of, so that
// AuditStore creates, migrates or refuses it with its own messages.

import Foundation
import GRDB
import Glibc
import Testing
@testable import WardenAudit

struct RunRowTests {
    let dir = TempDir("runrow")

    func begin(_ path: String, launch: [AuditEvent] = []) throws -> RunRow? {
        try RunRow.begin(path: path, command: ["sh", "-c", "echo 'x'\n"], role: "code", profileFile: "profiles/code.yaml",
                         workspace: dir.path, startNS: 5_000, degraded: launch.map(\.target), launchEvents: launch)
    }

    @Test func kindsByNameAreEveryKindSorted() {
        #expect(AuditKind.byName == AuditKind.allCases.sorted { $0.rawValue < $1.rawValue })
    }

    /// The counts column is written by hand; it must be what JSONEncoder writes with sorted keys.
    @Test(arguments: [RunCounts(), RunCounts(denied: [.write: 2], allowed: 1, degraded: 1, lost: 4),
                      RunCounts(denied: Dictionary(uniqueKeysWithValues: AuditKind.allCases.enumerated().map { ($1, $0 + 1) }),
                                allowed: 7)])
    func countsJSONIsTheEncoders(_ counts: RunCounts) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let expected = String(decoding: try encoder.encode(counts), as: UTF8.self)
        #expect(counts.storedJSON == expected)
        #expect(try JSONDecoder().decode(RunCounts.self, from: Data(counts.storedJSON.utf8)) == counts)
    }

    @Test func theSchemaItChecksIsTheMigrators() {
        #expect(RunRow.schema == AuditStore.migrator.migrations.joined(separator: ","))
    }

    @Test func stepsAsideForAStoreThatIsMissingEmptyOrNotSQLite() throws {
        #expect(try begin(dir.file("missing.db")) == nil)
        #expect(!FileManagerFree.exists(dir.file("missing.db")), "it must not create the file")
        let empty = dir.file("empty.db")
        close(open(empty, O_CREAT | O_WRONLY, 0o644))
        #expect(try begin(empty) == nil)
        let garbage = dir.file("garbage.db")
        let fd = open(garbage, O_CREAT | O_WRONLY, 0o644)
        _ = write(fd, String(repeating: "not a database ", count: 400), 6000)
        close(fd)
        #expect(try begin(garbage) == nil)
    }

    @Test func stepsAsideForANewerSchemaAndASymlink() throws {
        let newer = dir.file("newer.db")
        _ = try AuditStore(path: newer)
        let queue = try DatabaseQueue(path: newer)
        try queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99')") }
        try queue.close()
        #expect(try begin(newer) == nil)
        // ...and AuditStore then refuses it, which is the message the user sees.
        #expect(throws: AuditError.self) { _ = try AuditStore(path: newer) }

        let real = dir.file("real.db")
        _ = try AuditStore(path: real)
        let link = dir.file("link.db")
        #expect(symlink(real, link) == 0)
        #expect(try begin(link) == nil)
    }

    @Test func writesTheRowAndLaunchEventsTheStoreReadsBack() throws {
        let path = dir.file("store.db")
        _ = try AuditStore(path: path)
        let launch = [event(run: 0, time: 5_000, kind: .launch, target: "view", decision: .degraded, rule: "--no-view",
                            message: "no\u{0}gate", suggestion: nil)]
        let row = try #require(try begin(path, launch: launch))
        var counts = RunCounts(denied: [.write: 2], allowed: 1, degraded: 1)
        counts.lost = 0
        try row.finish(endNS: 9_000, exitStatus: 3, counts: counts, auditComplete: true)
        row.close()

        let query = AuditQuery(store: try AuditStore(path: path, mode: .readOnly))
        let run = try #require(try query.run(row.id))
        #expect(run.command == ["sh", "-c", "echo 'x'\n"])
        #expect(run.role == "code" && run.profileFile == "profiles/code.yaml" && run.workspace == dir.path)
        #expect(run.startNS == 5_000 && run.endNS == 9_000 && run.exitStatus == 3 && run.auditComplete == true)
        #expect(run.counts == counts)
        #expect(run.degraded == ["view"])
        let events = try query.events(AuditFilter())
        #expect(events.count == 1)
        #expect(events.first?.event.runID == row.id)
        #expect(events.first?.event.message == "no\u{FFFD}gate", "a NUL is stored visibly, as AuditStore does")
        // Ids keep counting from GRDB's rows: a second run gets the next one.
        let second = try #require(try begin(path))
        #expect(second.id == row.id + 1)
    }

    @Test func finishingARunTheStoreLacksIsAnError() throws {
        let path = dir.file("gone.db")
        _ = try AuditStore(path: path)
        let row = try #require(try begin(path))
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "DELETE FROM runs") }
        try queue.close()
        #expect(throws: AuditError.unknownRun(path: path, id: row.id)) {
            try row.finish(exitStatus: 0, counts: RunCounts(), auditComplete: true)
        }
    }
}

enum FileManagerFree {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
