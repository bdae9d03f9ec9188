// `warden audit --json`: one object per line with a fixed key order, built by hand so the
// order is stable across Foundation versions and a line can be produced without an encoder
// per event. Targets are whatever an agent passed to a syscall, so the escaper has to make
// any string valid JSON.

public enum AuditJSON {
    /// One event as a single line (no trailing newline). Keys, in order: time_ns, time, run,
    /// role, profile, pid, kind, target, decision, rule, message, suggestion (null when none).
    public static func line(_ event: AuditEvent) -> String {
        var out = "{\"time_ns\":\(event.timeNS)"
        out += ",\"time\":" + string(AuditTime.iso(event.timeNS, fractionDigits: 9))
        out += ",\"run\":\(event.runID)"
        out += ",\"role\":" + string(event.role)
        out += ",\"profile\":" + string(event.profileFile)
        out += ",\"pid\":\(event.pid)"
        out += ",\"kind\":" + string(event.kind.rawValue)
        out += ",\"target\":" + string(event.target)
        out += ",\"decision\":" + string(event.decision.rawValue)
        out += ",\"rule\":" + string(event.rule)
        out += ",\"message\":" + string(event.message)
        out += ",\"suggestion\":" + (event.suggestion.map(string) ?? "null")
        return out + "}"
    }

    /// One run as a single line. Keys: run, command, role, profile, workspace, start_ns,
    /// start, end_ns, exit_status, audit_complete, degraded, denied (by kind), allowed, lost;
    /// the end fields are null for a run that is live or whose runner was killed.
    public static func line(_ run: AuditRun) -> String {
        func opt<T>(_ v: T?, _ f: (T) -> String) -> String { v.map(f) ?? "null" }
        var out = "{\"run\":\(run.id)"
        out += ",\"command\":" + array(run.command)
        out += ",\"role\":" + string(run.role)
        out += ",\"profile\":" + string(run.profileFile)
        out += ",\"workspace\":" + string(run.workspace)
        out += ",\"start_ns\":\(run.startNS)"
        out += ",\"start\":" + string(AuditTime.iso(run.startNS, fractionDigits: 9))
        out += ",\"end_ns\":" + opt(run.endNS) { String($0) }
        out += ",\"exit_status\":" + opt(run.exitStatus) { String($0) }
        out += ",\"audit_complete\":" + opt(run.auditComplete) { $0 ? "true" : "false" }
        out += ",\"degraded\":" + array(run.degraded)
        out += ",\"denied\":" + opt(run.counts) { counts in
            "{" + AuditKind.allCases.compactMap { k in counts.denied[k].map { string(k.rawValue) + ":\($0)" } }
                .joined(separator: ",") + "}"
        }
        out += ",\"allowed\":" + opt(run.counts) { String($0.allowed) }
        out += ",\"lost\":" + opt(run.counts) { String($0.lost) }
        return out + "}"
    }

    static func array(_ strings: [String]) -> String {
        // Appended in a loop: the generic join's first use costs each launch (whose audit
        // row stores the command line this way) a tenth of a millisecond.
        var out = "["
        for (i, s) in strings.enumerated() {
            if i > 0 { out += "," }
            out += string(s)
        }
        return out + "]"
    }

    /// A JSON string literal. Control characters (and DEL) become \u escapes, as do U+2028
    /// and U+2029, which are valid JSON but end a line in JavaScript and some log viewers:
    /// one record must never print as two lines. Swift strings hold only valid Unicode
    /// (bytes that were invalid UTF-8 became U+FFFD when they were decoded), so every
    /// other scalar is copied as is.
    public static func string(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                let v = scalar.value
                if v < 0x20 || v == 0x7f || v == 0x2028 || v == 0x2029 {
                    let hex = String(v, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
