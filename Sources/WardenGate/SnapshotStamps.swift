import Foundation
import Glibc

/// The workspace's directories as a snapshot saw them: path, mtime and ctime of each, kept in
/// `snapshots/VERSION.dirs`. A new view starts from the current snapshot without taking the
/// gate lock only while every one still matches. A file a person creates, deletes or renames
/// (an editor saving through a rename included) changes its directory's times, so the next
/// view goes the slow way, records the hand edit as a version and gets a snapshot that has it.
/// In-place writes change no directory, but they need no new snapshot: the snapshot's hard
/// link is the same inode. A directory is stat'ed before it is read, so a change racing the
/// walk leaves a stale stamp, never a fresh one.
final class DirectoryStamps {
    private(set) var records: [(path: String, mtime: Int64, ctime: Int64)] = []

    func add(_ path: String, _ st: stat) {
        records.append((path, Self.ns(st.st_mtim), Self.ns(st.st_ctim)))
    }

    static func ns(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }

    /// `MTIME CTIME PATH\0` per directory: NUL is the one byte a path cannot hold.
    func encoded() -> Data {
        var data = Data()
        for r in records {
            data.append(contentsOf: "\(r.mtime) \(r.ctime) ".utf8)
            data.append(contentsOf: Array(r.path.utf8))
            data.append(0)
        }
        return data
    }

    /// Whether `data` (as `encoded` writes it) holds at least one record and `match` is true
    /// of every one, in order. Read in place: each path reaches `match` as the C string it is
    /// in the buffer (its NUL is the record's end), so a workspace of thousands of
    /// directories costs their stats, not a string and two integers allocated for each.
    static func allMatch(_ data: Data, _ match: (_ mtime: Int64, _ ctime: Int64, _ path: UnsafePointer<CChar>) -> Bool) -> Bool {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
            guard let base = raw.baseAddress, raw.count > 0 else { return false }
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            let end = raw.count
            var i = 0
            // A decimal integer and the space after it.
            func number() -> Int64? {
                let negative = i < end && bytes[i] == UInt8(ascii: "-")
                if negative { i += 1 }
                var value: Int64 = 0
                let first = i
                while i < end, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                    let (tens, o1) = value.multipliedReportingOverflow(by: 10)
                    let (sum, o2) = tens.addingReportingOverflow(Int64(bytes[i] - UInt8(ascii: "0")))
                    guard !o1, !o2 else { return nil }
                    value = sum
                    i += 1
                }
                guard i > first, i < end, bytes[i] == UInt8(ascii: " ") else { return nil }
                i += 1
                return negative ? -value : value
            }
            while i < end {
                guard let mtime = number(), let ctime = number() else { return false }
                let start = i
                while i < end, bytes[i] != 0 { i += 1 }
                guard i < end else { return false }
                i += 1
                guard match(mtime, ctime, (base + start).assumingMemoryBound(to: CChar.self)) else { return false }
            }
            return true
        }
    }
}

extension Gate {
    static func stampsName(_ version: Int64) -> String { "\(version).dirs" }

    /// Whether a view made now would start from snapshot `version`: it is the current version
    /// and no directory changed since (a standby checks its view with this before its run).
    public func snapshotIsCurrent(_ version: Int64) -> Bool {
        currentVersionHint() == version && workspaceUnchanged(since: version)
    }

    /// Whether no directory of the workspace changed since snapshot `version` was stamped.
    /// False when the stamps are missing or unreadable.
    func workspaceUnchanged(since version: Int64) -> Bool {
        guard let dir = try? gateDir.directory("snapshots"),
              let data = try? dir.read(Self.stampsName(version), max: 1 << 28) else { return false }
        let fd = root.fd
        var st = stat()
        return DirectoryStamps.allMatch(data) { mtime, ctime, path in
            let rc = path.pointee == 0 ? fstatat(fd, ".", &st, AT_SYMLINK_NOFOLLOW) : fstatat(fd, path, &st, AT_SYMLINK_NOFOLLOW)
            return rc == 0 && st.st_mode & S_IFMT == S_IFDIR
                && DirectoryStamps.ns(st.st_mtim) == mtime && DirectoryStamps.ns(st.st_ctim) == ctime
        }
    }

    /// Not fsynced: lost stamps only send the next view the slow way.
    func writeStamps(_ stamps: DirectoryStamps, version: Int64, in dir: DirectoryFD) throws {
        try dir.writeAtomically(Self.stampsName(version), stamps.encoded(), durable: false)
    }

    /// Stamps the workspace's directories as they are now, for a snapshot that matches the
    /// workspace (checked by the caller under the gate lock) but whose stamps are stale.
    func stampDirectories() throws -> DirectoryStamps {
        let stamps = DirectoryStamps()
        func walk(_ dir: DirectoryFD, _ prefix: String, _ st: stat) throws {
            stamps.add(prefix, st)
            for name in try dir.entries() {
                if prefix.isEmpty, Self.outsideSnapshots.contains(name) { continue }
                guard let sub = try dir.stat(name), sub.st_mode & S_IFMT == S_IFDIR else { continue }
                try walk(try dir.directory(name), prefix.isEmpty ? name : prefix + "/" + name, sub)
            }
        }
        if let st = try root.stat(".") { try walk(root, "", st) }
        return stamps
    }
}
