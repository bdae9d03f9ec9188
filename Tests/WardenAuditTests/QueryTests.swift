// Filters, summary and follow against a data set where every filter value matches a
// different subset; each result is compared with the same filter applied in Swift to what
// was inserted, so a filter that ignored its value (or another's) would be caught.

import Foundation
import Testing
@testable import WardenAudit

@Suite struct QueryTests {
    /// 240 events: roles × kinds × decisions × 4 targets, times shuffled so that insertion
    /// order and time order differ.
    static func dataset() -> [AuditEvent] {
        let roles = ["code", "test", "explore"]
        let kinds: [AuditKind] = [.exec, .write, .read, .syscall, .network]
        let targets = ["/ws/src/main.c", "/ws/Tests/t.swift", "/home/u/.ssh/id_ed25519", "keyctl(KEYCTL_JOIN, \"x\")"]
        var out: [AuditEvent] = []
        var n: Int64 = 0
        for role in roles {
            for kind in kinds {
                for decision in [AuditDecision.denied, .allowed] {
                    for target in targets {
                        n += 1
                        out.append(event(run: n % 3 + 1, time: 1_000_000 + (n * 7919) % 241 * 1000, role: role,
                                         kind: kind, target: target, decision: decision,
                                         rule: "profiles/\(role).yaml:\(n % 4 + 1) \(kind)"))
                    }
                }
            }
        }
        out.append(event(run: 9, time: 5, role: "code", kind: .launch, target: "landlock", decision: .degraded))
        return out
    }

    let dir = TempDir()
    let store: AuditStore
    let query: AuditQuery
    let all = QueryTests.dataset()

    init() throws {
        store = try AuditStore(path: dir.file("audit.db"))
        query = AuditQuery(store: store)
        // Several batches, as the writer would commit them.
        for chunk in stride(from: 0, to: all.count, by: 50) {
            try store.insert(all[chunk..<min(chunk + 50, all.count)])
        }
    }

    /// The reference ordering: time, then insertion order.
    func expected(_ keep: (AuditEvent) -> Bool) -> [AuditEvent] {
        all.enumerated().filter { keep($0.element) }
            .sorted { ($0.element.timeNS, $0.offset) < ($1.element.timeNS, $1.offset) }.map(\.element)
    }

    @Test func noFilterReturnsEverythingInTimeOrder() throws {
        #expect(try query.events().map(\.event) == expected { _ in true })
    }

    @Test(arguments: ["code", "test", "explore", "nobody"])
    func byRole(_ role: String) throws {
        let want = expected { $0.role == role }
        #expect(try query.events(AuditFilter(role: role)).map(\.event) == want)
        if role != "nobody" { #expect(!want.isEmpty) }
    }

    @Test(arguments: AuditKind.allCases)
    func byKind(_ kind: AuditKind) throws {
        #expect(try query.events(AuditFilter(kind: kind)).map(\.event) == expected { $0.kind == kind })
    }

    @Test(arguments: [Int64(1), 2, 3, 9, 10])
    func byRun(_ run: Int64) throws {
        #expect(try query.events(AuditFilter(runID: run)).map(\.event) == expected { $0.runID == run })
    }

    @Test(arguments: AuditDecision.allCases)
    func byDecision(_ decision: AuditDecision) throws {
        let want = expected { $0.decision == decision }
        #expect(!want.isEmpty)
        #expect(try query.events(AuditFilter(decision: decision)).map(\.event) == want)
    }

    @Test(arguments: [Int64(0), 5, 6, 100_000, 120_000, 241_000, 999_999_999])
    func bySince(_ since: Int64) throws {
        #expect(try query.events(AuditFilter(since: since)).map(\.event) == expected { $0.timeNS >= since })
    }

    /// What each glob must match, written out in Swift rather than derived from SQLite.
    static let globs: [String: @Sendable (String) -> Bool] = [
        "*/.ssh/*": { $0.contains("/.ssh/") },
        "/ws/src/*": { $0.hasPrefix("/ws/src/") },
        "/ws/*": { $0.hasPrefix("/ws/") },
        "keyctl(*": { $0.hasPrefix("keyctl(") },
        "/WS/*": { _ in false },  // GLOB is case-sensitive
        "*.[ch]": { $0.hasSuffix(".c") || $0.hasSuffix(".h") },
    ]

    @Test(arguments: QueryTests.globs.keys.sorted())
    func byPathGlob(_ glob: String) throws {
        let matches = try #require(Self.globs[glob])
        let want = expected { matches($0.target) }
        #expect(try query.events(AuditFilter(pathGlob: glob)).map(\.event) == want)
        if glob != "/WS/*" { #expect(!want.isEmpty) }
    }

    @Test func filtersCombineWithAnd() throws {
        let f = AuditFilter(role: "code", kind: .write, runID: 2, since: 50_000, decision: .denied, pathGlob: "/ws/*")
        let want = expected {
            $0.role == "code" && $0.kind == .write && $0.runID == 2 && $0.timeNS >= 50_000 && $0.decision == .denied
                && $0.target.hasPrefix("/ws/")
        }
        #expect(!want.isEmpty)
        #expect(try query.events(f).map(\.event) == want)
    }

    @Test func limitKeepsTheMostRecentInTimeOrder() throws {
        let everything = expected { _ in true }
        #expect(try query.events(AuditFilter(limit: 7)).map(\.event) == Array(everything.suffix(7)))
        let denied = expected { $0.decision == .denied }
        #expect(try query.events(AuditFilter(decision: .denied, limit: 3)).map(\.event) == Array(denied.suffix(3)))
        #expect(try query.events(AuditFilter(limit: 100_000)).count == all.count)
    }

    @Test(arguments: [1, 7, 1000])
    func pagingGivesTheSameRowsAsOneQuery(_ pageSize: Int) throws {
        for filter in [AuditFilter(), AuditFilter(decision: .denied), AuditFilter(limit: 9), AuditFilter(role: "test", limit: 500)] {
            var paged: [AuditRecord] = []
            try query.forEachEvent(filter, pageSize: pageSize) { paged.append($0) }
            var want = expected { e in
                (filter.decision.map { e.decision == $0 } ?? true) && (filter.role.map { e.role == $0 } ?? true)
            }
            if let limit = filter.limit { want = Array(want.suffix(limit)) }
            #expect(paged.map(\.event) == want)
        }
    }

    @Test func pagingAcrossEqualTimesLosesAndRepeatsNothing() throws {
        let dir = TempDir()
        let store = try AuditStore(path: dir.file("ties.db"))
        // Same nanosecond for all: only the id orders them, and every page boundary is a tie.
        try store.insert((0..<50).map { event(time: 77, target: "/t/\($0)") })
        var seen: [String] = []
        try AuditQuery(store: store).forEachEvent(pageSize: 7) { seen.append($0.event.target) }
        #expect(seen == (0..<50).map { "/t/\($0)" })
        var last: [String] = []
        try AuditQuery(store: store).forEachEvent(AuditFilter(limit: 10), pageSize: 3) { last.append($0.event.target) }
        #expect(last == (40..<50).map { "/t/\($0)" })
    }

    @Test func summaryCountsMatchTheEvents() throws {
        func tally(_ events: [AuditEvent], _ key: (AuditEvent) -> String) -> [String: Int] {
            events.reduce(into: [:]) { $0[key($1), default: 0] += 1 }
        }
        func dict(_ counts: [AuditSummary.Count]) -> [String: Int] {
            Dictionary(uniqueKeysWithValues: counts.map { ($0.key, $0.count) })
        }
        for filter in [AuditFilter(), AuditFilter(role: "code"), AuditFilter(runID: 2, pathGlob: "/ws/*")] {
            let events = try query.events(filter).map(\.event)
            let s = try query.summary(filter)
            #expect(s.total == events.count)
            #expect(dict(s.byDecision) == tally(events) { $0.decision.rawValue })
            #expect(dict(s.byRole) == tally(events) { $0.role })
            #expect(dict(s.byKind) == tally(events) { $0.kind.rawValue })
            #expect(dict(s.deniedByRule) == tally(events.filter { $0.decision == .denied }) { $0.rule })
            // Most frequent first.
            for list in [s.byRole, s.byKind, s.deniedByRule] {
                #expect(list.map(\.count) == list.map(\.count).sorted(by: >))
            }
        }
        #expect(try query.summary(AuditFilter(role: "nobody")).total == 0)
    }

    @Test func followReturnsOnlyNewMatchingRowsInCommitOrder() throws {
        var cursor = try query.lastEventID()
        #expect(cursor == Int64(all.count))
        #expect(try query.follow(after: cursor).records.isEmpty)

        // A late batch with an old timestamp still shows: follow goes by commit order.
        try store.insert([event(time: 1, role: "code", target: "/late/old-time"),
                          event(time: 2_000_000, role: "test", target: "/late/new-time")])
        let (records, next) = try query.follow(after: cursor, AuditFilter(role: "code"))
        #expect(records.map(\.event.target) == ["/late/old-time"])
        #expect(next == cursor + 2)  // the skipped non-matching row still moves the cursor
        cursor = next
        #expect(try query.follow(after: cursor, AuditFilter(role: "code")).records.isEmpty)
    }

    @Test func queryingIsParameterizedNotSpliced() throws {
        // A role or glob with SQL in it is just a value that matches nothing.
        #expect(try query.events(AuditFilter(role: "code' OR '1'='1")).isEmpty)
        #expect(try query.events(AuditFilter(pathGlob: "x' OR 1=1 --")).isEmpty)
        #expect(try query.events().count == all.count)
    }
}
