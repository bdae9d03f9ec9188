// Commits changesets to a workspace in a loop, for the gate's crash tests: the test kills this
// process with SIGKILL at a random moment, or this process kills itself with SIGKILL when the
// gate reaches the step named by WARDEN_GATE_STRESS_KILL_AT (see `Gate.stepHook`) in its
// last round, then checks that the next gate start leaves the workspace all-old or all-new.
//
//   warden-gate-stress WORKSPACE UPPER N FILES
// Each round writes FILES files named f0..f(FILES-1) under Sources/ whose content is the
// round number (so a mixed state shows as two different numbers), via a fresh upper directory.
import Foundation
import Glibc
import WardenGate
import WardenPolicy

let args = CommandLine.arguments
guard args.count == 5, let rounds = Int(args[3]), let files = Int(args[4]) else {
    fputs("usage: warden-gate-stress WORKSPACE UPPER ROUNDS FILES\n", stderr)
    exit(64)
}
let workspace = args[1], upper = args[2]
var lastRound = false
if let step = ProcessInfo.processInfo.environment["WARDEN_GATE_STRESS_KILL_AT"] {
    Gate.stepHook = { reached in
        if lastRound && reached == step { kill(getpid(), SIGKILL) }
    }
}
do {
    let gate = try Gate(workspace: workspace)
    let zone = WriteZone(pattern: "Sources/**", path: "Sources", recursive: true,
                         location: SourceLocation(file: "stress", line: 1, column: 1))
    let validator = GateValidator(role: "code", zones: [zone])
    for r in 0..<rounds {
        lastRound = r == rounds - 1
        let base = try gate.version()
        let round = base + 1
        try? FileManager.default.removeItem(atPath: upper)
        try FileManager.default.createDirectory(atPath: upper + "/Sources", withIntermediateDirectories: true)
        for i in 0..<files {
            try "\(round)\n".write(toFile: upper + "/Sources/f\(i)", atomically: false, encoding: .utf8)
        }
        let changeset = try ChangesetScanner.scan(upper: upper, base: base)
        try gate.commit(changeset, validator: validator, run: "stress-\(round)")
        print("committed \(round)")
        fflush(stdout)
    }
} catch {
    fputs("warden-gate-stress: \(error)\n", stderr)
    exit(1)
}
