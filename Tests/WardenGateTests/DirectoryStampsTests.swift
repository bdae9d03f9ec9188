// A snapshot's directory stamps are read in place (no string per directory): every record
// written must come back as written, and anything else must read as "changed", never as a
// match that skips a directory.

import Foundation
import Glibc
import Testing
@testable import WardenGate

struct DirectoryStampsTests {
    private func records(_ data: Data) -> [(String, Int64, Int64)]? {
        var out: [(String, Int64, Int64)] = []
        let ok = DirectoryStamps.allMatch(data) { m, c, p in
            out.append((String(cString: p), m, c))
            return true
        }
        return ok ? out : nil
    }

    @Test func whatIsWrittenIsReadBack() {
        let stamps = DirectoryStamps()
        var st = stat()
        let written: [(String, Int64, Int64)] = [("", 1_796_000_000_123_456_789, 5), ("src", -1_000_000_001, 0),
                                                 ("src/a b/é 漢", Int64.max, Int64.min + 1)]
        for (path, m, c) in written {
            st.st_mtim = timespec(tv_sec: Int(m / 1_000_000_000), tv_nsec: Int(m % 1_000_000_000))
            st.st_ctim = timespec(tv_sec: Int(c / 1_000_000_000), tv_nsec: Int(c % 1_000_000_000))
            stamps.add(path, st)
        }
        let read = records(stamps.encoded())
        #expect(read?.map(\.0) == written.map(\.0))
        #expect(read?.map(\.1) == written.map(\.1))
        #expect(read?.map(\.2) == written.map(\.2))
    }

    @Test(arguments: [
        "", "1 2 ", "1 2 src", "1 src\0", "x 2 src\0", "1  2 src\0", "1 2src\0", "99999999999999999999 2 src\0",
        "1 2 a\0" + "3", "- 2 a\0", "1 2\0",
    ])
    func anythingElseIsNoMatch(_ text: String) {
        #expect(records(Data(text.utf8)) == nil, "\(text.debugDescription)")
    }

    @Test func theFirstMismatchEndsTheWalk() {
        let data = Data("1 2 a\u{0}3 4 b\u{0}5 6 c\u{0}".utf8)
        var seen: [String] = []
        let ok = DirectoryStamps.allMatch(data) { _, _, p in
            seen.append(String(cString: p))
            return seen.count < 2
        }
        #expect(!ok && seen == ["a", "b"])
    }
}
