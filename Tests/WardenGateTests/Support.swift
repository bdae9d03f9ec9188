// Workspaces, upper directories and zones for the gate tests. Everything runs against the real
// filesystem: the gate's guarantees are about renames, fsyncs and what the kernel lets it open.

import Foundation
import Glibc
@testable import WardenGate
import WardenPolicy

/// A temporary workspace (with Sources/ and Tests/) and an upper directory beside it, under
/// /var/tmp: the built-in profiles make /tmp a scratch path, and refuse a workspace inside it.
final class GateFixture {
    let base: String
    var workspace: String { base + "/ws" }
    var upper: String { base + "/upper" }

    init() {
        var template = Array("/var/tmp/warden-gate-XXXXXX".utf8CString)
        base = String(cString: mkdtemp(&template)!)
        for dir in ["ws/Sources", "ws/Tests", "upper"] { mkdirs(base + "/" + dir) }
        put(workspace + "/Sources/main.swift", "main v0\n")
        put(workspace + "/Tests/t.swift", "test v0\n")
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    func gate() throws -> Gate { try Gate(workspace: workspace) }

    /// Writes `text` at `rel` in the upper directory (parents created).
    func agentWrites(_ rel: String, _ text: String) { put(upper + "/" + rel, text) }

    func read(_ rel: String) -> String? { try? String(contentsOfFile: workspace + "/" + rel, encoding: .utf8) }

    func scan(base version: Int64 = 0, limits: GateLimits = GateLimits()) throws -> Changeset {
        try ChangesetScanner.scan(upper: upper, base: version, limits: limits)
    }

    /// A fresh, empty upper directory for the next agent.
    func resetUpper() {
        try? FileManager.default.removeItem(atPath: upper)
        mkdirs(upper)
    }

    /// Every file under the workspace (but .warden) with its content: for all-or-nothing checks.
    func snapshot() -> [String: String] {
        var result: [String: String] = [:]
        let e = FileManager.default.enumerator(atPath: workspace)
        while let rel = e?.nextObject() as? String {
            if rel.hasPrefix(".warden") { continue }
            var st = stat()
            lstat(workspace + "/" + rel, &st)
            if st.st_mode & S_IFMT == S_IFREG { result[rel] = read(rel) ?? "?" }
            if st.st_mode & S_IFMT == S_IFLNK {
                result[rel] = "-> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: workspace + "/" + rel)) ?? "?")
            }
        }
        return result
    }
}

func mkdirs(_ path: String) { try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }

func put(_ path: String, _ text: String) {
    mkdirs((path as NSString).deletingLastPathComponent)
    try! text.write(toFile: path, atomically: false, encoding: .utf8)
}

func zone(_ pattern: String) -> WriteZone {
    let recursive = pattern == "**" || pattern.hasSuffix("/**")
    let path = pattern == "**" ? "" : (recursive ? String(pattern.dropLast(3)) : pattern)
    return WriteZone(pattern: pattern, path: path, recursive: recursive, location: SourceLocation(file: "test.yaml", line: 1, column: 1))
}

func validator(_ role: String = "code", _ zones: [String] = ["Sources/**"], ownership: [String: String] = [:],
               limits: GateLimits = GateLimits()) -> GateValidator {
    GateValidator(role: role, zones: zones.map(zone),
                  ownership: ownership.sorted { $0.key < $1.key }.map { OwnershipZone(zone: zone($0.key), owner: $0.value) },
                  limits: limits)
}

/// A version index held in memory, for validator tests that need a history.
struct MemoryIndex: VersionIndex {
    var last: [String: CommitRef] = [:]
    func lastChange(_ path: String) throws -> CommitRef? { last[path] }
    func lastChange(beneath dir: String) throws -> CommitRef? {
        last.filter { GatePath.isInside($0.key, dir) }.values.max { $0.seq < $1.seq }
    }
}

/// A binary `swift test` built next to the tests.
func builtBinary(_ name: String) -> String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    for d in [dir, root + "/.build/debug"] where access(d + "/" + name, X_OK) == 0 { return d + "/" + name }
    return dir + "/" + name
}
