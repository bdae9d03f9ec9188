// Reading the store back: the filters of `warden audit`, the summary, the run list and the
// polling behind --follow. Every value reaches SQL as a bound argument, never spliced in:
// role names and globs come from the command line, targets from an agent.

import GRDB

/// The filters of `warden audit`. nil means "any". All set filters must match.
public struct AuditFilter: Sendable, Equatable {
    public var role: String?
    public var kind: AuditKind?
    public var runID: Int64?
    /// Events at or after this CLOCK_REALTIME nanosecond.
    public var since: Int64?
    public var decision: AuditDecision?
    /// SQLite GLOB on the target: `*` and `?` match `/` too, and case matters, so
    /// `*/.ssh/*` finds every path with a .ssh component.
    public var pathGlob: String?
    /// At most this many events: the most recent ones (still returned oldest first), as
    /// with `tail`, because an audit is usually read from the end.
    public var limit: Int?

    public init(role: String? = nil, kind: AuditKind? = nil, runID: Int64? = nil, since: Int64? = nil,
                decision: AuditDecision? = nil, pathGlob: String? = nil, limit: Int? = nil) {
        self.role = role
        self.kind = kind
        self.runID = runID
        self.since = since
        self.decision = decision
        self.pathGlob = pathGlob
        self.limit = limit
    }

    /// The WHERE clause (with its leading keyword, or empty) and its arguments. `after`
    /// continues a listing past row `id`; `from` continues it in (time, id) order.
    func whereClause(after id: Int64? = nil, from key: PageKey? = nil) -> (String, StatementArguments) {
        var terms: [String] = []
        var args = StatementArguments()
        if let role { terms.append("role = ?"); args += [role] }
        if let kind { terms.append("kind = ?"); args += [kind.rawValue] }
        if let runID { terms.append("run_id = ?"); args += [runID] }
        if let since { terms.append("time_ns >= ?"); args += [since] }
        if let decision { terms.append("decision = ?"); args += [decision.rawValue] }
        if let pathGlob { terms.append("target GLOB ?"); args += [pathGlob] }
        if let id { terms.append("id > ?"); args += [id] }
        if let key {
            terms.append(key.inclusive ? "(time_ns, id) >= (?, ?)" : "(time_ns, id) > (?, ?)")
            args += [key.timeNS, key.id]
        }
        return (terms.isEmpty ? "" : "WHERE " + terms.joined(separator: " AND "), args)
    }
}

/// A position in the (time, id) order of events, for listing page by page.
struct PageKey {
    var timeNS: Int64
    var id: Int64
    var inclusive: Bool
}

/// Counts over the events a filter selects.
public struct AuditSummary: Sendable, Equatable {
    public struct Count: Sendable, Equatable {
        public var key: String
        public var count: Int
        public init(_ key: String, _ count: Int) { self.key = key; self.count = count }
    }
    public var total: Int
    public var byDecision: [Count]
    public var byRole: [Count]
    public var byKind: [Count]
    /// Denials only: which profile lines refused the most.
    public var deniedByRule: [Count]
}

public struct AuditQuery: Sendable {
    public let store: AuditStore

    public init(store: AuditStore) { self.store = store }

    /// Matching events ordered by time (ties by id, i.e. commit order).
    public func events(_ filter: AuditFilter = AuditFilter()) throws -> [AuditRecord] {
        var out: [AuditRecord] = []
        try forEachEvent(filter) { out.append($0) }
        return out
    }

    /// The same events as `events`, handed over one at a time, read in pages of `pageSize`
    /// with a short read transaction each. A store can hold millions of rows after a
    /// notification flood: this keeps memory flat, and no snapshot stays open while the
    /// output waits on a pager (an open snapshot stops checkpoints, and the WAL of every
    /// run writing meanwhile would grow).
    public func forEachEvent(_ filter: AuditFilter = AuditFilter(), pageSize: Int = 1000,
                             _ body: (AuditRecord) throws -> Void) throws {
        var f = filter
        f.limit = nil
        var remaining = Int.max
        var key: PageKey?
        if let limit = filter.limit {
            guard limit > 0 else { return }
            remaining = limit
            // Start at the limit-th most recent match, then list forward from there.
            let (clause, args) = f.whereClause()
            let start = try store.read("query events") { db in
                try Row.fetchOne(db, sql: """
                    SELECT time_ns, id FROM events \(clause) ORDER BY time_ns DESC, id DESC LIMIT 1 OFFSET ?
                    """, arguments: args + [limit - 1])
            }
            if let start { key = PageKey(timeNS: start[0], id: start[1], inclusive: true) }
        }
        let page = max(1, pageSize)
        while remaining > 0 {
            let n = min(page, remaining)
            let (clause, args) = f.whereClause(from: key)
            let rows = try store.read("query events") { db in
                try Row.fetchAll(db, sql: "SELECT \(AuditStore.eventColumns) FROM events \(clause) ORDER BY time_ns, id LIMIT ?",
                                 arguments: args + [n]).map(AuditStore.record)
            }
            for r in rows { try body(r) }
            remaining -= rows.count
            guard rows.count == n, let last = rows.last else { break }
            key = PageKey(timeNS: last.event.timeNS, id: last.id, inclusive: false)
        }
    }

    /// Events committed after row `id` that match the filter, in commit order, plus the id to
    /// poll from next time. Commit order, not time order: a batch committed late may hold
    /// older times, and ordering by time would skip it once newer rows were shown.
    /// `filter.limit` is ignored here: a follower must see every row.
    public func follow(after id: Int64, _ filter: AuditFilter = AuditFilter()) throws -> (records: [AuditRecord], next: Int64) {
        var f = filter
        f.limit = nil
        let (clause, args) = f.whereClause(after: id)
        return try store.read("follow events") { db in
            let rows = try Row.fetchAll(db, sql: "SELECT \(AuditStore.eventColumns) FROM events \(clause) ORDER BY id",
                                        arguments: args).map(AuditStore.record)
            // Rows the filter skipped still move the cursor, so they are not re-read each poll.
            let last = try Int64.fetchOne(db, sql: "SELECT max(id) FROM events") ?? id
            return (rows, max(last, rows.last?.id ?? id))
        }
    }

    /// The id of the newest event (0 for an empty store): where --follow starts polling.
    public func lastEventID() throws -> Int64 {
        try store.read("read last event id") { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM events") ?? 0 }
    }

    public func summary(_ filter: AuditFilter = AuditFilter()) throws -> AuditSummary {
        var f = filter
        f.limit = nil
        let (clause, args) = f.whereClause()
        return try store.read("summarize events") { db in
            func counts(_ column: String, extra: String = "") throws -> [AuditSummary.Count] {
                let whereSQL = clause.isEmpty ? (extra.isEmpty ? "" : "WHERE " + extra)
                    : clause + (extra.isEmpty ? "" : " AND " + extra)
                return try Row.fetchAll(db, sql: """
                    SELECT \(column), count(*) AS n FROM events \(whereSQL)
                    GROUP BY \(column) ORDER BY n DESC, \(column)
                    """, arguments: args).map { AuditSummary.Count($0[0], $0[1]) }
            }
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM events \(clause)", arguments: args) ?? 0
            return AuditSummary(
                total: total,
                byDecision: try counts("decision"),
                byRole: try counts("role"),
                byKind: try counts("kind"),
                deniedByRule: try counts("rule", extra: "decision = 'denied'"))
        }
    }

    /// Runs, newest first. `role` and `since` (on the start time) narrow the list.
    public func runs(role: String? = nil, since: Int64? = nil, limit: Int? = nil) throws -> [AuditRun] {
        var terms: [String] = []
        var args = StatementArguments()
        if let role { terms.append("role = ?"); args += [role] }
        if let since { terms.append("start_ns >= ?"); args += [since] }
        var sql = "SELECT \(AuditStore.runColumns) FROM runs"
        if !terms.isEmpty { sql += " WHERE " + terms.joined(separator: " AND ") }
        sql += " ORDER BY id DESC"
        if let limit { sql += " LIMIT \(max(0, limit))" }
        return try store.read("list runs") { db in try Row.fetchAll(db, sql: sql, arguments: args).map(AuditStore.run) }
    }

    /// One run by id, or nil.
    public func run(_ id: Int64) throws -> AuditRun? {
        try store.read("read run \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT \(AuditStore.runColumns) FROM runs WHERE id = ?", arguments: [id])
                .map(AuditStore.run)
        }
    }
}
