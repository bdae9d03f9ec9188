// Reaching processes outside the sandbox: tracing, memory reads, signals, /proc, and what
// is inherited from the caller (descriptors, environment).

import Foundation
import Glibc
import Testing

let secretValue = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET"

@Suite struct ProcessTests {
    @Test(arguments: Identity.all)
    func ptraceAProcessOutside(_ id: Identity) {
        let fx = Fixture(id)
        let target = Bystander(identity: id)
        // debug has ptrace back in its seccomp set: the PID namespace and Landlock must hold.
        for role in ["code", "debug"] {
            expectErr(fx.sandboxed(role, "ptrace", "\(target.pid)"), "ptrace", "EPERM", "ESRCH")
            expectErr(fx.sandboxed(role, "ptrace", "1"), "ptrace", "EPERM", "ESRCH")
        }
        #expect(target.alive)
        expectOK(fx.control("ptrace", "\(target.pid)"))
        #expect(target.alive)
    }

    @Test(arguments: Identity.all)
    func processVMReadvOfAProcessOutside(_ id: Identity) {
        let fx = Fixture(id)
        let target = Bystander(identity: id)
        for role in ["code", "debug"] {
            expectErr(fx.sandboxed(role, "vm-read", "\(target.pid)"), "process_vm_readv", "EPERM", "ESRCH")
        }
        // Control: the permission check passes; EFAULT just means 0x400000 is unmapped there.
        let c = fx.control("vm-read", "\(target.pid)")
        #expect(c.firstLine.hasPrefix("ok") || c.firstLine == "err process_vm_readv EFAULT", "\(c)")
    }

    @Test(arguments: Identity.all)
    func debugTracesItsOwnChildButCodeCannot(_ id: Identity) {
        let fx = Fixture(id)
        expectOK(fx.sandboxed("debug", "ptrace-child"))
        expectErr(fx.sandboxed("code", "ptrace-child"), "ptrace", "EPERM")
        expectOK(fx.control("ptrace-child"))
    }

    @Test(arguments: Identity.all)
    func signalsToAProcessOutside(_ id: Identity) {
        let fx = Fixture(id)
        let target = Bystander(identity: id)
        for role in ["code", "debug"] {
            expectErr(fx.sandboxed(role, "kill", "\(target.pid)", "0"), "kill", "EPERM", "ESRCH")
            expectErr(fx.sandboxed(role, "kill", "\(target.pid)", "TERM"), "kill", "EPERM", "ESRCH")
        }
        #expect(target.alive)
        expectOK(fx.control("kill", "\(target.pid)", "0"))
        #expect(target.alive)
    }

    @Test(arguments: Identity.all)
    func readingAnotherProcessEnviron(_ id: Identity) {
        let fx = Fixture(id)
        let target = Bystander(["/usr/bin/env", "SECRET_TOKEN=\(secretValue)", "/bin/sleep", "30"], identity: id)
        usleep(100_000)  // let env exec sleep with the secret in place
        let o = fx.sandboxed("code", "read-environ", "\(target.pid)")
        expectErr(o, "open", "ENOENT", "EACCES")
        let pid1 = fx.sandboxed("code", "read-environ", "1")
        expectErr(pid1, "open", "EACCES")
        let all = fx.run(profile: fx.profile("code"), ["sh", "-c", "cat /proc/*/environ; for p in /proc/[0-9]*; do \(fx.probe) read-environ ${p#/proc/}; done"])
        for out in [o, pid1, all] {
            #expect(!out.stdout.contains(secretValue) && !out.stderr.contains(secretValue), "\(out)")
        }
        let c = fx.control("read-environ", "\(target.pid)")
        expectOK(c)
        #expect(c.stdout.contains(secretValue), "control should see the secret: \(c)")
    }

    @Test(arguments: Identity.all)
    func secretsInTheCallersEnvironment(_ id: Identity) {
        let fx = Fixture(id)
        let env = ["AWS_SECRET_ACCESS_KEY": secretValue, "GITHUB_TOKEN": secretValue + "-gh"]
        let profile = fx.profile("code")
        let runs = [
            fx.run(profile: profile, [fx.probe, "env"], env: env),
            fx.run(profile: profile, [fx.probe, "read-environ", "self"], env: env),
            fx.run(profile: profile, [fx.probe, "read-environ", "1"], env: env),
            fx.run(profile: profile, ["sh", "-c", "env; cat /proc/*/environ; cat /proc/self/environ"], env: env),
        ]
        for o in runs {
            #expect(!o.stdout.contains(secretValue) && !o.stderr.contains(secretValue), "\(o)")
            #expect(!o.stdout.contains("AWS_SECRET_ACCESS_KEY"), "\(o)")
        }
        expectOK(runs[0])
        #expect(runs[0].stdout.contains("WARDEN_ROLE=") && runs[0].stdout.contains("WARDEN_RUN="), "\(runs[0])")
        let c = fx.startControl([fx.probe, "env"], env: env).wait()
        #expect(c.stdout.contains("AWS_SECRET_ACCESS_KEY=\(secretValue)"), "\(c)")
    }

    @Test(arguments: Identity.all)
    func inheritedExtraDescriptor(_ id: Identity) {
        let fx = Fixture(id)
        let secretFile = fx.base + "/held-open"
        try! "descriptor secret\n".write(toFile: secretFile, atomically: false, encoding: .utf8)
        let fd = open(secretFile, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        let profile = fx.profile("code")
        expectErr(fx.run(profile: profile, [fx.probe, "fd", "5"], extraFD: (fd, 5)), "fcntl", "EBADF")
        // Above stdio only the control channel (fd 3, `warden submit`), and only with a view.
        let fds = fx.run(profile: profile, [fx.probe, "fds"], extraFD: (fd, 5))
        #expect(fds.status == 0 && fds.firstLine == "ok 0 1 2 3", "\(fds)")
        let noView = fx.run(profile: profile, [fx.probe, "fds"], options: ["--no-view"], extraFD: (fd, 5))
        #expect(noView.status == 0 && noView.firstLine == "ok 0 1 2", "\(noView)")
        let cat = fx.run(profile: profile, ["sh", "-c", "cat <&5"], extraFD: (fd, 5))
        #expect(!cat.stdout.contains("descriptor secret"), "\(cat)")
        // The caller's own fd 3 does not become the agent's: that is the runner's socket.
        let three = fx.run(profile: profile, ["sh", "-c", "cat <&3 & sleep 0.2; kill $! 2>/dev/null; echo done"], extraFD: (fd, 3))
        #expect(three.stdout == "done\n" && !three.stdout.contains("descriptor secret"), "\(three)")
        expectOK(fx.startControl([fx.probe, "fd", "5"], extraFD: (fd, 5)).wait())
    }

    @Test(arguments: Identity.all)
    func capabilitiesAndNoNewPrivs(_ id: Identity) {
        let fx = Fixture(id)
        let o = fx.sandboxed("code", "caps")
        expectOK(o)
        for line in ["CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "CapBnd:\t0000000000000000",
                     "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"] {
            #expect(o.stdout.contains(line), "\(line): \(o)")
        }
    }
}
