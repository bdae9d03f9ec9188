// Several real processes on one store: concurrent runs, a runner killed with SIGKILL in the
// middle of a flood, and the cost of opening the store on the launch path.

import Foundation
import Glibc
import Testing
@testable import WardenAudit

@Suite(.serialized) struct ProcessTests {
    /// "run N" from the helper's first line.
    static func runID(_ helper: HelperProcess) throws -> Int64 {
        let line = try #require(helper.nextLine(), "helper printed nothing: \(helper.stderrText)")
        let id = try #require(line.hasPrefix("run ") ? Int64(line.dropFirst(4)) : nil, "unexpected first line '\(line)'")
        return id
    }

    /// The messages of one run's rows, in commit order.
    static func messages(_ store: AuditStore, run: Int64) throws -> [String] {
        try store.read("messages") { db in
            try String.fetchAll(db, sql: "SELECT message FROM events WHERE run_id = ? ORDER BY id", arguments: [run])
        }
    }

    @Test func concurrentWritersFromSeveralProcessesLoseNothing() throws {
        let dir = TempDir()
        // The store does not exist yet: the processes also race to create and migrate it.
        let path = dir.file("ws/.warden/audit.db")
        let writers = 4, perWriter = 25_000
        let helpers = try (0..<writers).map { _ in try HelperProcess(["write", path, String(perWriter)]) }
        var runs: [Int64] = []
        for h in helpers {
            runs.append(try Self.runID(h))
            let status = h.wait()
            #expect(status == 0, "helper exit \(status): \(h.stderrText)")
            let last = h.lines.last ?? ""
            #expect(last.hasPrefix("summary written=\(perWriter) lost=0 complete=true "), "\(last)")
        }
        #expect(Set(runs).count == writers)

        let store = try AuditStore(path: path, mode: .readOnly)
        #expect(try store.integrityCheck() == ["ok"])
        #expect(try count(store) == writers * perWriter)
        let expected = (0..<perWriter).map { "seq \($0)" }
        for run in runs { #expect(try Self.messages(store, run: run) == expected) }
        #expect(try AuditQuery(store: store).runs().count == writers)
    }

    @Test func runnersCreatingTheSameStoreAtOnceAllSucceed() throws {
        // Switching a new file to WAL is where simultaneous creators collide (SQLite fails
        // one with SQLITE_BUSY without waiting); a few rounds make the collision likely.
        for round in 0..<5 {
            let dir = TempDir("create-race")
            let path = dir.file("ws/.warden/audit.db")
            // All open at the same instant, a little after the last one has started.
            let at = AuditClock.monotonic() + 300_000_000
            let helpers = try (0..<8).map { _ in try HelperProcess(["write", path, "200", "--at", String(at)]) }
            for h in helpers {
                let status = h.wait()
                #expect(status == 0, "round \(round): helper exit \(status): \(h.stderrText)")
            }
            let store = try AuditStore(path: path, mode: .readOnly)
            #expect(try count(store) == 8 * 200)
            #expect(try store.integrityCheck() == ["ok"])
        }
    }

    @Test func killNineMidFloodLeavesASoundStoreWithEveryCommittedBatch() throws {
        let dir = TempDir()
        let path = dir.file("audit.db")
        // Three runners in turn, each killed at a different point, so later ones also start
        // on a WAL a killed process left behind.
        for threshold in [1, 5_000, 30_000] {
            // Far more than is committed by the time of the kill, yet a bounded queue.
            let helper = try HelperProcess(["write", path, "300000"])
            let run = try Self.runID(helper)
            var reported = 0
            while reported < threshold, let line = helper.nextLine() {
                if line.hasPrefix("committed ") { reported = Int(line.dropFirst(10)) ?? reported }
            }
            #expect(reported >= threshold, "helper ended early: \(helper.lines.suffix(3)) \(helper.stderrText)")
            #expect(kill(helper.pid, SIGKILL) == 0)
            // Lines already in the pipe were printed after their commit too.
            let status = helper.wait()
            #expect(status == 128 + SIGKILL)
            let lastReported = helper.lines.compactMap { $0.hasPrefix("committed ") ? Int($0.dropFirst(10)) : nil }.max() ?? 0

            // The next runner opens the store as usual.
            let store = try AuditStore(path: path)
            #expect(try store.integrityCheck() == ["ok"])
            let messages = try Self.messages(store, run: run)
            #expect(messages.count >= lastReported, "\(messages.count) rows but \(lastReported) reported committed")
            // Whole batches in order: what survived is exactly a prefix of what was recorded.
            #expect(messages == (0..<messages.count).map { "seq \($0)" })
            let runRow = try #require(try AuditQuery(store: store).run(run))
            #expect(runRow.endNS == nil && runRow.auditComplete == nil)
            _ = try store.beginRun(command: ["after-kill"], role: "r", profileFile: "p", workspace: "/")
            print("kill -9 after \(lastReported) reported committed: \(messages.count) rows survived")
        }
    }

    @Test func openingAWarmStoreIsCheap() throws {
        let dir = TempDir()
        let path = dir.file("ws/.warden/audit.db")
        // Warm: created, with some history, pages in the OS cache.
        do {
            let store = try AuditStore(path: path)
            let run = try store.beginRun(command: ["warm"], role: "r", profileFile: "p", workspace: "/ws")
            try store.insert((0..<10_000).map { event(run: run, target: "/ws/\($0)") })
            try store.close()
        }
        // In a fresh process each time, as every `warden run` is.
        var fresh: [Int64] = []
        var ids: [Int64] = []
        for _ in 0..<15 {
            let h = try HelperProcess(["open-begin", path])
            let line = try #require(h.nextLine())
            #expect(h.wait() == 0, "\(h.stderrText)")
            let parts = line.split(separator: " ")
            try #require(parts.count == 4 && parts[2] == "open+begin_ns", "unexpected '\(line)'")
            ids.append(try #require(Int64(parts[1])))
            fresh.append(try #require(Int64(parts[3])))
        }
        // Each open really began a run, one after the other.
        #expect(ids == Array(ids.first!..<ids.first! + 15))

        // In-process, with the process already warm: the SQLite part alone.
        var warm: [Int64] = []
        for _ in 0..<30 {
            let t0 = AuditClock.monotonic()
            let store = try AuditStore(path: path)
            _ = try store.beginRun(command: ["x"], role: "r", profileFile: "p", workspace: "/ws")
            warm.append(AuditClock.monotonic() - t0)
            try store.close()
        }
        fresh.sort()
        warm.sort()
        print("""
            audit store open+beginRun: fresh process median \(percentile(fresh, 0.5) / 1000) µs, \
            max \(fresh.last! / 1000) µs; warm process median \(percentile(warm, 0.5) / 1000) µs, \
            max \(warm.last! / 1000) µs
            """)
        // Sanity only: this is on every launch's path, and a second would mean something
        // (a lock wait, a full-file scan) went badly wrong.
        #expect(percentile(fresh, 0.5) < 1_000_000_000)
    }
}
