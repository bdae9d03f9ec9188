// Running code that is not an allowed tool: copies in scratch or the workspace, the ELF
// loader, anonymous memory, and executable mappings of workspace files.

import Foundation
import Glibc
import Testing

@Suite struct ExecTests {
    @Test(arguments: Identity.all)
    func binaryCopiedIntoScratch(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.run(profile: fx.profile("code"),
                       ["sh", "-c", "cp \(fx.probe) /tmp/copy && chmod 755 /tmp/copy && \(fx.probe) exec /tmp/copy getpid"])
        expectErr(o, "execve", "EACCES")
        // Control: a copy outside any sandbox runs.
        let copy = fx.base + "/copy"
        copyExecutable(fx.probe, to: copy)
        let c = fx.startControl([fx.probe, "exec", copy, "getpid"]).wait()
        expectOK(c)
    }

    @Test(arguments: Identity.all)
    func binaryCopiedIntoTheWorkspace(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.run(profile: fx.profile("code"),
                       ["sh", "-c", "cp \(fx.probe) Sources/tool && chmod 755 Sources/tool && \(fx.probe) exec Sources/tool getpid"],
                       options: ["--commit", "always"])
        expectErr(o, "execve", "EACCES")
        #expect(fx.exists("Sources/tool"))
        // Control: the workspace itself is not noexec on the host.
        expectOK(fx.control("exec", fx.path("Sources/tool"), "getpid"))
    }

    @Test(arguments: Identity.all)
    func scratchCopyThroughTheDynamicLoader(_ id: Identity) {
        let fx = Fixture(id)
        let ldso = "/lib64/ld-linux-x86-64.so.2"
        let o = fx.run(profile: fx.profile("code", tools: [ldso]),
                       ["sh", "-c", "cp \(fx.probe) /tmp/copy && \(ldso) /tmp/copy getpid"])
        #expect(o.status != 0 && !o.stdout.contains("ok"), "\(o)")
        #expect(o.stderr.contains("failed to map segment"), "\(o)")
        let copy = fx.base + "/copy"
        copyExecutable(fx.probe, to: copy)
        expectOK(fx.startControl([ldso, copy, "getpid"]).wait())
    }

    @Test(arguments: Identity.all)
    func memfdExec(_ id: Identity) {
        let fx = Fixture(id)
        for role in ["code", "debug"] {
            expectErr(fx.sandboxed(role, "memfd-exec", fx.probe, "getpid"), "memfd_create", "EPERM")
        }
        expectOK(fx.control("memfd-exec", fx.probe, "getpid"))
    }

    @Test(arguments: Identity.all)
    func execveatEmptyPath(_ id: Identity) {
        let fx = Fixture(id)
        // Even the allowed probe binary itself: AT_EMPTY_PATH on an fd is refused outright.
        for role in ["code", "debug"] {
            expectErr(fx.sandboxed(role, "execveat-empty", fx.probe, "getpid"), "execveat", "EPERM")
        }
        expectOK(fx.control("execveat-empty", fx.probe, "getpid"))
    }

    @Test(arguments: Identity.all)
    func mmapExecOfAWorkspaceFile(_ id: Identity) {
        let fx = Fixture(id)
        expectErr(fx.sandboxed("code", "mmap-exec", fx.path("Sources/main.swift")), "mmap", "EPERM")
        expectOK(fx.control("mmap-exec", fx.path("Sources/main.swift")))
    }

    @Test(arguments: Identity.all)
    func toolsOutsideTheProfileAreRefused(_ id: Identity) {
        let fx = Fixture(id)
        // Not a tool of explore: refused before anything runs.
        let o = fx.run(profile: "explore", ["/bin/sh", "-c", "echo ran"])
        #expect(o.status == 126 && !o.stdout.contains("ran"), "\(o)")
        let missing = fx.run(profile: "code", ["no-such-command-\(UUID().uuidString.prefix(6))"])
        #expect(missing.status == 127, "\(missing)")
        // From inside: a system binary that is not a tool.
        expectErr(fx.sandboxed("code", "exec", "/usr/bin/perl", "-e", "print 1"), "execve", "EACCES", "ENOENT")
        expectErr(fx.sandboxed("code", "exec", "/bin/bash", "-c", "true"), "execve", "EACCES")
    }
}
