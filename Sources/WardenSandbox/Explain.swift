import WardenPolicy

extension LaunchPlan {
    /// What `warden run --explain` prints: every protection, whether it is in force, and the
    /// rules behind it with the profile lines they came from.
    public func explain(showBPF: Bool = false) -> String {
        var out: [String] = []
        let chain = ([profile.file] + profile.chain).joined(separator: " ← ")
        out.append("profile \(profile.role) (\(chain))")
        out.append("command \(executable) \(argv.dropFirst().joined(separator: " "))")
        out.append("workspace \(options.workspace)")
        out.append("")
        func row(_ name: String, _ state: String, _ detail: String) {
            out.append("  \(name.padding(18))\(state.padding(10))\(detail)")
        }
        row("session", "enforced", "new session (setsid); TIOCSTI and TIOCLINUX denied by seccomp")
        for p in protections {
            switch p.state {
            case .enforced: row(p.feature, "enforced", p.detail)
            case let .degraded(reason): row(p.feature, "DEGRADED", "\(reason) (--allow-degraded \(p.feature))")
            case let .missing(reason): row(p.feature, "MISSING", "\(reason): launch refused")
            }
        }
        if !mounts.isEmpty {
            var m = ["workspace noexec,nosuid,nodev"]
            m += scratch.map { "scratch \($0) private tmpfs noexec (size \(scratchSize >> 20) MiB)" }
            if useInit { m.append("fresh /proc for the PID namespace; a minimal init is PID 1") }
            row("mounts", "enforced", m.joined(separator: "; "))
        }
        let limitText = rlimits.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
        row("rlimits", "enforced", limitText)
        if let wall = wallTimeout { row("wall clock", "enforced", "the process tree is killed after \(wall)s") }
        row("environment", "enforced", "passed: \(profile.env.joined(separator: " ")); \(droppedEnvironment.count) other variables dropped")
        row("descriptors", "enforced", "only 0, 1 and 2 are inherited (close_range)")
        row("capabilities", "enforced", "bounding, effective, permitted, ambient cleared; securebits NOROOT locked")
        row("no_new_privs", "enforced", "set before Landlock and seccomp")
        for note in notes { out.append("  note: \(note)") }
        out.append("  " + LandlockAuditState.explainLine(
            supervised: seccomp?.notifies ?? false,
            landlock: LandlockAuditState.current(landlockABI: landlockABI, environment: options.environment)))

        if !pathRules.isEmpty {
            out.append("")
            out.append("landlock rules (ABI \(landlockABI ?? 0); everything not listed is denied):")
            for rule in pathRules where rule.why != "system /etc" {
                out.append("  \(rule.path)  [\(LandlockRights.describe(rule.access))]  \(rule.why)")
            }
            let etc = pathRules.filter { $0.why == "system /etc" }.count
            out.append("  /etc: \(etc) entries readable; shadow, sudoers, ssh, ssl/private and other secrets are not")
            for s in scratch { out.append("  \(s)  [all but execute]  scratch (private tmpfs)") }
        }
        if let program = seccomp {
            out.append("")
            out.append("seccomp (\(program.instructionCount) BPF instructions; other architectures and x32: kill):")
            for rule in program.rules {
                let cond = rule.condition.map { " when \($0)" } ?? ""
                out.append("  \(rule.syscall) → \(rule.action)\(cond)  (\(rule.why))")
            }
            if !profile.allowedBack.isEmpty {
                out.append("  taken back by syscalls.allow: "
                    + profile.allowedBack.map { "\($0.value) (\($0.location))" }.joined(separator: ", "))
            }
        }
        if showBPF, let text = try? SeccompPlan.build(profile: profile, networkOff: profile.network == .off,
                                                      withText: true).1 {
            out.append("")
            out.append(text)
        }
        return out.joined(separator: "\n")
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
