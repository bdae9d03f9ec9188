// A new view starts from what the workspace holds now: a person's edits between two runs
// (a new file, an editor's save through a rename, a deletion, a new directory) are in the
// next agent's view, recorded first as a commit by `human`.

import Foundation
import Glibc
import Testing

@Suite struct ViewFreshnessTests {
    @Test(arguments: Identity.all)
    func aNewViewSeesWhatAPersonChangedSinceTheLastRun(_ id: Identity) {
        let fx = Fixture(id)
        let show = ["sh", "-c", "cat Sources/main.swift; cat Sources/added.swift Sources/sub/deep.swift 2>&1; ls Tests"]
        let before = fx.run(profile: "code", show)
        #expect(before.stdout.hasPrefix("print(\"main\")\ncat: Sources/added.swift") && before.stdout.hasSuffix("main_tests.swift\n"),
                "control: \(before)")

        fx.write("Sources/added.swift", "added\n")
        fx.write("Sources/sub/deep.swift", "deep\n")
        fx.write("Sources/.main.swift.swp", "edited\n")
        #expect(rename(fx.path("Sources/.main.swift.swp"), fx.path("Sources/main.swift")) == 0)
        #expect(unlink(fx.path("Tests/main_tests.swift")) == 0)

        let after = fx.run(profile: "code", show)
        #expect(after.status == 0 && after.stdout == "edited\nadded\ndeep\n", "the view missed a hand edit: \(after)")
        let log = fx.warden(["gate", "log", "--json"])
        #expect(log.stdout.contains("\"role\":\"human\""), "the edits are on record as a human commit: \(log)")

        // Nothing changed since: the next run starts from the same version, and no further
        // human commit appears.
        let again = fx.run(profile: "code", show)
        #expect(again.stdout == after.stdout, "\(again)")
        let commits = fx.warden(["gate", "log", "--json"]).stdout.split(separator: "\n").filter { $0.contains("\"seq\"") }
        #expect(commits.count == 1, "\(commits)")
    }
}
