// Shared fixtures for the audit store tests: temporary stores, event factories, and the
// warden-audit-stress helper run as a real separate process.

import Foundation
import Glibc
import GRDB
import Testing
@testable import WardenAudit

/// A fresh directory under /tmp, removed when the test process exits. Not on release of
/// the value: Swift may end a local's lifetime at its last use, which would delete the
/// directory under a store that is still open (or under a mounted tmpfs).
struct TempDir {
    let path: String

    init(_ label: String = "audit") {
        var template = Array("/tmp/warden-\(label)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { fatalError("mkdtemp: \(String(cString: strerror(errno)))") }
        path = String(cString: p)
        TempDir.created.mutate { $0.append(path) }
        _ = TempDir.cleanupAtExit
    }

    func file(_ name: String) -> String { path + "/" + name }

    private static let created = Locked<[String]>([])
    private static let cleanupAtExit: Void = {
        atexit {
            for path in TempDir.created.value { try? FileManager.default.removeItem(atPath: path) }
        }
    }()
}

/// An event with every field set to something distinguishable; tests override what they filter on.
func event(run: Int64 = 1, time: Int64 = 1_700_000_000_000_000_000, role: String = "code",
           profile: String = "profiles/code.yaml", pid: Int32 = 4242, kind: AuditKind = .write,
           target: String = "/ws/src/a.c", decision: AuditDecision = .denied,
           rule: String = "profiles/code.yaml:12 write", message: String = "not in a write zone",
           suggestion: String? = "add \"src/**\" to write in profiles/code.yaml:12") -> AuditEvent {
    AuditEvent(timeNS: time, runID: run, role: role, profileFile: profile, pid: pid, kind: kind, target: target,
               decision: decision, rule: rule, message: message, suggestion: suggestion)
}

func count(_ store: AuditStore, _ sql: String = "SELECT count(*) FROM events") throws -> Int {
    try store.read("test count") { db in try Int.fetchOne(db, sql: sql) ?? -1 }
}

/// Percentile of already-sorted values.
func percentile(_ sorted: [Int64], _ p: Double) -> Int64 {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

// MARK: The helper process

enum StressHelper {
    static let path = builtBinary("warden-audit-stress")
}

/// A binary `swift test` built next to the test bundle.
func builtBinary(_ name: String) -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path,
        root + "/.build-audit/debug", root + "/.build/debug",
    ]
    for dir in candidates where access(dir + "/" + name, X_OK) == 0 { return dir + "/" + name }
    return candidates[0] + "/" + name
}

/// A running child (the stress helper, or warden) whose stdout is read line by line as it
/// arrives.
final class HelperProcess {
    let pid: pid_t
    private let stdoutFD: Int32
    private var buffer: [UInt8] = []
    private(set) var lines: [String] = []
    private(set) var status: Int32?
    private(set) var stderrText = ""
    private let stderrFD: Int32

    init(_ args: [String], executable: String = StressHelper.path) throws {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        posix_spawn_file_actions_addclose(&actions, outPipe[0])
        posix_spawn_file_actions_addclose(&actions, errPipe[0])
        let argv = ([executable] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, nil, argv, environ)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw HelperError("spawn \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
        stdoutFD = outPipe[0]
        stderrFD = errPipe[0]
    }

    deinit {
        if status == nil { kill(pid, SIGKILL); _ = wait() }
        close(stdoutFD)
        close(stderrFD)
    }

    /// Blocks for the next stdout line; nil at end of output.
    func nextLine() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                lines.append(line)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(stdoutFD, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            buffer += chunk[..<n]
        }
    }

    /// Reads the rest of the output and reaps the process; returns its exit status
    /// (128+N for signal N).
    @discardableResult
    func wait() -> Int32 {
        while nextLine() != nil {}
        var chunk = [UInt8](repeating: 0, count: 4096)
        var err: [UInt8] = []
        while true {
            let n = read(stderrFD, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            err += chunk[..<n]
        }
        stderrText = String(decoding: err, as: UTF8.self)
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        status = code
        return code
    }
}

struct HelperError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A value shared across threads (the writer thread's callback, the exit handler).
final class Locked<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()
    init(_ value: Value) { stored = value }
    var value: Value { lock.lock(); defer { lock.unlock() }; return stored }
    func mutate(_ f: (inout Value) -> Void) { lock.lock(); f(&stored); lock.unlock() }
}
