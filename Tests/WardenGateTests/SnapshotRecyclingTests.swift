// After a commit, the previous snapshot nobody needs is patched into the new one instead of a
// new tree of links being made and the old one removed. The patched tree must be exactly what
// a fresh walk makes (every entry, type, inode, directory mode, and the stamps), and a
// snapshot that a view holds or names is never taken.

import Foundation
import Glibc
import Testing
@testable import WardenGate

@Suite struct SnapshotRecyclingTests {
    /// Every entry beneath `root`: relative path -> type, and for directories the mode and
    /// owner, for everything else the inode (a snapshot's files are the workspace's inodes).
    private func tree(_ root: String, skipTop: Set<String> = []) -> [String: String] {
        var out: [String: String] = [:]
        func walk(_ rel: String) {
            let dir = rel.isEmpty ? root : root + "/" + rel
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in names {
                if rel.isEmpty, skipTop.contains(name) { continue }
                if name.contains("\u{FFFD}") { continue }  // not UTF-8: see `raw`
                let path = rel.isEmpty ? name : rel + "/" + name
                var st = stat()
                lstat(root + "/" + path, &st)
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    out[path] = "dir \(String(st.st_mode & 0o7777, radix: 8)) \(st.st_uid):\(st.st_gid)"
                    walk(path)
                case S_IFLNK: out[path] = "link \(st.st_ino)"
                default: out[path] = "file \(st.st_ino)"
                }
            }
        }
        walk("")
        return out
    }

    /// A path whose last component is `bytes` (not UTF-8), as the kernel takes it.
    private func raw(_ dir: String, _ bytes: [UInt8]) -> [CChar] {
        (Array(dir.utf8) + [UInt8(ascii: "/")] + bytes + [0]).map { CChar(bitPattern: $0) }
    }

    private func rawInode(_ dir: String, _ bytes: [UInt8]) -> ino_t {
        var st = stat()
        return lstat(raw(dir, bytes), &st) == 0 ? st.st_ino : 0
    }

    private static let keptName: [UInt8] = [0x6b, 0xff], goneName: [UInt8] = [0x64, 0xfe], newName: [UInt8] = [0x6e, 0xfd]

    private func rawWrite(_ dir: String, _ bytes: [UInt8]) {
        let fd = open(raw(dir, bytes), O_WRONLY | O_CREAT | O_EXCL, 0o644)
        if fd >= 0 { close(fd) }
    }

    private func inode(_ path: String) -> ino_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_ino : 0
    }

    /// A workspace with nested and read-only directories, a symlink, an empty directory and a
    /// .git, its snapshot made and released.
    private func workspace() throws -> (GateFixture, Gate, SnapshotLease) {
        let fx = GateFixture()
        let ws = fx.workspace
        for d in ["Sources/sub/deep", "Sources/gone/tree", "Sources/empty", "Sources/ro", "Docs", ".git/objects"] { mkdirs(ws + "/" + d) }
        put(ws + "/Sources/sub/a.swift", "a\n")
        put(ws + "/Sources/sub/deep/b.swift", "b\n")
        put(ws + "/Sources/gone/tree/c.swift", "c\n")
        put(ws + "/Sources/ro/r.swift", "r\n")
        put(ws + "/Sources/becomes-dir", "f\n")
        mkdirs(ws + "/Sources/becomes-file/x")
        put(ws + "/Docs/private.md", "p\n")
        chmod(ws + "/Docs/private.md", 0o600)
        symlink("sub/a.swift", ws + "/Sources/link")
        chmod(ws + "/Sources/ro", 0o555)
        rawWrite(ws + "/Sources", Self.keptName)
        rawWrite(ws + "/Sources", Self.goneName)
        let gate = try fx.gate()
        let lease = try gate.snapshotLease()
        return (fx, gate, lease)
    }

    /// Hand edits of every kind, each of which a patch must carry over.
    private func edit(_ ws: String) {
        put(ws + "/Sources/main.swift.new", "main v1\n")
        rename(ws + "/Sources/main.swift.new", ws + "/Sources/main.swift")
        unlink(ws + "/Sources/sub/deep/b.swift")
        mkdirs(ws + "/Sources/new/deeper")
        put(ws + "/Sources/new/deeper/n.swift", "n\n")
        try? FileManager.default.removeItem(atPath: ws + "/Sources/gone")
        chmod(ws + "/Sources/sub", 0o750)
        unlink(ws + "/Sources/becomes-dir")
        mkdirs(ws + "/Sources/becomes-dir")
        put(ws + "/Sources/becomes-dir/inside.swift", "i\n")
        try? FileManager.default.removeItem(atPath: ws + "/Sources/becomes-file")
        put(ws + "/Sources/becomes-file", "now a file\n")
        unlink(ws + "/Sources/link")
        symlink("main.swift", ws + "/Sources/link")
        chmod(ws + "/Sources/ro", 0o755)
        put(ws + "/Sources/ro/r2.swift", "r2\n")
        chmod(ws + "/Sources/ro", 0o555)
        unlink(raw(ws + "/Sources", Self.goneName))
        rawWrite(ws + "/Sources", Self.newName)
        try? FileManager.default.removeItem(atPath: ws + "/.git")
        put(ws + "/.git", "gitdir: elsewhere\n")
    }

    @Test func aRecycledSnapshotIsTheTreeAFreshWalkMakes() throws {
        let (fx, gate, lease) = try workspace()
        let first = lease.version
        let snapshots = fx.workspace + "/.warden/gate/snapshots"
        let kept = inode(snapshots + "/\(first)/Sources/sub/deep")
        lease.release()
        edit(fx.workspace)

        // The hand edits become a version, whose snapshot is made from the old one.
        let next = try gate.snapshotLease()
        #expect(next.version > first)
        #expect(!FileManager.default.fileExists(atPath: snapshots + "/\(first)"), "the old snapshot was left")
        #expect(inode(snapshots + "/\(next.version)/Sources/sub/deep") == kept, "not recycled: a new tree was made")

        // What a fresh walk makes of the workspace now.
        let fresh = fx.base + "/fresh"
        mkdirs(fresh)
        let stamps = DirectoryStamps()
        let target = try DirectoryFD(path: fresh)
        try SnapshotCopier(stamps: stamps).copy(from: gate.root, to: target, rootStat: try gate.root.stat("."))
        let patched = tree(snapshots + "/\(next.version)", skipTop: [".git", ".warden"])
        let expected = tree(fresh, skipTop: [".git", ".warden"])
        #expect(patched == expected)
        for (path, kind) in patched where !kind.hasPrefix("dir") {
            #expect(kind.hasSuffix(" \(inode(fx.workspace + "/" + path))"), "\(path) is not the workspace's inode")
        }
        // File names that are not UTF-8 are found again, removed and added.
        let patchedSources = snapshots + "/\(next.version)/Sources"
        #expect(rawInode(patchedSources, Self.keptName) == rawInode(fx.workspace + "/Sources", Self.keptName)
                && rawInode(patchedSources, Self.keptName) != 0)
        #expect(rawInode(patchedSources, Self.goneName) == 0)
        #expect(rawInode(patchedSources, Self.newName) == rawInode(fx.workspace + "/Sources", Self.newName)
                && rawInode(patchedSources, Self.newName) != 0)
        var st = stat()
        #expect(lstat(snapshots + "/\(next.version)/.git", &st) == 0 && st.st_mode & S_IFMT == S_IFREG, ".git's mount point")
        #expect(gate.snapshotIsCurrent(next.version), "the stamps of the patched snapshot")
        let written = try Data(contentsOf: URL(fileURLWithPath: snapshots + "/\(next.version).dirs"))
        #expect(written == stamps.encoded(), "the stamps differ from a fresh walk's")
        chmod(fresh + "/Sources/ro", 0o755)
        chmod(snapshots + "/\(next.version)/Sources/ro", 0o755)
    }

    @Test func aSnapshotAViewHoldsOrNamesIsNotTaken() throws {
        let (fx, gate, lease) = try workspace()
        let snapshots = fx.workspace + "/.warden/gate/snapshots"
        // Held: a running view's lock.
        put(fx.workspace + "/Sources/one.swift", "1\n")
        let second = try gate.snapshotLease()
        #expect(FileManager.default.fileExists(atPath: snapshots + "/\(lease.version)/Sources/main.swift"))
        lease.release()
        // Named: a kept view whose lock is gone but whose record keeps its base.
        let view = try View.create(gate: gate, run: "kept-1", role: "code", profileFile: "p")
        #expect(view.record.base == second.version)
        view.releaseSnapshot()
        second.release()
        put(fx.workspace + "/Sources/two.swift", "2\n")
        let third = try gate.snapshotLease()
        #expect(third.version > second.version)
        #expect(FileManager.default.fileExists(atPath: snapshots + "/\(second.version)/Sources/one.swift"),
                "the kept view's base was taken")
        // The unheld, unnamed first one was the one recycled.
        #expect(!FileManager.default.fileExists(atPath: snapshots + "/\(lease.version)"))
    }

    /// A waiting standby holds the current snapshot when a commit comes: the collector keeps
    /// the newest free snapshot as a spare, and the next snapshot is patched from it.
    @Test func aHeldSnapshotLeavesASpareThatTheNextSnapshotIsPatchedFrom() throws {
        let (fx, gate, first) = try workspace()
        let snapshots = fx.workspace + "/.warden/gate/snapshots"
        put(fx.workspace + "/Sources/one.swift", "1\n")
        let second = try gate.snapshotLease()  // made afresh: the first is held
        first.release()
        #expect(try gate.collectSnapshots().isEmpty, "the spare was removed")
        #expect(FileManager.default.fileExists(atPath: snapshots + "/\(first.version)"))
        #expect(!gate.mayHaveStaleSnapshots(), "one old snapshot is no work for the collector")
        let spareDir = inode(snapshots + "/\(first.version)/Sources/sub/deep")

        put(fx.workspace + "/Sources/two.swift", "2\n")
        let third = try gate.snapshotLease()  // the second is held: patched from the spare
        #expect(!FileManager.default.fileExists(atPath: snapshots + "/\(first.version)"))
        #expect(inode(snapshots + "/\(third.version)/Sources/sub/deep") == spareDir, "not made from the spare")
        #expect(inode(snapshots + "/\(third.version)/Sources/two.swift") == inode(fx.workspace + "/Sources/two.swift"))
        #expect(gate.snapshotIsCurrent(third.version))

        second.release()
        #expect(try gate.collectSnapshots().isEmpty)
        let left = try FileManager.default.contentsOfDirectory(atPath: snapshots).filter { Int64($0) != nil }.sorted()
        #expect(left == ["\(second.version)", "\(third.version)"].sorted(), "\(left)")
        // Patched from the spare again (the third is held), so two old ones never pile up...
        put(fx.workspace + "/Sources/three.swift", "3\n")
        let fourth = try gate.snapshotLease()
        #expect(!FileManager.default.fileExists(atPath: snapshots + "/\(second.version)"))
        // ...unless every old one is held when the next is made: then the older is work again.
        put(fx.workspace + "/Sources/four.swift", "4\n")
        let fifth = try gate.snapshotLease()
        third.release()
        fourth.release()
        #expect(gate.mayHaveStaleSnapshots())
        #expect(try gate.collectSnapshots() == [third.version])
        #expect(!gate.mayHaveStaleSnapshots())
        _ = fifth
    }
}
