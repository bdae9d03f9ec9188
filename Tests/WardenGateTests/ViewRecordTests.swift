// view.json is written by hand (the encoder's first use is a launch cost) and read with
// JSONDecoder: every record, whatever its strings, must come back unchanged.

import Foundation
import Testing
@testable import WardenGate

struct ViewRecordTests {
    @Test(arguments: [
        "plain", "", "quote \" backslash \\ slash /", "newline\nreturn\rtab\t", "esc \u{1b}[2J del \u{7f}",
        "nul \u{0} bell \u{7}", "unicode é 漢字 🚀", "\u{2028}\u{2029}",
    ])
    func handWrittenJSONDecodesToTheSameRecord(_ text: String) throws {
        var record = ViewRecord(run: "1796-42", role: text, profileFile: "profiles/\(text).yaml", base: 7,
                                startNS: 1_796_000_000_123_456_789, status: .running)
        try roundTrip(record)
        record.status = .rejected
        record.committed = 12
        record.message = text
        record.submitted = [text: SubmittedPath(seq: 3, fingerprint: "f:\(text)"), "src/a.c": SubmittedPath(seq: -1, fingerprint: "")]
        try roundTrip(record)
    }

    @Test func keysAreSortedAsTheEncoderSortsThem() throws {
        let record = ViewRecord(run: "r", role: "code", profileFile: "p", base: 1, startNS: 2, status: .kept,
                                committed: 3, message: "m", submitted: ["b": SubmittedPath(seq: 1, fingerprint: "x"),
                                                                       "a": SubmittedPath(seq: 2, fingerprint: "y")])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(record.json == String(decoding: try encoder.encode(record), as: UTF8.self))
    }

    func roundTrip(_ record: ViewRecord) throws {
        let decoded = try JSONDecoder().decode(ViewRecord.self, from: Data(record.json.utf8))
        #expect(decoded == record)
    }
}
