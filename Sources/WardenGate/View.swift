import Foundation
import Glibc
import WardenAudit

/// What a view's directory says about its run; `warden changes` reads it after the run.
public struct ViewRecord: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// The agent may still be writing.
        case running
        /// Its changeset is in the workspace (`committed` names the version).
        case committed
        /// The gate refused it; the view is kept so nothing the agent did is lost.
        case rejected
        /// Not submitted (the agent failed, `--commit never`, or `--keep`).
        case kept
    }

    public var run: String
    public var role: String
    public var profileFile: String
    public var base: Int64
    public var startNS: Int64
    public var status: Status
    public var committed: Int64?
    public var message: String?
    /// What the run already committed while it was still going (`warden submit`): each path
    /// with its commit and what it held (`View.fingerprint`). The upper layer keeps those
    /// files (it is never changed while mounted), so later changesets leave out what is
    /// still identical and check the rest for conflicts from that commit on.
    public var submitted: [String: SubmittedPath]?
}

extension ViewRecord {
    /// What JSONEncoder with sorted keys writes (JSONDecoder reads it back), built by hand:
    /// the encoder's first use costs every launch most of a millisecond.
    public var json: String {
        // The keys in sorted order, appended one by one: a generic array of pairs, sorted
        // and joined, costs a launch its metadata's first use.
        var out = "{\"base\":" + String(base)
        if let committed { out += ",\"committed\":" + String(committed) }
        if let message { out += ",\"message\":" + AuditJSON.string(message) }
        out += ",\"profileFile\":" + AuditJSON.string(profileFile)
        out += ",\"role\":" + AuditJSON.string(role)
        out += ",\"run\":" + AuditJSON.string(run)
        out += ",\"startNS\":" + String(startNS)
        out += ",\"status\":" + AuditJSON.string(status.rawValue)
        if let submitted {
            out += ",\"submitted\":{"
            for (i, path) in submitted.keys.sorted().enumerated() {
                let s = submitted[path]!
                if i > 0 { out += "," }
                out += AuditJSON.string(path) + ":{\"fingerprint\":" + AuditJSON.string(s.fingerprint) + ",\"seq\":" + String(s.seq) + "}"
            }
            out += "}"
        }
        return out + "}"
    }
}

/// A path a running view committed, and what it held then.
public struct SubmittedPath: Codable, Sendable, Equatable {
    public var seq: Int64
    public var fingerprint: String
}

/// A run's private, copy-on-write view of the workspace: the snapshot of the version it
/// started from (lower layer) and its own upper layer, under `.warden/views/RUN/`. The agent
/// writes only the upper layer; its changes reach the workspace only as a changeset the gate
/// accepts.
public final class View {
    public let gate: Gate
    public private(set) var record: ViewRecord
    public let directory: String
    public let lower: String
    private var lease: SnapshotLease?
    private let dir: DirectoryFD

    public var upper: String { directory + "/upper" }
    public var work: String { directory + "/work" }
    public var run: String { record.run }

    /// Directories the agent must not reach from inside its view.
    public var hidden: [String] { [gate.workspace + "/.warden/gate", gate.workspace + "/.warden/views"] }

    init(gate: Gate, record: ViewRecord, dir: DirectoryFD, lower: String, lease: SnapshotLease?) {
        self.gate = gate
        self.record = record
        self.dir = dir
        self.directory = dir.path
        self.lower = lower
        self.lease = lease
    }

    /// A new view at the current version. Costs a snapshot only when this version has none.
    public static func create(gate: Gate, run: String, role: String, profileFile: String) throws -> View {
        guard validRunName(run) else { throw GateError.io(operation: "view for run '\(run)'", errno: EINVAL) }
        let lease = try gate.snapshotLease()
        let views = try gate.root.makeDirectories(".warden/views")
        guard mkdirat(views.fd, run, 0o700) == 0 else { throw GateError.io(operation: "mkdir \(views.path)/\(run)", errno: errno) }
        let dir = try views.directory(run)
        for name in ["upper", "work"] {
            guard mkdirat(dir.fd, name, 0o755) == 0 else { throw GateError.io(operation: "mkdir \(dir.path)/\(name)", errno: errno) }
        }
        // The upper layer's root is what the agent sees as the workspace root.
        if let st = try gate.root.stat(".") {
            if geteuid() == 0 { _ = fchownat(dir.fd, "upper", st.st_uid, st.st_gid, 0) }
            _ = fchmodat(dir.fd, "upper", st.st_mode & 0o7777, 0)
        }
        let record = ViewRecord(run: run, role: role, profileFile: profileFile, base: lease.version,
                                startNS: nowNS(), status: .running)
        let view = View(gate: gate, record: record, dir: dir, lower: lease.path, lease: lease)
        try view.save()
        return view
    }

    /// A view a finished (or running) run left: for `warden changes RUN`.
    public static func open(gate: Gate, run: String) throws -> View? {
        guard validRunName(run), let views = try? gate.root.directory(".warden/views"),
              let dir = try? views.directory(run), let data = try dir.read("view.json", max: 1 << 20) else { return nil }
        let record = try JSONDecoder().decode(ViewRecord.self, from: data)
        return View(gate: gate, record: record, dir: dir, lower: gate.workspace + "/.warden/gate/snapshots/\(record.base)",
                    lease: nil)
    }

    /// Every view directory's record, oldest first.
    public static func all(gate: Gate) -> [ViewRecord] {
        guard let views = try? gate.root.directory(".warden/views"), let names = try? views.entries() else { return [] }
        return names.compactMap { name in
            guard let dir = try? views.directory(name), let data = try? dir.read("view.json", max: 1 << 20) else { return nil }
            return try? JSONDecoder().decode(ViewRecord.self, from: data)
        }.sorted { $0.startNS < $1.startNS }
    }

    /// The agent's changes, read from the upper layer, less what the run already committed
    /// mid-run and has not changed since. Call once the agent has exited (or is frozen): the
    /// gate stages a private copy of each file before it validates content.
    public func changeset(limits: GateLimits = GateLimits()) throws -> Changeset {
        let scanned = try ChangesetScanner.scan(upper: upper, base: record.base, limits: limits)
        guard let submitted = record.submitted, !submitted.isEmpty else { return scanned }
        return try reconcile(scanned, submitted: submitted) { entry in
            guard submitted[entry.path] != nil else { return nil }
            if case let .write(source, mode, _) = entry.action { return "write:\(mode & 0o7777):\(try hashFile(source))" }
            return View.fingerprint(entry, hash: nil)
        }.changeset
    }

    /// The changeset of a view whose agent is stopped (frozen) right now: every file is
    /// copied into `.warden/views/RUN/frozen/` (which the agent cannot reach) and the
    /// changeset reads those copies, so the agent may run on as soon as this returns and
    /// nothing it writes afterwards (a held fd, an mmap) reaches what the gate validates and
    /// applies. Also returns each remaining entry's fingerprint, for `recordSubmitted`.
    /// `removeFrozen` drops the copies once the gate is done with them.
    public func frozenChangeset(limits: GateLimits) throws -> (changeset: Changeset, fingerprints: [String: String]) {
        try removeFrozen()
        guard mkdirat(dir.fd, "frozen", 0o700) == 0 else { throw GateError.io(operation: "mkdir \(directory)/frozen", errno: errno) }
        let frozen = try dir.directory("frozen")
        var scanned = try ChangesetScanner.scan(upper: upper, base: record.base, limits: limits)
        // Refused whatever its content (a limit, a forbidden type): nothing worth copying, and
        // the copy stays bounded by the limits the scan checked from metadata.
        if !scanned.scanFindings.isEmpty { return (scanned, [:]) }
        var hashes: [String: String] = [:]
        var kept: [Changeset.Entry] = []
        for (i, entry) in scanned.entries.enumerated() {
            guard case let .write(source, mode, size) = entry.action else { kept.append(entry); continue }
            do {
                let hash = try stage(source, into: frozen, as: "\(i)", mode: mode, limit: limits.maxFileBytes)
                hashes[entry.path] = hash
                var copy = entry
                copy.action = .write(source: frozen.path + "/\(i)", mode: mode, size: size)
                kept.append(copy)
            } catch let problem as StagingProblem {
                scanned.scanFindings.append(GateFinding(entry.path, problem.rule, problem.message))
                kept.append(entry)
            }
        }
        scanned.entries = kept
        return try reconcile(scanned, submitted: record.submitted ?? [:]) { View.fingerprint($0, hash: hashes[$0.path]) }
    }

    public func removeFrozen() throws {
        try forceRemove("frozen", in: dir)
    }

    /// Notes that `fingerprints` (from `frozenChangeset`) are in the workspace as commit `seq`.
    public func recordSubmitted(_ fingerprints: [String: String], seq: Int64) throws {
        var submitted = record.submitted ?? [:]
        for (path, fingerprint) in fingerprints { submitted[path] = SubmittedPath(seq: seq, fingerprint: fingerprint) }
        record.submitted = submitted
        try save()
    }

    /// What an entry holds, as text: equal fingerprints mean an identical change.
    static func fingerprint(_ entry: Changeset.Entry, hash: String?) -> String {
        switch entry.action {
        case let .write(_, mode, _): return "write:\(mode & 0o7777):\(hash ?? "?")"
        case .delete: return "delete"
        case let .directory(mode, opaque): return "directory:\(mode & 0o7777):\(opaque)"
        case let .symlink(target): return "symlink:\(sha256(Data(target.utf8)))"
        }
    }

    /// Leaves out entries identical to what the run committed mid-run; the others that touch
    /// such a path are checked for conflicts from that commit. A committed path the view no
    /// longer has (neither layer holds it: the agent removed a file it had created) becomes a
    /// deletion, so the workspace follows the agent's view.
    private func reconcile(_ scanned: Changeset, submitted: [String: SubmittedPath],
                           fingerprint: (Changeset.Entry) throws -> String?) throws -> (changeset: Changeset, fingerprints: [String: String]) {
        var out = scanned
        var entries: [Changeset.Entry] = []
        var fingerprints: [String: String] = [:]
        var seen = Set<String>()
        for entry in scanned.entries {
            seen.insert(entry.path)
            let print = try fingerprint(entry)
            if let done = submitted[entry.path] {
                if print == done.fingerprint { continue }
                var changed = entry
                changed.base = done.seq
                entries.append(changed)
            } else {
                entries.append(entry)
            }
            if let print { fingerprints[entry.path] = print }
        }
        let vanished = submitted.filter { path, done in
            done.fingerprint != "delete" && !seen.contains(path)
                && !View.lexists(upper + "/" + path) && !View.lexists(lower + "/" + path)
        }
        for (path, done) in vanished.sorted(by: { $0.key < $1.key }) {
            // A removed directory takes what was beneath it along.
            let (parent, _) = splitParent(path)
            var ancestor = parent
            var covered = false
            while !ancestor.isEmpty {
                if vanished[ancestor] != nil { covered = true; break }
                ancestor = splitParent(ancestor).0
            }
            if covered { continue }
            var deletion = Changeset.Entry(path, .delete)
            deletion.base = done.seq
            entries.append(deletion)
            fingerprints[path] = "delete"
        }
        out.entries = entries
        return (out, fingerprints)
    }

    private static func lexists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 || errno != ENOENT
    }

    public func mark(_ status: ViewRecord.Status, committed: Int64? = nil, message: String? = nil) throws {
        record.status = status
        record.committed = committed
        record.message = message
        try save()
    }

    /// Removes the view: its upper layer, work directory and record. They are moved aside into
    /// `views/.trash` with one rename, and `Gate.emptyTrash` removes them later, off the launch
    /// path: freeing a directory's inode costs about 0.2 ms on ext4 with online discard, and a
    /// view has six (overlayfs adds three to the work directory).
    public func discard() throws {
        lease?.release()
        lease = nil
        let views = try gate.root.directory(".warden/views")
        if let trash = try? views.makeDirectories(View.trash), renameat(views.fd, record.run, trash.fd, record.run) == 0 {
            return
        }
        try forceRemove(record.run, in: views)
    }

    /// Under `.warden/views`, hidden from agents like the views themselves; not a run name
    /// (those never start with a dot), so nothing lists it as a view.
    static let trash = ".trash"

    /// Lets the snapshot go once the run no longer reads it (a kept view keeps it by name).
    public func releaseSnapshot() {
        lease?.release()
        lease = nil
    }

    /// Replaced by rename but not fsynced: the upper layer it describes is not synced either
    /// (an agent's unsubmitted work does not survive a power loss), and an fsync here would
    /// cost every launch a few milliseconds.
    private func save() throws {
        // Data(bytes:count:): the generic Data(sequence) initializer casts its argument at
        // run time, and that first cast costs a launch a fifth of a millisecond.
        var json = record.json
        let data = json.withUTF8 { Data(bytes: $0.baseAddress!, count: $0.count) }
        try dir.writeAtomically("view.json", data, durable: false)
    }

    static func validRunName(_ run: String) -> Bool {
        !run.isEmpty && run.count <= 128 && !run.hasPrefix(".")
            && run.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }
}

/// Removes a tree an agent (or overlayfs, whose work directory it leaves mode 000) may have
/// left without the owner's permissions: each directory is made accessible before it is
/// listed. Never follows symlinks.
func forceRemove(_ name: String, in parent: DirectoryFD) throws {
    try name.withCString { try forceRemove(raw: $0, in: parent) }
}

/// The same for a name as the kernel gives it: an agent's file names need not be UTF-8, and
/// one repaired into a Swift string names nothing (its directory then never empties).
func forceRemove(raw name: UnsafePointer<CChar>, in parent: DirectoryFD) throws {
    guard let st = try parent.stat(raw: name) else { return }
    guard st.st_mode & S_IFMT == S_IFDIR else {
        guard unlinkat(parent.fd, name, 0) == 0 || errno == ENOENT else {
            throw GateError.io(operation: "unlink \(parent.path)/\(String(cString: name))", errno: errno)
        }
        return
    }
    if st.st_mode & 0o700 != 0o700 { _ = fchmodat(parent.fd, name, 0o700, 0) }
    let fd = openat(parent.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { throw GateError.io(operation: "open \(parent.path)/\(String(cString: name))", errno: errno) }
    let sub = DirectoryFD(fd: fd, path: parent.path + "/" + String(cString: name))
    for entry in try sub.rawEntries() {
        try entry.withUnsafeBufferPointer { try forceRemove(raw: $0.baseAddress!, in: sub) }
    }
    guard unlinkat(parent.fd, name, AT_REMOVEDIR) == 0 else {
        throw GateError.io(operation: "rmdir \(parent.path)/\(String(cString: name))", errno: errno)
    }
}
