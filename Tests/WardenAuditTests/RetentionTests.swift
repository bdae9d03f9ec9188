// Pruning the store: which runs go, which stay, that it is all or nothing, and that a pruned
// run id is never handed out again.

import Foundation
import Glibc
import GRDB
import Testing
@testable import WardenAudit

@Suite struct RetentionTests {
    /// Runs around a cutoff of 1000 ns: finished before, finished after, unfinished with a
    /// live and with a dead runner, plus events without a run before and after.
    func store() throws -> (AuditStore, ids: [String: Int64]) {
        let dir = TempDir("prune")
        let store = try AuditStore(path: dir.file("audit.db"))
        var ids: [String: Int64] = [:]
        func run(_ name: String, start: Int64, end: Int64?) throws {
            let id = try store.beginRun(command: [name], role: "code", profileFile: "p.yaml", workspace: "/ws", startNS: start)
            try store.insert([event(run: id, time: start + 1, target: "/ws/\(name)/1"),
                              event(run: id, time: start + 2, target: "/ws/\(name)/2")])
            if let end { try store.finishRun(id: id, endNS: end, exitStatus: 0, counts: RunCounts(), auditComplete: true) }
            ids[name] = id
        }
        try run("old", start: 100, end: 200)
        try run("recent", start: 900, end: 2_000)
        try run("live", start: 300, end: nil)
        try run("killed", start: 400, end: nil)
        try run("newest-id-but-old", start: 10, end: 20)
        try store.insert([event(run: 999, time: 500, target: "/orphan/old"), event(run: 999, time: 5_000, target: "/orphan/new")])
        return (store, ids)
    }

    @Test func prunesWhatEndedBeforeTheCutoffAndKeepsWhatMayStillRun() throws {
        let (store, ids) = try store()
        let r = try store.prune(before: 1_000) { run in run.command == ["live"] }
        #expect(r.removedRuns == [ids["old"]!, ids["killed"]!, ids["newest-id-but-old"]!])
        #expect(r.abandonedRuns == [ids["killed"]!])
        #expect(r.keptUnfinished == [ids["live"]!])
        #expect(r.removedEvents == 7)  // two for each of three runs, and the old orphan
        let q = AuditQuery(store: store)
        #expect(try q.runs().map(\.id).sorted() == [ids["recent"]!, ids["live"]!].sorted())
        #expect(Set(try q.events().map(\.event.target)) == ["/ws/recent/1", "/ws/recent/2", "/ws/live/1", "/ws/live/2",
                                                            "/orphan/new"])
        #expect(try store.integrityCheck() == ["ok"])
    }

    @Test func aDryRunReportsTheSameAndChangesNothing() throws {
        let (store, _) = try store()
        let dry = try store.prune(before: 1_000, dryRun: true) { _ in false }
        #expect(dry.dryRun && dry.removedRuns.count == 4 && dry.removedEvents == 9)
        #expect(try count(store) == 12)
        #expect(try AuditQuery(store: store).runs().count == 5)
        let real = try store.prune(before: 1_000) { _ in false }
        #expect(real.removedRuns == dry.removedRuns && real.removedEvents == dry.removedEvents)
    }

    @Test func aPrunedRunIdIsNeverReused() throws {
        let (store, ids) = try store()
        _ = try store.prune(before: 1_000) { _ in false }
        let next = try store.beginRun(command: ["after"], role: "code", profileFile: "p.yaml", workspace: "/ws")
        #expect(next == ids["newest-id-but-old"]! + 1)
    }

    @Test func aRunnerOwnsARunOnlyWithItsCommandAndAnEarlierStart() {
        let run = AuditRun(id: 1, command: ["/bin/sleep", "41.25"], role: "code", profileFile: "p", workspace: "/ws",
                           startNS: 100_000_000_000)
        let argv = ["/usr/bin/warden", "run", "--profile", "code", "--", "/bin/sleep", "41.25"]
        #expect(RunnerProcess(pid: 7, startNS: 99_000_000_000, argv: argv).mayOwn(run))
        #expect(!RunnerProcess(pid: 7, startNS: 99_000_000_000, argv: argv.dropLast() + ["41"]).mayOwn(run))
        // Started well after the run's row: a later runner, not this run's.
        #expect(!RunnerProcess(pid: 7, startNS: 106_000_000_000, argv: argv).mayOwn(run))
        // A command line it could not read: assume the worst.
        #expect(RunnerProcess(pid: 7, startNS: 99_000_000_000, argv: nil).mayOwn(run))
    }

    @Test func theSnapshotSeesLiveWardenProcessesWithTheirCommandLine() throws {
        // The stress helper's name starts with "warden" too; it stays alive until killed.
        let dir = TempDir("prune-live")
        let helper = try HelperProcess(["write", dir.file("a.db"), "100000000"])
        _ = helper.nextLine()
        let seen = RunnerProcesses.snapshot().first { $0.pid == helper.pid }
        #expect(seen?.argv?.suffix(3) == ["write", dir.file("a.db"), "100000000"], "\(String(describing: seen))")
        let startedAgo = AuditClock.now() - (seen?.startNS ?? 0)
        #expect(startedAgo > -2_000_000_000 && startedAgo < 60_000_000_000, "\(startedAgo)")
        kill(helper.pid, SIGKILL)
        helper.wait()
        #expect(!RunnerProcesses.snapshot().contains { $0.pid == helper.pid })
    }
}
