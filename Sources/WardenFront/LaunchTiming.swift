import Glibc

/// Wall-clock marks along one launch, printed on stderr at exit when `WARDEN_TIMING` is set:
/// how the benchmarks find where a launch's milliseconds go without a profiler's overhead.
public enum LaunchTiming {
    nonisolated(unsafe) private static var marks: [(String, timespec)] = []
    nonisolated(unsafe) private static var enabled: Bool = getenv("WARDEN_TIMING") != nil

    public static func mark(_ name: StaticString) {
        guard enabled else { return }
        // WARDEN_TIMING=NS: the caller's CLOCK_MONOTONIC just before it executed warden, so
        // that the process's own start-up shows as the first interval.
        if marks.isEmpty, let value = getenv("WARDEN_TIMING"), let ns = Int(String(cString: value)), ns > 0 {
            marks.append(("exec", timespec(tv_sec: ns / 1_000_000_000, tv_nsec: ns % 1_000_000_000)))
        }
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        marks.append(("\(name)", ts))
    }

    /// Prints each mark's offset from the first and from the one before.
    public static func report() {
        guard enabled, let first = marks.first else { return }
        func ms(_ a: timespec, _ b: timespec) -> Double {
            Double(a.tv_sec - b.tv_sec) * 1000 + Double(a.tv_nsec - b.tv_nsec) / 1e6
        }
        var previous = first.1
        for (name, ts) in marks {
            let line = "timing: \(name) +\(ms(ts, first.1)) ms (\(ms(ts, previous)))\n"
            fputs(line, stderr)
            previous = ts
        }
    }
}
