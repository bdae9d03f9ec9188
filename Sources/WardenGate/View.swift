import Foundation
import Glibc

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

    /// The agent's changes, read from the upper layer. Call once the agent has exited (or is
    /// frozen): the gate stages a private copy of each file before it validates content.
    public func changeset(limits: GateLimits = GateLimits()) throws -> Changeset {
        try ChangesetScanner.scan(upper: upper, base: record.base, limits: limits)
    }

    public func mark(_ status: ViewRecord.Status, committed: Int64? = nil, message: String? = nil) throws {
        record.status = status
        record.committed = committed
        record.message = message
        try save()
    }

    /// Removes the view: its upper layer, work directory and record.
    public func discard() throws {
        lease?.release()
        lease = nil
        let views = try gate.root.directory(".warden/views")
        try forceRemove(record.run, in: views)
    }

    /// Lets the snapshot go once the run no longer reads it (a kept view keeps it by name).
    public func releaseSnapshot() {
        lease?.release()
        lease = nil
    }

    private func save() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try dir.writeAtomically("view.json", try encoder.encode(record))
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
    guard let st = try parent.stat(name) else { return }
    guard st.st_mode & S_IFMT == S_IFDIR else {
        guard unlinkat(parent.fd, name, 0) == 0 || errno == ENOENT else {
            throw GateError.io(operation: "unlink \(parent.path)/\(name)", errno: errno)
        }
        return
    }
    if st.st_mode & 0o700 != 0o700 { _ = fchmodat(parent.fd, name, 0o700, 0) }
    let sub = try parent.directory(name)
    for entry in try sub.entries() { try forceRemove(entry, in: sub) }
    guard unlinkat(parent.fd, name, AT_REMOVEDIR) == 0 else {
        throw GateError.io(operation: "rmdir \(parent.path)/\(name)", errno: errno)
    }
}
