// `--since` parsing and ISO-8601 formatting, by hand: the accepted forms are few and exact,
// and a date formatter's locale and leniency rules would accept things we would then have to
// explain (two-digit years, times without a zone silently read as local time).

public enum AuditTime {
    static let nanosPerSecond: Int64 = 1_000_000_000

    static let range = "outside the range of a nanosecond timestamp (1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z)"

    static let usage = """
        use a duration (90s, 10m, 2h, 1d, 1h30m) or a UTC time (2026-11-23, \
        2026-11-23T10:00:00Z, 2026-11-23T10:00:00+02:00)
        """

    /// The start of the `--since` window in CLOCK_REALTIME nanoseconds.
    ///
    /// Accepted: a duration back from `now` made of `<digits><unit>` groups, units `s` `m`
    /// `h` `d` (`90s`, `10m`, `1h30m`); a date `YYYY-MM-DD` (midnight UTC); or a time
    /// `YYYY-MM-DDTHH:MM[:SS[.fraction]]` (`t` or a space for `T`, as RFC 3339 allows)
    /// followed by `Z` or an offset `±HH:MM`. A time without a zone is refused rather than
    /// guessed: the store is read on machines in other time zones than the one that wrote it.
    public static func parseSince(_ text: String, now: Int64 = AuditClock.now()) throws -> Int64 {
        let s = Array(text.utf8)
        guard !s.isEmpty else { throw AuditError.badTime(input: text, reason: "empty; " + usage) }
        if s.count >= 5, s[0..<4].allSatisfy(isDigit), s[4] == UInt8(ascii: "-") {
            return try parseTime(text)
        }
        let span = try parseDuration(text)
        let (start, overflow) = now.subtractingReportingOverflow(span)
        if overflow { throw AuditError.badTime(input: text, reason: "the duration reaches before 1677") }
        return start
    }

    /// A duration in nanoseconds: one or more `<digits><unit>` groups.
    public static func parseDuration(_ text: String) throws -> Int64 {
        let s = Array(text.utf8)
        var i = 0
        var total: Int64 = 0
        guard !s.isEmpty else { throw AuditError.badTime(input: text, reason: "empty; " + usage) }
        while i < s.count {
            let digitsStart = i
            while i < s.count, isDigit(s[i]) { i += 1 }
            guard i > digitsStart else {
                let what = String(decoding: s[i...i], as: UTF8.self)
                throw AuditError.badTime(input: text, reason: "expected a number at '\(what)'; " + usage)
            }
            guard let value = Int64(String(decoding: s[digitsStart..<i], as: UTF8.self)) else {
                throw AuditError.badTime(input: text, reason: "number too large")
            }
            guard i < s.count else {
                throw AuditError.badTime(input: text, reason: "missing unit after \(value): write \(value)s, \(value)m, \(value)h or \(value)d")
            }
            // The whole run of letters is the unit, so `10min` is refused rather than read
            // as 10m followed by garbage.
            let unitStart = i
            while i < s.count, !isDigit(s[i]) { i += 1 }
            let unit = String(decoding: s[unitStart..<i], as: UTF8.self)
            let unitSeconds: Int64
            switch unit {
            case "s": unitSeconds = 1
            case "m": unitSeconds = 60
            case "h": unitSeconds = 3600
            case "d": unitSeconds = 86400
            default:
                throw AuditError.badTime(input: text, reason: "unknown unit '\(unit)' (units: s, m, h, d); " + usage)
            }
            let (a, o1) = value.multipliedReportingOverflow(by: unitSeconds * nanosPerSecond)
            let (b, o2) = total.addingReportingOverflow(a)
            if o1 || o2 { throw AuditError.badTime(input: text, reason: "the duration reaches before 1677") }
            total = b
        }
        return total
    }

    /// `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z` or `±HH:MM`.
    public static func parseTime(_ text: String) throws -> Int64 {
        let s = Array(text.utf8)
        var i = 0
        func fail(_ reason: String) -> AuditError { .badTime(input: text, reason: reason) }
        func number(_ width: Int, _ what: String) throws -> Int64 {
            guard i + width <= s.count, s[i..<i + width].allSatisfy(isDigit) else {
                throw fail("expected \(width) digits for the \(what) at position \(i + 1); " + usage)
            }
            let v = s[i..<i + width].reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
            i += width
            return v
        }
        func expect(_ c: Character, _ what: String) throws {
            guard i < s.count, s[i] == c.asciiValue! else {
                throw fail("expected '\(c)' \(what) at position \(i + 1); " + usage)
            }
            i += 1
        }
        let year = try number(4, "year")
        try expect("-", "after the year")
        let month = try number(2, "month")
        try expect("-", "after the month")
        let day = try number(2, "day")
        guard (1...12).contains(month) else { throw fail("month \(month) is not 1-12") }
        let maxDay = daysIn(month: month, year: year)
        guard (1...maxDay).contains(day) else { throw fail("day \(day) is not 1-\(maxDay) for that month") }
        guard (1677...2262).contains(year) else { throw fail("year \(year) is outside 1677-2262") }
        var seconds = daysFromCivil(year: year, month: month, day: day) * 86400
        var nanos: Int64 = 0
        if i == s.count { return seconds * nanosPerSecond }

        guard s[i] == UInt8(ascii: "T") || s[i] == UInt8(ascii: "t") || s[i] == UInt8(ascii: " ") else {
            throw fail("expected 'T' between date and time at position \(i + 1); " + usage)
        }
        i += 1
        let hour = try number(2, "hour")
        try expect(":", "after the hour")
        let minute = try number(2, "minute")
        var second: Int64 = 0
        if i < s.count, s[i] == UInt8(ascii: ":") {
            i += 1
            second = try number(2, "second")
            if i < s.count, s[i] == UInt8(ascii: ".") || s[i] == UInt8(ascii: ",") {
                i += 1
                let start = i
                while i < s.count, isDigit(s[i]) { i += 1 }
                guard i > start else { throw fail("expected digits after the decimal point at position \(i + 1)") }
                // Nanosecond resolution; further digits cannot matter to a stored time_ns.
                for (k, d) in s[start..<min(i, start + 9)].enumerated() {
                    nanos += Int64(d - UInt8(ascii: "0")) * pow10(8 - k)
                }
            }
        }
        guard hour < 24 else { throw fail("hour \(hour) is not 0-23") }
        guard minute < 60 else { throw fail("minute \(minute) is not 0-59") }
        guard second < 60 else { throw fail("second \(second) is not 0-59") }
        seconds += hour * 3600 + minute * 60 + second

        guard i < s.count else {
            throw fail("no time zone: add Z for UTC (\(text)Z) or an offset such as +02:00")
        }
        switch s[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = s[i] == UInt8(ascii: "+") ? 1 : -1
            i += 1
            let oh = try number(2, "offset hours")
            try expect(":", "in the offset")
            let om = try number(2, "offset minutes")
            guard oh <= 23, om <= 59 else { throw fail("offset \(oh):\(om) is out of range") }
            // 10:00+02:00 is 08:00Z: subtract the offset.
            seconds -= sign * (oh * 3600 + om * 60)
        default:
            throw fail("expected Z or an offset such as +02:00 at position \(i + 1)")
        }
        guard i == s.count else {
            throw fail("unexpected '\(String(decoding: s[i...], as: UTF8.self))' after the time zone")
        }
        // Borrow a second for negative times so Int64.min itself stays representable.
        let borrow: Int64 = seconds < 0 && nanos > 0 ? 1 : 0
        let (ns, o1) = (seconds + borrow).multipliedReportingOverflow(by: nanosPerSecond)
        let (total, o2) = ns.addingReportingOverflow(nanos - borrow * nanosPerSecond)
        guard !o1, !o2 else { throw fail(Self.range) }
        return total
    }

    /// `2026-11-23T10:00:00.123Z`: UTC, with `fractionDigits` (0-9) of the second.
    public static func iso(_ ns: Int64, fractionDigits: Int = 3) -> String {
        // No secs * 1e9 here: for times near Int64.min it overflows, and a stored time_ns is
        // whatever the row holds.
        let secs = floorDiv(ns, nanosPerSecond)
        var frac = ns % nanosPerSecond
        if frac < 0 { frac += nanosPerSecond }
        let days = floorDiv(secs, 86400)
        let rem = secs - days * 86400
        let (y, m, d) = civilFromDays(days)
        var out = pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T"
        out += pad(rem / 3600, 2) + ":" + pad(rem / 60 % 60, 2) + ":" + pad(rem % 60, 2)
        let digits = max(0, min(9, fractionDigits))
        if digits > 0 { out += "." + pad(frac / pow10(9 - digits), digits) }
        return out + "Z"
    }

    // MARK: Calendar arithmetic (proleptic Gregorian, after H. Hinnant's public-domain algorithms)

    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719468
        let era = floorDiv(z, 146097)
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func pow10(_ n: Int) -> Int64 { (0..<n).reduce(Int64(1)) { r, _ in r * 10 } }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}
