// Reads policy YAML as a node tree rather than decoding it, because every value must keep
// the line and column it came from, and because type errors must be reported (all of them)
// at the offending node instead of failing the whole decode.

import Foundation
import Yams

/// One YAML document and the name its diagnostics use.
struct YAMLFile {
    let name: String
    let root: Node?
    /// True when the text did not parse (already reported); an empty file parses to no root.
    let malformed: Bool

    /// Parses `text`; a syntax error becomes a diagnostic and a nil root.
    init(name: String, text: String, log: inout DiagnosticLog) {
        self.name = name
        do {
            root = try Yams.compose(yaml: text)
            malformed = false
        } catch let error as YamlError {
            root = nil
            malformed = true
            Self.report(error, file: name, text: text, log: &log)
        } catch {
            root = nil
            malformed = true
            log.error(SourceLocation(file: name, line: 1, column: 1), "malformed YAML: \(error)")
        }
    }

    func location(_ node: Node?) -> SourceLocation {
        location(node?.mark)
    }

    func location(_ mark: Mark?) -> SourceLocation {
        SourceLocation(file: name, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    /// The top-level mapping, or nil after reporting why there is none.
    func topMapping(what: String, log: inout DiagnosticLog) -> Node.Mapping? {
        if malformed { return nil }
        guard let root else {
            log.error(location(nil as Mark?), "the file is empty", hint: "a \(what) is a YAML mapping")
            return nil
        }
        guard let mapping = root.mapping else {
            log.error(location(root), "expected a mapping at the top of the file, got \(Self.kind(root))",
                      hint: "a \(what) is a YAML mapping of keys to values")
            return nil
        }
        return mapping
    }

    /// The entries of `mapping` whose keys are in `allowed`; every other key is an error
    /// with a spelling suggestion.
    func knownEntries(of mapping: Node.Mapping, allowed: [String], in context: String,
                      log: inout DiagnosticLog) -> [(key: String, keyNode: Node, value: Node)] {
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string, !Self.isNull(keyNode) else {
                log.error(location(keyNode), "expected a key name in \(context), got \(Self.kind(keyNode))")
                continue
            }
            if allowed.contains(key) {
                entries.append((key, keyNode, value))
            } else {
                log.error(location(keyNode), "unknown key '\(key)' in \(context)",
                          hint: suggestion(for: key, among: allowed, listing: "valid keys are"))
            }
        }
        return entries
    }

    /// The mapping under `key`; nil for null (the key given with nothing after it) and, after
    /// reporting it, for anything else that is not a mapping.
    func mapping(_ node: Node, for key: String, what: String = "a mapping", example: String,
                 log: inout DiagnosticLog) -> Node.Mapping? {
        if Self.isNull(node) { return nil }
        guard let mapping = node.mapping else {
            log.error(location(node), "expected \(what) for '\(key)', got \(Self.kind(node))", hint: "write \(example)")
            return nil
        }
        return mapping
    }

    /// A string scalar. YAML would type `true`, `on` or `5` as bool or int, but a tool called
    /// `true` or an env var called `ON` is still a string, so only null is refused.
    func string(_ node: Node, for key: String, log: inout DiagnosticLog) -> Located<String>? {
        guard let scalar = node.scalar, !Self.isNull(node) else {
            log.error(location(node), "expected a string for '\(key)', got \(Self.kind(node))")
            return nil
        }
        return Located(scalar.string, at: location(node))
    }

    /// A list of strings; null (`write:` with nothing after it) is the empty list.
    func stringList(_ node: Node, for key: String, log: inout DiagnosticLog) -> [Located<String>] {
        if Self.isNull(node) { return [] }
        guard let sequence = node.sequence else {
            log.error(location(node), "expected a list of strings for '\(key)', got \(Self.kind(node))",
                      hint: "write it as \(key): [a, b] or as one '- item' per line")
            return []
        }
        var result: [Located<String>] = []
        for item in sequence {
            guard let scalar = item.scalar, !Self.isNull(item) else {
                log.error(location(item), "expected a string in '\(key)', got \(Self.kind(item))")
                continue
            }
            result.append(Located(scalar.string, at: location(item)))
        }
        return result
    }

    static func isNull(_ node: Node) -> Bool {
        guard let scalar = node.scalar, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// How a node reads in an error message.
    static func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull(node) { return "nothing" }
            return "'\(scalar.string)'"
        }
    }

    private static func report(_ error: YamlError, file: String, text: String, log: inout DiagnosticLog) {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file, line: mark.line, column: mark.column)
        }
        func hint(_ context: YamlError.Context?) -> String? {
            context.map { "\($0.text) at line \($0.mark.line), column \($0.mark.column)" }
        }
        switch error {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            log.error(at(mark), "malformed YAML: \(problem)", hint: hint(context))
        case let .reader(problem, offset, _, _):
            log.error(location(ofCharacterOffset: offset ?? 0, in: text, file: file),
                      "malformed YAML: \(problem)", hint: "policy files must be UTF-8 text")
        case let .duplicatedKeysInMapping(duplicates, context):
            let key = duplicates.first ?? ""
            let first = context.mark
            let repeated = repeatedKey(key, after: first, in: text)
            log.error(repeated.map { SourceLocation(file: file, line: $0.line, column: $0.column) } ?? at(first),
                      "duplicate key '\(key)'",
                      hint: "'\(key)' is already set at line \(first.line), column \(first.column); each key may appear once in a mapping")
        default:
            log.error(SourceLocation(file: file, line: 1, column: 1), "malformed YAML: \(error)")
        }
    }

    /// Yams reports where a duplicated key first appears; the mistake is the second one.
    /// In block style it is the next line that starts with the key at the same column.
    private static func repeatedKey(_ key: String, after mark: Mark, in text: String) -> (line: Int, column: Int)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line <= lines.count else { return nil }
        for (index, line) in lines.enumerated().dropFirst(mark.line) {
            let characters = Array(line)
            guard characters.count >= mark.column - 1 + key.count else { continue }
            let indent = characters.prefix(mark.column - 1)
            if !indent.allSatisfy({ $0 == " " || $0 == "-" }) { continue }
            let rest = String(characters.dropFirst(mark.column - 1))
            for form in [key, "\"\(key)\"", "'\(key)'"] where rest.hasPrefix(form) {
                if rest.dropFirst(form.count).drop(while: { $0 == " " }).hasPrefix(":") {
                    return (index + 1, mark.column)
                }
            }
        }
        return nil
    }

    private static func location(ofCharacterOffset offset: Int, in text: String, file: String) -> SourceLocation {
        var line = 1, column = 1
        for character in text.prefix(offset) {
            if character == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return SourceLocation(file: file, line: line, column: column)
    }
}
