import Foundation
import XCTest
@testable import WardenPolicy

final class ExtendsTests: XCTestCase {
    func testMergeRules() throws {
        let ws = TempWorkspace()
        let parent = ws.write("profiles/parent.yaml", """
            role: parent
            description: the parent
            tools: [cat, ls]
            optional_tools: [no-such-tool-abc, grep]
            read: [workspace, docs/]
            write: ["Sources/**", "README.md"]
            scratch: [/tmp]
            network: {allow: [443]}
            syscalls: {deny: ["@namespaces", bpf]}
            limits: {wall: 10m, memory: 1GiB, processes: 10}
            env: [PATH, HOME]
            """)
        let child = ws.write("profiles/child.yaml", """
            role: child
            extends: parent
            tools: [ls, head, /usr/bin/cat]
            read: [docs, /usr/share/doc/]
            write: ["Sources/**", "Tests/**"]
            network: off
            syscalls: {deny: [bpf, keyctl]}
            limits: {wall: 1h, cpu: 5m}
            env: [HOME, LANG]
            """)
        let profile = try ws.loader(searchPath: "/usr/bin:/bin").profile(named: "child")
        XCTAssertEqual(profile.role, "child")
        XCTAssertEqual(profile.description, "the parent")
        XCTAssertEqual(profile.file, child)
        XCTAssertEqual(profile.chain, [parent])
        XCTAssertEqual(profile.tools.map(\.value), ["/usr/bin/cat", "/usr/bin/ls", "/usr/bin/grep", "/usr/bin/head"])
        XCTAssertEqual(profile.tools[0].location.description, "\(parent):3:9", "first occurrence kept")
        XCTAssertEqual(profile.tools[3].location.description, "\(child):3:13")
        XCTAssertEqual(profile.read.map(\.value), ["workspace", "docs", "/usr/share/doc"])
        XCTAssertEqual(profile.write.map(\.pattern), ["Sources/**", "README.md", "Tests/**"])
        XCTAssertEqual(profile.write[1].location.description, "\(parent):6:23")
        XCTAssertEqual(profile.scratch.map(\.value), ["/tmp"])
        XCTAssertEqual(profile.network, .off)
        XCTAssertEqual(profile.networkLocation?.description, "\(child):6:10")
        XCTAssertEqual(profile.deniedSyscalls.map(\.name), ["unshare", "setns", "bpf", "keyctl"])
        XCTAssertEqual(profile.deniedSyscalls[0].viaSet, "@namespaces")
        XCTAssertEqual(profile.deniedSyscalls[0].location.description, "\(parent):9:19")
        XCTAssertNil(profile.deniedSyscalls[2].viaSet)
        XCTAssertEqual(profile.deniedSyscalls[2].location.description, "\(parent):9:34")
        var limits = profile.limits
        limits.locations = [:]  // checked in testLimitLocationsFollowTheOverride
        XCTAssertEqual(limits, Limits(wall: 3_600, cpu: 300, memory: 1 << 30, processes: 10))
        XCTAssertEqual(profile.env, ["PATH", "HOME", "LANG"])

        let parentProfile = try ws.loader().profile(named: "parent")
        XCTAssertEqual(parentProfile.network, .allow(ports: [443]))
        XCTAssertEqual(parentProfile.chain, [])
    }

    /// Each limit keeps the line that set it, the child's where it overrides: the line the
    /// audit's fix for a hit limit points at.
    func testLimitLocationsFollowTheOverride() throws {
        let ws = TempWorkspace()
        let parent = ws.write("profiles/parent.yaml", """
            role: parent
            tools: [cat]
            limits:
              wall: 10m
              memory: 1GiB
              processes: 10
            """)
        let child = ws.write("profiles/child.yaml", """
            role: child
            extends: parent
            limits: {wall: 1h}
            """)
        let limits = try ws.loader(searchPath: "/usr/bin:/bin").profile(named: "child").limits
        XCTAssertEqual(limits.wall, 3_600)
        XCTAssertEqual(limits.locations["wall"]?.description, "\(child):3:16")
        XCTAssertEqual(limits.locations["memory"]?.description, "\(parent):5:11")
        XCTAssertEqual(limits.locations["processes"]?.description, "\(parent):6:14")
        XCTAssertNil(limits.locations["cpu"])
    }

    func testAllowTakesBackAlongTheChain() throws {
        let ws = TempWorkspace()
        ws.write("profiles/root.yaml", "role: root\nsyscalls:\n  deny: [\"@debug\", \"@bpf\"]\n")
        let middle = ws.write("profiles/middle.yaml", "role: middle\nextends: root\nsyscalls:\n  allow: [ptrace, \"@bpf\"]\n")
        ws.write("profiles/leaf.yaml", "role: leaf\nextends: middle\nsyscalls: {deny: [ptrace]}\n")
        let loader = try ws.loader()

        let mid = try loader.profile(named: "middle")
        XCTAssertFalse(mid.deniedSyscalls.contains { $0.name == "ptrace" || $0.name == "bpf" })
        XCTAssertTrue(mid.deniedSyscalls.contains { $0.name == "kcmp" })
        XCTAssertEqual(mid.allowedBack.map(\.value), ["ptrace", "bpf"])
        XCTAssertEqual(mid.allowedBack.map(\.location.description), ["\(middle):4:11", "\(middle):4:19"])

        // A child may deny again what a parent took back.
        let leaf = try loader.profile(named: "leaf")
        XCTAssertTrue(leaf.deniedSyscalls.contains { $0.name == "ptrace" && $0.viaSet == nil })
        XCTAssertEqual(leaf.allowedBack.map(\.value), ["bpf"])

        let notes = loader.lint(files: [middle])
        assertDiagnostic(notes, .note, at: "\(middle):4:11",
                         "takes back 'ptrace' from set '@debug' declared at \(ws.root)/profiles/root.yaml:3")
        assertDiagnostic(notes, .note, at: "\(middle):4:19", "takes back 'bpf' from set '@bpf'")
        XCTAssertEqual(notes.filter { $0.severity != .note }, [])
    }

    func testWorkspaceProfileOverridesBuiltin() throws {
        let ws = TempWorkspace()
        let path = ws.write("profiles/code.yaml", "role: code\ndescription: mine\nextends: base\nwrite: [\"app/**\"]\n")
        let loader = try ws.loader()
        let code = try loader.profile(named: "code")
        XCTAssertEqual(code.file, path)
        XCTAssertEqual(code.description, "mine")
        XCTAssertEqual(code.write.map(\.path), ["app"])
        let listed = try XCTUnwrap(loader.availableProfiles().first { $0.name == "code" })
        XCTAssertEqual(listed.source, path)
        XCTAssertEqual(listed.description, "mine")
        XCTAssertEqual(loader.availableProfiles().first { $0.name == "test" }?.source, "builtin")
    }

    func testWorkspaceProfileCanExtendTheBuiltinOfItsOwnName() throws {
        let ws = TempWorkspace()
        let base = ws.write("profiles/base.yaml", "role: base\nextends: base\nlimits: {wall: 5m}\n")
        let loader = try ws.loader()
        let profile = try loader.profile(named: "base")
        XCTAssertEqual(profile.chain, ["builtin:base"])
        XCTAssertEqual(profile.limits.wall, 300)
        XCTAssertEqual(profile.limits.processes, 256)
        // Built-ins extend by name, so they pick up the workspace's base.
        let code = try loader.profile(named: "code")
        XCTAssertEqual(code.chain, [base, "builtin:base"])
        XCTAssertEqual(code.limits.wall, 300)
    }

    func testPathProfileWithRelativeExtends() throws {
        let ws = TempWorkspace()
        ws.write("agents/shared/parent.yaml", "role: parent\ntools: [cat]\n")
        let child = ws.write("agents/team/child.yaml", "role: child\nextends: ../shared/parent.yaml\ntools: [ls]\n")
        let loader = try ws.loader()

        let absolute = try loader.profile(named: child)
        XCTAssertEqual(absolute.chain, [ws.root + "/agents/team/../shared/parent.yaml"])
        XCTAssertEqual(absolute.tools.count, 2)

        let saved = FileManager.default.currentDirectoryPath
        defer { FileManager.default.changeCurrentDirectoryPath(saved) }
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(ws.root))
        let relative = try loader.profile(named: "agents/team/child.yaml")
        XCTAssertEqual(relative.file, "agents/team/child.yaml")
        XCTAssertEqual(relative.chain, ["agents/team/../shared/parent.yaml"])

        // A path profile may extend a built-in by name.
        ws.write("solo.yml", "role: solo\nextends: explore\n")
        XCTAssertEqual(try loader.profile(named: "solo.yml").chain, ["builtin:explore", "builtin:base"])
    }

    /// YAML 1.1 reads bare true/false/on/off as booleans; as names they are still strings.
    func testBooleanLookingNames() throws {
        let ws = TempWorkspace()
        ws.write("profiles/b.yaml", "role: b\ntools: [true, false]\nenv: [ON, no]\n")
        let profile = try ws.loader(searchPath: "/usr/bin:/bin").profile(named: "b")
        XCTAssertEqual(profile.tools.map(\.value), ["/usr/bin/true", "/usr/bin/false"])
        XCTAssertEqual(profile.env, ["ON", "no"])
    }

    func testNetworkForms() throws {
        let ws = TempWorkspace()
        let loader = try ws.loader()
        let cases: [(String, NetworkPolicy)] = [
            ("off", .off), ("false", .off), ("\"off\"", .off), ("on", .on), ("true", .on),
            ("{allow: [443, 8080, 443]}", .allow(ports: [443, 8080])),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let path = ws.write("profiles/n\(index).yaml", "role: n\nnetwork: \(text)\n")
            let profile = try loader.profile(named: "n\(index)")
            XCTAssertEqual(profile.network, expected, text)
            XCTAssertEqual(profile.networkLocation?.description, "\(path):2:10", text)
        }
    }

    func testToolsKeepThePathHitAndDropMissingOptionalOnes() throws {
        let ws = TempWorkspace()
        let elsewhere = TempWorkspace()
        try FileManager.default.createDirectory(atPath: elsewhere.root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: elsewhere.root + "/bin/mytool", withDestinationPath: "/bin/true")
        ws.executable("bin/cat")
        ws.write("profiles/t.yaml", "role: t\ntools: [mytool]\noptional_tools: [cat, not-installed-anywhere]\n")
        let loader = try ws.loader(searchPath: "\(ws.root)/bin:\(elsewhere.root)/bin:relative/bin:/usr/bin")
        let profile = try loader.profile(named: "t")
        // The symlink is kept as found on PATH; an optional tool inside the workspace
        // (mounted noexec in the sandbox) is passed over for the next PATH hit.
        XCTAssertEqual(profile.tools.map(\.value), [elsewhere.root + "/bin/mytool", "/usr/bin/cat"])
    }
}
