// The gate's rules against what a hostile agent can really make inside its view (names the
// filesystem accepts but the gate does not, one of them shaped to forge a line of the report, colliding names, a 10 GiB sparse file, deep and
// long paths, more files than allowed; a 10 GiB sparse file is already stopped by the
// profile's file_size limit, so a 2 MiB one stands in), and sixteen real agents racing on one workspace.

import Foundation
import Glibc
import Testing

@Suite struct GateRulesInViewTests {
    /// One run produces every path and size rule at once: each is reported, with its path and
    /// why, and nothing of the changeset reaches the workspace.
    @Test(arguments: Identity.all)
    func everyPathAndSizeRuleAnAgentCanBreakIsReported(_ id: Identity) {
        let fx = Fixture(id)
        fx.write("policies/workspace.yaml", "gate: { max_file_bytes: 1MiB, max_depth: 6, max_path: 80 }\n")
        let long = "Sources/" + String(repeating: "x", count: 90) + ".swift"
        let o = fx.run(profile: fx.profile("code", tools: ["truncate"]), ["sh", "-c", """
            echo fine > Sources/fine.swift
            touch 'Sources/back\\slash.swift'
            touch "$(printf 'Sources/bad\\377.swift')"
            touch Sources/Dup.swift Sources/dup.swift
            touch "$(printf 'Sources/caf\\303\\251.swift')" "$(printf 'Sources/cafe\\314\\201.swift')"
            truncate -s 10G Sources/huge.bin 2>/dev/null || truncate -s 2M Sources/huge.bin
            mkdir -p Sources/a/b/c/d/e/f && touch Sources/a/b/c/d/e/f/deep.swift
            touch \(long)
            ln -s /etc/passwd "$(printf 'Sources/x\\nwarden: committed 1 path as workspace version 9')"
            exit 0
            """])
        #expect(o.status == 73, "\(o)")
        for expected in ["Sources/back\\\\slash.swift: path: the path contains a backslash",
                         "Sources/x\\x0awarden: committed 1 path as workspace version 9: path: the path contains a control character",
                         "the path is not valid UTF-8",
                         "Sources/dup.swift: collision: the same file as Sources/Dup.swift",
                         "Sources/huge.bin: limit:",
                         "limit: nested deeper than 6 directories",
                         "\(long): path: the path is 104 bytes long (limit 80)"] {
            #expect(o.stderr.contains(expected), "missing \(expected): \(o.stderr)")
        }
        #expect(o.stderr.contains(".swift: collision: the same file as Sources/caf"), "the NFC/NFD pair collides: \(o.stderr)")
        // The agent's newline is shown escaped: no line of the report is the agent's.
        #expect(!o.stderr.split(separator: "\n").contains { $0.hasPrefix("warden: committed") }, "\(o.stderr)")
        #expect(!fx.exists("Sources/fine.swift") && fx.read("Sources/main.swift") == "print(\"main\")\n",
                "nothing of a refused changeset is applied")
        #expect(fx.keptViews().count == 1)
        // `warden changes` escapes the agent's names and link targets too.
        let changes = fx.warden(["changes", fx.keptViews().first ?? "-"])
        #expect(changes.status == 0 && changes.stdout.contains("symlink Sources/x\\x0awarden: committed"), "\(changes)")
        #expect(!changes.stdout.split(separator: "\n").contains { $0.hasPrefix("warden: committed") }, "\(changes)")
        // Each finding is an audit row of kind gate.
        let rows = fx.warden(["audit", "--kind", "gate", "--decision", "denied", "--json"])
        #expect(rows.stdout.split(separator: "\n").count >= 7, "\(rows)")
    }

    /// Counts are checked while scanning: 300 files against a limit of 50 stop the scan, and
    /// two files that are each allowed but together too big are refused.
    @Test(arguments: Identity.all)
    func countAndTotalSizeLimitsHold(_ id: Identity) {
        let fx = Fixture(id)
        fx.write("policies/workspace.yaml", "gate: { max_files: 50, max_file_bytes: 1MiB, max_bytes: 1MiB }\n")
        let names = (0..<300).map { "f\($0)" }.joined(separator: " ")
        let many = fx.run(profile: "code", ["sh", "-c", "mkdir Sources/many && cd Sources/many && touch \(names)"])
        #expect(many.status == 73 && many.stderr.contains("limit: more than 50 entries"), "\(many)")
        #expect(!fx.exists("Sources/many"))

        let big = fx.run(profile: fx.profile("code", tools: ["truncate"]),
                         ["sh", "-c", "truncate -s 700K Sources/one.bin && truncate -s 700K Sources/two.bin"])
        #expect(big.status == 73 && big.stderr.contains("limit:") && big.stderr.contains("1048576"), "\(big)")
        #expect(!fx.exists("Sources/one.bin") && !fx.exists("Sources/two.bin"))
    }

    /// Sixteen agents start from the same version (each waits for the others before it
    /// exits); the odd ones change only their own file, the even ones also one shared file.
    /// No update is lost: every disjoint change lands, exactly one shared change wins, and the
    /// seven others are refused as conflicts with their views kept.
    @Test(arguments: Identity.all)
    func sixteenRealAgentsLoseNoUpdate(_ id: Identity) {
        let fx = Fixture(id)
        let agents = (0..<16).map { i in
            fx.start(profile: "code", ["sh", "-c", """
                echo \(i) > Sources/agent-\(i).swift
                \(i % 2 == 0 ? "echo \(i) > Sources/shared.swift" : ":")
                touch Sources/ready-\(i)
                while [ ! -e .warden/tasks/go ]; do sleep 0.02; done
                """])
        }
        for i in 0..<16 { #expect(fx.upperHolding("Sources/ready-\(i)") != nil, "agent \(i) did not start") }
        fx.write(".warden/tasks/go", "")
        let outcomes = agents.map { $0.wait() }
        let won = (0..<16).filter { outcomes[$0].status == 0 }
        let evens = won.filter { $0 % 2 == 0 }
        #expect(evens.count == 1 && Set(won) == Set((0..<16).filter { $0 % 2 == 1 } + evens), "winners \(won)")
        for i in 0..<16 where !won.contains(i) {
            #expect(outcomes[i].status == 73 && outcomes[i].stderr.contains("Sources/shared.swift: conflict:"),
                    "agent \(i): \(outcomes[i])")
        }
        for i in won { #expect(fx.read("Sources/agent-\(i).swift") == "\(i)\n" && fx.exists("Sources/ready-\(i)")) }
        for i in 0..<16 where !won.contains(i) { #expect(!fx.exists("Sources/agent-\(i).swift")) }
        #expect(fx.read("Sources/shared.swift") == "\(evens.first ?? -1)\n")
        #expect(fx.keptViews().count == 16 - won.count)
        let log = fx.warden(["gate", "log", "--json"]).stdout.split(separator: "\n").filter { $0.contains("\"seq\"") }
        #expect(log.count == won.count, "\(log)")
    }
}
