// A separate process that writes to an audit store, for the store tests: several of these at
// once is the "concurrent runs" case, and kill -9 of one mid-flood is the "killed runner"
// case. Not installed, not user-facing.
//
//   warden-audit-stress write DB COUNT [--run ID] [--at MONOTONIC_NS]
//       flood COUNT events through AuditWriter, opening the store at CLOCK_MONOTONIC --at;
//       prints "run ID" first, "committed N" after every batch commit, and a final
//       "summary written=W lost=L complete=true|false ns=T" (T: first record to finish()
//       returned); exit 0 only when complete
//   warden-audit-stress open-begin DB [N]            open the store, begin a run, close; N
//       times; prints the elapsed nanoseconds of open+begin: what every launch pays

import Glibc
import WardenAudit

setvbuf(stdout, nil, _IOLBF, 0)

func fail(_ message: String) -> Never {
    fputs("warden-audit-stress: \(message)\n", stderr)
    exit(64)
}

let args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first, args.count >= 2 else {
    fail("usage: write DB COUNT [--run ID] [--at NS] | open-begin DB [N]")
}
let path = args[1]

do {
    switch mode {
    case "open-begin":
        // Repeats show the cost in a process that has already opened once (the runtime,
        // Foundation and Dispatch initialized), which is closer to warden's own position.
        let times = args.count > 2 ? Int(args[2]) ?? 1 : 1
        for _ in 0..<max(1, times) {
            let start = AuditClock.monotonic()
            let store = try AuditStore(path: path)
            let run = try store.beginRun(command: ["open-begin"], role: "bench", profileFile: "bench.yaml",
                                         workspace: "/")
            let elapsed = AuditClock.monotonic() - start
            try store.close()
            print("run \(run) open+begin_ns \(elapsed)")
        }

    case "write":
        guard args.count >= 3, let count = Int(args[2]), count >= 0 else { fail("write: COUNT must be a number") }
        var runOption: Int64?
        var startAt: Int64?
        var rest = args.dropFirst(3)
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst().flatMap({ Int64($0) }) else { fail("write: \(flag) needs a number") }
            switch flag {
            case "--run": runOption = value
            case "--at": startAt = value
            default: fail("write: unknown option \(flag)")
            }
        }
        // Several helpers given the same --at open the store within microseconds of each
        // other: the collision a plain spawn makes only sometimes.
        if let startAt {
            while AuditClock.monotonic() < startAt {}
        }
        let store = try AuditStore(path: path)
        let run = try runOption ?? store.beginRun(command: CommandLine.arguments, role: "stress",
                                                  profileFile: "stress.yaml", workspace: "/")
        print("run \(run)")
        let pid = getpid()
        let start = AuditClock.monotonic()
        let writer = AuditWriter(store: store, onCommit: { total in print("committed \(total)") })
        // record() latency, the figure that matters to the supervisor, in a histogram of
        // power-of-two buckets so measuring a long flood costs no memory.
        var buckets = [Int](repeating: 0, count: 64)
        for i in 0..<count {
            // The sequence number is in the message so the test can check that what survived
            // is exactly a prefix of what was recorded: batches commit whole and in order.
            let event = AuditEvent(runID: run, role: "stress", profileFile: "stress.yaml:1", pid: pid,
                                   kind: .write, target: "/stress/\(pid)/\(i)", decision: .denied,
                                   rule: "stress.yaml:1 write", message: "seq \(i)")
            let t0 = AuditClock.monotonic()
            writer.record(event)
            let dt = AuditClock.monotonic() - t0
            buckets[64 - max(1, dt).leadingZeroBitCount] += 1
        }
        let summary = writer.finish()
        let elapsed = AuditClock.monotonic() - start
        try store.close()
        print("summary written=\(summary.written) lost=\(summary.lost) complete=\(summary.complete) ns=\(elapsed)")
        // Upper bounds: "record_ns p50<=512 p99<=4096 max<=65536".
        func bound(_ p: Double) -> Int {
            var seen = 0
            for (b, n) in buckets.enumerated() where n > 0 {
                seen += n
                if Double(seen) >= p * Double(count) { return 1 << b }
            }
            return 0
        }
        fputs("record_ns p50<=\(bound(0.5)) p99<=\(bound(0.99)) p99.9<=\(bound(0.999)) max<=\(bound(1))\n", stderr)
        if let error = summary.firstError { fputs("warden-audit-stress: \(error)\n", stderr) }
        exit(summary.complete ? 0 : 1)

    default:
        fail("unknown mode '\(mode)'")
    }
} catch {
    fputs("warden-audit-stress: \(error)\n", stderr)
    exit(74)
}
