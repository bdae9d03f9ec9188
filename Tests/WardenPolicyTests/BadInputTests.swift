import Foundation
import XCTest
@testable import WardenPolicy

/// Every kind of bad input is reported at the exact FILE:LINE:COLUMN of the offending node,
/// with a hint, and all of a file's errors come out together.
final class BadInputTests: XCTestCase {
    var ws: TempWorkspace!

    override func setUp() {
        ws = TempWorkspace()
    }

    // XCTest keeps every test case instance until the process ends, so the workspace would
    // otherwise outlive the test and never be removed.
    override func tearDown() {
        ws = nil
    }

    /// Writes profiles/NAME.yaml and loads it by name; returns its path and the errors.
    func load(_ name: String, _ text: String, searchPath: String = TempWorkspace.hostPath)
        -> (String, [Diagnostic]) {
        let path = ws.write("profiles/\(name).yaml", text)
        return (path, loadErrors { try self.ws.loader(searchPath: searchPath).profile(named: name) })
    }

    func testMalformedYAML() {
        let (path, errors) = load("m", "role: x\ntools: [sh, cat\n")
        XCTAssertEqual(errors.count, 1)
        let error = assertDiagnostic(errors, at: "\(path):3:1", "malformed YAML: did not find expected ',' or ']'")
        XCTAssertEqual(error?.hint, "while parsing a flow sequence at line 2, column 8")
    }

    func testDuplicateKeyPointsAtTheRepeat() {
        let (path, errors) = load("d", "role: x\ntools: [cat]\nrole: y\n")
        let error = assertDiagnostic(errors, at: "\(path):3:1", "duplicate key 'role'")
        XCTAssertTrue(error?.hint?.contains("line 1, column 1") ?? false)
    }

    func testEmptyRole() {
        let (path, errors) = load("er", "role: \"\"\n")
        assertDiagnostic(errors, at: "\(path):1:7", "'role' is empty")
        let (other, nullErrors) = load("nr", "role:\ntools: [cat]\n")
        assertDiagnostic(nullErrors, at: "\(other):1:6", "expected a string for 'role', got nothing")
        XCTAssertEqual(nullErrors.count, 1)
    }

    func testEmptyFileAndMissingRole() {
        let (empty, emptyErrors) = load("e", "# nothing here\n")
        assertDiagnostic(emptyErrors, at: "\(empty):1:1", "the file is empty")
        let (path, errors) = load("r", "# a profile without a role\ndescription: x\ntools: [cat]\n")
        let error = assertDiagnostic(errors, at: "\(path):2:1", "missing required key 'role'")
        XCTAssertNotNil(error?.hint)
    }

    func testUnknownKeys() {
        let (path, errors) = load("k", "role: x\ntool: [cat]\noptinal_tools: []\nsyscalls:\n  deny: [ptrace]\n  alow: [ptrace]\nlimits:\n  memroy: 1GiB\n")
        XCTAssertEqual(errors.count, 4)
        XCTAssertEqual(assertDiagnostic(errors, at: "\(path):2:1", "unknown key 'tool' in profile")?.hint,
                       "did you mean 'tools'?")
        XCTAssertEqual(assertDiagnostic(errors, at: "\(path):3:1", "unknown key 'optinal_tools'")?.hint,
                       "did you mean 'optional_tools'?")
        XCTAssertEqual(assertDiagnostic(errors, at: "\(path):6:3", "unknown key 'alow' in syscalls")?.hint,
                       "did you mean 'allow'?")
        XCTAssertEqual(assertDiagnostic(errors, at: "\(path):8:3", "unknown key 'memroy' in limits")?.hint,
                       "did you mean 'memory'?")
        let (other, otherErrors) = load("k2", "role: x\nbananas: 1\n")
        XCTAssertEqual(assertDiagnostic(otherErrors, at: "\(other):2:1", "unknown key 'bananas'")?.hint,
                       "valid keys are: " + ProfileParser.keys.joined(separator: ", "))
    }

    func testWrongTypes() {
        let (path, errors) = load("t", "role: x\ntools: 5\nread: {a: b}\nwrite: [[a]]\nnetwork: maybe\nlimits: 5\ndescription: [a]\nscratch: \"/tmp\"\n")
        assertDiagnostic(errors, at: "\(path):2:8", "expected a list of strings for 'tools', got '5'")
        assertDiagnostic(errors, at: "\(path):3:7", "expected a list of strings for 'read', got a mapping")
        assertDiagnostic(errors, at: "\(path):4:9", "expected a string in 'write', got a list")
        assertDiagnostic(errors, at: "\(path):5:10", "expected off, on or {allow: [ports]} for 'network'")
        assertDiagnostic(errors, at: "\(path):6:9", "expected a mapping for 'limits'")
        assertDiagnostic(errors, at: "\(path):7:14", "expected a string for 'description', got a list")
        assertDiagnostic(errors, at: "\(path):8:10", "expected a list of strings for 'scratch'")
        XCTAssertEqual(errors.count, 7)
    }

    func testUnknownSyscallsAndSets() {
        let (path, errors) = load("s", "role: x\nsyscalls:\n  deny: [ptrace, ptrac, \"@mounts\"]\n  allow: [\"@nope\", 12]\n")
        XCTAssertEqual(assertDiagnostic(errors, at: "\(path):3:18", "unknown syscall 'ptrac'")?.hint,
                       "did you mean 'ptrace'?")
        XCTAssertEqual(assertDiagnostic(errors, at: "\(path):3:25", "unknown syscall set '@mounts'")?.hint,
                       "did you mean '@mount'?")
        XCTAssertTrue(assertDiagnostic(errors, at: "\(path):4:11", "unknown syscall set '@nope'")?.hint?
            .hasPrefix("known sets are: @bpf, @clock") ?? false)
        assertDiagnostic(errors, at: "\(path):4:20", "unknown syscall '12'")
        XCTAssertEqual(errors.count, 4)
    }

    func testExtendsCycle() {
        let a = ws.write("profiles/a.yaml", "role: a\nextends: b\n")
        let b = ws.write("profiles/b.yaml", "role: b\nextends: a\n")
        let errors = loadErrors { try self.ws.loader().profile(named: "a") }
        assertDiagnostic(errors, at: "\(b):2:10", "extends cycle: \(a) -> \(b) -> \(a)")
        let (c, selfErrors) = load("c", "role: c\nextends: ./c.yaml\n")
        assertDiagnostic(selfErrors, at: "\(c):2:10", "extends cycle: \(c) -> \(ws.root)/profiles/./c.yaml")
        // Extending its own name gets the built-in of that name; with none, it is a cycle.
        let (own, ownErrors) = load("own", "role: own\nextends: own\n")
        assertDiagnostic(ownErrors, at: "\(own):2:10", "extends cycle: \(own) -> \(own)")
    }

    func testMissingParent() {
        let (path, errors) = load("p", "role: x\nextends: nosuch\n")
        XCTAssertTrue(assertDiagnostic(errors, at: "\(path):2:10", "unknown profile 'nosuch'")?.hint?
            .hasPrefix("available profiles: base, code, debug, explore, orchestrator, p, test, verify") ?? false)
        let (other, otherErrors) = load("q", "role: x\nextends: ../nowhere/parent.yaml\n")
        let error = assertDiagnostic(otherErrors, at: "\(other):2:10",
                                     "cannot read profile '\(ws.root)/profiles/../nowhere/parent.yaml': no such file")
        XCTAssertEqual(error?.hint, "paths in 'extends' are relative to the file that names them")
    }

    func testUnknownProfileName() throws {
        let loader = try ws.loader()
        let errors = loadErrors { try loader.profile(named: "nosuch") }
        XCTAssertEqual(errors.map(\.description), ["""
            nosuch: error: unknown profile 'nosuch'
              hint: available profiles: base, code, debug, explore, orchestrator, test, verify
            """])
        let missing = loadErrors { try loader.profile(named: "missing/file.yaml") }
        assertDiagnostic(missing, at: "missing/file.yaml:0:0", "cannot read profile 'missing/file.yaml': no such file")
    }

    func testToolsThatDoNotResolve() {
        ws.executable("bin/inside")
        let searchPath = "/usr/bin:/bin"
        let (path, errors) = load("tools", """
            role: x
            tools: [cat, no-such-tool-xyz, /nonexistent/tool, bin/inside, \(ws.root)/bin/inside]
            optional_tools: [also-missing, /also/missing]
            """, searchPath: searchPath)
        XCTAssertEqual(assertDiagnostic(errors, at: "\(path):2:14", "tool 'no-such-tool-xyz' was not found on PATH")?.hint,
                       "searched PATH=/usr/bin:/bin")
        assertDiagnostic(errors, at: "\(path):2:32", "tool '/nonexistent/tool' is not an executable file")
        assertDiagnostic(errors, at: "\(path):2:51", "tool 'bin/inside' is a relative path")
        let inside = assertDiagnostic(errors, at: "\(path):2:63", "tool '\(ws.root)/bin/inside' is inside the workspace")
        XCTAssertTrue(inside?.hint?.contains("noexec") ?? false)
        XCTAssertEqual(errors.count, 4, "missing optional tools are dropped silently")

        let (onPath, pathErrors) = load("tools2", "role: x\ntools: [inside]\n", searchPath: "\(ws.root)/bin:/usr/bin")
        assertDiagnostic(pathErrors, at: "\(onPath):2:9", "tool '\(ws.root)/bin/inside' is inside the workspace")
    }

    func testWriteZones() {
        let (path, errors) = load("w", "role: x\nwrite:\n  - ../x\n  - /etc\n  - a/../../b\n  - Sources/*.swift\n  - \"**/*.swift\"\n  - src/{a,b}\n  - a//b\n  - .\n  - ~/x\n  - ./ok/\n")
        assertDiagnostic(errors, at: "\(path):3:5", "write zone '../x' is outside the workspace")
        assertDiagnostic(errors, at: "\(path):4:5", "write zone '/etc' is outside the workspace")
        assertDiagnostic(errors, at: "\(path):5:5", "write zone 'a/../../b' is outside the workspace")
        let glob = assertDiagnostic(errors, at: "\(path):6:5", "write zone 'Sources/*.swift' is a pattern Landlock cannot express")
        XCTAssertEqual(glob?.hint, PathRules.landlockHint)
        assertDiagnostic(errors, at: "\(path):7:5", "write zone '**/*.swift' is a pattern")
        assertDiagnostic(errors, at: "\(path):8:5", "write zone 'src/{a,b}' is a pattern")
        assertDiagnostic(errors, at: "\(path):9:5", "write zone 'a//b' has an empty path component")
        assertDiagnostic(errors, at: "\(path):10:5", "write zone '.' names no path")
        assertDiagnostic(errors, at: "\(path):11:5", "write zone '~/x' is outside the workspace")
        XCTAssertEqual(errors.count, 9, "./ok/ is fine")
    }

    func testScratchReadAndPorts() {
        let (path, errors) = load("g", "role: x\nscratch: [tmp, /, /var/cache/x/../y]\nread: [~/x, ../x, /etc/../x, \"docs/*.md\"]\nnetwork: {allow: [443, 70000, http, 0]}\n")
        assertDiagnostic(errors, at: "\(path):2:11", "scratch path 'tmp' is not absolute")
        assertDiagnostic(errors, at: "\(path):2:16", "scratch path '/' would hide the whole file system")
        assertDiagnostic(errors, at: "\(path):2:19", "contains '..'")
        assertDiagnostic(errors, at: "\(path):3:8", "'~' is not expanded")
        assertDiagnostic(errors, at: "\(path):3:13", "read path '../x' is outside the workspace")
        assertDiagnostic(errors, at: "\(path):3:19", "read path '/etc/../x' is not normalized")
        assertDiagnostic(errors, at: "\(path):3:30", "read path 'docs/*.md' is a pattern")
        assertDiagnostic(errors, at: "\(path):4:24", "'70000' is not a TCP port number")
        assertDiagnostic(errors, at: "\(path):4:31", "'http' is not a TCP port number")
        assertDiagnostic(errors, at: "\(path):4:37", "'0' is not a TCP port number")
        XCTAssertEqual(errors.count, 10)
        let (inside, insideErrors) = load("g2", "role: x\nscratch: [\(ws.root)/tmp]\n")
        assertDiagnostic(insideErrors, at: "\(inside):2:11", "is inside the workspace")
    }

    func testLimits() {
        let (path, errors) = load("l", "role: x\nlimits:\n  wall: 5 minutes\n  cpu: 0\n  memory: 4GB\n  processes: -1\n  open_files: many\n  file_size: 0KiB\n")
        XCTAssertTrue(assertDiagnostic(errors, at: "\(path):3:9", "invalid duration '5 minutes' for 'wall'")?.hint?
            .contains("1h30m") ?? false)
        assertDiagnostic(errors, at: "\(path):4:8", "limit 'cpu' must be positive, got '0'")
        XCTAssertTrue(assertDiagnostic(errors, at: "\(path):5:11", "invalid size '4GB' for 'memory'")?.hint?
            .contains("GiB") ?? false)
        assertDiagnostic(errors, at: "\(path):6:14", "limit 'processes' must be positive, got '-1'")
        assertDiagnostic(errors, at: "\(path):7:15", "invalid count 'many' for 'open_files'")
        assertDiagnostic(errors, at: "\(path):8:14", "limit 'file_size' must be positive, got '0KiB'")
        XCTAssertEqual(errors.count, 6)
    }

    func testInjectionVariables() {
        let (path, errors) = load("v", "role: x\nenv: [PATH, LD_PRELOAD, GIT_DIR, GLIBC_TUNABLES, BASH_ENV, 1BAD, NODE_OPTIONS, LD_AUDIT]\n")
        for (column, name) in [(13, "LD_PRELOAD"), (25, "GIT_DIR"), (34, "GLIBC_TUNABLES"), (50, "BASH_ENV"),
                               (66, "NODE_OPTIONS"), (80, "LD_AUDIT")] {
            assertDiagnostic(errors, at: "\(path):2:\(column)", "passing '\(name)' through would let the agent inject code")
        }
        assertDiagnostic(errors, at: "\(path):2:60", "'1BAD' is not an environment variable name")
        XCTAssertEqual(errors.count, 7)
    }

    /// Errors in a parent and in its child are reported together, child first, each in
    /// file order.
    func testErrorsAcrossTheChainComeTogether() {
        let parent = ws.write("profiles/parent.yaml", "role: parent\nlimits: {wall: soon}\ntools: [no-such-tool-xyz]\n")
        let child = ws.write("profiles/child.yaml", "extends: parent\nwrite: [/etc]\nenv: [LD_PRELOAD]\n")
        let errors = loadErrors { try self.ws.loader().profile(named: "child") }
        XCTAssertEqual(errors.map(\.location.description), [
            "\(child):1:1", "\(child):2:9", "\(child):3:7", "\(parent):2:16", "\(parent):3:9",
        ])
        XCTAssertEqual(errors[0].message, "missing required key 'role'")
        let error = PolicyError(diagnostics: errors)
        XCTAssertEqual(error.description.components(separatedBy: "\n").filter { $0.contains(": error: ") }.count, 5)
    }

    func testDiagnosticRendering() {
        let location = SourceLocation(file: "profiles/x.yaml", line: 3, column: 7)
        XCTAssertEqual(Diagnostic(.error, at: location, "bad", hint: "fix it").description,
                       "profiles/x.yaml:3:7: error: bad\n  hint: fix it")
        XCTAssertEqual(Diagnostic(.warning, at: location, "meh").description, "profiles/x.yaml:3:7: warning: meh")
    }
}

final class ToolDirectoryTests: XCTestCase {
    func testDirectoryEntryNeedsTrailingSlashAndMustExist() throws {
        let ws = TempWorkspace()
        let missing = ws.write("profiles/a.yaml", "role: a\ntools: [/no/such/dir/]\n")
        XCTAssertThrowsError(try ws.loader().profile(named: missing)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("a.yaml:2:9: error: tool directory '/no/such/dir/' does not exist"), text)
        }
        let plain = ws.write("profiles/b.yaml", "role: b\ntools: [/usr/lib]\n")
        XCTAssertThrowsError(try ws.loader().profile(named: plain))
        let dir = ws.write("profiles/c.yaml", "role: c\ntools: [/usr/lib/]\n")
        XCTAssertEqual(try ws.loader().profile(named: dir).tools.map(\.value), ["/usr/lib/"])
        let warnings = try ws.loader().lint(files: [dir])
        XCTAssertTrue(warnings.contains { $0.severity == .warning && $0.message.contains("every program beneath") }, "\(warnings)")
    }
}
