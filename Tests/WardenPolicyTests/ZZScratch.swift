import XCTest
@testable import WardenPolicy
final class ZZScratch: XCTestCase {
    func testPrint() throws {
        let ws = TempWorkspace()
        let loader = try ws.loader()
        print("=====")
        for d in loader.lint(files: []) { print(d) }
        ws.write("profiles/x.yaml", "role: x\nextends: nope\ntools: 5\nwrite: [\"Sources/*.swift\", ../up, /etc]\nlimits: {wall: -5m, memory: 0, cpu: 3x}\nenv: [LD_PRELOAD]\ntool: []\nfoo: 1\n")
        do { _ = try loader.profile(named: "x") } catch { print(error) }
        do { _ = try loader.profile(named: "nope") } catch { print(error) }
        ws.write("profiles/m.yaml", "role: x\ntools: [a\n")
        do { _ = try loader.profile(named: "m") } catch { print(error) }
        ws.write("profiles/d.yaml", "role: x\nrole: y\n")
        do { _ = try loader.profile(named: "d") } catch { print(error) }
        print("=====")
    }
}
