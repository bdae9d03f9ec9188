// Resource exhaustion: the profile's limits hold whether warden enforces them with a
// cgroup (root) or with rlimits (unprivileged).

import Foundation
import Glibc
import Testing

@Suite struct LimitsTests {
    @Test(arguments: Identity.all)
    func forkBomb(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.sandboxed("code", "forkbomb", "500", extra: "limits: { processes: 64 }\n")
        let words = o.firstLine.split(separator: " ")
        #expect(o.status == 1 && words.count == 4 && words[0] == "err" && words[1] == "fork" && words[2] == "EAGAIN",
                "\(o)")
        if words.count == 4, let n = Int(words[3]) { #expect(n < 64, "\(o)") }
        let c = fx.control("forkbomb", "100")
        #expect(c.firstLine == "ok 100", "\(c)")
    }

    @Test(arguments: Identity.all)
    func memoryBomb(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.sandboxed("code", "membomb", "2000", extra: "limits: { memory: 256MiB }\n")
        let killed = o.status == 137
        let refused = o.status == 1 && o.firstLine.hasPrefix("err malloc ENOMEM")
        #expect(killed || refused, "\(o)")
        #expect(!o.stdout.contains("ok 2000"), "\(o)")
        // Control: more than the limit is available outside.
        let c = fx.control("membomb", "400")
        #expect(c.firstLine == "ok 400", "\(c)")
    }

    @Test(arguments: Identity.all)
    func oversizedFile(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.sandboxed("code", "bigfile", fx.path("Sources/big.bin"), "2M", extra: "limits: { file_size: 1MiB }\n")
        let killed = o.status == 153
        let refused = o.status == 1 && o.firstLine.hasPrefix("err write EFBIG")
        #expect(killed || refused, "\(o)")
        #expect((fx.size("Sources/big.bin") ?? 0) <= 1 << 20)
        let c = fx.control("bigfile", fx.path("Sources/control.bin"), "2M")
        expectOK(c)
        #expect(fx.size("Sources/control.bin") == 2 << 20)
    }
}
