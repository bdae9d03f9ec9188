// Write zones of the built-in roles, and the tricks that try to write around them.

import Foundation
import Glibc
import Testing

@Suite struct FilesystemTests {
    @Test(arguments: Identity.all)
    func codeWritesSourcesNotTests(_ id: Identity) {
        let fx = Fixture(id)
        expectOK(fx.sandboxed("code", "write", fx.path("Sources/new.swift")))
        expectErr(fx.sandboxed("code", "write", fx.path("Tests/new.swift")), "open", "EACCES")
        #expect(!fx.exists("Tests/new.swift"))
        expectErr(fx.sandboxed("code", "append", fx.path("Tests/main_tests.swift")), "open", "EACCES")
        #expect(fx.read("Tests/main_tests.swift") == "// tests\n")
        expectErr(fx.sandboxed("code", "mkdir", fx.path("Tests/sub")), "mkdir", "EACCES")
        expectErr(fx.sandboxed("code", "unlink", fx.path("Tests/main_tests.swift")), "unlink", "EACCES")
        #expect(fx.exists("Tests/main_tests.swift"))
        expectErr(fx.sandboxed("code", "rename", fx.path("Sources/main.swift"), fx.path("Tests/moved.swift")),
                  "rename", "EACCES", "EXDEV")
        #expect(fx.exists("Sources/main.swift") && !fx.exists("Tests/moved.swift"))
        // Control: the same writes work for this user without the sandbox.
        expectOK(fx.control("write", fx.path("Tests/new.swift")))
        expectOK(fx.control("append", fx.path("Tests/main_tests.swift")))
    }

    @Test(arguments: Identity.all)
    func testWritesTestsNotSources(_ id: Identity) {
        let fx = Fixture(id)
        expectOK(fx.sandboxed("test", "write", fx.path("Tests/new_tests.swift")))
        expectErr(fx.sandboxed("test", "write", fx.path("Sources/new.swift")), "open", "EACCES")
        expectErr(fx.sandboxed("test", "append", fx.path("Sources/main.swift")), "open", "EACCES")
        #expect(fx.read("Sources/main.swift") == "print(\"main\")\n")
        #expect(!fx.exists("Sources/new.swift"))
        expectOK(fx.control("write", fx.path("Sources/new.swift")))
    }

    /// The built-in profiles by name, with their own tools (no probe added).
    @Test(arguments: Identity.all)
    func builtinRolesWithTheirOwnTools(_ id: Identity) {
        let fx = Fixture(id)
        #expect(fx.run(profile: "code", ["touch", "Sources/a.swift"]).status == 0)
        #expect(fx.run(profile: "code", ["touch", "Tests/a.swift"]).status != 0)
        #expect(fx.run(profile: "test", ["touch", "Tests/b.swift"]).status == 0)
        #expect(fx.run(profile: "test", ["touch", "Sources/b.swift"]).status != 0)
        #expect(fx.exists("Sources/a.swift") && !fx.exists("Tests/a.swift"))
        #expect(fx.exists("Tests/b.swift") && !fx.exists("Sources/b.swift"))
    }

    @Test(arguments: Identity.all)
    func writesOutsideTheWorkspace(_ id: Identity) {
        let fx = Fixture(id)
        let outside = fx.base + "/outside.txt"
        try! "original\n".write(toFile: outside, atomically: false, encoding: .utf8)
        if id == .nobody { chown(outside, Identity.nobodyID, Identity.nobodyID) }
        for role in ["code", "test", "orchestrator"] {
            expectErr(fx.sandboxed(role, "append", outside), "open", "EACCES")
            expectErr(fx.sandboxed(role, "write", fx.base + "/new.txt"), "open", "EACCES")
        }
        #expect((try? String(contentsOfFile: outside, encoding: .utf8)) == "original\n")
        #expect(access(fx.base + "/new.txt", F_OK) != 0)
        expectOK(fx.control("append", outside))
    }

    @Test(arguments: Identity.all)
    func debugAndVerifyWriteOnlyScratch(_ id: Identity) {
        for role in ["debug", "verify"] {
            let fx = Fixture(id)
            expectErr(fx.sandboxed(role, "write", fx.path("Sources/x.swift")), "open", "EACCES")
            expectErr(fx.sandboxed(role, "write", fx.path("Tests/x.swift")), "open", "EACCES")
            expectErr(fx.sandboxed(role, "write", fx.path("new.txt")), "open", "EACCES")
            #expect(!fx.exists("Sources/x.swift") && !fx.exists("Tests/x.swift") && !fx.exists("new.txt"))
            expectOK(fx.sandboxed(role, "write", "/tmp/scratch-\(role).txt"))

            // Scratch starts empty although the host /tmp is not, and what was written is gone.
            let marker = "warden-scratch-\(UUID().uuidString)"
            let o = fx.run(profile: role, ["sh", "-c", "ls -A /tmp; echo hi > /tmp/\(marker) && cat /tmp/\(marker)"])
            #expect(o.status == 0 && o.stdout == "hi\n", "\(role): \(o)")
            #expect(access("/tmp/\(marker)", F_OK) != 0)
            let again = fx.run(profile: role, ["sh", "-c", "ls -A /tmp"])
            #expect(again.status == 0 && again.stdout == "", "\(role): \(again)")
        }
    }

    @Test(arguments: Identity.all)
    func exploreReadsButRunsNoShellAndWritesNothing(_ id: Identity) {
        let fx = Fixture(id)
        let cat = fx.run(profile: "explore", ["cat", "Sources/main.swift"])
        #expect(cat.status == 0 && cat.stdout == "print(\"main\")\n", "\(cat)")
        let grep = fx.run(profile: "explore", ["grep", "-r", "main", "Sources"])
        #expect(grep.status == 0 && grep.stdout.contains("Sources/main.swift"), "\(grep)")
        let sh = fx.run(profile: "explore", ["sh", "-c", "touch Sources/x"])
        #expect(sh.status == 126, "\(sh)")
        #expect(!fx.exists("Sources/x"))
        // From inside, through a tool that is allowed:
        expectErr(fx.sandboxed("explore", "exec", "/bin/sh", "-c", "true"), "execve", "EACCES")
        for rel in ["Sources/x", "Tests/x", ".warden/tasks/x", "x"] {
            expectErr(fx.sandboxed("explore", "write", fx.path(rel)), "open", "EACCES")
        }
        // No scratch: /tmp is not writable either.
        expectErr(fx.sandboxed("explore", "write", "/tmp/explore-\(UUID().uuidString)"), "open", "EACCES", "EROFS", "ENOENT")
        let shell = fx.control("exec", "/bin/sh", "-c", "echo ok shell")
        #expect(shell.status == 0 && shell.stdout == "ok shell\n", "\(shell)")
    }

    @Test(arguments: Identity.all)
    func orchestratorWritesTasksOnly(_ id: Identity) {
        let fx = Fixture(id)
        expectOK(fx.sandboxed("orchestrator", "write", fx.path(".warden/tasks/t1.md")))
        expectErr(fx.sandboxed("orchestrator", "write", fx.path("Sources/x.swift")), "open", "EACCES")
        expectErr(fx.sandboxed("orchestrator", "write", fx.path("Tests/x.swift")), "open", "EACCES")
        expectErr(fx.sandboxed("orchestrator", "write", fx.path(".warden/other.md")), "open", "EACCES")
        #expect(fx.exists(".warden/tasks/t1.md"))
        #expect(!fx.exists("Sources/x.swift") && !fx.exists(".warden/other.md"))
    }

    @Test(arguments: Identity.all)
    func symlinkInSourcesToTests(_ id: Identity) {
        let fx = Fixture(id)
        fx.write("Tests/x.swift", "original\n")
        symlink(fx.path("Tests/x.swift"), fx.path("Sources/planted.swift"))
        fx.chownTree()
        expectErr(fx.sandboxed("code", "write", fx.path("Sources/planted.swift"), "pwned\n"), "open", "EACCES")
        expectErr(fx.sandboxed("code", "append", fx.path("Sources/planted.swift")), "open", "EACCES")
        // A symlink the sandbox plants itself (relative) does not help either.
        expectOK(fx.sandboxed("code", "symlink", "../Tests/x.swift", fx.path("Sources/own.swift")))
        expectErr(fx.sandboxed("code", "write", fx.path("Sources/own.swift"), "pwned\n"), "open", "EACCES")
        #expect(fx.read("Tests/x.swift") == "original\n")
        expectOK(fx.control("append", fx.path("Sources/planted.swift")))
    }

    @Test(arguments: Identity.all)
    func hardLinkFromSourcesToTests(_ id: Identity) {
        let fx = Fixture(id)
        fx.write("Tests/x.swift", "original\n")
        let o = fx.sandboxed("code", "link", fx.path("Tests/x.swift"), fx.path("Sources/linked.swift"))
        expectErr(o, "link", "EXDEV", "EACCES")
        #expect(!fx.exists("Sources/linked.swift"))
        #expect(fx.read("Tests/x.swift") == "original\n")
        expectOK(fx.control("link", fx.path("Tests/x.swift"), fx.path("Sources/linked.swift")))
    }

    /// A host file in a read zone, owned by the identity so that file permissions would allow
    /// it: truncate(2) and O_TRUNC fail (Landlock's truncate right, the read-only mount), and
    /// the file keeps its bytes.
    @Test(arguments: Identity.all)
    func truncatingAHostFileItMayRead(_ id: Identity) {
        let fx = Fixture(id)
        let dir = fx.base + "/host"
        mkdir(dir, 0o755)
        let file = dir + "/data.txt"
        try! "host data\n".write(toFile: file, atomically: false, encoding: .utf8)
        if id == .nobody { chown(file, Identity.nobodyID, Identity.nobodyID) }
        let profile = fx.profile("code", read: [dir])
        expectErr(fx.run(profile: profile, [fx.probe, "truncate", file]), "truncate", "EROFS", "EACCES")
        expectErr(fx.run(profile: profile, [fx.probe, "open-trunc", file]), "open", "EROFS", "EACCES")
        #expect((try? String(contentsOfFile: file, encoding: .utf8)) == "host data\n")
        expectOK(fx.control("truncate", file))
        #expect((try? String(contentsOfFile: file, encoding: .utf8)) == "")
    }

    /// A read rule above the workspace covers the workspace too, which is mounted writable:
    /// with the supervisor off (it checks truncate as well), Landlock alone must still refuse
    /// truncating a file outside the write zones, with and without a view.
    @Test(arguments: Identity.all)
    func aReadRuleAboveTheWorkspaceGrantsNoTruncate(_ id: Identity) {
        let fx = Fixture(id)
        let before = fx.size("Tests/main_tests.swift")
        let profile = fx.profile("code", read: [fx.base])
        let explain = fx.run(profile: profile, ["true"], options: ["--explain"])
        #expect(explain.stdout.contains("  \(fx.base)  [read_file,read_dir]"), "\(explain)")
        for view in [["--view"], ["--no-view"]] {
            let o = fx.run(profile: profile, [fx.probe, "truncate", fx.path("Tests/main_tests.swift")],
                           options: view + ["--allow-degraded", "supervisor"], env: ["WARDEN_PRETEND_MISSING": "supervisor"])
            expectErr(o, "truncate", "EACCES")
        }
        #expect(fx.size("Tests/main_tests.swift") == before && before! > 0)
    }

    @Test(arguments: Identity.all)
    func truncatingAReadOnlyFile(_ id: Identity) {
        let fx = Fixture(id)
        let before = fx.size("Tests/main_tests.swift")
        expectErr(fx.sandboxed("code", "truncate", fx.path("Tests/main_tests.swift")), "truncate", "EACCES")
        expectErr(fx.sandboxed("code", "open-trunc", fx.path("Tests/main_tests.swift")), "open", "EACCES")
        expectErr(fx.sandboxed("verify", "truncate", fx.path("Sources/main.swift")), "truncate", "EACCES")
        #expect(fx.size("Tests/main_tests.swift") == before && before! > 0)
        #expect(fx.read("Sources/main.swift") == "print(\"main\")\n")
        expectOK(fx.control("truncate", fx.path("Tests/main_tests.swift")))
        #expect(fx.size("Tests/main_tests.swift") == 0)
    }
}
