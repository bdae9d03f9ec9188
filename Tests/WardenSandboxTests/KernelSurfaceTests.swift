// Syscalls that widen the kernel attack surface or leave the sandbox's namespaces: each is
// refused under the sandbox, and each control shows the probe really exercises it.

import Foundation
import Glibc
import Testing

/// A pseudo-terminal whose slave is not anybody's controlling tty yet.
final class Pty {
    let master: Int32
    let slave: Int32

    init() {
        // posix_openpt/grantpt/unlockpt/ptsname are hidden from the Swift importer; this is
        // what they do on devpts.
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        precondition(master >= 0)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        precondition(ioctl(master, 0x4004_5431 /* TIOCSPTLCK */, &unlock) == 0)
        precondition(ioctl(master, 0x8004_5430 /* TIOCGPTN */, &number) == 0)
        slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY | O_CLOEXEC)
        precondition(slave >= 0)
    }

    deinit {
        close(slave)
        close(master)
    }
}

@Suite struct KernelSurfaceTests {
    static let root = getuid() == 0

    @Test(arguments: Identity.all)
    func deniedSyscallsReturnEPERM(_ id: Identity) {
        let fx = Fixture(id)
        let cases: [(args: [String], stage: String)] = [
            (["io-uring"], "io_uring_setup"),
            (["keyctl"], "keyctl"),
            (["bpf"], "bpf"),
            (["perf"], "perf_event_open"),
            (["userfaultfd"], "userfaultfd"),
            (["personality"], "personality"),
            (["personality-aslr"], "personality"),
            (["unshare", "user"], "unshare"),
            (["unshare", "net"], "unshare"),
            (["unshare", "mount"], "unshare"),
            (["userns-mount", fx.path("Sources")], "unshare"),
            (["clone-newuser"], "clone"),
            (["setns-net"], "setns"),
            (["mount", fx.path("Sources")], "mount"),
            (["chroot", fx.path("Sources")], "chroot"),
        ]
        let profile = fx.profile("code")
        for c in cases {
            let o = fx.run(profile: profile, [fx.probe] + c.args)
            expectErr(o, c.stage, "EPERM")
        }
        // Controls. These succeed for any user on this kernel:
        for args in [["io-uring"], ["keyctl"], ["perf"], ["userfaultfd"], ["personality"],
                     ["personality-aslr"], ["unshare", "user"], ["clone-newuser"],
                     ["userns-mount", fx.path("Sources")]] {
            expectOK(fx.startControl([fx.probe] + args).wait(), args.joined(separator: " "))
        }
        // These need real privilege (CAP_SYS_ADMIN / CAP_SYS_CHROOT / CAP_BPF in the initial
        // namespace), so a control as nobody would fail for reasons unrelated to warden: run
        // them only when root.
        if id == .root {
            for args in [["bpf"], ["unshare", "net"], ["unshare", "mount"], ["setns-net"], ["chroot", fx.path("Sources")]] {
                expectOK(fx.startControl([fx.probe] + args).wait(), args.joined(separator: " "))
            }
            // In a private mount namespace so the control's tmpfs never shows on the host.
            let m = fx.startControl(["/usr/bin/unshare", "-m", "--propagation", "private", fx.probe, "mount", fx.path("Sources")]).wait()
            expectOK(m, "mount")
        }
        #expect(fx.exists("Sources/main.swift"))
    }

    @Test(arguments: Identity.all)
    func clone3IsENOSYSButThreadsWork(_ id: Identity) {
        let fx = Fixture(id)
        expectErr(fx.sandboxed("code", "clone3"), "clone3", "ENOSYS")
        expectOK(fx.sandboxed("code", "clone-thread"))
        expectOK(fx.control("clone3"))
        expectOK(fx.control("clone-thread"))
    }

    /// Syscalls newer than the table the policies were checked against (libseccomp's) fail
    /// with ENOSYS, as on an older kernel: listmount, mseal and open_tree_attr exist on this
    /// kernel (the control gets the kernel's own answer) but no profile could have named them.
    @Test(arguments: Identity.all)
    func syscallsNewerThanTheReviewedTableAreENOSYS(_ id: Identity) {
        let fx = Fixture(id)
        for nr in ["458", "462", "467"] {
            let control = fx.control("syscall", nr)
            #expect(!control.stdout.contains("ENOSYS"), "\(nr) unsandboxed: \(control)")
            expectErr(fx.sandboxed("code", "syscall", nr), "syscall", "ENOSYS")
        }
        // The last one libseccomp names (futex_requeue, 456) is the kernel's to answer.
        let known = fx.sandboxed("code", "syscall", "456")
        #expect(!known.stdout.contains("ENOSYS"), "\(known)")
    }

    @Test(arguments: Identity.all)
    func openByHandle(_ id: Identity) {
        let fx = Fixture(id)
        // The probe needs an fd of "/" as the mount fd; inside the sandbox that open already
        // fails (Landlock), and open_by_handle_at itself is in @privileged. Any of those
        // stages may stop it; what matters is that it never gets a descriptor.
        // A file outside the workspace: inside, the workspace is an overlay view, which has
        // no file handles to give (name_to_handle_at: EOPNOTSUPP) and would prove nothing.
        let o = fx.sandboxed("code", "open-by-handle", "/etc/passwd")
        let words = o.firstLine.split(separator: " ").map(String.init)
        #expect(o.status == 1 && words.first == "err"
                && ["name_to_handle_at", "open", "open_by_handle_at"].contains(words.dropFirst().first ?? "")
                && ["EPERM", "EACCES"].contains(words.dropFirst(2).first ?? ""), "\(o)")
        // open_by_handle_at needs CAP_DAC_READ_SEARCH: no control as nobody.
        if id == .root {
            expectOK(fx.control("open-by-handle", "/etc/passwd"))
        }
    }

    @Test(arguments: Identity.all)
    func tiocstiOnARealPty(_ id: Identity) {
        let fx = Fixture(id)
        let profile = fx.profile("code")
        for extra in [[], ["high"]] {
            let pty = Pty()
            if id == .nobody { fchown(pty.slave, Identity.nobodyID, Identity.nobodyID) }
            let o = fx.run(profile: profile, [fx.probe, "tiocsti"] + extra, stdin: .fd(pty.slave))
            expectErr(o, "tiocsti", "EACCES")
            // Control: the probe as a session leader makes the pty its controlling tty.
            let ctl = Pty()
            if id == .nobody { fchown(ctl.slave, Identity.nobodyID, Identity.nobodyID) }
            let c = fx.startControl([fx.probe, "tiocsti"] + extra, stdin: .fd(ctl.slave), setsid: true).wait()
            expectOK(c, "tiocsti \(extra)")
        }
        let linux = Pty()
        expectErr(fx.run(profile: profile, [fx.probe, "tioclinux"], stdin: .fd(linux.slave)), "tioclinux", "EACCES")
    }

    @Test(arguments: Identity.all)
    func foreignSyscallABIsKill(_ id: Identity) {
        let fx = Fixture(id)
        let i = fx.sandboxed("code", "int80")
        #expect(i.status == 159 && i.stdout.isEmpty, "int80: \(i)")
        let x = fx.sandboxed("code", "x32")
        #expect(x.status == 159 && x.stdout.isEmpty, "x32: \(x)")
        expectOK(fx.control("int80"))
        // x32 is not built into this kernel, so the control can only show ENOSYS: being
        // killed under the sandbox is what shows the filter checks the x32 bit.
        let xc = fx.control("x32")
        #expect(xc.firstLine == "err x32 ENOSYS" || xc.firstLine.hasPrefix("ok"), "\(xc)")
    }
}
