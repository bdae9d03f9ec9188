// The audit record model. Plain values only: the supervisor builds these on its notification
// thread and hands them to AuditWriter, so nothing here may touch the database or allocate
// more than the strings themselves.

import Glibc

/// What kind of operation an event is about. The raw strings are what the store holds and
/// what `warden audit --kind` accepts, so they are part of the on-disk format.
public enum AuditKind: String, CaseIterable, Sendable, Codable {
    case exec, write, read, syscall, network, limit, launch, gate, handoff, review

    /// Every kind, in the order of their names (what a sorted-keys encoder writes); kept in
    /// step with the cases by a test.
    static let byName: [AuditKind] = [.exec, .gate, .handoff, .launch, .limit, .network, .read, .review, .syscall, .write]
}

/// What happened to the operation. `degraded` records a protection that was opted down
/// (`--allow-degraded`) rather than an operation, so it is neither a denial nor an allowance.
public enum AuditDecision: String, CaseIterable, Sendable, Codable {
    case denied, allowed, degraded
}

public struct AuditEvent: Sendable, Equatable {
    /// CLOCK_REALTIME in nanoseconds: wall time, because users filter with `--since 10m`
    /// and ISO times and compare against logs of other tools.
    public var timeNS: Int64
    public var runID: Int64
    public var role: String
    public var profileFile: String
    public var pid: Int32
    public var kind: AuditKind
    /// A path, or a syscall with its decoded arguments (`keyctl(KEYCTL_JOIN, "x")`).
    public var target: String
    public var decision: AuditDecision
    /// Which profile line decided, as `FILE:LINE LIST` (`profiles/code.yaml:7 tools`), so a
    /// reader can jump straight to the entry to change.
    public var rule: String
    public var message: String
    /// The smallest profile change that would have allowed the operation (see `Suggestion`);
    /// nil when no profile change can allow it.
    public var suggestion: String?

    public init(timeNS: Int64 = AuditClock.now(), runID: Int64, role: String, profileFile: String,
                pid: Int32, kind: AuditKind, target: String, decision: AuditDecision,
                rule: String, message: String, suggestion: String? = nil) {
        self.timeNS = timeNS
        self.runID = runID
        self.role = role
        self.profileFile = profileFile
        self.pid = pid
        self.kind = kind
        self.target = target
        self.decision = decision
        self.rule = rule
        self.message = message
        self.suggestion = suggestion
    }
}

/// An event as read back from the store. `id` is the row id: strictly increasing in commit
/// order across every process writing the store, which is what `follow` relies on.
public struct AuditRecord: Sendable, Equatable {
    public var id: Int64
    public var event: AuditEvent

    public init(id: Int64, event: AuditEvent) {
        self.id = id
        self.event = event
    }
}

/// Per-run tallies, kept by AuditWriter as events are recorded (not as they are committed),
/// so the end-of-run line is right even when the disk filled up and rows were lost.
public struct RunCounts: Sendable, Equatable, Codable {
    public var denied: [AuditKind: Int]
    public var allowed: Int
    public var degraded: Int
    /// Events that were recorded but never reached the store.
    public var lost: Int

    public init(denied: [AuditKind: Int] = [:], allowed: Int = 0, degraded: Int = 0, lost: Int = 0) {
        self.denied = denied
        self.allowed = allowed
        self.degraded = degraded
        self.lost = lost
    }

    public var deniedTotal: Int { denied.values.reduce(0, +) }

    public mutating func add(_ event: AuditEvent) {
        switch event.decision {
        case .denied: denied[event.kind, default: 0] += 1
        case .allowed: allowed += 1
        case .degraded: degraded += 1
        }
    }

    /// The line `warden run` prints on stderr when a run had denials, or nil when it had none:
    /// `warden: 3 operations denied (2 write, 1 exec) — warden audit --run 42`.
    /// Kinds are listed most frequent first (ties in AuditKind order) so the line is stable.
    public func denialNotice(runID: Int64) -> String? {
        let total = deniedTotal
        guard total > 0 else { return nil }
        let parts = AuditKind.allCases.compactMap { kind in denied[kind].map { (kind, $0) } }
            .enumerated()
            .sorted { $0.element.1 != $1.element.1 ? $0.element.1 > $1.element.1 : $0.offset < $1.offset }
            .map { "\($0.element.1) \($0.element.0.rawValue)" }
        let noun = total == 1 ? "operation" : "operations"
        return "warden: \(total) \(noun) denied (\(parts.joined(separator: ", "))) — warden audit --run \(runID)"
    }

    // Stored as a JSON object keyed by kind name, so the column stays readable in sqlite3.
    enum CodingKeys: String, CodingKey { case denied, allowed, degraded, lost }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let raw = try c.decode([String: Int].self, forKey: .denied)
        var denied: [AuditKind: Int] = [:]
        for (name, n) in raw {
            guard let kind = AuditKind(rawValue: name) else {
                throw DecodingError.dataCorruptedError(forKey: .denied, in: c,
                                                       debugDescription: "unknown event kind '\(name)'")
            }
            denied[kind] = n
        }
        self.denied = denied
        allowed = try c.decode(Int.self, forKey: .allowed)
        degraded = try c.decode(Int.self, forKey: .degraded)
        lost = try c.decode(Int.self, forKey: .lost)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Dictionary(uniqueKeysWithValues: denied.map { ($0.key.rawValue, $0.value) }), forKey: .denied)
        try c.encode(allowed, forKey: .allowed)
        try c.encode(degraded, forKey: .degraded)
        try c.encode(lost, forKey: .lost)
    }
}

/// One `warden run`, as the `runs` table holds it. The end fields stay nil while the run is
/// live, and for ever if the runner was killed: a run with no end is how a reader tells.
public struct AuditRun: Sendable, Equatable {
    public var id: Int64
    public var command: [String]
    public var role: String
    public var profileFile: String
    public var workspace: String
    public var startNS: Int64
    public var endNS: Int64?
    public var exitStatus: Int32?
    public var counts: RunCounts?
    /// nil while running (or after a killed runner); false when rows were lost.
    public var auditComplete: Bool?
    /// Protections opted down with `--allow-degraded` for this run.
    public var degraded: [String]

    public init(id: Int64, command: [String], role: String, profileFile: String, workspace: String,
                startNS: Int64, endNS: Int64? = nil, exitStatus: Int32? = nil, counts: RunCounts? = nil,
                auditComplete: Bool? = nil, degraded: [String] = []) {
        self.id = id
        self.command = command
        self.role = role
        self.profileFile = profileFile
        self.workspace = workspace
        self.startNS = startNS
        self.endNS = endNS
        self.exitStatus = exitStatus
        self.counts = counts
        self.auditComplete = auditComplete
        self.degraded = degraded
    }
}

public enum AuditClock {
    /// CLOCK_REALTIME in nanoseconds.
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// CLOCK_MONOTONIC in nanoseconds, for measuring durations that must not jump with NTP.
    public static func monotonic() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
