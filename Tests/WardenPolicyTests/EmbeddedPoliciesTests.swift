import Foundation
import XCTest
@testable import WardenPolicy

/// The binary carries profiles/*.yaml and policies/syscall-sets.yaml; this fails when they
/// change without `scripts/embed-policies` being run.
final class EmbeddedPoliciesTests: XCTestCase {
    func testGeneratedFileMatchesYAMLFiles() throws {
        let profiles = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/profiles")
            .filter { $0.hasSuffix(".yaml") }.map { "profiles/" + $0 }
        let expected = Set(profiles + ["policies/syscall-sets.yaml"])
        XCTAssertEqual(Set(embeddedPolicies.keys), expected,
                       "EmbeddedPolicies.swift is out of date: run scripts/embed-policies")
        for file in expected.sorted() {
            let onDisk = try String(contentsOfFile: repositoryRoot + "/" + file, encoding: .utf8)
            XCTAssertEqual(embeddedPolicies[file], onDisk,
                           "\(file) differs from its embedded copy: run scripts/embed-policies")
        }
    }

    /// warden's own repository as the workspace: its profiles/ shadow the built-ins with
    /// identical copies, and its policies/syscall-sets.yaml repeats the built-in sets.
    func testRepositoryPoliciesAsWorkspace() throws {
        let ws = TempWorkspace()
        for (file, text) in embeddedPolicies { ws.write(file, text) }
        let loader = try ws.loader()
        XCTAssertEqual(loader.lint(files: []).filter { $0.severity == .error }.map(\.description), [])
        let code = try loader.profile(named: "code")
        XCTAssertEqual(code.file, ws.root + "/profiles/code.yaml")
        XCTAssertEqual(code.chain, [ws.root + "/profiles/base.yaml"])
        let builtin = try TempWorkspace().loader().profile(named: "code")
        XCTAssertEqual(code.deniedSyscalls.map(\.name), builtin.deniedSyscalls.map(\.name))
        XCTAssertEqual(code.tools.map(\.value), builtin.tools.map(\.value))
    }

    func testBuiltinProfileNames() {
        XCTAssertEqual(PolicyLoader.builtinProfileNames,
                       ["base", "code", "debug", "explore", "orchestrator", "test", "verify"])
    }
}
