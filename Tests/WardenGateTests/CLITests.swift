// `warden gate` from the command line: exit statuses and output a script relies on.

import Foundation
import Glibc
import Testing

@Suite struct GateCLITests {
    func warden(_ args: [String], cwd: String) -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: builtBinary("warden"))
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try! p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, o, e)
    }

    @Test func applyRejectsWholeAndCommitsWhole() throws {
        let fx = GateFixture()
        fx.agentWrites("Sources/main.swift", "main v1\n")
        fx.agentWrites("Tests/t.swift", "not yours\n")
        let refused = warden(["gate", "apply", "--profile", "code", "--from", fx.upper, "--json"], cwd: fx.workspace)
        #expect(refused.status == 73, "\(refused)")
        #expect(refused.out.contains("\"path\":\"Tests/t.swift\",\"rule\":\"zone\""), "\(refused)")
        #expect(refused.err.contains("Tests/t.swift: zone:"), "\(refused)")
        #expect(fx.read("Sources/main.swift") == "main v0\n" && fx.read("Tests/t.swift") == "test v0\n")

        try FileManager.default.removeItem(atPath: fx.upper + "/Tests")
        let ok = warden(["gate", "apply", "--profile", "code", "--from", fx.upper, "--run", "r1", "--json"], cwd: fx.workspace)
        #expect(ok.status == 0 && ok.out.contains("\"committed\":1"), "\(ok)")
        #expect(fx.read("Sources/main.swift") == "main v1\n")
        let log = warden(["gate", "log", "--json"], cwd: fx.workspace)
        #expect(log.status == 0 && log.out.contains("\"seq\":1,\"role\":\"code\",\"run\":\"r1\""), "\(log)")
        let stale = warden(["gate", "apply", "--profile", "code", "--from", fx.upper, "--base", "0"], cwd: fx.workspace)
        #expect(stale.status == 73 && stale.err.contains("conflict: changed since version 0 by commit 1"), "\(stale)")
    }
}
