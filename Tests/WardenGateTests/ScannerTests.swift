// Changesets read from real upper directories: the overlay's encodings (whiteouts, opaque
// directories) and the hostile entries an agent can leave there.

import Foundation
import CFileOps
import Glibc
import Testing
@testable import WardenGate

@Suite struct ScannerTests {
    @Test func filesLinksAndDirectories() throws {
        let fx = GateFixture()
        fx.agentWrites("Sources/a.swift", "a")
        symlink("a.swift", fx.upper + "/Sources/link")
        chmod(fx.upper + "/Sources/a.swift", 0o640)
        let c = try fx.scan(base: 7)
        #expect(c.base == 7 && c.scanFindings.isEmpty)
        #expect(c.entries.map(\.path) == ["Sources", "Sources/a.swift", "Sources/link"])
        #expect(c.entries[1].action == .write(source: fx.upper + "/Sources/a.swift", mode: 0o640, size: 1))
        #expect(c.entries[2].action == .symlink(target: "a.swift"))
    }

    @Test func whiteoutsAndOpaqueDirectories() throws {
        let fx = GateFixture()
        mkdirs(fx.upper + "/Sources/gen")
        // user.overlay.opaque is what an unprivileged (userxattr) overlay writes.
        #expect(setxattr(fx.upper + "/Sources/gen", "user.overlay.opaque", "y", 1, 0) == 0, "\(errno)")
        if getuid() == 0 {
            #expect(mknod(fx.upper + "/Sources/main.swift", S_IFCHR | 0o600, 0) == 0)
        }
        let c = try fx.scan()
        let gen = c.entries.first { $0.path == "Sources/gen" }
        if case let .directory(_, opaque)? = gen?.action { #expect(opaque) } else { Issue.record("no Sources/gen: \(c.entries)") }
        if getuid() == 0 {
            #expect(c.entries.contains { $0.path == "Sources/main.swift" && $0.action == .delete }, "\(c.entries)")
        }
    }

    @Test func hostileEntriesBecomeFindings() throws {
        let fx = GateFixture()
        fx.agentWrites("Sources/ok", "fine")
        mkfifo(fx.upper + "/Sources/fifo", 0o644)
        fx.agentWrites("Sources/suid", "x")
        chmod(fx.upper + "/Sources/suid", 0o4755)
        fx.agentWrites("Sources/hard", "x")
        link(fx.upper + "/Sources/hard", fx.upper + "/Sources/hard2")
        let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let sockPath = fx.upper + "/Sources/sock"
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in _ = sockPath.utf8CString.withUnsafeBytes { buf.copyMemory(from: $0) } }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(sock)
        if getuid() == 0 { mknod(fx.upper + "/Sources/dev", S_IFCHR | 0o600, dev_t(1 << 8 | 3)) }
        let c = try fx.scan()
        let bad = Dictionary(grouping: c.scanFindings, by: \.path)
        #expect(bad["Sources/fifo"]?.first?.rule == .type)
        #expect(bad["Sources/suid"]?.first?.message.contains("setuid") == true)
        #expect(bad["Sources/hard"]?.first?.message.contains("hard link") == true)
        #expect(bad["Sources/sock"]?.first?.message.contains("socket") == true)
        if getuid() == 0 { #expect(bad["Sources/dev"]?.first?.message.contains("character device") == true) }
        // Refused entries never become actions; the good one does.
        #expect(c.entries.map(\.path) == ["Sources", "Sources/ok"], "\(c.entries)")
    }

    @Test func aSparseGiantCostsAStat() throws {
        let fx = GateFixture()
        let fd = open(fx.upper + "/huge", O_CREAT | O_WRONLY, 0o644)
        #expect(ftruncate(fd, 10 << 30) == 0)
        close(fd)
        let c = try fx.scan()
        #expect(c.scanFindings.contains { $0.path == "huge" && $0.rule == .limit }, "\(c.scanFindings)")
        #expect(c.entries.isEmpty)
    }

    @Test func theEntryCapStopsTheWalk() throws {
        let fx = GateFixture()
        mkdirs(fx.upper + "/many")
        for i in 0..<300 { close(open(fx.upper + "/many/\(i)", O_CREAT | O_WRONLY, 0o644)) }
        let c = try fx.scan(limits: GateLimits(maxEntries: 100))
        #expect(c.scanFindings.contains { $0.rule == .limit && $0.message.contains("more than 100 entries") })
        #expect(c.entries.count <= 100)
    }
}
