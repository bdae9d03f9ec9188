// The compiled-plan cache: a repeated launch reuses the plan, and nothing a user or an
// attacker changes can make a launch enforce a stale or foreign policy.

import Foundation
import Glibc
import Testing

/// "cached" or "compiled", from the `--json` line warden prints when the run ends.
func planSource(_ o: Outcome) -> String? {
    guard let line = o.stderr.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
          let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
    return obj["plan"] as? String
}

@Suite struct PlanCacheTests {
    /// A private cache directory for one test, owned by the identity.
    func cacheDir(_ fx: Fixture) -> String {
        let dir = fx.base + "/cache"
        mkdir(dir, 0o700)
        if fx.identity == .nobody { chown(dir, Identity.nobodyID, Identity.nobodyID) }
        return dir
    }

    @Test(arguments: Identity.all)
    func secondLaunchUsesTheCompiledPlan(_ id: Identity) {
        let fx = Fixture(id)
        let env = ["WARDEN_CACHE": cacheDir(fx)]
        let first = fx.run(profile: "code", ["sh", "-c", "exit 3"], options: ["--json"], env: env)
        let second = fx.run(profile: "code", ["sh", "-c", "exit 4"], options: ["--json"], env: env)
        #expect(first.status == 3 && planSource(first) == "compiled", "\(first)")
        #expect(second.status == 4 && planSource(second) == "cached", "\(second)")
        // The cached plan enforces the same zones: code may not write Tests/.
        let denied = fx.run(profile: "code", ["sh", "-c", "echo x > Tests/cached"], options: ["--json"], env: env)
        #expect(denied.status != 0 && !fx.exists("Tests/cached") && planSource(denied) == "cached", "\(denied)")
        let allowed = fx.run(profile: "code", ["sh", "-c", "echo x > Sources/cached"], options: ["--json"], env: env)
        #expect(allowed.status == 0 && fx.exists("Sources/cached"), "\(allowed)")
    }

    /// A profile rewritten within the same timestamp tick, to the same size, is still seen:
    /// policy files are stamped by content, not only by mtime.
    @Test(arguments: Identity.all)
    func editedProfileIsRecompiled(_ id: Identity) {
        let fx = Fixture(id)
        let env = ["WARDEN_CACHE": cacheDir(fx)]
        let open = "role: mine\nextends: code\nwrite: [\"Tests/**\"]\n"
        let shut = "role: mine\nextends: code\nwrite: [\"Tesxs/**\"]\n"
        #expect(open.utf8.count == shut.utf8.count)
        fx.write("profiles/mine.yaml", open)
        let a = fx.run(profile: "mine", ["sh", "-c", "echo a > Tests/a"], options: ["--json"], env: env)
        #expect(a.status == 0 && fx.exists("Tests/a"), "\(a)")
        let b = fx.run(profile: "mine", ["sh", "-c", "echo b > Tests/b"], options: ["--json"], env: env)
        #expect(b.status == 0 && planSource(b) == "cached", "\(b)")
        fx.write("profiles/mine.yaml", shut)
        let c = fx.run(profile: "mine", ["sh", "-c", "echo c > Tests/c"], options: ["--json"], env: env)
        #expect(c.status != 0 && !fx.exists("Tests/c") && planSource(c) == "compiled", "\(c)")
    }

    /// A workspace override of a built-in, added after the built-in was cached, takes effect.
    @Test(arguments: Identity.all)
    func newOverrideIsSeen(_ id: Identity) {
        let fx = Fixture(id)
        let env = ["WARDEN_CACHE": cacheDir(fx)]
        _ = fx.run(profile: "explore", ["true"], env: env)
        let before = fx.run(profile: "explore", ["true"], options: ["--json"], env: env)
        #expect(before.status == 0 && planSource(before) == "cached", "\(before)")
        // explore runs no shell; the override lets it.
        let refused = fx.run(profile: "explore", ["sh", "-c", "echo x > Sources/e"], env: env)
        #expect(refused.status == 126 && !fx.exists("Sources/e"), "\(refused)")
        fx.write("profiles/explore.yaml", "role: explore\nextends: code\n")
        let after = fx.run(profile: "explore", ["sh", "-c", "echo x > Sources/e"], options: ["--json"], env: env)
        #expect(after.status == 0 && fx.exists("Sources/e") && planSource(after) == "compiled", "\(after)")
    }

    /// A cache directory others can write is never used; a corrupt or foreign entry is
    /// ignored and the launch compiles its plan, enforcing the real policy.
    @Test(arguments: Identity.all)
    func untrustedOrCorruptEntriesAreIgnored(_ id: Identity) throws {
        let fx = Fixture(id)
        let open = fx.base + "/open-cache"
        mkdir(open, 0o777)
        chmod(open, 0o777)
        let env = ["WARDEN_CACHE": open]
        _ = fx.run(profile: "code", ["true"], env: env)
        let o = fx.run(profile: "code", ["true"], options: ["--json"], env: env)
        #expect(o.status == 0 && planSource(o) == "compiled", "\(o)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: open).isEmpty)

        let dir = cacheDir(fx)
        let good = ["WARDEN_CACHE": dir]
        _ = fx.run(profile: "code", ["true"], env: good)
        let entries = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".plan") }
        #expect(entries.count == 1)
        guard let entry = entries.first.map({ dir + "/" + $0 }) else { return }
        // Flip bytes in the middle of the entry: the decoder must reject it, not crash.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: entry)))
        for i in stride(from: bytes.count / 2, to: min(bytes.count, bytes.count / 2 + 64), by: 1) { bytes[i] ^= 0xff }
        try Data(bytes).write(to: URL(fileURLWithPath: entry))
        if id == .nobody { chown(entry, Identity.nobodyID, Identity.nobodyID) }
        chmod(entry, 0o600)
        let corrupt = fx.run(profile: "code", ["sh", "-c", "echo x > Tests/c"], options: ["--json"], env: good)
        #expect(corrupt.status != 0 && !fx.exists("Tests/c"), "\(corrupt)")
        #expect(planSource(corrupt) == "compiled", "\(corrupt)")

        // An entry another user owns is not trusted, even with the right name and content.
        if id == .root {
            let fresh = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".plan") }
            guard let name = fresh.first else { Issue.record("no entry after recompiling"); return }
            chown(dir + "/" + name, Identity.nobodyID, Identity.nobodyID)
            let foreign = fx.run(profile: "code", ["true"], options: ["--json"], env: good)
            #expect(foreign.status == 0 && planSource(foreign) == "compiled", "\(foreign)")
        }
    }

    /// WARDEN_CACHE=off: every launch compiles.
    @Test func cacheCanBeTurnedOff() {
        let fx = Fixture(.current)
        _ = fx.run(profile: "code", ["true"], env: ["WARDEN_CACHE": "off"])
        let o = fx.run(profile: "code", ["true"], options: ["--json"], env: ["WARDEN_CACHE": "off"])
        #expect(o.status == 0 && planSource(o) == "compiled", "\(o)")
    }
}
