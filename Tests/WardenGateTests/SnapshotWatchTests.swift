// A standby asks at its claim whether the workspace is still as its view's snapshot saw it.
// The watch must notice every change that moves a directory's stamps (or a mount over one)
// by itself, before any stat; anything else leaves it quiet; and a change made before the
// watch existed is one its first check sees.

import Foundation
import Glibc
import Testing
@testable import WardenGate

@Suite struct SnapshotWatchTests {
    /// A gate whose current snapshot has nested directories (and a .git beside them), and a
    /// watch on it.
    private func watched() throws -> (GateFixture, Gate, SnapshotWatch) {
        let fx = GateFixture()
        for dir in ["Sources/sub/deeper", ".git/objects"] { mkdirs(fx.workspace + "/" + dir) }
        put(fx.workspace + "/Sources/sub/a.swift", "a\n")
        let gate = try fx.gate()
        let lease = try gate.snapshotLease()
        let watch = try #require(SnapshotWatch(gate: gate, version: lease.version))
        return (fx, gate, watch)
    }

    static let changes: [(String, (String) -> Int32)] = [
        ("a file created deep down", { ws in put(ws + "/Sources/sub/deeper/new.swift", "x\n"); return 0 }),
        ("a file deleted", { ws in unlink(ws + "/Tests/t.swift") }),
        ("a file renamed", { ws in rename(ws + "/Sources/main.swift", ws + "/Sources/m.swift") }),
        ("an editor's save through a rename", { ws in
            put(ws + "/Sources/.main.swift.swp", "edited\n")
            return rename(ws + "/Sources/.main.swift.swp", ws + "/Sources/main.swift")
        }),
        ("a directory's mode", { ws in chmod(ws + "/Sources/sub", 0o700) }),
        ("a directory's times", { ws in
            var times = [timespec(tv_sec: 1, tv_nsec: 0), timespec(tv_sec: 1, tv_nsec: 0)]
            return utimensat(AT_FDCWD, ws + "/Sources/sub", &times, 0)
        }),
        ("an empty directory removed", { ws in rmdir(ws + "/Sources/sub/deeper") }),
        ("a directory swapped for another", { ws in
            rename(ws + "/Sources/sub", ws + "/old") == 0 ? mkdir(ws + "/Sources/sub", 0o755) : -1
        }),
        ("a file at the top", { ws in put(ws + "/README", "r\n"); return 0 }),
    ]

    @Test(arguments: changes.indices)
    func eachChangeOfADirectoryIsNoticedWithoutAStat(_ i: Int) throws {
        let (name, change) = Self.changes[i]
        let (fx, gate, watch) = try watched()
        #expect(watch.quiet() && watch.isCurrent(), "control: \(name)")
        #expect(change(fx.workspace) == 0, "\(name): \(String(cString: strerror(errno)))")
        #expect(!watch.quiet(), "the watch missed \(name)")
        // The exact answer, which isCurrent falls back to.
        #expect(!gate.snapshotIsCurrent(watch.version) && !watch.isCurrent(), "\(name)")
        // The events are taken now, and the answer stays.
        #expect(!watch.isCurrent(), "stale once, current again: \(name)")
    }

    @Test func whatLeavesTheDirectoriesAsTheyWereStaysQuiet() throws {
        let (fx, gate, watch) = try watched()
        // In place: the snapshot's hard link is the same inode, so no new snapshot is needed.
        let fd = open(fx.workspace + "/Sources/sub/a.swift", O_WRONLY | O_TRUNC)
        #expect(fd >= 0 && write(fd, "b\n", 2) == 2)
        close(fd)
        // Outside the snapshot: the gate's own directory, and .git's contents.
        put(fx.workspace + "/.warden/scratch", "s\n")
        put(fx.workspace + "/.git/objects/ab", "o\n")
        #expect(watch.quiet() && watch.isCurrent() && gate.snapshotIsCurrent(watch.version))
        // A file's attributes (a snapshot's hard link, a chmod) wake the watch, whose exact
        // check then says current, and it is quiet again after.
        #expect(chmod(fx.workspace + "/Sources/sub/a.swift", 0o600) == 0)
        #expect(!watch.quiet() && watch.isCurrent() && watch.quiet())
    }

    @Test func aChangeBeforeTheWatchIsSeenByItsFirstCheck() throws {
        let fx = GateFixture()
        mkdirs(fx.workspace + "/Sources/sub")
        let gate = try fx.gate()
        let lease = try gate.snapshotLease()
        put(fx.workspace + "/Sources/sub/late.swift", "late\n")
        #expect(SnapshotWatch(gate: gate, version: lease.version) == nil)
    }

    @Test func aMountOverAWatchedDirectoryIsNoticed() throws {
        guard geteuid() == 0 else { return }  // mounting needs root
        let (fx, _, watch) = try watched()
        #expect(watch.quiet())
        let target = fx.workspace + "/Sources/sub"
        #expect(mount("tmpfs", target, "tmpfs", 0, nil) == 0, "\(String(cString: strerror(errno)))")
        defer { umount2(target, Int32(MNT_DETACH)) }
        #expect(!watch.quiet() && !watch.isCurrent(), "the watch missed a mount")
    }
}
