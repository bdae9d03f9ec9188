// Whether the runner of an unfinished run may still be alive. The store does not hold the
// runner's pid, so this looks at the processes of this machine instead: a run's runner is a
// warden process that started no later than the run's row, whose command line ends with the
// run's command (`warden run ... -- CMD ARGS` stores CMD ARGS). Anything unreadable counts
// as possibly alive: pruning must err towards keeping a row.

import Foundation
import Glibc

public struct RunnerProcess: Sendable, Equatable {
    public var pid: Int32
    /// CLOCK_REALTIME when the process started, to within a second (the kernel's boot time
    /// is whole seconds).
    public var startNS: Int64
    /// nil when the command line could not be read.
    public var argv: [String]?

    public init(pid: Int32, startNS: Int64, argv: [String]?) {
        self.pid = pid
        self.startNS = startNS
        self.argv = argv
    }

    /// A runner inserts its run's row after it starts; the slack covers the coarse clock.
    static let slackNS: Int64 = 5_000_000_000

    public func mayOwn(_ run: AuditRun) -> Bool {
        guard startNS <= run.startNS + Self.slackNS else { return false }
        guard let argv else { return true }
        return !run.command.isEmpty && argv.count > run.command.count && Array(argv.suffix(run.command.count)) == run.command
    }
}

public enum RunnerProcesses {
    /// Live processes whose name starts with `warden` (runners, and anything else of ours,
    /// which only makes pruning keep more), except this one.
    public static func snapshot() -> [RunnerProcess] {
        guard let boot = bootTimeSeconds(), let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc")
        else { return [] }
        let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
        let me = getpid()
        var out: [RunnerProcess] = []
        for entry in entries {
            guard let pid = Int32(entry), pid != me,
                  let comm = read("/proc/\(pid)/comm"), comm.hasPrefix("warden"),
                  let stat = read("/proc/\(pid)/stat"), let start = startTicks(stat), ticks > 0,
                  !isZombie(stat) else { continue }
            let startNS = boot * 1_000_000_000 + start * (1_000_000_000 / ticks)
            let raw = read("/proc/\(pid)/cmdline")
            let argv = raw.map { text -> [String] in
                var parts = text.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
                if parts.last == "" { parts.removeLast() }
                return parts
            }
            out.append(RunnerProcess(pid: pid, startNS: startNS, argv: argv))
        }
        return out
    }

    /// Field 22 of /proc/PID/stat, counted after the command name, which may hold spaces
    /// and parentheses.
    static func startTicks(_ stat: String) -> Int64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3), so field 22 is at index 19.
        return fields.count > 19 ? Int64(fields[19]) : nil
    }

    /// Dead, not yet reaped: a killed runner's sandbox init can linger like this for as long
    /// as the process that inherited it does not reap it.
    static func isZombie(_ stat: String) -> Bool {
        guard let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    static func bootTimeSeconds() -> Int64? {
        guard let stat = read("/proc/stat") else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Int64(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    private static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        return path.hasSuffix("/comm") ? text.trimmingCharacters(in: .newlines) : text
    }
}
