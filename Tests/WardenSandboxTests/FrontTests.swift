// The front, `warden`: what it links, what it does without its core, and what becomes of run
// options it does not check. Everything else it does (a served run, or becoming the core)
// every other suite drives through it.

import Foundation
import Glibc
import Testing

@Suite struct FrontTests {
    /// The front exists to skip Foundation's start-up (CoreFoundation, ICU, about 0.7 ms of
    /// every launch). A dependency that brought Foundation back would fail nothing else.
    @Test func theFrontDoesNotLinkFoundation() {
        func libraries(_ binary: String) -> String {
            spawn(["/usr/bin/ldd", Binaries.buildDir + "/" + binary], env: ["PATH": "/usr/bin:/bin"], cwd: "/").wait().stdout
        }
        let core = libraries("warden-core")
        #expect(core.contains("libFoundation.so"), "control: the core links Foundation: \(core)")
        let front = libraries("warden")
        #expect(front.contains("libswiftCore"), "the probe reads a dynamic build: \(front)")
        #expect(!front.contains("Foundation") && !front.contains("ICU"), "\(front)")
    }

    /// Without warden-core beside it the front names what is missing and exits 70, for a
    /// run as for anything else; it runs nothing.
    @Test func withoutItsCoreTheFrontSaysSo() {
        let dir = makeTempDir(prefix: "warden-front-alone")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        copyExecutable(Binaries.warden, to: dir + "/warden")
        let marker = dir + "/ran"
        for argv in [["run", "--profile", "code", "--", "/usr/bin/touch", marker], ["--help"]] {
            let o = spawn([dir + "/warden"] + argv, env: ["PATH": "/usr/bin:/bin", "HOME": dir], cwd: dir).wait()
            #expect(o.status == 70, "\(argv): \(o)")
            #expect(o.stderr == "warden: cannot run \(dir)/warden-core: No such file or directory\n", "\(o)")
            #expect(access(marker, F_OK) != 0)
        }
        // Control: beside its core, the same command line runs.
        copyExecutable(Binaries.core, to: dir + "/warden-core")
        let ok = spawn([dir + "/warden", "run", "--profile", "code", "--no-view", "--", "/usr/bin/true"],
                       env: ["PATH": "/usr/bin:/bin", "HOME": dir], cwd: dir).wait()
        #expect(ok.status == 0, "\(ok)")
    }

    /// The front reads a run line without the argument parser, and leaves every value it does
    /// not check to the core. With a standby waiting for the valid options, a bad value is
    /// never run by it: the core names the error (64) and nothing runs. The control, the same
    /// line without the bad value, is served.
    @Test(arguments: Identity.all)
    func badRunOptionsGetTheCoresErrorsEvenWithAStandbyWaiting(_ id: Identity) {
        let waiting = Waiting(id)
        let fx = waiting.fx, env = waiting.env
        #expect(waiting.made.status == 0, "\(waiting.made)")
        let cases: [([String], String)] = [
            (["--timeout", "5parsecs"], "Error: --timeout '5parsecs' is not a duration"),
            (["--allow-degraded", "bogus"], "Error: unknown feature 'bogus' for --allow-degraded"),
            (["--commit", "sometimes"], "Error: The value 'sometimes' is invalid for '--commit <commit>'"),
        ]
        for (options, message) in cases {
            _ = StandbyTests.socket(env)
            let o = fx.start(profile: "code", ["sh", "-c", "echo x > Sources/bad"], options: options, env: env).wait()
            #expect(o.status == 64 && o.stderr.hasPrefix(message), "\(options): \(o)")
            #expect(!fx.exists("Sources/bad"), "\(options)")
        }
        _ = StandbyTests.socket(env)
        let child = fx.start(profile: "code", ["sh", "-c", "echo run=$WARDEN_RUN; echo x > Sources/good"], env: env)
        let o = child.wait()
        #expect(o.status == 0 && fx.read("Sources/good") == "x\n", "\(o)")
        #expect(StandbyTests.runnerPID(o) != nil && StandbyTests.runnerPID(o) != child.pid, "served: \(o)")
    }

    /// Where /proc/self/exe cannot be read, the front does not know its directory, and must
    /// not fall back to a bare `warden-core`, which execv would take from the working
    /// directory (a repository an agent may have written). Root: `unshare -m` to lose /proc.
    @Test(.enabled(if: geteuid() == 0))
    func withoutProcTheFrontRunsNoCoreFromTheWorkingDirectory() {
        let dir = makeTempDir(prefix: "warden-front-noproc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        mkdir(dir + "/bin", 0o755)
        mkdir(dir + "/repo", 0o755)
        copyExecutable(Binaries.warden, to: dir + "/bin/warden")
        let marker = dir + "/planted-ran"
        let planted = dir + "/repo/warden-core"
        FileManager.default.createFile(atPath: planted, contents: Data("#!/bin/sh\ntouch \(marker)\n".utf8))
        chmod(planted, 0o755)
        // Control: the planted core runs when asked to.
        #expect(spawn([planted], env: ["PATH": "/usr/bin:/bin"], cwd: dir + "/repo").wait().status == 0 && access(marker, F_OK) == 0)
        unlink(marker)
        let o = spawn(["/usr/bin/unshare", "-m", "/bin/sh", "-c", "umount -l /proc && exec \(dir)/bin/warden --help"],
                      env: ["PATH": "/usr/bin:/bin"], cwd: dir + "/repo").wait()
        #expect(o.status == 70 && o.stderr == "warden: cannot find warden-core: /proc/self/exe does not say where this binary is\n", "\(o)")
        #expect(access(marker, F_OK) != 0, "the front ran ./warden-core: \(o)")
    }
}
