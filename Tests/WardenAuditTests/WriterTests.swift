// AuditWriter: nothing lost under a flood, record() stays cheap, batches reach the store
// without finish(), and trouble (overflow, late records, a full disk) is counted and
// reported instead of thrown or crashed on.

import Foundation
import Glibc
import GRDB
import Testing
@testable import WardenAudit

@Suite(.serialized) struct WriterTests {
    @Test func aFloodOf100kEndsWithExactly100kRows() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("audit.db"))
        let run = try store.beginRun(command: ["flood"], role: "code", profileFile: "p.yaml", workspace: "/ws")
        let writer = AuditWriter(store: store)
        let n = 100_000
        var latencies = [Int64](repeating: 0, count: n)
        let start = AuditClock.monotonic()
        for i in 0..<n {
            let e = event(run: run, time: Int64(i), kind: i.isMultiple(of: 2) ? .write : .exec,
                          target: "/ws/f/\(i)", message: "seq \(i)")
            let t0 = AuditClock.monotonic()
            writer.record(e)
            latencies[i] = AuditClock.monotonic() - t0
        }
        let recorded = AuditClock.monotonic()
        let summary = writer.finish()
        let end = AuditClock.monotonic()

        #expect(summary == AuditWriter.Summary(
            written: n, lost: 0, complete: true, firstError: nil,
            counts: RunCounts(denied: [.write: n / 2, .exec: n / 2], allowed: 0, degraded: 0, lost: 0)))
        let records = try AuditQuery(store: store).events(AuditFilter(runID: run))
        #expect(records.count == n)
        // Every event exactly once, in order.
        #expect(records.map(\.event.message) == (0..<n).map { "seq \($0)" })

        latencies.sort()
        let p50 = percentile(latencies, 0.50), p99 = percentile(latencies, 0.99), p999 = percentile(latencies, 0.999)
        let seconds = Double(end - start) / 1e9
        print("""
            audit writer: record() p50 \(p50) ns, p99 \(p99) ns, p99.9 \(p999) ns, max \(latencies.last!) ns; \
            \(n) rows in \(String(format: "%.3f", seconds)) s (\(Int(Double(n) / seconds)) rows/s end to end, \
            finish() drained the rest in \(String(format: "%.3f", Double(end - recorded) / 1e9)) s)
            """)
        // Generous: a record() that waited on SQLite would take milliseconds, not microseconds.
        #expect(p99 < 1_000_000, "record() p99 \(p99) ns: it must never wait for the disk")
    }

    @Test func batchesReachTheStoreWithoutFinish() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("audit.db"))
        let writer = AuditWriter(store: store, flushInterval: 0.05)
        writer.record(event(target: "/one"))
        // Well under the batch size: only the timer can flush it.
        let deadline = AuditClock.monotonic() + 5_000_000_000
        var seen = 0
        while seen == 0 && AuditClock.monotonic() < deadline {
            usleep(10_000)
            seen = try AuditQuery(store: store).events().count
        }
        #expect(seen == 1)
        #expect(writer.finish().written == 1)
    }

    @Test func onCommitReportsRunningTotals() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("audit.db"))
        let totals = Locked<[Int]>([])
        let writer = AuditWriter(store: store, batchSize: 100, onCommit: { total in totals.mutate { $0.append(total) } })
        for i in 0..<1050 { writer.record(event(target: "/\(i)")) }
        #expect(writer.finish().written == 1050)
        let seen = totals.value
        #expect(seen.last == 1050)
        #expect(seen == seen.sorted() && Set(seen).count == seen.count)
        #expect(zip(seen, [0] + seen).allSatisfy { $0 - $1 <= 100 })  // one call per batch of at most 100
    }

    @Test func finishIsIdempotentAndLateRecordsAreCountedLost() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("audit.db"))
        let writer = AuditWriter(store: store)
        writer.record(event())
        let first = writer.finish()
        #expect(first.written == 1 && first.complete)
        writer.record(event())
        #expect(writer.finish() == first)  // the summary was fixed at the first finish()
        #expect(try AuditQuery(store: store).events().count == 1)
    }

    @Test func overflowDropsAndCountsInsteadOfGrowing() throws {
        let dir = TempDir()
        let path = dir.file("audit.db")
        let store = try AuditStore(path: path, busyTimeout: 0.5)
        // Another connection holds the write lock, so the first batch cannot commit while
        // we record; it counts against maxQueued until it does, so everything after the
        // first 100 must be dropped and counted, whatever the timing.
        let holder = try WriteLockHolder(path: path, seconds: 0.3)
        let writer = AuditWriter(store: store, batchSize: 100, flushInterval: 3600, maxQueued: 100)
        for i in 0..<350 { writer.record(event(target: "/\(i)")) }
        holder.join()
        let s = writer.finish()
        #expect(s.written == 100 && s.lost == 250 && !s.complete)
        #expect(s.counts.deniedTotal == 350)  // the tallies count what happened, stored or not
        #expect(s.firstError?.contains("more than 100 events were waiting for the disk") == true)
        #expect(try AuditQuery(store: store).events().count == s.written)
    }

    @Test func aBusyStoreIsWaitedForNotDropped() throws {
        let dir = TempDir()
        let path = dir.file("audit.db")
        // Held for 0.7 s against a 0.5 s busy timeout: the first attempt times out, a
        // retry (at the latest the third, ending at 1.5 s) gets through.
        let store = try AuditStore(path: path, busyTimeout: 0.5)
        let holder = try WriteLockHolder(path: path, seconds: 0.7)
        let writer = AuditWriter(store: store, batchSize: 10)
        for i in 0..<10 { writer.record(event(target: "/\(i)")) }
        holder.join()
        let s = writer.finish()
        #expect(s.written == 10 && s.lost == 0 && s.complete)
    }

    @Test func aStoreLockedTooLongLosesTheBatchAndSaysWhy() throws {
        let dir = TempDir()
        let path = dir.file("audit.db")
        // Three attempts of 0.05 s each against a lock held for 1.5 s.
        let store = try AuditStore(path: path, busyTimeout: 0.05)
        let holder = try WriteLockHolder(path: path, seconds: 1.5)
        let writer = AuditWriter(store: store, batchSize: 10)
        for i in 0..<10 { writer.record(event(target: "/\(i)")) }
        holder.join()
        // The writer kept going: a batch after the lock is released is stored.
        writer.record(event(target: "/after"))
        let s = writer.finish()
        #expect(s.lost == 10 && s.written == 1 && !s.complete)
        #expect(s.firstError?.contains("database is locked") == true, "\(s.firstError ?? "nil")")
        #expect(try AuditQuery(store: store).events().map(\.event.target) == ["/after"])
    }

    @Test func aWriterDroppedWithoutFinishStillCommits() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("audit.db"))
        do {
            let writer = AuditWriter(store: store)
            for i in 0..<10 { writer.record(event(target: "/\(i)")) }
        }
        #expect(try AuditQuery(store: store).events().count == 10)
    }

    @Test(.enabled(if: getuid() == 0, "mounting a size-limited tmpfs needs root"))
    func aFullDiskIsReportedAndCommittedRowsSurvive() throws {
        let dir = TempDir("fulldisk")
        let mountpoint = dir.file("mnt")
        #expect(mkdir(mountpoint, 0o700) == 0)
        guard mount("tmpfs", mountpoint, "tmpfs", 0, "size=256k,mode=0700") == 0 else {
            Issue.record("mount tmpfs at \(mountpoint): \(String(cString: strerror(errno)))")
            return
        }
        defer {
            if umount2(mountpoint, Int32(MNT_DETACH)) != 0 {
                Issue.record("umount \(mountpoint): \(String(cString: strerror(errno)))")
            }
        }
        let path = mountpoint + "/audit.db"
        var summary: AuditWriter.Summary
        var finishError: AuditError?
        do {
            let store = try AuditStore(path: path)
            let run = try store.beginRun(command: ["flood"], role: "code", profileFile: "p.yaml", workspace: "/ws")
            let writer = AuditWriter(store: store, batchSize: 200)
            let padding = String(repeating: "x", count: 200)
            // ~250 bytes a row: 20k rows is ~20x what fits.
            for i in 0..<20_000 { writer.record(event(run: run, target: "/ws/\(i)/\(padding)", message: "seq \(i)")) }
            summary = writer.finish()
            do {
                try store.finishRun(id: run, exitStatus: 0, counts: summary.counts, auditComplete: summary.complete)
            } catch let error as AuditError {
                finishError = error
            }
        }
        print("full disk: written \(summary.written), lost \(summary.lost), first error: \(summary.firstError ?? "-")")
        #expect(!summary.complete)
        #expect(summary.lost > 0)
        #expect(summary.written > 0, "the first batches fit in 256k")
        #expect(summary.written + summary.lost == 20_000)
        #expect(summary.counts.lost == summary.lost)
        #expect(summary.firstError?.contains("full") == true)
        if let finishError { #expect(finishError.isDiskFull, "finishRun failed for another reason: \(finishError)") }

        // Everything the writer said it committed is there, once, and the file is sound.
        let reader = try AuditStore(path: path, mode: .readOnly)
        #expect(try reader.integrityCheck() == ["ok"])
        let messages = try AuditQuery(store: reader).events().map(\.event.message)
        #expect(messages.count == summary.written)
        #expect(Set(messages).count == messages.count)
        #expect(messages.allSatisfy { $0.hasPrefix("seq ") })
    }
}

/// Holds the store's write lock from a separate connection for a while, as another runner
/// in the middle of a long transaction would.
final class WriteLockHolder {
    private let done = DispatchSemaphore(value: 0)

    init(path: String, seconds: Double) throws {
        let queue = try DatabaseQueue(path: path)
        let held = DispatchSemaphore(value: 0)
        let done = self.done
        Thread {
            try? queue.write { db in
                try db.execute(sql: "CREATE TABLE IF NOT EXISTS lock_holder (x); INSERT INTO lock_holder VALUES (1)")
                held.signal()
                usleep(UInt32(seconds * 1_000_000))
            }
            done.signal()
        }.start()
        held.wait()
    }

    func join() { done.wait() }
}
