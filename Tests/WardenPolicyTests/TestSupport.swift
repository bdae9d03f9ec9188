// Temporary workspaces and diagnostic assertions shared by the policy tests.

import Foundation
import XCTest
@testable import WardenPolicy

/// A fresh, symlink-resolved directory that acts as the workspace; removed on deinit.
final class TempWorkspace {
    let root: String

    init() {
        // Not under /tmp: the built-in roles make /tmp a scratch directory, and a workspace
        // inside a scratch path is refused.
        let base = FileManager.default.isWritableFile(atPath: "/var/tmp") ? "/var/tmp" : NSTemporaryDirectory()
        let template = base + "/warden-policy-XXXXXX"
        var buffer = Array(template.utf8CString)
        let made = buffer.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        let path = String(cString: buffer)
        root = FilePaths.realPath(path) ?? path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Writes `text` at the workspace-relative `path`, creating directories; returns the absolute path.
    @discardableResult
    func write(_ path: String, _ text: String) -> String {
        let full = root + "/" + path
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        try! text.write(toFile: full, atomically: true, encoding: .utf8)
        return full
    }

    /// An executable script at `path` (absolute path returned).
    @discardableResult
    func executable(_ path: String) -> String {
        let full = write(path, "#!/bin/sh\nexit 0\n")
        chmod(full, 0o755)
        return full
    }

    func loader(searchPath: String = TempWorkspace.hostPath) throws -> PolicyLoader {
        try PolicyLoader(environment: PolicyEnvironment(workspace: root, searchPath: searchPath))
    }

    static var hostPath: String {
        ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    }
}

/// The diagnostics a failing load produced; a failure when it did not fail.
func loadErrors(_ load: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> [Diagnostic] {
    do {
        _ = try load()
        XCTFail("expected a PolicyError", file: file, line: line)
        return []
    } catch let error as PolicyError {
        return error.diagnostics
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
        return []
    }
}

/// Asserts one diagnostic sits at `place` (`FILE:LINE:COLUMN`) with `severity` and a message
/// containing `message`; returns it for further checks.
@discardableResult
func assertDiagnostic(_ diagnostics: [Diagnostic], _ severity: Severity = .error, at place: String,
                      _ message: String, file: StaticString = #filePath, line: UInt = #line) -> Diagnostic? {
    let match = diagnostics.first {
        $0.severity == severity && $0.location.description == place && $0.message.contains(message)
    }
    if match == nil {
        XCTFail("no \(severity) at \(place) containing \"\(message)\" in:\n"
                + diagnostics.map(\.description).joined(separator: "\n"), file: file, line: line)
    }
    return match
}

/// The repository root, found from this file's location.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()
