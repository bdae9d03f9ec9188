import Foundation
import XCTest
@testable import WardenPolicy

/// `FILE:LINE:COLUMN` of the first occurrence of `needle` in an embedded file, so location
/// assertions on the shipped profiles stay exact without breaking on every comment edit.
func place(of needle: String, in file: String, onLineStartingWith start: String = "") -> String {
    let text = embeddedPolicies[file]!
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
    where line.hasPrefix(start) && !line.hasPrefix("#") {
        if let range = line.range(of: needle) {
            return "\(file):\(index + 1):\(line.distance(from: line.startIndex, to: range.lowerBound) + 1)"
        }
    }
    fatalError("\(needle) not in \(file)")
}

final class BuiltinProfileTests: XCTestCase {
    let names = ["base", "code", "debug", "explore", "orchestrator", "test", "verify"]

    func testEveryBuiltinLoads() throws {
        let loader = try TempWorkspace().loader()
        for name in names {
            let profile = try loader.profile(named: name)
            XCTAssertEqual(profile.role, name)
            XCTAssertEqual(profile.file, "builtin:\(name)")
            XCTAssertEqual(profile.chain, name == "base" ? [] : ["builtin:base"])
            XCTAssertFalse(profile.description.isEmpty, name)
            XCTAssertEqual(profile.network, .off, name)
            XCTAssertEqual(profile.read.map(\.value), ["workspace"], name)
            XCTAssertEqual(profile.env, ["PATH", "HOME", "LANG", "LC_ALL", "TERM", "TZ", "USER", "LOGNAME"])
            var limits = profile.limits
            XCTAssertEqual(limits.locations["wall"]?.file, "profiles/base.yaml", name)
            limits.locations = [:]
            XCTAssertEqual(limits, Limits(wall: 1_800, memory: 4 << 30, processes: 256,
                                          openFiles: 1_024, fileSize: 1 << 30))
            for tool in profile.tools {
                XCTAssertTrue(tool.value.hasPrefix("/"), tool.value)
                // A trailing slash names a toolchain directory (e.g. /usr/lib/gcc/ for cc1).
                if tool.value.hasSuffix("/") {
                    XCTAssertTrue(FilePaths.isDirectory(tool.value), tool.value)
                } else {
                    XCTAssertTrue(ToolResolver.isExecutableFile(tool.value), tool.value)
                }
                XCTAssertTrue(tool.location.file == "profiles/\(name).yaml" || tool.location.file == "profiles/base.yaml")
            }
        }
        let available = loader.availableProfiles()
        XCTAssertEqual(available.map(\.name), names)
        XCTAssertTrue(available.allSatisfy { $0.source == "builtin" && !$0.description.isEmpty })
    }

    func testBaseDeniesTheAdministrativeSets() throws {
        let base = try TempWorkspace().loader().profile(named: "base")
        let mount = try XCTUnwrap(base.deniedSyscalls.first { $0.name == "mount" })
        XCTAssertEqual(mount.viaSet, "@mount")
        XCTAssertEqual(mount.location.description, place(of: "\"@mount\"", in: "profiles/base.yaml"))
        for call in ["unshare", "setns", "ptrace", "bpf", "io_uring_setup", "init_module", "kexec_load",
                     "swapon", "keyctl", "clock_settime", "iopl", "acct", "uselib"] {
            XCTAssertTrue(base.deniedSyscalls.contains { $0.name == call }, call)
        }
        XCTAssertEqual(base.deniedSyscalls.count, Set(base.deniedSyscalls.map(\.name)).count, "no repeats")
        XCTAssertEqual(base.networkLocation?.description, place(of: "off", in: "profiles/base.yaml", onLineStartingWith: "network:"))
        XCTAssertEqual(base.write, [])
        XCTAssertEqual(base.scratch, [])
        XCTAssertEqual(base.allowedBack, [])
    }

    func testExploreRunsOnlyReadOnlyUtilities() throws {
        let explore = try TempWorkspace().loader().profile(named: "explore")
        let names = Set(explore.tools.map { ($0.value as NSString).lastPathComponent })
        XCTAssertTrue(names.isSuperset(of: ["cat", "ls", "grep", "find", "head"]))
        for forbidden in ["sh", "bash", "dash", "env", "touch", "mkdir", "rm", "cp", "mv", "ln", "chmod", "tee"] {
            XCTAssertFalse(names.contains(forbidden), forbidden)
        }
        XCTAssertEqual(explore.write, [])
        XCTAssertEqual(explore.scratch, [])
    }

    func testCodeAndTestWriteDisjointZones() throws {
        let loader = try TempWorkspace().loader()
        let code = try loader.profile(named: "code")
        XCTAssertEqual(code.write.map(\.pattern), ["Sources/**", "src/**", "lib/**", "include/**", "Package.swift"])
        XCTAssertEqual(code.write[0].path, "Sources")
        XCTAssertTrue(code.write[0].recursive)
        XCTAssertEqual(code.write[4].path, "Package.swift")
        XCTAssertFalse(code.write[4].recursive)
        XCTAssertEqual(code.write[4].location.description, place(of: "\"Package.swift\"", in: "profiles/code.yaml"))
        XCTAssertEqual(code.scratch.map(\.value), ["/tmp"])
        XCTAssertTrue(code.tools.contains { $0.value.hasSuffix("/sh") })
        let test = try loader.profile(named: "test")
        XCTAssertEqual(test.write.map(\.path), ["Tests", "tests", "test"])
        let orchestrator = try loader.profile(named: "orchestrator")
        XCTAssertEqual(orchestrator.write.map(\.path), [".warden/tasks", ".warden/handoffs"])
        for name in ["verify", "debug"] {
            XCTAssertEqual(try loader.profile(named: name).write, [], name)
        }
    }

    func testDebugTakesBackPtrace() throws {
        let debug = try TempWorkspace().loader().profile(named: "debug")
        let denied = Set(debug.deniedSyscalls.map(\.name))
        XCTAssertFalse(denied.contains("ptrace"))
        XCTAssertFalse(denied.contains("process_vm_readv"))
        XCTAssertTrue(denied.contains("perf_event_open"), "the rest of @debug stays denied")
        XCTAssertEqual(debug.allowedBack.map(\.value), ["ptrace", "process_vm_readv", "process_vm_writev"])
        XCTAssertEqual(debug.allowedBack[0].location.description, place(of: "ptrace,", in: "profiles/debug.yaml"))
    }

    /// Lint of the shipped policies: no errors; the shells on the allowlists and debug's
    /// take-backs are reported, as they should be.
    func testLintOfBuiltinsHasNoErrors() throws {
        let diagnostics = try TempWorkspace().loader().lint(files: [])
        XCTAssertEqual(diagnostics.filter { $0.severity == .error }.map(\.description), [])
        let debugAllow = place(of: "ptrace,", in: "profiles/debug.yaml")
        assertDiagnostic(diagnostics, .note, at: debugAllow,
                         "takes back 'ptrace' from set '@debug' declared at \(place(of: "\"@debug\"", in: "profiles/base.yaml").split(separator: ":").dropLast().joined(separator: ":"))")
        assertDiagnostic(diagnostics, .warning, at: place(of: "sh,", in: "profiles/code.yaml"),
                         "can run any code it can read")
        XCTAssertEqual(diagnostics.count, Set(diagnostics).count, "no repeated diagnostics")
    }
}
