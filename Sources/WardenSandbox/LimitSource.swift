import WardenPolicy

/// Where a limit the run hit was set: the audit's rule for the limit event, and what its fix
/// has to name.
public struct LimitSource: Sendable, Equatable {
    /// The key under `limits:` (`wall`, `memory`, `processes`); nil when `--timeout` was the
    /// wall clock in force.
    public var key: String?
    /// The value in force as a profile spells it (`30m`, `4GiB`, `256`).
    public var current: String?
    /// `FILE:LINE` of the key; the profile's file when the key has no recorded line.
    public var at: String
    /// `profiles/code.yaml:30 limits.memory`, or `--timeout 10s`.
    public var rule: String
}

extension LaunchPlan {
    public func limitSource(_ key: String) -> LimitSource {
        let limits = profile.limits
        if key == "wall", let flag = options.timeout, flag <= (limits.wall ?? .infinity) {
            let text = formatDuration(flag)
            return LimitSource(key: nil, current: text, at: "the command line", rule: "--timeout \(text)")
        }
        let current: String?
        switch key {
        case "wall": current = limits.wall.map(formatDuration)
        case "cpu": current = limits.cpu.map(formatDuration)
        case "memory": current = limits.memory.map(formatByteSize)
        case "file_size": current = limits.fileSize.map(formatByteSize)
        case "processes": current = limits.processes.map(String.init)
        case "open_files": current = limits.openFiles.map(String.init)
        default: current = nil
        }
        let at = limits.locations[key].map { "\($0.file):\($0.line)" } ?? profile.file
        return LimitSource(key: key, current: current, at: at, rule: "\(at) limits.\(key)")
    }
}
