// Re-exported: whoever reads policy also reads durations (parseDuration) and times
// launches (LaunchTiming), which live below the policy model, in the front's library.
@_exported import WardenFront

// Sizes as people write them in profiles (durations: WardenFront/Durations.swift). Strict:
// anything not recognised is nil, so a typo becomes a diagnostic instead of a surprising limit.

/// Bytes in `s`: `4GiB`, `512MiB`, `64KiB`, `1TiB`, `10B`; the short forms `k`/`K`, `M`, `G`,
/// `T` are powers of 1024 as well (a memory limit in powers of 1000 is never what anyone
/// means). A bare number is bytes. Fractions are allowed (`1.5GiB`) and rounded down.
/// Returns nil for anything else, including values that do not fit in 64 bits.
public func parseByteSize(_ s: String) -> UInt64? {
    let multipliers: [String: UInt64] = [
        "": 1, "B": 1,
        "k": 1 << 10, "K": 1 << 10, "KiB": 1 << 10,
        "M": 1 << 20, "MiB": 1 << 20,
        "G": 1 << 30, "GiB": 1 << 30,
        "T": 1 << 40, "TiB": 1 << 40,
    ]
    let digits = Substring(s).prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
    guard let multiplier = multipliers[String(s.dropFirst(digits.count))] else { return nil }
    if !digits.contains("."), let whole = UInt64(digits) {
        let (product, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
    guard let value = parseUnsignedDecimal(digits) else { return nil }
    let bytes = (value * Double(multiplier)).rounded(.down)
    guard bytes < 18_446_744_073_709_551_615.0 else { return nil }
    return UInt64(bytes)
}

/// A duration as a profile would spell it (`30m`, `1h30m`, `90s`, `1.5s`, `250ms`), so a
/// message about a limit shows the value the way the user wrote it; parseDuration reads it back.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds > 0 else { return "0s" }
    if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
    // Swift prints the shortest decimal that reads back as the same Double.
    if seconds != seconds.rounded(.down) { return "\(seconds)s" }
    var rest = Int(seconds)
    var out = ""
    for (suffix, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
        out += "\(rest / size)\(suffix)"
        rest %= size
    }
    return out
}

/// Bytes in the largest binary unit that divides them exactly (`4GiB`, `512MiB`, `1536KiB`),
/// else plain bytes (`1000B`): always a value parseByteSize reads back unchanged.
public func formatByteSize(_ bytes: UInt64) -> String {
    for (suffix, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] as [(String, UInt64)] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 { return "\(bytes >> shift)\(suffix)" }
    }
    return "\(bytes)B"
}
