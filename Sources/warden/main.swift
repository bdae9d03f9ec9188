import Glibc
import WardenFront

// `warden` is two binaries: this front, and `warden-core` beside it, which does everything.
// The core links Foundation (through Yams and GRDB), and Foundation's start-up (CoreFoundation,
// ICU calendars, dispatch) takes about 0.7 ms before main on every invocation. A run that a
// standby takes needs none of it, only the key and a socket, so the front tries that first
// and otherwise becomes the core (exec: same process, same pid, same exit status).
LaunchTiming.mark("main")
var argv = CommandLine.arguments
guard let core = coreBinary() else {
    fputs("warden: cannot find warden-core: /proc/self/exe does not say where this binary is\n", stderr)
    exit(70)
}
if let line = RunLine(Array(argv.dropFirst())), line.useStandby, let place = line.locate(engine: core) {
    // On success this exits with the run's status; nil: no standby took the command.
    if let status = line.runOnStandby(at: place) { exit(status) }
    // The core would look for the same standby again.
    argv.insert("--no-standby", at: 2)
}
execv(core, argv.map { strdup($0) } + [nil])
fputs("warden: cannot run \(core): \(String(cString: strerror(errno)))\n", stderr)
exit(70)

/// `warden-core` in this binary's own directory (symbolic links to this one resolved). Nil
/// when that directory is unknown: never a bare name, which execv would take from the working
/// directory, a repository an agent may have written.
func coreBinary() -> String? {
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard readlink("/proc/self/exe", &buf, buf.count - 1) > 0 else { return nil }
    let exe = String(cString: buf)
    guard exe.hasPrefix("/"), let slash = exe.lastIndex(of: "/") else { return nil }
    return exe[..<slash] + "/warden-core"
}
