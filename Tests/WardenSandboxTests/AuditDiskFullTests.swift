// A full disk under the audit store, through a real `warden run`: the agent floods denials
// into a store on a 256 KiB tmpfs. The run must end with the agent's own status, say on
// stderr that its audit is incomplete, and leave a store that still opens.

import Foundation
import Glibc
import Testing

@Suite struct AuditDiskFullTests {
    /// Root mounts the tmpfs (and, for the nobody case, hands it to nobody), so both
    /// identities run warden against a full disk; an unprivileged test process cannot mount.
    @Test(.enabled(if: getuid() == 0, "mounting the tiny tmpfs for the store needs root"), arguments: Identity.all)
    func aFullDiskLeavesTheRunAndTheStoreIntact(_ id: Identity) throws {
        let fx = Fixture(id)
        let dir = fx.base + "/store"
        mkdir(dir, 0o755)
        try #require(mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0755") == 0, "mount: \(errno)")
        defer { umount2(dir, Int32(MNT_DETACH)) }
        if id == .nobody { chown(dir, Identity.nobodyID, Identity.nobodyID) }
        let db = dir + "/audit.db"

        let script = "\"$0\" flood 20000; exit 3"
        let o = fx.run(profile: fx.profile("code"), ["/bin/sh", "-c", script, fx.probe], options: ["--audit", db],
                       timeout: 180)
        #expect(o.status == 3, "\(o)")
        #expect(o.stdout.contains("refused 20000 of 20000"), "\(o)")
        #expect(o.stderr.contains("warden: 20000 operations denied (20000 syscall)"), "\(o.stderr)")
        #expect(o.stderr.contains("warden: the audit of run 1 is incomplete ("), "\(o.stderr)")
        #expect(o.stderr.lowercased().contains("full"), "\(o.stderr)")

        // Still a store: readable as a whole, with whatever fitted.
        let runs = spawn(id.prefix + [fx.warden, "audit", "--audit", db, "--runs", "--json"], env: fx.environment(),
                         cwd: fx.ws).wait()
        #expect(runs.status == 0, "\(runs)")
        #expect(runs.stdout.split(separator: "\n").count == 1, "\(runs)")
        let summary = spawn(id.prefix + [fx.warden, "audit", "--audit", db, "--summary"], env: fx.environment(),
                            cwd: fx.ws).wait()
        #expect(summary.status == 0, "\(summary)")
        var fs = statvfs()
        #expect(statvfs(dir, &fs) == 0 && fs.f_bavail < 8, "the tmpfs was not filled: \(fs.f_bavail) blocks free")
    }
}
