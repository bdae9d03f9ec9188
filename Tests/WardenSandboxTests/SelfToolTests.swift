// The runner's own libraries, which `warden submit` needs inside a sandbox: the byte scan of
// /proc/self/maps must find what a plain line-by-line reading finds. The test process is
// dynamically linked (the Swift runtime lies outside the system trees here), so the maps
// hold real shared objects.

import Foundation
import Testing
@testable import WardenSandbox

@Suite struct SelfToolTests {
    @Test func theByteScanFindsEveryMappedLibraryDirectory() throws {
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        var expected: [String] = []
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let file = line[slash...]
            guard file.contains(".so"), let cut = file.lastIndex(of: "/"), cut > slash else { continue }
            expected.append(String(file[..<cut]))
        }
        // Some library is mapped (libc at least), else this compares two empty lists.
        #expect(!expected.isEmpty)
        // The maps may change between the two reads (a thread's stack, a late dlopen), so
        // compare the distinct directories.
        #expect(Set(mappedLibraryDirectories()) == Set(expected))
    }
}
