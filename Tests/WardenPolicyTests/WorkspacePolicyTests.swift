import Foundation
import XCTest
@testable import WardenPolicy

final class WorkspacePolicyTests: XCTestCase {
    func testOwnershipAndGateLoadWithLocations() throws {
        let ws = TempWorkspace()
        let path = ws.write("policies/team.yaml", """
            ownership:
              "Sources/**": code
              Tests/**: test
              Package.swift: code
            gate:
              max_files: 200
              max_file_bytes: 1MiB
              max_bytes: 8MiB
              max_depth: 12
              max_path: 512
              git_commits: true
            """)
        let policy = try ws.loader().workspacePolicy()
        XCTAssertEqual(policy.files, [path])
        XCTAssertEqual(policy.ownership.map { "\($0.zone.pattern)=\($0.owner.value)" },
                       ["Sources/**=code", "Tests/**=test", "Package.swift=code"])
        XCTAssertEqual(policy.ownership[1].owner.location.description, "\(path):3:13")
        XCTAssertEqual(policy.ownership[2].zone.recursive, false)
        let gate = policy.gate
        XCTAssertEqual(gate.maxFiles, 200)
        XCTAssertEqual(gate.maxFileBytes, 1 << 20)
        XCTAssertEqual(gate.maxBytes, 8 << 20)
        XCTAssertEqual(gate.maxDepth, 12)
        XCTAssertEqual(gate.maxPath, 512)
        XCTAssertTrue(gate.gitCommits)
        XCTAssertEqual(gate.locations["max_bytes"]?.description, "\(path):8:14")
        XCTAssertEqual(policy.diagnostics, [])
    }

    func testNoPolicyFilesIsAnEmptyPolicy() throws {
        let ws = TempWorkspace()
        ws.write("policies/other-tool.yaml", "linter: { strict: true }\n")
        let policy = try ws.loader().workspacePolicy()
        XCTAssertEqual(policy.ownership, [])
        XCTAssertEqual(policy.files, [])
        XCTAssertFalse(policy.gate.gitCommits)
    }

    func testBadInputIsRefusedWithEveryErrorAndAHint() throws {
        let ws = TempWorkspace()
        let path = ws.write("policies/bad.yaml", """
            ownership:
              /etc/**: code
              "src/*.c": code
              ../up/**: code
              Docs/**: [code]
              Lib/**: "two words"
            gate:
              max_files: many
              max_bytes: 12 parsecs
              max_depth: -3
              git_commits: yes
              forbid: [device]
              max_filez: 3
            owners: {}
            """)
        let errors = loadErrors { try ws.loader().workspacePolicy() }
        assertDiagnostic(errors, at: "\(path):2:3", "ownership zone '/etc/**' is outside the workspace")
        assertDiagnostic(errors, at: "\(path):3:3", "is a pattern Landlock cannot express")
        assertDiagnostic(errors, at: "\(path):4:3", "is outside the workspace")
        assertDiagnostic(errors, at: "\(path):5:12", "expected one role for 'ownership.Docs/**', got a list")
        assertDiagnostic(errors, at: "\(path):6:11", "'two words' is not a role name")
        assertDiagnostic(errors, at: "\(path):8:14", "invalid count 'many' for 'gate.max_files'")
        assertDiagnostic(errors, at: "\(path):9:14", "invalid size '12 parsecs' for 'gate.max_bytes'")
        assertDiagnostic(errors, at: "\(path):10:14", "invalid count '-3' for 'gate.max_depth'")
        assertDiagnostic(errors, at: "\(path):11:16", "expected true or false for 'gate.git_commits', got 'yes'")
        assertDiagnostic(errors, at: "\(path):12:3", "'forbid' is not a setting")
        let typo = assertDiagnostic(errors, at: "\(path):13:3", "unknown key 'max_filez' in gate")
        XCTAssertEqual(typo?.hint, "did you mean 'max_files'?")
        assertDiagnostic(errors, at: "\(path):14:1", "unknown key 'owners' in policy file")
        XCTAssertEqual(errors.count, 12, errors.map(\.description).joined(separator: "\n"))
        XCTAssertTrue(errors.allSatisfy { $0.hint != nil }, errors.map(\.description).joined(separator: "\n"))
    }

    func testSectionsThatAreNotMappings() throws {
        let ws = TempWorkspace()
        let path = ws.write("policies/a.yaml", "ownership: [code]\ngate: 5\n")
        let errors = loadErrors { try ws.loader().workspacePolicy() }
        let ownership = assertDiagnostic(errors, at: "\(path):1:12", "expected a mapping of zones to roles for 'ownership', got a list")
        XCTAssertEqual(ownership?.hint, #"write ownership: { "Sources/**": code, "Tests/**": test }"#)
        assertDiagnostic(errors, at: "\(path):2:7", "expected a mapping for 'gate', got '5'")
        // Null is an empty section.
        ws.write("policies/a.yaml", "ownership:\ngate:\n")
        XCTAssertEqual(try ws.loader().workspacePolicy().ownership, [])
    }

    func testMalformedYAMLWithAPolicyKeyIsNotSkipped() throws {
        let ws = TempWorkspace()
        let path = ws.write("policies/broken.yaml", "ownership:\n  Sources/**: code\n   Tests/**: test\n")
        let errors = loadErrors { try ws.loader().workspacePolicy() }
        XCTAssertTrue(errors.contains { $0.location.file == path && $0.message.contains("malformed YAML") },
                      errors.map(\.description).joined(separator: "\n"))
    }

    func testOneOwnerPerZoneAcrossFiles() throws {
        let ws = TempWorkspace()
        let a = ws.write("policies/a.yaml", "ownership:\n  Sources/**: code\n")
        let b = ws.write("policies/b.yaml", "ownership:\n  ./Sources/**: test\n  Tests/**: test\n")
        let errors = loadErrors { try ws.loader().workspacePolicy() }
        assertDiagnostic(errors, at: "\(b):2:3", "zone './Sources/**' has two owners: test here and code at \(a):2:3")
        assertDiagnostic(errors, at: "\(a):2:3", "zone 'Sources/**' has two owners: code here and test at \(b):2:3")
        XCTAssertEqual(errors.count, 2)

        // Lint of either file alone names the clash too.
        let loader = try ws.loader()
        assertDiagnostic(loader.lint(files: [a]), at: "\(a):2:3", "has two owners")
        assertDiagnostic(loader.lint(files: [b]), at: "\(b):2:3", "has two owners")
    }

    func testOneOwnerPerZoneInOneFile() throws {
        let ws = TempWorkspace()
        // Two spellings of one zone: YAML's duplicate-key check cannot see it.
        let path = ws.write("policies/a.yaml", "ownership:\n  Sources/**: code\n  Sources/./**: test\n")
        let errors = loadErrors { try ws.loader().workspacePolicy() }
        assertDiagnostic(errors, at: "\(path):3:3", "has two owners: test here and code at \(path):2:3")
    }

    func testGateSettingGivenInTwoFiles() throws {
        let ws = TempWorkspace()
        let a = ws.write("policies/a.yaml", "gate: { max_files: 10 }\n")
        let b = ws.write("policies/b.yaml", "gate: { max_files: 20 }\n")
        let errors = loadErrors { try ws.loader().workspacePolicy() }
        assertDiagnostic(errors, at: "\(b):1:20", "gate.max_files is already set at \(a):1:20")
    }

    func testUnknownOwnerIsAWarningAndUnenforcedKeysANote() throws {
        let ws = TempWorkspace()
        let path = ws.write("policies/team.yaml", """
            ownership: { "docs/**": writer, "notes/**": human, "Sources/**": code }
            handoffs:
              transitions: { orchestrator: [code] }
            review: { max_rounds: 3 }
            inbox: { escalate_over: 5 }
            """)
        let policy = try ws.loader().workspacePolicy()
        XCTAssertEqual(policy.ownership.count, 3)
        assertDiagnostic(policy.diagnostics, .warning, at: "\(path):1:25", "no profile is named 'writer'")
        XCTAssertEqual(policy.diagnostics.filter { $0.severity == .warning }.count, 1)
        for (line, key) in [(2, "handoffs"), (4, "review"), (5, "inbox")] {
            assertDiagnostic(policy.diagnostics, .note, at: "\(path):\(line):1", "'\(key)' is accepted but not enforced yet")
        }

        let lint = try ws.loader().lint(files: [])
        assertDiagnostic(lint, .warning, at: "\(path):1:25", "no profile is named 'writer'")
        XCTAssertFalse(lint.contains { $0.severity == .error }, lint.map(\.description).joined(separator: "\n"))
    }

    func testSetsAndOwnershipShareAFile() throws {
        let ws = TempWorkspace()
        ws.write("policies/all.yaml", """
            sets:
              "@team": [ptrace]
            ownership: { "Tests/**": test }
            """)
        ws.write("profiles/p.yaml", "role: p\ntools: [cat]\nsyscalls: { deny: [\"@team\"] }\n")
        let loader = try ws.loader()
        XCTAssertEqual(try loader.profile(named: "p").deniedSyscalls.map(\.name), ["ptrace"])
        XCTAssertEqual(try loader.workspacePolicy().ownership.map(\.owner.value), ["test"])
        XCTAssertEqual(loader.lint(files: []).filter { $0.severity == .error }, [])
    }
}
