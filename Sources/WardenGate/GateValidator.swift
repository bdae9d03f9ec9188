import Glibc
import WardenPolicy

/// A zone another role owns: `Tests/**` belongs to `test`, and no other role's changeset may
/// touch it, whatever its own write zones say (workspace policy `ownership:`).
public struct OwnershipZone: Sendable, Equatable {
    public var zone: WriteZone
    public var owner: String

    public init(zone: WriteZone, owner: String) {
        self.zone = zone
        self.owner = owner
    }
}

/// The commit that last changed a path: what a conflict report names.
public struct CommitRef: Sendable, Equatable {
    public var seq: Int64
    public var role: String
    public var run: String
    public var timeNS: Int64

    public init(seq: Int64, role: String, run: String, timeNS: Int64) {
        self.seq = seq
        self.role = role
        self.run = run
        self.timeNS = timeNS
    }
}

/// Where the validator learns what changed since an agent's base version.
public protocol VersionIndex {
    /// The last commit that changed exactly `path`.
    func lastChange(_ path: String) throws -> CommitRef?
    /// The last commit that changed anything at or beneath `dir`.
    func lastChange(beneath dir: String) throws -> CommitRef?
}

/// Everything the gate checks before it touches the workspace. Pure: it reads the changeset,
/// the policy and the version index, and returns every finding (empty: the changeset may be
/// applied).
public struct GateValidator {
    public var role: String
    public var zones: [WriteZone]
    public var ownership: [OwnershipZone]
    public var limits: GateLimits
    /// The profile the role came from, for the audit rows of its commits ("" when none).
    public var profileFile = ""
    /// First components only the gate itself may write.
    public static let reserved = [".git", ".warden"]

    public init(role: String, zones: [WriteZone], ownership: [OwnershipZone] = [], limits: GateLimits = GateLimits()) {
        self.role = role
        self.zones = zones
        self.ownership = ownership
        self.limits = limits
    }

    public func validate(_ changeset: Changeset, index: VersionIndex) throws -> [GateFinding] {
        var findings = changeset.scanFindings
        if changeset.entries.count > limits.maxEntries {
            findings.append(GateFinding("", .limit, "\(changeset.entries.count) entries (limit \(limits.maxEntries))"))
        }
        // Keyed by the folded form; the raw bytes tell two spellings apart (Swift's String
        // equality would call NFC and NFD spellings equal).
        var keys: [String: [UInt8]] = [:]
        for entry in changeset.entries {
            let path = entry.path
            let textProblems = GatePath.problems(entry.rawPath, maxBytes: limits.maxPathBytes)
            findings += textProblems.map { GateFinding(path, .path, $0) }
            if !textProblems.isEmpty { continue }
            let depth = path.split(separator: "/").count
            if depth > limits.maxDepth {
                findings.append(GateFinding(path, .limit, "\(depth) components deep (limit \(limits.maxDepth))"))
            }
            let key = GatePath.collisionKey(path)
            if let other = keys[key], other != entry.rawPath {
                findings.append(GateFinding(path, .collision,
                    "the same file as \(String(decoding: other, as: UTF8.self)) on a case-insensitive or normalising filesystem"))
            } else {
                keys[key] = entry.rawPath
            }
            if isReserved(path) {
                findings.append(GateFinding(path, .reserved, "\(path.split(separator: "/")[0])/ belongs to the gate"))
                continue
            }
            let container = isContainer(entry)
            if !container && !inZones(path) {
                findings.append(GateFinding(path, .zone, "outside \(role)'s write zones (\(zones.map(\.pattern).joined(separator: ", ")))"))
            }
            if !container, let owned = owner(of: path), owned.owner != role {
                findings.append(GateFinding(path, .ownership, "\(owned.zone.pattern) belongs to \(owned.owner)"))
            }
            if case let .symlink(target) = entry.action {
                if let resolved = GatePath.resolveLinkTarget(target, from: path) {
                    if isReserved(resolved) {
                        findings.append(GateFinding(path, .type, "a symlink into \(resolved.split(separator: "/")[0])/ (\(target))"))
                    }
                } else {
                    findings.append(GateFinding(path, .type, "a symlink that points outside the workspace (\(target))"))
                }
            }
            let base = entry.base ?? changeset.base
            if let conflict = try conflict(entry, base: base, index: index) {
                findings.append(GateFinding(path, .conflict,
                    "changed since version \(base) by commit \(conflict.seq) (role \(conflict.role), \(conflict.run.isEmpty ? "" : "run \(conflict.run), ")\(isoTime(conflict.timeNS)))"))
            }
        }
        return findings
    }

    /// A directory outside the zones that the overlay copied up only because a zone lies
    /// beneath it: it carries no change of its own (its mode is not applied). An opaque one
    /// replaces a whole tree and is judged like any other entry.
    func isContainer(_ entry: Changeset.Entry) -> Bool {
        guard case let .directory(_, opaque) = entry.action, !opaque else { return false }
        let path = entry.path
        return !inZones(path) && zones.contains { $0.path.hasPrefix(path + "/") || $0.path.isEmpty }
    }

    func inZones(_ path: String) -> Bool { zones.contains { covers($0, path) } }

    func covers(_ zone: WriteZone, _ path: String) -> Bool { zone.covers(path) }

    /// The most specific ownership zone covering `path` decides: `Sources/gen/**` given to
    /// another role carves an exception out of `Sources/**`.
    func owner(of path: String) -> OwnershipZone? {
        ownership.filter { $0.zone.covers(path) }.max { $0.zone.specificity < $1.zone.specificity }
    }

    func isReserved(_ path: String) -> Bool {
        let first = GatePath.collisionKey(String(path.split(separator: "/").first ?? ""))
        return Self.reserved.contains(first)
    }

    func conflict(_ entry: Changeset.Entry, base: Int64, index: VersionIndex) throws -> CommitRef? {
        let path = entry.path
        switch entry.action {
        case .directory(_, opaque: false):
            return nil
        case .directory(_, opaque: true), .delete:
            // Replacing or deleting a tree loses whatever another commit put beneath it.
            if let c = try index.lastChange(beneath: path), c.seq > base { return c }
            return nil
        case .write, .symlink:
            if let c = try index.lastChange(path), c.seq > base { return c }
            return nil
        }
    }
}

func isoTime(_ ns: Int64) -> String {
    var t = time_t(ns / 1_000_000_000)
    var tm = tm()
    gmtime_r(&t, &tm)
    var buf = [CChar](repeating: 0, count: 32)
    strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%SZ", &tm)
    return String(cString: buf)
}
