import XCTest
@testable import WardenPolicy

final class SyscallSetTests: XCTestCase {
    func testEveryBuiltinMemberIsKnownToLibseccomp() throws {
        let loader = try TempWorkspace().loader()
        let sets = loader.syscallSets
        XCTAssertEqual(Set(sets.allSetNames), [
            "@mount", "@namespaces", "@privileged", "@debug", "@module", "@raw-io", "@keyring", "@bpf",
            "@io-uring", "@obsolete", "@clock", "@reboot", "@swap",
        ])
        for set in sets.allSetNames {
            let names = try XCTUnwrap(sets.names(ofSet: set))
            XCTAssertFalse(names.isEmpty, set)
            for name in names {
                XCTAssertTrue(SyscallNames.isKnown(name), "\(set): libseccomp does not know '\(name)'")
            }
        }
    }

    func testLibseccompNameCheck() {
        XCTAssertTrue(SyscallNames.isKnown("ptrace"))
        // Not a call on x86_64, but on other architectures: a pseudo-number below -1.
        XCTAssertTrue(SyscallNames.isKnown("ftime"))
        XCTAssertFalse(SyscallNames.isKnown("ptrac"))
        XCTAssertFalse(SyscallNames.isKnown(""))
    }

    func testNamesOfSet() throws {
        let sets = try TempWorkspace().loader().syscallSets
        XCTAssertEqual(sets.names(ofSet: "@namespaces"), ["unshare", "setns"])
        XCTAssertEqual(sets.names(ofSet: "namespaces"), ["unshare", "setns"])
        XCTAssertEqual(sets.names(ofSet: "@debug")?.first, "ptrace")
        XCTAssertTrue(sets.names(ofSet: "@mount")!.contains("fsopen"))
        XCTAssertNil(sets.names(ofSet: "@nope"))
    }

    func testWorkspaceSetsNestAndAreUsable() throws {
        let ws = TempWorkspace()
        ws.write("policies/extra.yaml", """
            sets:
              "@escape": ["@mount", "@namespaces", ptrace]
              "@outer": ["@escape", bpf]
            """)
        ws.write("profiles/p.yaml", """
            role: p
            syscalls: { deny: ["@outer"] }
            """)
        let loader = try ws.loader()
        XCTAssertEqual(loader.syscallSets.names(ofSet: "@outer")?.suffix(4), ["unshare", "setns", "ptrace", "bpf"])
        let profile = try loader.profile(named: "p")
        let unshare = try XCTUnwrap(profile.deniedSyscalls.first { $0.name == "unshare" })
        XCTAssertEqual(unshare.viaSet, "@outer")
        XCTAssertEqual(unshare.location.description, ws.root + "/profiles/p.yaml:2:20")
        XCTAssertEqual(loader.lint(files: []).filter { $0.severity == .error }, [])
    }

    func testWorkspaceSetErrors() throws {
        let ws = TempWorkspace()
        let path = ws.write("policies/bad.yaml", """
            sets:
              "@mount": [mount]
              "@mine": [ptrace, not_a_call, "@missing"]
              "@loop": ["@loop2"]
              "@loop2": ["@loop"]
              bad name: [bpf]
            """)
        let errors = loadErrors { try ws.loader() }
        assertDiagnostic(errors, at: "\(path):2:3", "redefines the built-in set '@mount'")
        assertDiagnostic(errors, at: "\(path):3:21", "unknown syscall 'not_a_call'")
        assertDiagnostic(errors, at: "\(path):3:33", "unknown syscall set '@missing'")
        assertDiagnostic(errors, at: "\(path):4:13", "includes itself: @loop -> @loop2 -> @loop")
        assertDiagnostic(errors, at: "\(path):6:3", "invalid set name 'bad name'")
    }

    func testVerbatimCopyOfBuiltinSetsIsAccepted() throws {
        // warden's own repository ships policies/syscall-sets.yaml inside the workspace.
        let ws = TempWorkspace()
        ws.write("policies/syscall-sets.yaml", embeddedPolicies["policies/syscall-sets.yaml"]!)
        XCTAssertNoThrow(try ws.loader())
    }

    func testPolicyFilesWithoutSetsAreIgnored() throws {
        let ws = TempWorkspace()
        ws.write("policies/other.yaml", "something: else\n")
        ws.write("policies/broken.yaml", "sets: [\n")
        let loader = try ws.loader()
        let diagnostics = loader.lint(files: [])
        assertDiagnostic(diagnostics, at: ws.root + "/policies/broken.yaml:2:1", "malformed YAML")
        XCTAssertFalse(diagnostics.contains { $0.location.file.hasSuffix("other.yaml") })
    }
}
