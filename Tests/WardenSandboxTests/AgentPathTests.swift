// The supervisor's lexical path normalising, whose fast path skips paths already normal:
// both paths must agree with the plain component walk on every shape of path.

import Testing
@testable import WardenSandbox

@Suite struct AgentPathTests {
    /// The component walk the fast path must agree with.
    static func walk(_ path: String) -> String {
        var parts: [Substring] = []
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }

    @Test(arguments: ["/", "/a", "/a/b.c", "/ws/src/...", "/ws/.hidden", "/ws/..x", "/ws/x..", "/a/b/",
                      "//a", "/a//b", "/a/./b", "/a/.", "/a/..", "/../a", "/a/b/../../..", "/.", "/..",
                      "/a/.../b", "/é/ü", "/a/b/c/./../d", "/tmp/x/"])
    func normalizeAgreesWithTheComponentWalk(_ path: String) {
        #expect(AgentView.normalize(path) == Self.walk(path))
        #expect(AgentView.isNormal(path) == (Self.walk(path) == path), "\(path)")
    }
}
