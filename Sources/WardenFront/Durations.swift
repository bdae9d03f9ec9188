// Durations as people write them, on a command line (`--timeout 10m`) or in a profile
// (`wall: 1h30m`). Here, below the policy model, because the front reads `--timeout` too:
// a standby's key holds the parsed value, so both sides must parse it alike.

/// Seconds in `s`: `90s`, `30m`, `2h`, `1d`, `1h30m`, `1.5s`, `250ms`; a bare number is seconds.
/// Compound durations must list their units largest first, each at most once (`1h30m`, not
/// `30m1h`). Signs, spaces and empty strings are rejected.
public func parseDuration(_ s: String) -> Double? {
    if let bare = parseUnsignedDecimal(Substring(s)) { return bare }
    let units: [(suffix: String, seconds: Double)] = [
        ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1), ("ms", 0.001),
    ]
    var rest = Substring(s)
    var total = 0.0
    var lastRank = -1
    while !rest.isEmpty {
        let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        guard let value = parseUnsignedDecimal(digits) else { return nil }
        rest = rest.dropFirst(digits.count)
        let letters = rest.prefix { $0.isASCII && $0.isLetter }
        guard let rank = units.firstIndex(where: { $0.suffix == letters }), rank > lastRank else {
            return nil
        }
        rest = rest.dropFirst(letters.count)
        total += value * units[rank].seconds
        lastRank = rank
    }
    return lastRank >= 0 ? total : nil
}

/// `12`, `1.5`, `.5`, `5.` — digits with at most one dot; nothing else (no sign, exponent,
/// `inf` or `nan`, which `Double.init` would accept).
public func parseUnsignedDecimal(_ s: Substring) -> Double? {
    guard !s.isEmpty, s != ".",
          s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
          s.filter({ $0 == "." }).count <= 1
    else { return nil }
    return Double(String(s))
}

