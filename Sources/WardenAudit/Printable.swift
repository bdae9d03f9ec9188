// Text an agent chose (paths, targets, messages) on its way to a person's terminal.

/// Targets and messages come from the agent: escape anything a terminal would act on (C0
/// and C1 controls, DEL, line separators), so viewing the audit cannot be turned into an
/// escape-sequence injection or a forged extra line.
public func printable(_ s: String) -> String {
    var out = ""
    for scalar in s.unicodeScalars {
        let v = scalar.value
        if v < 0x20 || (0x7f...0x9f).contains(v) || v == 0x2028 || v == 0x2029 {
            out += v <= 0xff ? "\\x" + (v < 0x10 ? "0" : "") + String(v, radix: 16) : "\\u{" + String(v, radix: 16) + "}"
        } else if scalar == "\\" {
            out += "\\\\"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}
