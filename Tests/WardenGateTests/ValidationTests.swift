// Every rejection rule of the gate, each with an accepted counterpart, on changesets built by
// hand (the scanner tests build them from real upper directories).

import Foundation
import Testing
@testable import WardenGate

@Suite struct ValidationTests {
    let index = MemoryIndex()

    func findings(_ entries: [Changeset.Entry], _ v: GateValidator = validator(), base: Int64 = 0,
                  index: VersionIndex? = nil) throws -> [GateFinding] {
        try v.validate(Changeset(base: base, entries: entries), index: index ?? self.index)
    }

    func write(_ path: String) -> Changeset.Entry { .init(path, .write(source: "/dev/null", mode: 0o644, size: 0)) }

    @Test(arguments: [
        ("/etc/passwd", "absolute"), ("Sources/../../x", "`..`"), ("Sources/a\u{0}b", "NUL"),
        ("Sources\\a.swift", "backslash"), ("Sources//a", "empty component"), ("Sources/a/", "empty component"),
        ("Sources/./a", "`.` component"), ("Sources/a\nwarden: committed", "control character"),
        ("Sources/\u{1b}[2Ja", "control character"), ("Sources/a\u{7f}", "control character"),
    ])
    func badPathText(_ path: String, _ words: String) throws {
        let f = try findings([write(path)])
        #expect(f.contains { $0.rule == .path && $0.message.contains(words) }, "\(f)")
    }

    @Test func invalidUTF8AndOverlongPaths() throws {
        let bad = Changeset.Entry(rawPath: Array("Sources/".utf8) + [0xff, 0xfe], action: .write(source: "/dev/null", mode: 0o644, size: 0))
        #expect(try findings([bad]).contains { $0.rule == .path && $0.message.contains("UTF-8") })
        let long = "Sources/" + String(repeating: "a/", count: 2000) + "x"
        #expect(try findings([write(long)]).contains { $0.rule == .path && $0.message.contains("bytes long") })
    }

    @Test func goodPathsPass() throws {
        #expect(try findings([write("Sources/a.swift"), write("Sources/sub/é.swift")]).isEmpty)
    }

    @Test func caseAndNormalisationCollisions() throws {
        let f = try findings([write("Sources/README.md"), write("Sources/readme.md")])
        #expect(f.count == 1 && f[0].rule == .collision && f[0].path == "Sources/readme.md", "\(f)")
        let nfc = "Sources/caf\u{e9}", nfd = "Sources/cafe\u{301}"
        #expect(try findings([write(nfc), .init(rawPath: Array(nfd.utf8), action: .delete)]).contains { $0.rule == .collision })
    }

    @Test func zonesAndOwnership() throws {
        #expect(try findings([write("Tests/t.swift")]).map(\.rule) == [.zone])
        #expect(try findings([write("Package.swift")]).map(\.rule) == [.zone])
        let wide = validator("code", ["**"], ownership: ["Tests/**": "test"])
        #expect(try findings([write("Tests/t.swift")], wide).map(\.rule) == [.ownership])
        #expect(try findings([write("Sources/a.swift")], wide).isEmpty)
        let owner = validator("test", ["Tests/**"], ownership: ["Tests/**": "test"])
        #expect(try findings([write("Tests/t.swift")], owner).isEmpty)
    }

    @Test func theMostSpecificOwnershipZoneDecides() throws {
        let owners = ["Sources/**": "code", "Sources/gen/**": "orchestrator", "Sources/gen/keep.txt": "code", "**": "human"]
        let code = validator("code", ["**"], ownership: owners)
        #expect(try findings([write("Sources/a.swift"), write("Sources/gen/keep.txt")], code).isEmpty)
        #expect(try findings([write("Sources/gen/x.swift")], code).map(\.message) == ["Sources/gen/** belongs to orchestrator"])
        #expect(try findings([write("Sourcesx/a")], code).map(\.message) == ["** belongs to human"])
        let orchestrator = validator("orchestrator", ["**"], ownership: owners)
        #expect(try findings([write("Sources/gen/x.swift")], orchestrator).isEmpty)
        #expect(try findings([write("Sources/gen/keep.txt")], orchestrator).map(\.rule) == [.ownership])
    }

    @Test(arguments: [".git/hooks/pre-commit", ".git/config", ".warden/audit.db", ".GIT/config"])
    func reservedPlacesBelongToTheGate(_ path: String) throws {
        let f = try findings([write(path)], validator("code", ["**"]))
        #expect(f.map(\.rule) == [.reserved], "\(f)")
    }

    @Test func symlinksMustStayInside() throws {
        let v = validator("code", ["**"])
        #expect(try findings([.init("Sources/ok", .symlink(target: "../Tests/t.swift"))], v).isEmpty)
        for target in ["/etc/passwd", "../../etc/passwd", "../.git/hooks", ""] {
            let f = try findings([.init("Sources/l", .symlink(target: target))], v)
            #expect(f.map(\.rule) == [.type], "\(target): \(f)")
        }
    }

    @Test func containersMayLieOutsideZonesButOpaqueDirectoriesMayNot() throws {
        let v = validator("code", ["src/app/**"])
        #expect(try findings([.init("src", .directory(mode: 0o755, opaque: false)), write("src/app/a.c")], v).isEmpty)
        #expect(try findings([.init("src", .directory(mode: 0o755, opaque: true))], v).map(\.rule) == [.zone])
        #expect(try findings([.init("lib", .directory(mode: 0o755, opaque: false))], v).map(\.rule) == [.zone])
    }

    @Test func conflictsNameTheCommit() throws {
        var idx = MemoryIndex()
        idx.last["Sources/a.swift"] = CommitRef(seq: 3, role: "debug", run: "run-9", timeNS: 1_700_000_000_000_000_000)
        let f = try findings([write("Sources/a.swift")], base: 2, index: idx)
        #expect(f.count == 1 && f[0].rule == .conflict, "\(f)")
        #expect(f[0].message.contains("commit 3") && f[0].message.contains("debug") && f[0].message.contains("run-9"))
        #expect(try findings([write("Sources/a.swift")], base: 3, index: idx).isEmpty)
        // Deleting or replacing a tree conflicts with a newer change anywhere beneath it.
        #expect(try findings([.init("Sources", .delete)], validator("code", ["**"]), base: 2, index: idx).map(\.rule) == [.conflict])
        #expect(try findings([.init("Sources", .directory(mode: 0o755, opaque: true))], validator("code", ["**"]),
                             base: 2, index: idx).map(\.rule) == [.conflict])
    }

    @Test func everyProblemIsReportedNotJustTheFirst() throws {
        let f = try findings([write("/abs"), write("Tests/x"), write(".git/config"), write("Sources/ok")])
        #expect(Set(f.map(\.path)) == ["/abs", "Tests/x", ".git/config"], "\(f)")
    }
}
