// Everything the policy layer reports goes through `Diagnostic`, so the CLI can print
// compiler-style messages that editors and terminals turn into clickable locations.

public enum Severity: String, Sendable {
    case error, warning, note
}

public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public var severity: Severity
    public var location: SourceLocation
    public var message: String
    public var hint: String?

    public init(_ severity: Severity, at location: SourceLocation, _ message: String, hint: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.hint = hint
    }

    /// `FILE:LINE:COLUMN: error: message`, then `  hint: ...` on its own line. A location with
    /// line 0 has no place in a file (an unknown profile name, an unreadable file) and renders
    /// as `FILE: error: ...`.
    public var description: String {
        let place = location.line > 0 ? location.description : location.file
        var text = "\(place): \(severity.rawValue): \(message)"
        if let hint { text += "\n  hint: \(hint)" }
        return text
    }
}

public struct PolicyError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}

public struct PolicyEnvironment: Sendable {
    /// Absolute, symlink-resolved workspace root.
    public var workspace: String
    /// PATH used to resolve bare tool names.
    public var searchPath: String

    public init(workspace: String, searchPath: String) {
        self.workspace = workspace
        self.searchPath = searchPath
    }
}

/// Collects diagnostics in the order they are found, so that one run reports every problem
/// in a file rather than stopping at the first.
struct DiagnosticLog {
    private(set) var all: [Diagnostic] = []

    var errors: [Diagnostic] { all.filter { $0.severity == .error } }
    var hasErrors: Bool { all.contains { $0.severity == .error } }

    mutating func error(_ location: SourceLocation, _ message: String, hint: String? = nil) {
        all.append(Diagnostic(.error, at: location, message, hint: hint))
    }

    mutating func warning(_ location: SourceLocation, _ message: String, hint: String? = nil) {
        all.append(Diagnostic(.warning, at: location, message, hint: hint))
    }

    mutating func note(_ location: SourceLocation, _ message: String, hint: String? = nil) {
        all.append(Diagnostic(.note, at: location, message, hint: hint))
    }

    mutating func append(contentsOf other: [Diagnostic]) {
        all.append(contentsOf: other)
    }

    /// Puts the diagnostics logged since `start` in file order (files in the order they were
    /// first reported; stable), because checks run key by key but a reader goes top to bottom.
    mutating func sortByPosition(from start: Int) {
        var fileRank: [String: Int] = [:]
        for diagnostic in all[start...] where fileRank[diagnostic.location.file] == nil {
            fileRank[diagnostic.location.file] = fileRank.count
        }
        let tail = all[start...].enumerated().sorted { a, b in
            let (l, r) = (a.element.location, b.element.location)
            return (fileRank[l.file]!, l.line, l.column, a.offset) < (fileRank[r.file]!, r.line, r.column, b.offset)
        }
        all.replaceSubrange(start..., with: tail.map(\.element))
    }
}

extension Array where Element: Hashable {
    /// Keeps the first occurrence of each element: the merge rule for every list in a profile.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }

    func uniqued<Key: Hashable>(by key: (Element) -> Key) -> [Element] {
        var seen = Set<Key>()
        return filter { seen.insert(key($0)).inserted }
    }
}

/// Optimal-string-alignment distance: a swapped pair of letters counts as one edit, which is
/// the typo people actually make in keys (`wirte`).
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased()), b = Array(b.lowercased())
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = Swift.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                d[i][j] = Swift.min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}

/// The candidate a misspelling most likely meant, or nil when nothing is close enough to
/// be a useful guess.
func closestMatch(to word: String, in candidates: [String]) -> String? {
    let limit = Swift.max(1, Swift.min(3, word.count / 3))
    let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= limit }
    return scored.min { $0.1 < $1.1 }?.0
}

/// "did you mean 'tools'?" when there is a close candidate, otherwise the full list.
func suggestion(for word: String, among candidates: [String], listing what: String) -> String {
    if let match = closestMatch(to: word, in: candidates) {
        return "did you mean '\(match)'?"
    }
    return "\(what): \(candidates.joined(separator: ", "))"
}
