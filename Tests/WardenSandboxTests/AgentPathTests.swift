// The supervisor's lexical path normalising, whose fast path skips paths already normal:
// both paths must agree with the plain component walk on every shape of path.

import Testing
@testable import WardenSandbox

@Suite struct AgentPathTests {
    @Test(arguments: ["/", "/a", "/a/b.c", "/ws/src/...", "/ws/.hidden", "/ws/..x", "/ws/x..", "/a/b/",
                      "//a", "/a//b", "/a/./b", "/a/.", "/a/..", "/../a", "/a/b/../../..", "/.", "/..",
                      "/a/.../b", "/é/ü", "/a/b/c/./../d", "/tmp/x/"])
    func normalizeAgreesWithTheComponentWalk(_ path: String) {
        #expect(AgentView.normalize(path) == AgentView.componentWalk(path))
        #expect(AgentView.isNormal(path) == (AgentView.componentWalk(path) == path), "\(path)")
    }

    @Test func theWalkResolvesDotsAndEmptyComponents() {
        #expect(AgentView.componentWalk("/a//b") == "/a/b" && AgentView.componentWalk("/a/./b/") == "/a/b")
        #expect(AgentView.componentWalk("/a/b/../../..") == "/" && AgentView.componentWalk("/a/b/c/./../d") == "/a/b/d")
    }
}
