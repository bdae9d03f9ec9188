import Foundation
import XCTest
@testable import WardenPolicy

final class LintTests: XCTestCase {
    func testWarningsDoNotStopLoading() throws {
        let ws = TempWorkspace()
        let path = ws.write("profiles/w.yaml", """
            role: w
            tools: [sh, cat, env]
            syscalls:
              deny: [bpf]
              allow: [bpf, ptrace]
            """)
        let loader = try ws.loader()
        let profile = try loader.profile(named: "w")
        XCTAssertEqual(profile.allowedBack.map(\.value), ["bpf"])
        XCTAssertEqual(profile.deniedSyscalls, [])

        let diagnostics = loader.lint(files: [path])
        XCTAssertEqual(diagnostics.map(\.severity), [.warning, .warning, .note, .warning])
        assertDiagnostic(diagnostics, .warning, at: "\(path):2:9",
                         "'sh' can run any code it can read; the exec allowlist does not limit what it interprets")
        assertDiagnostic(diagnostics, .warning, at: "\(path):2:18", "'env' can run any code")
        assertDiagnostic(diagnostics, .note, at: "\(path):5:11", "takes back 'bpf' declared at \(path):4")
        assertDiagnostic(diagnostics, .warning, at: "\(path):5:16", "'ptrace' takes back nothing")
    }

    func testInterpreterNames() {
        for name in ["sh", "/bin/bash", "dash", "zsh", "python", "python3", "/usr/bin/python3.12", "perl",
                     "ruby", "node", "env", "pypy3"] {
            XCTAssertTrue(ToolResolver.isInterpreter(name), name)
        }
        for name in ["cat", "shasum", "envsubst", "pythonista", "nodemon", "make"] {
            XCTAssertFalse(ToolResolver.isInterpreter(name), name)
        }
    }

    func testFilesThatAreNeitherProfilesNorPolicies() throws {
        let ws = TempWorkspace()
        let loader = try ws.loader()
        let other = ws.write("other.yaml", "# hi\nname: value\n")
        let broken = ws.write("broken.yaml", "role: [\n")
        let diagnostics = loader.lint(files: [other, broken, ws.root + "/absent.yaml"])
        assertDiagnostic(diagnostics, at: "\(other):2:1", "neither a profile nor a policy file")
        assertDiagnostic(diagnostics, at: "\(broken):2:1", "malformed YAML")
        let absent = assertDiagnostic(diagnostics, at: "\(ws.root)/absent.yaml:0:0", "cannot read")
        XCTAssertEqual(absent?.description, "\(ws.root)/absent.yaml: error: cannot read '\(ws.root)/absent.yaml': no such file")
        XCTAssertEqual(diagnostics.count, 3)
    }

    func testLintOfSetFiles() throws {
        let ws = TempWorkspace()
        ws.write("policies/base-sets.yaml", "sets:\n  \"@shared\": [ptrace]\n")
        let good = ws.write("policies/good.yaml", "sets:\n  \"@mine\": [\"@shared\", bpf]\n  \"@none\": []\n")
        let loader = try ws.loader()
        let diagnostics = loader.lint(files: [good])
        XCTAssertEqual(diagnostics.map(\.description), ["\(good):3:3: warning: set '@none' is empty\n  hint: denying an empty set denies nothing"])

        // Outside the workspace's policies/, so the loader did not load it; lint still checks it.
        let bad = ws.write("drafts/bad.yaml", "sets:\n  \"@x\": [\"@shared\", nope]\n  \"@debug\": [ptrace]\n")
        let badDiagnostics = loader.lint(files: [bad])
        assertDiagnostic(badDiagnostics, at: "\(bad):2:21", "unknown syscall 'nope' in set '@x'")
        assertDiagnostic(badDiagnostics, at: "\(bad):3:3", "redefines the built-in set '@debug'")
        XCTAssertEqual(badDiagnostics.count, 2)
    }

    func testLintWithoutFilesCoversTheWorkspace() throws {
        let ws = TempWorkspace()
        let profile = ws.write("profiles/mine.yaml", "role: mine\nextends: code\nwrite: [\"x/*\"]\n")
        let diagnostics = try ws.loader().lint(files: [])
        XCTAssertEqual(diagnostics.filter { $0.severity == .error }.map(\.location.description), ["\(profile):3:9"])
        // Warnings about the built-in code profile appear once, however many profiles extend it.
        let codeWarnings = diagnostics.filter { $0.location.file == "profiles/code.yaml" }
        XCTAssertEqual(codeWarnings.count, Set(codeWarnings).count)
        XCTAssertFalse(codeWarnings.isEmpty)
    }
}
