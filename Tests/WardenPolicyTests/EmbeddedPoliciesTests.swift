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

    func testBuiltinProfileNames() {
        XCTAssertEqual(PolicyLoader.builtinProfileNames,
                       ["base", "code", "debug", "explore", "orchestrator", "test", "verify"])
    }
}
